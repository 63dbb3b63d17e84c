import fs from 'node:fs';
import { guarded, type FsErrorCode } from './errors.js';
import { setFileTimes, type NewTimestamp } from './fileTimes.js';
import { aliasDispose, InputStream, IoError, MAX_CHUNK, OutputStream, type ByteSink, type ByteSource } from './io.js';
import { sleep } from './wait.js';
import { allDescriptorsHeld } from '../limits.js';
import { assertMayCreate, assertMayDetach, assertNotProtected, at, identityOf, identityOfFd, isOutOfReach, lstatOrUndefined, onKernelFs, walk, type FsPolicy, type Preopen, type Resolved } from './walk.js';

/**
 * wasi:filesystem (types, preopens) on directory handles. Every path goes through walk.ts, every
 * descriptor holds an fd and never turns back into a path string, and every call returns a WASI
 * error-code instead of throwing a host exception. Read-only comes from the location (walk.ts),
 * not from the preopen a path was reached through.
 */

type DescriptorType = 'unknown' | 'block-device' | 'character-device' | 'directory' | 'fifo' | 'symbolic-link' | 'regular-file' | 'socket';
interface DescriptorFlags {
  read?: boolean;
  write?: boolean;
  fileIntegritySync?: boolean;
  dataIntegritySync?: boolean;
  requestedWriteSync?: boolean;
  mutateDirectory?: boolean;
}
interface PathFlags { symlinkFollow?: boolean }
interface OpenFlags { create?: boolean; directory?: boolean; exclusive?: boolean; truncate?: boolean }
interface Datetime { seconds: bigint; nanoseconds: number }

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_APPEND } = fs.constants;
/** Every open: the kernel follows no link (walk.ts did), and no open or read can block. (libuv adds O_CLOEXEC.) */
const ALWAYS = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;

/** The filesystem of one run: its preopens and the policy every walk enforces. */
export interface FsContext {
  preopens: Preopen[];
  policy: FsPolicy;
}

/** The WASI type of a host file, from its stat or its directory entry (both answer the same questions). */
export function typeOf(stat: Pick<fs.Dirent, 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isFIFO' | 'isSocket' | 'isCharacterDevice' | 'isBlockDevice'>): DescriptorType {
  if (stat.isFile()) return 'regular-file';
  if (stat.isDirectory()) return 'directory';
  if (stat.isSymbolicLink()) return 'symbolic-link';
  if (stat.isFIFO()) return 'fifo';
  if (stat.isSocket()) return 'socket';
  if (stat.isCharacterDevice()) return 'character-device';
  if (stat.isBlockDevice()) return 'block-device';
  return 'unknown';
}

function datetime(ns: bigint): Datetime {
  const seconds = ns / 1_000_000_000n;
  return { seconds, nanoseconds: Number(ns - seconds * 1_000_000_000n) };
}

function statRecord(stat: fs.BigIntStats) {
  return {
    type: typeOf(stat),
    linkCount: stat.nlink,
    size: stat.size,
    dataAccessTimestamp: datetime(stat.atimeNs),
    dataModificationTimestamp: datetime(stat.mtimeNs),
    statusChangeTimestamp: datetime(stat.ctimeNs),
  };
}

function position(offset: bigint): number {
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw 'file-too-large';
  return Number(offset);
}

/**
 * A descriptor's fd, shared with the streams made from it: closed when the descriptor and every
 * stream are gone, as wasmtime's streams hold the file itself. Closing it with the descriptor
 * would leave a stream reading or writing whatever the next open gets the same fd number.
 */
class FdLease {
  private holders = 1;
  constructor(readonly fd: number) {}
  share(): this {
    this.holders++;
    return this;
  }
  release(): void {
    if (--this.holders === 0) fs.closeSync(this.fd);
  }
}

/** Reads a file from an offset (or, for pipes, sequentially). */
/**
 * What every file input stream reads into before copying out what it read: reads are synchronous.
 * A buffer of each stream's own, for its whole life, let 90,000 streams of one descriptor hold
 * 5.9 GB of host memory under --max-memory 1 (attack 75).
 */
const FILE_READ_SCRATCH = Buffer.allocUnsafe(64 * 1024);

class FileSource implements ByteSource {
  private readonly fd: number;
  constructor(private readonly lease: FdLease, private offset: number | null) {
    this.fd = lease.fd;
  }
  close(): void {
    this.lease.release();
  }
  read(max: number): Uint8Array | 'eof' {
    const buf = max <= FILE_READ_SCRATCH.length ? FILE_READ_SCRATCH : Buffer.allocUnsafe(Math.min(max, MAX_CHUNK));
    let n: number;
    try {
      n = fs.readSync(this.fd, buf, 0, Math.min(max, buf.length), this.offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return new Uint8Array(0);
      throw error;
    }
    if (n === 0) return 'eof';
    if (this.offset !== null) this.offset += n;
    return Uint8Array.prototype.slice.call(buf, 0, n);
  }
}

/** Writes a file at an offset, or appends, or (pipes) sequentially; waits out a full pipe interruptibly. */
class FileSink implements ByteSink {
  private readonly fd: number;
  constructor(private readonly lease: FdLease, private offset: number | null) {
    this.fd = lease.fd;
  }
  write(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) {
      try {
        const n = fs.writeSync(this.fd, bytes, done, Math.min(bytes.length - done, MAX_CHUNK), this.offset);
        done += n;
        if (this.offset !== null) this.offset += n;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
        sleep(5);
      }
    }
  }
  close(): void {
    this.lease.release();
  }
}

/**
 * wasi:filesystem/types.directory-entry-stream: read as the guest asks, from a directory handle of
 * its own (opendir of the descriptor's /proc link, which is the open directory, not a path). A
 * listing held in memory would let a plugin open thousands of streams on a big directory.
 */
export class DirectoryEntryStream {
  private dir: fs.Dir | undefined;
  constructor(private readonly lease: FdLease) {
    try {
      this.dir = fs.opendirSync(`/proc/self/fd/${lease.fd}`, { bufferSize: 32 });
    } catch (error) {
      lease.release();
      throw error;
    }
  }
  readDirectoryEntry(): { type: DescriptorType; name: string } | undefined {
    return guarded(() => {
      const entry = this.dir?.readSync();
      if (!entry) {
        this.close();
        return undefined;
      }
      const known = entry.isFile() || entry.isDirectory() || entry.isSymbolicLink() || entry.isFIFO() || entry.isSocket() || entry.isCharacterDevice() || entry.isBlockDevice();
      return { type: known ? typeOf(entry) : this.typeAt(entry.name), name: entry.name };
    });
  }
  [Symbol.for('dispose')](): void {
    this.close();
  }
  /** The type of an entry the listing did not give (d_type unknown): lstat, never followed. */
  private typeAt(name: string): DescriptorType {
    const stat = lstatOrUndefined(at(this.lease.fd, name));
    return stat ? typeOf(stat) : 'unknown';
  }
  private close(): void {
    if (!this.dir) return;
    this.dir.closeSync();
    this.dir = undefined;
    this.lease.release();
  }
}

/** wasi:filesystem/types.descriptor: an open file or directory handle. */
export class Descriptor {
  private closed = false;
  private readonly lease: FdLease;

  constructor(
    private readonly fd: number,
    private readonly isDirectory: boolean,
    /** Read-only by location (walk.ts), whatever the open flags say. */
    private readonly readOnly: boolean,
    private readonly flags: DescriptorFlags,
    private readonly preopen: Preopen,
    private readonly ctx: FsContext,
  ) {
    this.lease = new FdLease(fd);
  }

  readViaStream(offset: bigint): InputStream {
    return guarded(() => {
      this.fileOnly();
      return new InputStream(new FileSource(this.lease.share(), this.isRegularFile() ? position(offset) : null));
    });
  }

  writeViaStream(offset: bigint): OutputStream {
    return guarded(() => {
      this.writableFileOnly();
      return new OutputStream(new FileSink(this.lease.share(), this.isRegularFile() ? position(offset) : null));
    });
  }

  appendViaStream(): OutputStream {
    return guarded(() => {
      this.writableFileOnly();
      // Preview 2 has no append flag on descriptors: a second open file description of the same
      // file (the /proc link refers to the open file itself) appends whatever happens to the first.
      const appendFd = fs.openSync(`/proc/self/fd/${this.fd}`, O_WRONLY | O_APPEND | O_NONBLOCK);
      return new OutputStream(new FileSink(new FdLease(appendFd), null));
    });
  }

  advise(_offset: bigint, _length: bigint, _advice: string): void {
    guarded(() => this.fileOnly());
  }

  syncData(): void {
    guarded(() => fs.fdatasyncSync(this.fd));
  }

  getFlags(): DescriptorFlags {
    return { ...this.flags };
  }

  getType(): DescriptorType {
    return guarded(() => typeOf(fs.fstatSync(this.fd)));
  }

  setSize(size: bigint): void {
    guarded(() => {
      this.writableFileOnly();
      fs.ftruncateSync(this.fd, position(size));
    });
  }

  setTimes(atime: NewTimestamp, mtime: NewTimestamp): void {
    guarded(() => {
      if (this.readOnly) throw 'read-only';
      setFileTimes({ fd: this.fd }, atime, mtime, fs.fstatSync(this.fd, { bigint: true }));
    });
  }

  read(length: bigint, offset: bigint): [Uint8Array, boolean] {
    return guarded(() => {
      this.fileOnly();
      // The guest picks the length: read at most one chunk (a short read is allowed), never allocate 2^31 bytes.
      const want = length > BigInt(MAX_CHUNK) ? MAX_CHUNK : Number(length);
      const buffer = Buffer.allocUnsafe(want);
      // Node reads at a bigint position too: past 2^53 is the end of any file, as in wasmtime, not EFBIG.
      const n = want === 0 ? 0 : fs.readSync(this.fd, buffer, 0, want, offset);
      return [Uint8Array.prototype.slice.call(buffer, 0, n), n < want || (n === 0 && length > 0n)];
    });
  }

  write(buffer: Uint8Array, offset: bigint): bigint {
    return guarded(() => {
      this.writableFileOnly();
      // At most MAX_CHUNK: a write may be short, as POSIX's and WASI's, and the plugin writes the rest.
      return BigInt(fs.writeSync(this.fd, buffer, 0, Math.min(buffer.length, MAX_CHUNK), position(offset)));
    });
  }

  readDirectory(): DirectoryEntryStream {
    return guarded(() => {
      this.directoryOnly();
      return new DirectoryEntryStream(this.lease.share());
    });
  }

  sync(): void {
    guarded(() => fs.fsyncSync(this.fd));
  }

  createDirectoryAt(path: string): void {
    this.atPath(path, false, (r) => {
      if (r.readOnly) throw 'read-only';
      if (r.name === '.') throw 'exist';
      assertMayCreate(r.dirFd, r.name, this.ctx.policy);
      fs.mkdirSync(at(r.dirFd, r.name), 0o777);
    });
  }

  stat() {
    return guarded(() => statRecord(fs.fstatSync(this.fd, { bigint: true })));
  }

  statAt(flags: PathFlags, path: string) {
    return this.atPath(path, !!flags.symlinkFollow, (r) => statRecord(this.lstatResolved(r)));
  }

  setTimesAt(flags: PathFlags, path: string, atime: NewTimestamp, mtime: NewTimestamp): void {
    this.atPath(path, !!flags.symlinkFollow, (r) => {
      if (r.readOnly) throw 'read-only';
      assertNotProtected(r.dirFd, r.name, this.ctx.policy);
      // On the final name, never followed: walk.ts expanded the links to follow, and a link
      // swapped in since then has its own times changed, never its target's.
      setFileTimes({ dirFd: r.dirFd, name: r.name }, atime, mtime, this.lstatResolved(r));
    });
  }

  linkAt(oldFlags: PathFlags, oldPath: string, newDescriptor: Descriptor, newPath: string): void {
    this.atPath(oldPath, !!oldFlags.symlinkFollow, (from) => {
      newDescriptor.atPath(newPath, false, (to) => {
        // A link out of a read-only folder would be a writable alias of a read-only file.
        if (from.readOnly || to.readOnly) throw 'read-only';
        if (from.name === '.' || to.name === '.') throw 'not-permitted';
        newEntryMustNotNameADirectory(to);
        assertNotProtected(from.dirFd, from.name, this.ctx.policy);
        assertMayCreate(to.dirFd, to.name, this.ctx.policy);
        fs.linkSync(at(from.dirFd, from.name), at(to.dirFd, to.name));
      });
    });
  }

  openAt(pathFlags: PathFlags, path: string, openFlags: OpenFlags, flags: DescriptorFlags): Descriptor {
    return this.atPath(path, !!pathFlags.symlinkFollow, (r) => this.openResolved(r, openFlags, flags));
  }

  readlinkAt(path: string): string {
    return this.atPath(path, false, (r) => {
      if (r.name === '.') throw 'invalid';
      return fs.readlinkSync(at(r.dirFd, r.name));
    });
  }

  removeDirectoryAt(path: string): void {
    this.atPath(path, false, (r) => {
      if (r.readOnly) throw 'read-only';
      if (r.name === '.') throw 'invalid';
      assertMayDetach(r.dirFd, r.name, this.ctx.policy);
      fs.rmdirSync(at(r.dirFd, r.name));
    });
  }

  renameAt(oldPath: string, newDescriptor: Descriptor, newPath: string): void {
    this.atPath(oldPath, false, (from) => {
      newDescriptor.atPath(newPath, false, (to) => {
        if (from.readOnly || to.readOnly) throw 'read-only';
        if (from.name === '.' || to.name === '.') throw 'busy';
        assertMayDetach(from.dirFd, from.name, this.ctx.policy);
        assertMayDetach(to.dirFd, to.name, this.ctx.policy);
        assertMayCreate(to.dirFd, to.name, this.ctx.policy);
        fs.renameSync(at(from.dirFd, from.name), at(to.dirFd, to.name));
      });
    });
  }

  symlinkAt(target: string, newPath: string): void {
    this.atPath(newPath, false, (r) => {
      if (r.readOnly) throw 'read-only';
      // As in wasmtime: a link's target must be relative. (Following one is checked anyway, in walk.ts.)
      if (target.startsWith('/')) throw 'not-permitted';
      if (target.includes('\0')) throw 'invalid';
      if (r.name === '.') throw 'exist';
      newEntryMustNotNameADirectory(r);
      assertMayCreate(r.dirFd, r.name, this.ctx.policy);
      fs.symlinkSync(target, at(r.dirFd, r.name));
    });
  }

  unlinkFileAt(path: string): void {
    this.atPath(path, false, (r) => {
      if (r.readOnly) throw 'read-only';
      if (r.name === '.') throw 'is-directory';
      assertMayDetach(r.dirFd, r.name, this.ctx.policy);
      fs.unlinkSync(at(r.dirFd, r.name));
    });
  }

  isSameObject(other: Descriptor): boolean {
    try {
      return identityOfFd(this.fd) === identityOfFd(other.fd);
    } catch {
      return false;
    }
  }

  metadataHash() {
    return guarded(() => hashOf(fs.fstatSync(this.fd, { bigint: true })));
  }

  metadataHashAt(flags: PathFlags, path: string) {
    return this.atPath(path, !!flags.symlinkFollow, (r) => hashOf(this.lstatResolved(r)));
  }

  [Symbol.for('dispose')](): void {
    if (this.closed) return;
    this.closed = true;
    this.lease.release();
  }

  // Host-side access for the preview1 host (runtime/preview1/), which keeps its own file offsets
  // and needs device and inode numbers: not part of the WIT interface. Paths still go through walk.ts.

  get hostFd(): number {
    return this.fd;
  }

  get directory(): boolean {
    return this.isDirectory;
  }

  get readOnlyHere(): boolean {
    return this.readOnly;
  }

  /** fstat with device and inode. */
  rawStat(): fs.BigIntStats {
    return guarded(() => fs.fstatSync(this.fd, { bigint: true }));
  }

  /** stat of a path below this directory, with device and inode. */
  rawStatAt(follow: boolean, path: string): fs.BigIntStats {
    return this.atPath(path, follow, (r) => this.lstatResolved(r));
  }

  /** Inode of each entry of this directory, by name (lstat: entries are not followed). */
  entryInode(name: string): bigint {
    return lstatOrUndefined(at(this.fd, name))?.ino ?? 0n;
  }

  /** Resolves a guest path from this directory and runs `op` on the result, closing what the walk opened. */
  private atPath<T>(path: string, follow: boolean, op: (r: Resolved) => T): T {
    return guarded(() => {
      this.directoryOnly();
      const resolved = walk({ fd: this.fd, readOnly: this.readOnly, preopen: this.preopen }, path, follow, this.ctx.policy);
      try {
        return op(resolved);
      } finally {
        resolved.release();
      }
    });
  }

  private openResolved(r: Resolved, openFlags: OpenFlags, flags: DescriptorFlags): Descriptor {
    const write = !!flags.write;
    if (r.readOnly && (write || openFlags.create || openFlags.truncate)) throw 'read-only';
    if (openFlags.create && openFlags.directory) throw 'invalid';
    let osFlags = (write ? (flags.read ? O_RDWR : O_WRONLY) : O_RDONLY) | ALWAYS;
    if (openFlags.create) osFlags |= O_CREAT;
    if (openFlags.exclusive) osFlags |= O_EXCL;
    if (openFlags.truncate) osFlags |= O_TRUNC;
    if (openFlags.directory) osFlags |= O_DIRECTORY;
    if (r.name === '.' && (openFlags.create && openFlags.exclusive)) throw 'exist';
    if (openFlags.create) assertMayCreate(r.dirFd, r.name, this.ctx.policy);
    // Looked at before the open too, which can act (a device node's driver, O_TRUNC), and again
    // on what was opened, which another process may have put in its place meanwhile.
    const before = r.name === '.' ? undefined : lstatOrUndefined(at(r.dirFd, r.name));
    // A file that changes when written: another name of one of krew-wasm's own files is refused (linkedFiles.ts).
    const changes = write || !!openFlags.truncate;
    if (before && (isOutOfReach(identityOf(before), this.ctx.policy) || isDevice(before) || (changes && this.ctx.policy.isProtectedFile(before)))) throw 'access';
    const fd = fs.openSync(at(r.dirFd, r.name), osFlags, 0o666);
    try {
      const stat = fs.fstatSync(fd, { bigint: true });
      const id = identityOf(stat);
      // Devices too: a disk or memory device node (a chroot's, or where /dev is no mount of its own).
      if (isOutOfReach(id, this.ctx.policy) || onKernelFs(fd, id, r.dirDevice()) || isDevice(stat) || (changes && this.ctx.policy.isProtectedFile(stat))) throw 'access';
      const isDirectory = stat.isDirectory();
      const readOnly = r.readOnly || (isDirectory && this.ctx.policy.readOnlyIds.has(id));
      return new Descriptor(fd, isDirectory, readOnly, { ...flags }, this.preopen, this.ctx);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  private lstatResolved(r: Resolved): fs.BigIntStats {
    if (r.name === '.') return fs.fstatSync(r.dirFd, { bigint: true });
    const stat = lstatOrUndefined(at(r.dirFd, r.name));
    if (!stat) throw 'no-entry';
    return stat;
  }

  private isRegularFile(): boolean {
    return fs.fstatSync(this.fd).isFile();
  }

  private fileOnly(): void {
    if (this.isDirectory) throw 'is-directory';
  }

  private directoryOnly(): void {
    if (!this.isDirectory) throw 'not-directory';
  }

  private writableFileOnly(): void {
    this.fileOnly();
    if (this.readOnly) throw 'read-only';
    if (!this.flags.write) throw 'bad-descriptor';
  }
}

aliasDispose(Descriptor);
aliasDispose(DirectoryEntryStream);

/** A link is not a directory: `name/` as its new path is `exist` when taken, else `no-entry` (as POSIX link(2)). */
function newEntryMustNotNameADirectory(r: Resolved): void {
  if (!r.mustBeDir) return;
  throw lstatOrUndefined(at(r.dirFd, r.name)) ? 'exist' : 'no-entry';
}

function hashOf(stat: fs.BigIntStats): { lower: bigint; upper: bigint } {
  return { lower: stat.ino, upper: stat.dev };
}

/** wasi:filesystem/types.filesystem-error-code: the error-code behind a stream error, if any. */
export function filesystemErrorCode(error: IoError): FsErrorCode | undefined {
  return error instanceof IoError ? error.fsCode : undefined;
}

/** The guest's preopened directories: fresh descriptors (their own fds) on each call. */
export function preopenedDirectories(ctx: FsContext): [Descriptor, string][] {
  return ctx.preopens.map((_, index) => [preopenedDirectory(ctx, index), ctx.preopens[index].guestPath]);
}

/** A fresh descriptor (its own fd) of the `index`th preopen. */
export function preopenedDirectory(ctx: FsContext, index: number): Descriptor {
  const p = ctx.preopens[index];
  let fd;
  try {
    fd = fs.openSync(`/proc/self/fd/${p.fd}`, O_RDONLY | O_DIRECTORY);
  } catch (error) {
    // get-directories has no error to return: a plugin holding every descriptor ends its run in one line.
    throw allDescriptorsHeld(error) ?? error;
  }
  return new Descriptor(fd, true, p.readOnly, { read: true, mutateDirectory: !p.readOnly }, p, ctx);
}

/** A character or block device node: a driver, never a file a plugin is granted. */
function isDevice(stat: fs.BigIntStats): boolean {
  return stat.isCharacterDevice() || stat.isBlockDevice();
}
