import fs from 'node:fs';
import path from 'node:path';

/**
 * Waits (a minute at most) for the background compiles a big plugin's runs started in this store
 * (runtime/compiledCache.ts: `<module>.compiling` holds the compiling process's pid) to end: one
 * still writing into its entry made a test store's removal fail with ENOTEMPTY (in CI, twice), and
 * one beside a benchmark's runs takes a core from them. Entries of installed plugins are in
 * `store`, those of `krew-wasm run <file>` in `cache` (one there failed a CI run the same way).
 */
export function awaitBackgroundCompiles(root: string): void {
  const entryDirs = [path.join(root, 'store'), path.join(root, 'cache')];
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const list = (dir: string) => {
    try {
      return fs.readdirSync(dir);
    } catch {
      return [];
    }
  };
  const compiling = () => entryDirs.flatMap((dir) => list(dir).flatMap((entry) => list(path.join(dir, entry)).filter((f) => f.endsWith('.compiling')).map((f) => path.join(dir, entry, f))));
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const started = Date.now(); Date.now() - started < 60_000; Atomics.wait(pause, 0, 0, 200)) {
    const pids = compiling().map((marker) => {
      try {
        return Number(fs.readFileSync(marker, 'utf8'));
      } catch {
        return 0;
      }
    });
    if (!pids.some((pid) => pid > 0 && alive(pid))) return;
  }
}
