import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Writes a file so readers see the old or the new content, never a mix: temp file, fsync, rename. */
export function atomicWriteFile(file: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    if (typeof data === 'string') fs.writeSync(fd, data);
    else fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}

/** Points `link` at `target`, replacing an existing symlink atomically (symlink beside it, rename over). */
export function atomicSymlink(target: string, link: string): void {
  const tmp = `${link}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
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
