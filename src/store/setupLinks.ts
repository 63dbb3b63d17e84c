import fs from 'node:fs';
import { noDescriptorLeft } from '../hostPaths.js';
import { atomicWriteFile } from './fsutil.js';
import type { Paths } from './paths.js';

/**
 * The links `krew-wasm setup --dir <folder>` made outside the store's bin folder: they lead to a
 * krew-wasm installation the next `kubectl krew-wasm` runs, which plugins must not reach or
 * replace (services/sandbox.ts), as much as those the store's own links lead to. Kept in the store,
 * where no plugin reaches.
 */
export function readSetupLinks(paths: Paths): string[] {
  try {
    return fs.readFileSync(paths.setupLinksFile, 'utf8').split('\n').filter((line) => line.startsWith('/'));
  } catch (error) {
    // Read at a run's first use of its files too: with no descriptor left, the installation they
    // lead to would be left out of reach of nothing (attack 71).
    if (noDescriptorLeft(error)) throw error;
    return [];
  }
}

export function recordSetupLinks(paths: Paths, links: string[]): void {
  const all = new Set([...readSetupLinks(paths), ...links]);
  fs.mkdirSync(paths.root, { recursive: true });
  atomicWriteFile(paths.setupLinksFile, `${[...all].join('\n')}\n`);
}
