import fs from 'node:fs';
import path from 'node:path';

/**
 * A folder the kernel opens through 18 links, each a short path, whose way spelled out is longer
 * than PATH_MAX (18 nested folders of 250-character names): `link` names it, `first` is the
 * outermost folder, by its own short path. Each folder is made through the link to the one above
 * it, as no path of it may be longer than PATH_MAX.
 */
export function makeLongWay(base: string, depth = 18): { link: string; first: string } {
  const name = (k: number) => `${String(k).padStart(2, '0')}${'x'.repeat(248)}`;
  fs.mkdirSync(path.join(base, name(1)));
  fs.symlinkSync(name(1), path.join(base, 's1'));
  for (let k = 2; k <= depth; k++) {
    fs.mkdirSync(path.join(base, `s${k - 1}`, name(k)));
    fs.symlinkSync(`s${k - 1}/${name(k)}`, path.join(base, `s${k}`));
  }
  return { link: path.join(base, `s${depth}`), first: path.join(base, name(1)) };
}

/** Removes what makeLongWay made in `base` (fs.rmSync's recursive removal spells the way out, and fails). */
export function removeLongWay(base: string, depth = 18): void {
  const name = (k: number) => `${String(k).padStart(2, '0')}${'x'.repeat(248)}`;
  for (let k = depth; k >= 2; k--) {
    fs.rmSync(path.join(base, `s${k}`), { force: true });
    fs.rmSync(path.join(base, `s${k - 1}`, name(k)), { recursive: true, force: true });
  }
  fs.rmSync(path.join(base, 's1'), { force: true });
  fs.rmSync(path.join(base, name(1)), { recursive: true, force: true });
}
