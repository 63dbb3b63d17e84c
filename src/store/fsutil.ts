import { crypto } from '../builtin.js';
import fs from 'node:fs';
import path from 'node:path';
import { fileKind } from '../hostPaths.js';

/** Writes a file so readers see the old or the new content, never a mix: temp file, fsync, rename. */
export function atomicWriteFile(file: string, data: string | Uint8Array, mode = 0o644): void {
  writeThenRename(file, `${file}.tmp-${process.pid}-${crypto().randomBytes(4).toString('hex')}`, data, mode, true);
}

let cacheWrites = 0;

/**
 * Writes a file a run keeps for the next ones (a code cache, a list of functions, a compiled form)
 * as atomicWriteFile does, its temporary name without random bytes, which load node:crypto (~3 ms
 * of the first run after a pull): a name left by a process of the same pid makes the write fail,
 * which for a cache only means the next run makes it again. Synced when `durable`: V8 takes a code
 * cache or a compiled form without a checksum, and one left damaged by a crash of the system
 * crashed every run (attack 40); a list of functions is checked when read, and not synced. With
 * `replace: false`, a file there already stays, and the write fails with EEXIST.
 */
export function atomicWriteCache(file: string, data: string | Uint8Array, options: { durable: boolean; replace?: boolean }): void {
  writeThenRename(file, `${file}.tmp-${process.pid}-${(cacheWrites++).toString(36)}`, data, 0o644, options.durable, options.replace ?? true);
}

/**
 * Writes `tmp` (never another's file of that name), syncs it if `durable`, renames it to `file`
 * (or, not to `replace` one there, links it there and removes it); removes it on failure.
 */
function writeThenRename(file: string, tmp: string, data: string | Uint8Array, mode: number, durable: boolean, replace = true): void {
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    try {
      fs.writeFileSync(fd, data);
      if (durable) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (replace) fs.renameSync(tmp, file);
    else {
      fs.linkSync(tmp, file);
      fs.rmSync(tmp);
    }
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}

/** Points `link` at `target`, replacing an existing symlink atomically (symlink beside it, rename over). */
export function atomicSymlink(target: string, link: string): void {
  const tmp = `${link}.tmp-${process.pid}-${crypto().randomBytes(4).toString('hex')}`;
  fs.symlinkSync(target, tmp);
  try {
    fs.renameSync(tmp, link);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}

/** lstat that answers undefined for a missing path. */
export function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Removes `p` only if it is a symlink (never a user's regular file). */
export function removeSymlink(p: string): boolean {
  const stat = lstatOrUndefined(p);
  if (!stat?.isSymbolicLink()) return false;
  fs.unlinkSync(p);
  return true;
}

/** A fresh, uniquely named folder under `parent`. */
export function makeTempDir(parent: string, prefix: string): string {
  fs.mkdirSync(parent, { recursive: true });
  return fs.mkdtempSync(path.join(parent, `${prefix}-${process.pid}-`));
}

/** Directory names in `dir`, or none when it does not exist. */
export function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Whether a process with this pid is alive (EPERM means alive but not ours). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why a local file could not be read as a bounded regular file. */
export class LocalFileError extends Error {
  /** `<file> <detail>`: the detail alone reads well after a name, e.g. `is a FIFO, not a regular file`. */
  constructor(readonly file: string, readonly detail: string, readonly reason: 'missing' | 'not-regular' | 'too-large' | 'io', options?: { cause?: unknown }) {
    super(`${file} ${detail}`, options);
    this.name = 'LocalFileError';
  }
}

/**
 * Opens `file` for reading only if it is a regular file. O_NONBLOCK keeps a FIFO from blocking the
 * open itself, and the type is checked with fstat on the opened descriptor, so what is checked is
 * what is read (no window between a stat of the path and the open). Follows symlinks (a link to a
 * regular file is fine, a link to /dev/zero is not) unless `followLinks` is false: a file of a store
 * entry is never a link, and one swapped for a link after the entry's check is refused.
 */
export function openRegularFile(file: string, options: { followLinks?: boolean } = {}): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (options.followLinks === false ? fs.constants.O_NOFOLLOW : 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new LocalFileError(file, 'does not exist', 'missing', { cause: error });
    if (code === 'ELOOP' && options.followLinks === false) throw new LocalFileError(file, 'is a symbolic link, not a regular file', 'not-regular');
    throw new LocalFileError(file, `cannot be opened (${code ?? (error as Error).message})`, 'io', { cause: error });
  }
  const stat = fs.fstatSync(fd);
  if (!stat.isFile()) {
    fs.closeSync(fd);
    throw new LocalFileError(file, `is ${fileKind(stat)}, not a regular file`, 'not-regular');
  }
  return { fd, size: stat.size };
}

/** Reads a regular file of at most `limit` bytes, counting the bytes actually read (a file may grow while read). */
export function readRegularFile(file: string, limit: number): Buffer {
  const { fd, size } = openRegularFile(file);
  try {
    if (size > limit) throw new LocalFileError(file, `is ${size} bytes, more than the limit of ${limit}`, 'too-large');
    // One buffer sized by fstat, a byte more to see the end: a `list` reads every receipt, and a
    // fixed 64 KiB per read was ~5 ms of garbage collection over 100 receipts. 64 KiB chunks only
    // for a file that grew since.
    const chunks = [Buffer.allocUnsafe(Math.min(size, limit) + 1)];
    let total = 0;
    for (let filled = 0; ; ) {
      const chunk = chunks[chunks.length - 1];
      const n = fs.readSync(fd, chunk, filled, chunk.length - filled, null);
      if (n === 0) break;
      total += n;
      filled += n;
      if (total > limit) throw new LocalFileError(file, `is more than the limit of ${limit} bytes`, 'too-large');
      if (filled === chunk.length) {
        chunks.push(Buffer.allocUnsafe(Math.min(64 * 1024, limit + 1 - total)));
        filled = 0;
      }
    }
    // Every chunk but the last is full, so the first `total` bytes are the file.
    return chunks.length === 1 ? chunks[0].subarray(0, total) : Buffer.concat(chunks, total);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The UTF-8 text of a regular file of at most `limit` bytes, checked as readRegularFile checks,
 * read by Node's one-call UTF-8 path: ~15 µs a file less, which `list` pays for every receipt. The
 * size is checked before the read and again after it (a file that grew meanwhile is refused).
 */
export function readRegularText(file: string, limit: number, options: { followLinks?: boolean } = {}): string {
  const { fd, size } = openRegularFile(file, options);
  try {
    if (size > limit) throw new LocalFileError(file, `is ${size} bytes, more than the limit of ${limit}`, 'too-large');
    const text = fs.readFileSync(fd, 'utf8');
    if (Buffer.byteLength(text) > limit) throw new LocalFileError(file, `is more than the limit of ${limit} bytes`, 'too-large');
    return text;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a regular file of `size` bytes, opened by openRegularFile, and closes it. A file that ends
 * before `size` (changed while read) is an 'io' failure; bytes past `size` are not read.
 */
export function readOpenedFile(file: string, fd: number, size: number): Buffer {
  try {
    const buffer = Buffer.allocUnsafeSlow(size);
    for (let filled = 0; filled < size; ) {
      const n = fs.readSync(fd, buffer, filled, size - filled, filled);
      if (n === 0) throw new LocalFileError(file, 'changed while it was read', 'io');
      filled += n;
    }
    return buffer;
  } catch (error) {
    throw asReadFailure(file, error);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a regular file, opened by openRegularFile, into `views` one after the other (its first
 * bytes into the first view, and so on), and closes it. A file that ends before the views are
 * full (changed while read) is an 'io' failure.
 */
export function readOpenedFileInto(file: string, fd: number, views: Uint8Array[]): void {
  try {
    let position = 0;
    for (const view of views) {
      for (let filled = 0; filled < view.length; ) {
        const n = fs.readSync(fd, view, filled, Math.min(view.length - filled, MAX_READ_BYTES), position + filled);
        if (n === 0) throw new LocalFileError(file, 'changed while it was read', 'io');
        filled += n;
      }
      position += view.length;
    }
  } catch (error) {
    throw asReadFailure(file, error);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * readOpenedFile for a big file: in `pieces` reads at once on Node's thread pool, into one buffer.
 * The time is mostly the kernel copying the file and faulting in the buffer's fresh pages, which
 * one thread does alone; two pieces take both cores of a two-core machine while the main thread
 * goes on, and leave two of the pool's four threads to what a run reads meanwhile (its
 * kubeconfig). Closes `fd` once every piece has settled, never while a read may still use it.
 */
export function readOpenedFileInPieces(file: string, fd: number, size: number, pieces: number): Promise<Buffer> {
  let buffer: Buffer;
  try {
    buffer = Buffer.allocUnsafeSlow(size);
  } catch {
    fs.closeSync(fd);
    return Promise.reject(new LocalFileError(file, `is ${size} bytes, more than one buffer holds`, 'too-large'));
  }
  const pieceBytes = Math.max(1, Math.ceil(size / pieces));
  return new Promise((resolve, reject) => {
    let pending = pieces;
    let failure: unknown;
    const settled = (error?: unknown) => {
      failure ??= error;
      if (--pending > 0) return;
      try {
        fs.closeSync(fd);
      } catch {
        // a close error loses nothing read
      }
      if (failure === undefined) resolve(buffer);
      else reject(asReadFailure(file, failure));
    };
    for (let piece = 0; piece < pieces; piece++) readRange(file, fd, buffer, Math.min(size, piece * pieceBytes), Math.min(size, (piece + 1) * pieceBytes), settled);
  });
}

/** A failed read of `file` as a LocalFileError, naming its cause's code. */
function asReadFailure(file: string, error: unknown): LocalFileError {
  return error instanceof LocalFileError ? error : new LocalFileError(file, `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 'io', { cause: error });
}

/** What one fs.read asks for at most: Node refuses a length over 2 GiB - 1 (found by an attack). */
const MAX_READ_BYTES = 1024 * 1024 * 1024;

/** Reads bytes [start, end) of `fd` into `buffer` at the same offsets, however many reads it takes; `done` is called once. */
function readRange(file: string, fd: number, buffer: Buffer, start: number, end: number, done: (error?: unknown) => void): void {
  if (start >= end) return done();
  try {
    fs.read(fd, buffer, start, Math.min(end - start, MAX_READ_BYTES), start, (error, n) => {
      if (error) return done(error);
      if (n === 0) return done(new LocalFileError(file, 'changed while it was read', 'io'));
      readRange(file, fd, buffer, start + n, end, done);
    });
  } catch (error) {
    done(error); // an argument Node refuses at once: settled like a failed read, so the file is still closed
  }
}

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
/** More entries than a removal takes on before it leaves the rest for the next repair (a plugin still writing could refill the folder forever). */
const MAX_REMOVAL_STEPS = 10_000_000;

/**
 * Removes a folder a plugin may still be writing to (its data folder: a run of it may be going on
 * when the user types `rm`), never through a path below the folder. It is first renamed to a fresh
 * name in `tmpDir` (one rename, however deep it is), then emptied through handles: each entry is
 * removed from the folder whose handle is held, a link as a link, and each folder in it is opened
 * without following a link and its entries moved up beside it, so that no step goes more than one
 * folder deep. fs.rmSync walked by path: a plugin that replaced a folder it had just listed with a
 * link had it delete whatever the link named, the store's receipts or any folder of the user's
 * (attack 105), and a tree deeper than PATH_MAX failed half-way. Nothing this does reaches a file
 * the plugin could not remove itself. Returns whether it is all gone; what is left (a plugin still
 * writing) stays in `tmpDir` under this process's name, which the store's repair removes the same
 * way once the process has ended.
 */
export function removeWritableTree(dir: string, tmpDir: string): boolean {
  const aside = makeTempDir(tmpDir, 'gone');
  const tree = path.join(aside, 'tree');
  try {
    fs.renameSync(dir, tree);
  } catch (error) {
    fs.rmdirSync(aside);
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
  return emptyAndRemove(aside);
}

/** Empties `dir` through handles (see removeWritableTree) and removes it; whether it is gone. */
export function emptyAndRemove(dir: string): boolean {
  let top: number;
  try {
    top = fs.openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code !== 'ENOTDIR' && code !== 'ELOOP') throw error;
    fs.unlinkSync(dir); // a file or a link, not a folder: the name alone goes
    return true;
  }
  const inTop = (name: string) => `/proc/self/fd/${top}/${name}`;
  let moved = 0;
  let steps = 0;
  try {
    for (let progress = true; progress && steps < MAX_REMOVAL_STEPS; ) {
      progress = false;
      for (const name of fs.readdirSync(inTop(''))) {
        steps++;
        if (removedName(inTop(name))) {
          progress = true;
          continue;
        }
        let inner: number;
        try {
          inner = fs.openSync(inTop(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        } catch {
          continue; // changed since it was listed: the next pass sees what it is now
        }
        try {
          for (const child of fs.readdirSync(`/proc/self/fd/${inner}/`)) {
            steps++;
            try {
              fs.renameSync(`/proc/self/fd/${inner}/${child}`, inTop(`.gone-${(moved++).toString(36)}`));
              progress = true;
            } catch {
              // moved or removed meanwhile, or onto another filesystem (the plugin moved the folder out of the tree): left
            }
          }
        } finally {
          fs.closeSync(inner);
        }
        progress = removedName(inTop(name), true) || progress;
      }
    }
  } finally {
    fs.closeSync(top);
  }
  return removedName(dir, true);
}

/** Removes the entry a path names (a folder only when `folder`, and only if empty), not following it; whether it is gone. */
function removedName(at: string, folder = false): boolean {
  try {
    if (folder) fs.rmdirSync(at);
    else fs.unlinkSync(at);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
