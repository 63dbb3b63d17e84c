import fs from 'node:fs';
import { promisify } from 'node:util';
import { KubeconfigError } from '../errors.js';
import { fileKind } from '../hostPaths.js';

/** Largest token, certificate, key or CA file krew-wasm reads. */
export const MAX_CREDENTIAL_FILE_BYTES = 1024 * 1024;
/** Largest kubeconfig file krew-wasm reads. */
export const MAX_KUBECONFIG_BYTES = 16 * 1024 * 1024;

const CHUNK = 64 * 1024;

// fs's callback calls, promisified: fs.promises is a module of its own that a plugin run would load
// for this alone (~1.2 ms on Node 20).
const open = promisify(fs.open);
const fstat = promisify(fs.fstat);
const read = promisify(fs.read);
const close = promisify(fs.close);
const readlink = promisify(fs.readlink);

/** A regular file as read: its bytes, its identity and, when asked, the path the kernel opened. */
export interface ReadFile {
  bytes: Buffer;
  /** `<device>:<inode>` of the file read. */
  id: string;
  /**
   * The opened file's path, symlinks resolved (from /proc/self/fd): asked with `realPath`; none
   * when it is not UTF-8, which a string would hold changed (two such paths met in the mirror:
   * found by an attack).
   */
  real?: string;
}

/**
 * Reads a file only if it is a regular file, bounded by the bytes actually read (not by `stat`,
 * which says 0 for /dev/zero). Opening with O_NONBLOCK makes a FIFO open at once instead of
 * waiting for a writer, so fstat can refuse it; nothing here can hang or grow without bound.
 * `ENOENT` is rethrown as is (callers decide whether a missing file matters); every other
 * failure is one KubeconfigError naming the file.
 */
export async function readRegularFile(file: string, what: string, limit: number): Promise<Buffer> {
  return (await readRegularFileAs(file, what, limit)).bytes;
}

/**
 * readRegularFile, saying which file it read: what is known of it comes from the one descriptor
 * it was read through, never from its path again (a path can name another file by then: a race
 * an attack won against a check made by path).
 */
export async function readRegularFileAs(file: string, what: string, limit: number, options: { realPath?: boolean } = {}): Promise<ReadFile> {
  let fd: number;
  try {
    fd = await open(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
    throw new KubeconfigError(`cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    const stat = (await fstat(fd, { bigint: true })) as fs.BigIntStats;
    if (!stat.isFile()) throw new KubeconfigError(`${what} ${file} is not a regular file (${fileKind(stat)})`);
    const real = options.realPath ? kernelPath(await readlink(`/proc/self/fd/${fd}`, { encoding: 'buffer' })) : undefined;
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, limit + 1 - total));
      const { bytesRead } = await read(fd, buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
      if (total > limit) throw new KubeconfigError(`${what} ${file} is larger than ${limit} bytes`);
    }
    return { bytes: Buffer.concat(chunks, total), id: `${stat.dev}:${stat.ino}`, real };
  } catch (error) {
    if (error instanceof KubeconfigError) throw error;
    throw new KubeconfigError(`cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  } finally {
    await close(fd).catch(() => {});
  }
}

function kernelPath(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8');
  return Buffer.from(text).equals(bytes) ? text : undefined;
}

/** Reads a credential file (token, certificate, key, CA) as text; a missing file is an error too. */
export async function readCredentialFile(file: string, what: string): Promise<string> {
  try {
    return (await readRegularFile(file, what, MAX_CREDENTIAL_FILE_BYTES)).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new KubeconfigError(`cannot read ${what} ${file}: ENOENT`);
    throw error;
  }
}

