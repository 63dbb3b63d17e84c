import fs from 'node:fs';
import path from 'node:path';
import { InvalidReferenceError } from '../errors.js';
import { DEFAULT_GRANTS } from '../grants.js';
import { sha256Of } from '../oci/digest.js';
import { transpileInto } from '../runtime/transpile.js';
import { inspectEntry } from '../store/entry.js';
import { LocalFileError, makeTempDir, readRegularFile } from '../store/fsutil.js';
import type { Paths } from '../store/paths.js';
import { digestHex } from '../store/receipt.js';
import { runEntry } from './runPlugin.js';
import type { HostContext } from './sandbox.js';

/**
 * Runs a wasm file without installing it, in exactly the sandbox an installed plugin gets. The
 * transpiled output is cached under cache/<sha256> so that trying the same build twice is fast.
 */
export async function runLocalFile(paths: Paths, file: string, args: string[], host: HostContext): Promise<number> {
  let bytes: Buffer;
  try {
    // Only a regular file, bounded by the bytes read, as pull reads one: a FIFO or /dev/zero is refused.
    bytes = readRegularFile(path.resolve(host.cwd, file), host.settings.maxBlobBytes);
  } catch (error) {
    if (error instanceof LocalFileError) throw new InvalidReferenceError(`file ${file} ${error.detail}`, { hint: 'check the path' });
    throw error;
  }
  const entry = paths.cacheEntry(digestHex(sha256Of(bytes)));
  // The cache is ours to throw away: an entry that is not current (damaged, or made by another
  // krew-wasm) is made again rather than run.
  if (inspectEntry(entry).status !== 'current') {
    fs.rmSync(entry, { recursive: true, force: true });
    await transpileToCache(paths, bytes, entry);
  }
  const name = path.basename(file).replace(/\.wasm$/, '').replace(/^kubectl-/, '');
  return runEntry(entry, DEFAULT_GRANTS, { name, args, host }, { dataDir: paths.dataDir(`local-${name}`), tmpDir: paths.tmpDir }, `delete ${entry} and try again`);
}

async function transpileToCache(paths: Paths, bytes: Buffer, entry: string): Promise<void> {
  const stage = makeTempDir(paths.tmpDir, 'run');
  try {
    await transpileInto(bytes, path.join(stage, 'entry'));
    fs.mkdirSync(path.dirname(entry), { recursive: true });
    try {
      fs.renameSync(path.join(stage, 'entry'), entry);
    } catch (error) {
      // Another process cached the same digest first: its copy is as good as ours.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}
