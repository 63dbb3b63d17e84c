import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Fresh folders for one test file, each made inside one temporary folder of the file's own that is
 * removed when its tests end, passed or failed: a run of the suite leaves nothing behind in the
 * system's temporary folder (it had left ~57 MB per run). Call it at the top of a test file.
 */
export function scratchFolders(name: string): () => string {
  let root: string | undefined;
  test.after.always(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });
  return () => fs.mkdtempSync(path.join((root ??= fs.mkdtempSync(path.join(os.tmpdir(), `krew-wasm-${name}-`))), 'd-'));
}
