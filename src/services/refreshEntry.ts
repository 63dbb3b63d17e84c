import fs from 'node:fs';
import path from 'node:path';
import { sha256Of } from '../oci/digest.js';
import { transpileInto } from '../runtime/transpile.js';
import { ENTRY_FILES, inspectEntry } from '../store/entry.js';
import { makeTempDir, readRegularFile } from '../store/fsutil.js';
import type { Paths } from '../store/paths.js';
import { digestHex } from '../store/receipt.js';
import { replaceEntry } from '../store/store.js';

/**
 * Makes a stale store entry again from the layer it keeps (source.wasm), so that upgrading
 * krew-wasm (and jco with it) never breaks installed plugins. The stored source must still be the
 * layer the entry is named after; the new entry replaces the old under the store lock, unless
 * another process refreshed it first. Loaded only on this path: wrapper mode never loads the
 * transpiler otherwise.
 */
export async function refreshEntry(paths: Paths, layerDigest: string, maxBytes: number): Promise<void> {
  const entryDir = paths.storeEntry(digestHex(layerDigest));
  const source = readRegularFile(path.join(entryDir, ENTRY_FILES.source), maxBytes);
  if (sha256Of(source) !== layerDigest) throw new Error(`its stored ${ENTRY_FILES.source} is not the layer ${layerDigest}`);
  const stage = makeTempDir(paths.tmpDir, 'refresh');
  try {
    const staged = path.join(stage, 'entry');
    await transpileInto(source, staged);
    await replaceEntry(paths, layerDigest, staged, (dir) => inspectEntry(dir).status !== 'current');
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}
