import fs from 'node:fs';
import { crypto } from '../../builtin.js';
import { isHostControl, fsErrorCode } from '../wasi/errors.js';
import { Descriptor, preopenedDirectory, typeOf } from '../wasi/filesystem.js';
import type { DeferredFs } from '../wasi/preopens.js';
import { isTerminal } from '../../fdio.js';
import { MAX_CHUNK } from '../wasi/io.js';
import { ExitSignal, FdSink, StdinSource } from '../wasi/stdio.js';
import { sleep, waitUntil } from '../wasi/wait.js';
import { MAX_HANDLES, TooManyHandles } from '../limits.js';
import {
  ALL_RIGHTS, CLOCK, DIRECTORY_RIGHTS, ERRNO, errnoOf, EVENTTYPE, FDFLAGS, FILE_RIGHTS, FILETYPE, filetypeOf, FSTFLAGS,
  LOOKUP_SYMLINK_FOLLOW, OFLAGS, RIGHT, SIZE, STDIO_RIGHTS, SUBCLOCKFLAGS_ABSTIME, WHENCE,
} from './abi.js';

/**
 * wasi_snapshot_preview1 for plain preview1 modules (C, Rust, AssemblyScript builds), run as core
 * modules without wrapping them into components: jco's glue and its preview1 adapter cost a C
 * "hello" most of its start-up, and the adapter drops exit codes and has errno and memory bugs
 * (bench/, the WASI test suite). Every path still goes through the same walker and descriptors as
 * wasi:filesystem (runtime/wasi/walk.ts, filesystem.ts): one boundary, two ABIs.
 */

export interface Preview1Sandbox {
  args: string[];
  env: Record<string, string>;
  fs?: DeferredFs;
}

/** An errno for the guest, thrown inside a call and returned by the wrapper. */
class Errno {
  constructor(readonly errno: number) {}
}

const fail = (errno: number): never => {
  throw new Errno(errno);
};

type Entry =
  | { kind: 'stdin'; source: StdinSource; rights: bigint; fdflags: number }
  | { kind: 'stdout'; sink: FdSink; hostFd: number; rights: bigint; fdflags: number }
  | { kind: 'file'; desc: Descriptor; position: bigint; appendFd?: number; rights: bigint; inheriting: bigint; fdflags: number }
  | { kind: 'dir'; desc: Descriptor; preopen?: string; rights: bigint; inheriting: bigint; fdflags: number; made?: () => boolean };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The most iovecs one read or write takes (Linux's IOV_MAX). */
const IOV_MAX = 1024;
/** The most subscriptions one poll_oneoff takes (EINVAL beyond): a plugin polls a handful. */
const MAX_SUBSCRIPTIONS = 4096;

/** The largest file offset or size Linux takes (off_t); past it, pread, pwrite, lseek and ftruncate say EINVAL. */
const MAX_OFF_T = (1n << 63n) - 1n;
/**
 * Node's writeSync takes a position only as a safe integer, and writes any other at the
 * descriptor's own offset: past it a write is EFBIG here, never made somewhere else in the file.
 */
const MAX_WRITE_POSITION = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A u64 of the ABI (a size, an offset, a cookie, a timestamp) as the guest meant it: V8 hands an
 * i64 parameter over as a signed BigInt, and 2^64-1 arrived as -1 (a size of -1 emptied the file,
 * an offset of -1 read at the current position).
 */
const u64 = (value: bigint): bigint => BigInt.asUintN(64, value);

/** A file offset or size from the guest: EINVAL past what the kernel takes. */
function fileOffset(value: bigint): bigint {
  const offset = u64(value);
  return offset > MAX_OFF_T ? fail(ERRNO.INVAL) : offset;
}

/** A preview1 module's descriptors (exported for its unit test). */
export class FdTable {
  private readonly entries = new Map<number, Entry>();

  constructor(sandbox: Preview1Sandbox) {
    this.entries.set(0, { kind: 'stdin', source: new StdinSource(), rights: STDIO_RIGHTS, fdflags: 0 });
    this.entries.set(1, { kind: 'stdout', sink: new FdSink(1), hostFd: 1, rights: STDIO_RIGHTS, fdflags: FDFLAGS.APPEND });
    this.entries.set(2, { kind: 'stdout', sink: new FdSink(2), hostFd: 2, rights: STDIO_RIGHTS, fdflags: FDFLAGS.APPEND });
    const deferred = sandbox.fs;
    deferred?.guestPaths.forEach((guestPath, index) => this.entries.set(this.lowestFree(), preopenEntry(deferred, index, guestPath)));
  }

  get(fd: number): Entry {
    return this.entries.get(fd) ?? fail(ERRNO.BADF);
  }

  has(fd: number): boolean {
    return this.entries.has(fd);
  }

  add(entry: Entry): number {
    // As a component's handles (limits.ts): each entry may hold a host descriptor and host memory
    // that --max-memory does not count; without a bound a plugin held every descriptor the process
    // may open (attack 68).
    if (this.entries.size >= MAX_HANDLES) throw new TooManyHandles(MAX_HANDLES);
    const fd = this.lowestFree();
    this.entries.set(fd, entry);
    return fd;
  }

  file(fd: number): Extract<Entry, { kind: 'file' }> {
    const entry = this.get(fd);
    if (entry.kind === 'dir') fail(ERRNO.ISDIR);
    if (entry.kind !== 'file') fail(ERRNO.SPIPE);
    return entry as Extract<Entry, { kind: 'file' }>;
  }

  dir(fd: number): Descriptor {
    const entry = this.get(fd);
    if (entry.kind !== 'dir') fail(ERRNO.NOTDIR);
    return (entry as Extract<Entry, { kind: 'dir' }>).desc;
  }

  close(fd: number): void {
    const entry = this.get(fd);
    this.entries.delete(fd);
    this.freed(fd);
    release(entry);
  }

  renumber(from: number, to: number): void {
    const entry = this.get(from);
    const replaced = this.get(to);
    if (from === to) return;
    this.entries.delete(from);
    this.freed(from);
    this.entries.set(to, entry);
    release(replaced);
  }

  /** No descriptor below this one is free: each search starts here, not at 3 (a table of n was n² to fill). */
  private firstMaybeFree = 3;

  private freed(fd: number): void {
    if (fd >= 3 && fd < this.firstMaybeFree) this.firstMaybeFree = fd;
  }

  private lowestFree(): number {
    let fd = this.firstMaybeFree;
    while (this.entries.has(fd)) fd++;
    this.firstMaybeFree = fd + 1;
    return fd;
  }
}

/**
 * A preopen's entry: its name answers fd_prestat_* at once; its descriptor, and with it the
 * sandbox's checks (DeferredFs), is made by the first call that reaches it.
 */
function preopenEntry(deferredFs: DeferredFs, index: number, guestPath: string): Extract<Entry, { kind: 'dir' }> {
  let desc: Descriptor | undefined;
  return {
    kind: 'dir',
    preopen: guestPath,
    rights: DIRECTORY_RIGHTS,
    inheriting: ALL_RIGHTS,
    fdflags: 0,
    get desc() {
      return (desc ??= preopenedDirectory(deferredFs.context(), index));
    },
    made: () => desc !== undefined,
  };
}

function release(entry: Entry): void {
  if (entry.kind === 'file' || (entry.kind === 'dir' && entry.made?.() !== false)) {
    (entry.desc as unknown as Record<symbol, () => void>)[Symbol.for('dispose')]();
  }
  if (entry.kind === 'file' && entry.appendFd !== undefined) fs.closeSync(entry.appendFd);
}

/**
 * The directory a preview1 fd_readdir pass reads, as the guest's buffers ask for its entries
 * (Node's fs.Dir, 32 at a time), never the whole listing at once: one readdir of a directory of
 * 300,000 entries was 0.8 s that no --timeout could stop, and millions a host array of them all
 * (attack 93). It keeps the last entry asked for, which a guest whose buffer cut it asks for
 * again; an earlier one starts the directory over.
 */
class DirListing {
  private handle: fs.Dir;
  /** The index in the listing of the entry the handle gives next. */
  private next = 0;
  /** The last entry given, with its index. */
  private current?: { index: number; entry: fs.Dirent };
  private ended = false;

  constructor(readonly dir: Descriptor) {
    this.handle = this.open();
  }

  /** The entry at `index` of the listing (from 0, `.` and `..` not in it), or undefined past its end. */
  at(index: number): fs.Dirent | undefined {
    if (this.current?.index === index) return this.current.entry;
    if (index < this.next) this.restart();
    while (this.next <= index) {
      const entry = this.ended ? null : this.handle.readSync();
      if (!entry) {
        this.ended = true;
        return undefined;
      }
      this.current = { index: this.next++, entry };
    }
    return this.current?.entry;
  }

  close(): void {
    try {
      this.handle.closeSync();
    } catch {
      // closed already
    }
  }

  private open(): fs.Dir {
    return fs.opendirSync(`/proc/self/fd/${this.dir.hostFd}`, { bufferSize: 32 });
  }

  private restart(): void {
    // The new handle first: a failed open (a folder made unreadable meanwhile) leaves this one as it was,
    // where a closed one failed every later fd_readdir of the run (attack 97).
    const handle = this.open();
    this.close();
    this.handle = handle;
    this.next = 0;
    this.current = undefined;
    this.ended = false;
  }
}

/** The imports of a preview1 module, and the hook to give it the module's memory once instantiated. */
export function preview1Imports(sandbox: Preview1Sandbox): { imports: WebAssembly.Imports; bindMemory(memory: WebAssembly.Memory): void } {
  let memory: WebAssembly.Memory | undefined;
  const fds = new FdTable(sandbox);
  /** The directory a preview1 fd_readdir pass is reading (see fd_readdir). */
  let listing: DirListing | undefined;
  const view = () => new DataView((memory as WebAssembly.Memory).buffer);
  const bytes = (ptr: number, len: number) => new Uint8Array((memory as WebAssembly.Memory).buffer, ptr, len);
  const str = (ptr: number, len: number): string => {
    try {
      return decoder.decode(bytes(ptr, len));
    } catch (error) {
      if (error instanceof RangeError) throw error;
      return fail(ERRNO.ILSEQ);
    }
  };
  /**
   * The guest's iovecs as views into its memory: at most IOV_MAX of them, as POSIX's readv and
   * writev take (EINVAL beyond). The count is the guest's: 7.86M empty iovecs in one fd_write held
   * 1.7 GB of views under --max-memory 64 (found by an attack).
   */
  const iovecs = (ptr: number, count: number): Uint8Array[] => {
    if (count > IOV_MAX) fail(ERRNO.INVAL);
    const v = view();
    return Array.from({ length: count }, (_, i) => bytes(v.getUint32(ptr + i * SIZE.IOVEC, true), v.getUint32(ptr + i * SIZE.IOVEC + 4, true)));
  };
  const writeStrings = (strings: string[], ptrsPtr: number, bufPtr: number) => {
    const v = view();
    let offset = bufPtr;
    strings.forEach((s, i) => {
      const encoded = encoder.encode(s);
      v.setUint32(ptrsPtr + i * 4, offset, true);
      bytes(offset, encoded.length).set(encoded);
      v.setUint8(offset + encoded.length, 0);
      offset += encoded.length + 1;
    });
  };
  const sizes = (strings: string[], countPtr: number, sizePtr: number) => {
    const v = view();
    v.setUint32(countPtr, strings.length, true);
    v.setUint32(sizePtr, strings.reduce((n, s) => n + encoder.encode(s).length + 1, 0), true);
  };
  const envStrings = Object.entries(sandbox.env).map(([k, val]) => `${k}=${val}`);
  const writeFilestat = (ptr: number, stat: fs.BigIntStats) => {
    const v = view();
    v.setBigUint64(ptr, stat.dev, true);
    v.setBigUint64(ptr + 8, stat.ino, true);
    v.setUint8(ptr + 16, filetypeOf(typeOf(stat)));
    v.setBigUint64(ptr + 24, stat.nlink, true);
    v.setBigUint64(ptr + 32, stat.size, true);
    v.setBigUint64(ptr + 40, stat.atimeNs, true);
    v.setBigUint64(ptr + 48, stat.mtimeNs, true);
    v.setBigUint64(ptr + 56, stat.ctimeNs, true);
  };

  /** Wraps a host function: returns its errno, and never lets a host exception reach the guest as a crash. */
  const call = <A extends unknown[]>(fn: (...args: A) => number | void) => (...args: A): number => {
    // Every i32 of preview1 is unsigned (descriptors, pointers, lengths, counts, flags, clock ids),
    // and V8 hands it over signed: a pointer past 2 GiB, or a count of 2^31, arrived negative.
    for (let i = 0; i < args.length; i++) if (typeof args[i] === 'number') args[i] = (args[i] as number) >>> 0;
    try {
      return fn(...args) ?? ERRNO.SUCCESS;
    } catch (error) {
      if (error instanceof Errno) return error.errno;
      if (isHostControl(error)) throw error;
      if (error instanceof RangeError && /bounds|offset|length/i.test(error.message)) return ERRNO.FAULT;
      return errnoOf(typeof error === 'string' ? error : fsErrorCode(error));
    }
  };

  const readInto = (entry: Entry, buffers: Uint8Array[], position?: bigint): number => {
    if (entry.kind === 'stdin') {
      let total = 0;
      for (const buf of buffers) {
        if (buf.length === 0) continue;
        let chunk = entry.source.read(buf.length);
        // Blocking read: wait for the first bytes (interruptibly), then take only what is there.
        while (total === 0 && chunk !== 'eof' && chunk.length === 0) {
          waitUntil(() => entry.source.ready());
          chunk = entry.source.read(buf.length);
        }
        if (chunk === 'eof' || chunk.length === 0) break;
        buf.set(chunk);
        total += chunk.length;
        if (chunk.length < buf.length) break;
      }
      return total;
    }
    if (entry.kind === 'dir') fail(ERRNO.ISDIR);
    if (entry.kind !== 'file') fail(ERRNO.BADF);
    const file = entry as Extract<Entry, { kind: 'file' }>;
    if (!(file.rights & RIGHT.FD_READ)) fail(ERRNO.BADF);
    let at = position ?? file.position;
    let total = 0;
    for (const buf of buffers) {
      let filled = 0;
      while (filled < buf.length) {
        const n = readRetrying(file.desc.hostFd, buf, filled, Math.min(buf.length - filled, MAX_CHUNK), at);
        if (n === 0) break;
        filled += n;
        at += BigInt(n);
      }
      total += filled;
      if (filled < buf.length) break;
    }
    if (position === undefined) file.position = at;
    return total;
  };

  const writeFrom = (entry: Entry, buffers: Uint8Array[], position?: bigint): number => {
    if (entry.kind === 'stdout') {
      let total = 0;
      for (const buf of buffers) {
        entry.sink.write(buf);
        total += buf.length;
      }
      return total;
    }
    if (entry.kind === 'dir') fail(ERRNO.ISDIR);
    if (entry.kind !== 'file') fail(ERRNO.BADF);
    const file = entry as Extract<Entry, { kind: 'file' }>;
    if (!(file.rights & RIGHT.FD_WRITE)) fail(ERRNO.BADF);
    if (file.desc.readOnlyHere) fail(ERRNO.ROFS);
    let total = 0;
    const appending = position === undefined && (file.fdflags & FDFLAGS.APPEND) !== 0;
    // Non-blocking as every host fd (a FIFO that is full waits in writeRetrying, where --timeout ends it).
    const fd = appending ? (file.appendFd ??= fs.openSync(`/proc/self/fd/${file.desc.hostFd}`, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_NONBLOCK)) : file.desc.hostFd;
    let at = position ?? file.position;
    for (const buf of buffers) {
      let done = 0;
      try {
        while (done < buf.length) {
          const n = writeRetrying(fd, buf, done, Math.min(buf.length - done, MAX_CHUNK), appending ? null : at);
          done += n;
          at += BigInt(n);
        }
      } catch (error) {
        // A write that stops part-way says how much it wrote, as POSIX and wasmtime do; the error
        // is the next write's. Reported as the error, the bytes written were not counted.
        if (total + done === 0 || isHostControl(error)) throw error;
        total += done;
        break;
      }
      total += done;
    }
    if (appending) file.position = fs.fstatSync(fd, { bigint: true }).size;
    else if (position === undefined) file.position = at;
    return total;
  };

  const filetypeOfEntry = (entry: Entry): number => {
    if (entry.kind === 'dir') return FILETYPE.DIRECTORY;
    if (entry.kind === 'file') return filetypeOf(typeOf(entry.desc.rawStat()));
    const fd = entry.kind === 'stdin' ? 0 : entry.hostFd;
    return isTerminal(fd) ? FILETYPE.CHARACTER_DEVICE : FILETYPE.UNKNOWN;
  };

  const timestamps = (atim: bigint, mtim: bigint, flags: number) => {
    if ((flags & FSTFLAGS.ATIM && flags & FSTFLAGS.ATIM_NOW) || (flags & FSTFLAGS.MTIM && flags & FSTFLAGS.MTIM_NOW)) fail(ERRNO.INVAL);
    if (flags & ~0xf) fail(ERRNO.INVAL);
    const one = (value: bigint, set: number, now: number) =>
      flags & now ? { tag: 'now' as const } : flags & set ? { tag: 'timestamp' as const, val: { seconds: u64(value) / 1_000_000_000n, nanoseconds: Number(u64(value) % 1_000_000_000n) } } : { tag: 'no-change' as const };
    return [one(atim, FSTFLAGS.ATIM, FSTFLAGS.ATIM_NOW), one(mtim, FSTFLAGS.MTIM, FSTFLAGS.MTIM_NOW)] as const;
  };

  const socketOnly = (fd: number) => {
    fds.get(fd);
    return ERRNO.NOTSOCK;
  };

  const wasi = {
    args_get: call((argv: number, buf: number) => writeStrings(sandbox.args, argv, buf)),
    args_sizes_get: call((count: number, size: number) => sizes(sandbox.args, count, size)),
    environ_get: call((environ: number, buf: number) => writeStrings(envStrings, environ, buf)),
    environ_sizes_get: call((count: number, size: number) => sizes(envStrings, count, size)),
    clock_res_get: call((id: number, ptr: number) => {
      if (id > CLOCK.THREAD_CPUTIME) return ERRNO.INVAL;
      view().setBigUint64(ptr, id === CLOCK.MONOTONIC ? 1n : 1000n, true);
    }),
    clock_time_get: call((id: number, _precision: bigint, ptr: number) => {
      view().setBigUint64(ptr, clockNow(id), true);
    }),
    fd_advise: call((fd: number, _offset: bigint, _len: bigint, advice: number) => {
      fds.file(fd);
      if (advice > 5) return ERRNO.INVAL;
    }),
    fd_allocate: call((fd: number) => {
      fds.file(fd);
      return ERRNO.NOTSUP; // wasi:filesystem has no allocate; as wasmtime's adapter
    }),
    fd_close: call((fd: number) => fds.close(fd)),
    fd_datasync: call((fd: number) => {
      const entry = fds.get(fd);
      if (entry.kind !== 'file' && entry.kind !== 'dir') return ERRNO.INVAL;
      entry.desc.syncData();
    }),
    fd_fdstat_get: call((fd: number, ptr: number) => {
      const entry = fds.get(fd);
      const v = view();
      v.setUint8(ptr, filetypeOfEntry(entry));
      v.setUint16(ptr + 2, entry.fdflags, true);
      v.setBigUint64(ptr + 8, entry.rights, true);
      v.setBigUint64(ptr + 16, 'inheriting' in entry ? entry.inheriting : 0n, true);
    }),
    fd_fdstat_set_flags: call((fd: number, flags: number) => {
      const entry = fds.get(fd);
      if (flags & ~(FDFLAGS.APPEND | FDFLAGS.NONBLOCK)) return ERRNO.NOTSUP;
      if (entry.kind === 'file') entry.fdflags = flags;
      else if (entry.kind === 'dir') return ERRNO.BADF;
      else entry.fdflags = flags;
    }),
    fd_fdstat_set_rights: call((fd: number, base: bigint, inheriting: bigint) => {
      const entry = fds.get(fd);
      const currentInheriting = 'inheriting' in entry ? entry.inheriting : 0n;
      if ((base & ~entry.rights) !== 0n || (inheriting & ~currentInheriting) !== 0n) return ERRNO.NOTCAPABLE;
      entry.rights = base;
      if ('inheriting' in entry) entry.inheriting = inheriting;
    }),
    fd_filestat_get: call((fd: number, ptr: number) => {
      const entry = fds.get(fd);
      if (entry.kind === 'file' || entry.kind === 'dir') return writeFilestat(ptr, entry.desc.rawStat());
      new Uint8Array((memory as WebAssembly.Memory).buffer, ptr, SIZE.FILESTAT).fill(0);
      view().setUint8(ptr + 16, filetypeOfEntry(entry));
    }),
    fd_filestat_set_size: call((fd: number, size: bigint) => fds.file(fd).desc.setSize(fileOffset(size))),
    fd_filestat_set_times: call((fd: number, atim: bigint, mtim: bigint, flags: number) => {
      const entry = fds.get(fd);
      if (entry.kind !== 'file' && entry.kind !== 'dir') return ERRNO.BADF;
      const [a, m] = timestamps(atim, mtim, flags);
      entry.desc.setTimes(a, m);
    }),
    fd_pread: call((fd: number, iovs: number, count: number, offset: bigint, nread: number) => {
      const entry = fds.get(fd);
      if (entry.kind === 'stdin' || entry.kind === 'stdout') return ERRNO.SPIPE;
      view().setUint32(nread, readInto(entry, iovecs(iovs, count), fileOffset(offset)), true);
    }),
    fd_prestat_get: call((fd: number, ptr: number) => {
      const entry = fds.get(fd);
      if (entry.kind !== 'dir' || entry.preopen === undefined) return ERRNO.BADF;
      const v = view();
      v.setUint8(ptr, 0);
      v.setUint32(ptr + 4, encoder.encode(entry.preopen).length, true);
    }),
    fd_prestat_dir_name: call((fd: number, ptr: number, len: number) => {
      const entry = fds.get(fd);
      if (entry.kind !== 'dir' || entry.preopen === undefined) return ERRNO.BADF;
      const name = encoder.encode(entry.preopen);
      if (len < name.length) return ERRNO.NAMETOOLONG;
      bytes(ptr, name.length).set(name);
    }),
    fd_pwrite: call((fd: number, iovs: number, count: number, offset: bigint, nwritten: number) => {
      const entry = fds.get(fd);
      if (entry.kind === 'stdin' || entry.kind === 'stdout') return ERRNO.SPIPE;
      view().setUint32(nwritten, writeFrom(entry, iovecs(iovs, count), fileOffset(offset)), true);
    }),
    fd_read: call((fd: number, iovs: number, count: number, nread: number) => {
      view().setUint32(nread, readInto(fds.get(fd), iovecs(iovs, count)), true);
    }),
    fd_readdir: call((fd: number, buf: number, bufLen: number, signedCookie: bigint, bufused: number) => {
      const dir = fds.dir(fd);
      const cookie = u64(signedCookie); // past the last entry: nothing more, as wasmtime
      // A pass starts at cookie 0, and its listing is kept for the calls that continue it, one
      // directory at a time: reading it again on every call made a large directory O(n^2).
      if (cookie === 0n || listing?.dir !== dir) {
        listing?.close();
        listing = undefined; // a failed open leaves no listing behind, and the next call opens one
        listing = new DirListing(dir);
      }
      const out = bytes(buf, bufLen); // the guest's buffer itself: bounds-checked, never a host allocation of its size
      let used = 0;
      for (let i = cookie < BigInt(Number.MAX_SAFE_INTEGER) ? Number(cookie) : Number.MAX_SAFE_INTEGER; used < bufLen; i++) {
        // `.` and `..` first, then the listing; only the entries written are stat-ed, for their inode.
        const listed = i < 2 ? undefined : listing.at(i - 2);
        if (i >= 2 && !listed) break;
        const entry = i === 0 ? { name: '.', ino: dir.rawStat().ino, type: FILETYPE.DIRECTORY }
          : i === 1 ? { name: '..', ino: 0n, type: FILETYPE.DIRECTORY }
          : { name: listed!.name, ino: dir.entryInode(listed!.name), type: filetypeOf(typeOf(listed!)) };
        const name = encoder.encode(entry.name);
        const record = new Uint8Array(SIZE.DIRENT + name.length);
        const rv = new DataView(record.buffer);
        rv.setBigUint64(0, BigInt(i + 1), true);
        rv.setBigUint64(8, entry.ino, true);
        rv.setUint32(16, name.length, true);
        rv.setUint8(20, entry.type);
        record.set(name, SIZE.DIRENT);
        const n = Math.min(record.length, bufLen - used);
        out.set(record.subarray(0, n), used);
        used += n;
      }
      view().setUint32(bufused, used, true);
    }),
    fd_renumber: call((from: number, to: number) => fds.renumber(from, to)),
    fd_seek: call((fd: number, offset: bigint, whence: number, ptr: number) => {
      const entry = fds.get(fd);
      if (entry.kind === 'dir') return ERRNO.BADF;
      if (entry.kind !== 'file') return ERRNO.SPIPE;
      const base = whence === WHENCE.SET ? 0n : whence === WHENCE.CUR ? entry.position : whence === WHENCE.END ? entry.desc.rawStat().size : fail(ERRNO.INVAL);
      const next = (base as bigint) + offset;
      if (next < 0n || next > MAX_OFF_T) return ERRNO.INVAL;
      entry.position = next;
      view().setBigUint64(ptr, next, true);
    }),
    fd_sync: call((fd: number) => {
      const entry = fds.get(fd);
      if (entry.kind !== 'file' && entry.kind !== 'dir') return ERRNO.INVAL;
      entry.desc.sync();
    }),
    fd_tell: call((fd: number, ptr: number) => {
      const entry = fds.get(fd);
      if (entry.kind === 'dir') return ERRNO.BADF;
      if (entry.kind !== 'file') return ERRNO.SPIPE;
      view().setBigUint64(ptr, entry.position, true);
    }),
    fd_write: call((fd: number, iovs: number, count: number, nwritten: number) => {
      view().setUint32(nwritten, writeFrom(fds.get(fd), iovecs(iovs, count)), true);
    }),
    path_create_directory: call((fd: number, path: number, len: number) => fds.dir(fd).createDirectoryAt(str(path, len))),
    path_filestat_get: call((fd: number, flags: number, path: number, len: number, ptr: number) => {
      writeFilestat(ptr, fds.dir(fd).rawStatAt((flags & LOOKUP_SYMLINK_FOLLOW) !== 0, str(path, len)));
    }),
    path_filestat_set_times: call((fd: number, flags: number, path: number, len: number, atim: bigint, mtim: bigint, fst: number) => {
      const [a, m] = timestamps(atim, mtim, fst);
      fds.dir(fd).setTimesAt({ symlinkFollow: (flags & LOOKUP_SYMLINK_FOLLOW) !== 0 }, str(path, len), a, m);
    }),
    path_link: call((oldFd: number, oldFlags: number, oldPath: number, oldLen: number, newFd: number, newPath: number, newLen: number) => {
      fds.dir(oldFd).linkAt({ symlinkFollow: (oldFlags & LOOKUP_SYMLINK_FOLLOW) !== 0 }, str(oldPath, oldLen), fds.dir(newFd), str(newPath, newLen));
    }),
    path_open: call((fd: number, dirflags: number, path: number, len: number, oflags: number, base: bigint, inheriting: bigint, fdflags: number, out: number) => {
      const parent = fds.get(fd);
      if (parent.kind !== 'dir') return ERRNO.NOTDIR;
      // Rights are advisory in WASI 0.2, but one the guest dropped itself is honoured.
      if (oflags & OFLAGS.TRUNC && !(parent.rights & RIGHT.PATH_FILESTAT_SET_SIZE)) return ERRNO.NOTCAPABLE;
      const read = (base & (RIGHT.FD_READ | RIGHT.FD_READDIR)) !== 0n;
      const write = (base & (RIGHT.FD_WRITE | RIGHT.FD_ALLOCATE | RIGHT.FD_FILESTAT_SET_SIZE)) !== 0n || (oflags & OFLAGS.TRUNC) !== 0;
      const desc = parent.desc.openAt(
        { symlinkFollow: (dirflags & LOOKUP_SYMLINK_FOLLOW) !== 0 },
        str(path, len),
        { create: !!(oflags & OFLAGS.CREAT), directory: !!(oflags & OFLAGS.DIRECTORY), exclusive: !!(oflags & OFLAGS.EXCL), truncate: !!(oflags & OFLAGS.TRUNC) },
        { read: read || !write, write, mutateDirectory: true },
      );
      const rights = base & parent.inheriting;
      const entry: Entry = desc.directory
        ? { kind: 'dir', desc, rights: rights & DIRECTORY_RIGHTS, inheriting: inheriting & parent.inheriting, fdflags: 0 }
        : { kind: 'file', desc, position: 0n, rights: rights & FILE_RIGHTS, inheriting: inheriting & parent.inheriting, fdflags: fdflags & (FDFLAGS.APPEND | FDFLAGS.NONBLOCK | FDFLAGS.SYNC | FDFLAGS.DSYNC | FDFLAGS.RSYNC) };
      const opened = fds.add(entry);
      try {
        view().setUint32(out, opened, true);
      } catch (error) {
        fds.close(opened); // the guest never learns its number: not left open, one more each call
        throw error;
      }
    }),
    path_readlink: call((fd: number, path: number, len: number, buf: number, bufLen: number, used: number) => {
      const target = encoder.encode(fds.dir(fd).readlinkAt(str(path, len)));
      const n = Math.min(target.length, bufLen);
      bytes(buf, n).set(target.subarray(0, n));
      view().setUint32(used, n, true);
    }),
    path_remove_directory: call((fd: number, path: number, len: number) => fds.dir(fd).removeDirectoryAt(str(path, len))),
    path_rename: call((fd: number, oldPath: number, oldLen: number, newFd: number, newPath: number, newLen: number) => {
      fds.dir(fd).renameAt(str(oldPath, oldLen), fds.dir(newFd), str(newPath, newLen));
    }),
    path_symlink: call((oldPath: number, oldLen: number, fd: number, newPath: number, newLen: number) => {
      fds.dir(fd).symlinkAt(str(oldPath, oldLen), str(newPath, newLen));
    }),
    path_unlink_file: call((fd: number, path: number, len: number) => fds.dir(fd).unlinkFileAt(str(path, len))),
    poll_oneoff: call((inPtr: number, outPtr: number, count: number, neventsPtr: number) => {
      // The host holds ~300 bytes per 48-byte subscription: 3.6 GB under --max-memory 640 (an attack).
      if (count === 0 || count > MAX_SUBSCRIPTIONS) return ERRNO.INVAL;
      const v0 = view();
      const subs = Array.from({ length: count }, (_, i) => {
        const at = inPtr + i * SIZE.SUBSCRIPTION;
        const tag = v0.getUint8(at + 8);
        if (tag > EVENTTYPE.FD_WRITE) fail(ERRNO.INVAL);
        const userdata = v0.getBigUint64(at, true);
        if (tag === EVENTTYPE.CLOCK) {
          const id = v0.getUint32(at + 16, true);
          const timeout = v0.getBigUint64(at + 24, true);
          const absolute = (v0.getUint16(at + 40, true) & SUBCLOCKFLAGS_ABSTIME) !== 0;
          if (id > CLOCK.THREAD_CPUTIME) return { userdata, tag, error: ERRNO.INVAL, due: 0n, fd: -1 };
          // Deadlines on the monotonic clock, whichever clock the guest named.
          const due = process.hrtime.bigint() + (absolute ? timeout - clockNow(id) : timeout);
          return { userdata, tag, error: 0, due, fd: -1 };
        }
        return { userdata, tag, error: 0, due: 0n, fd: v0.getUint32(at + 16, true) };
      });
      // stdin answers repeated looks within 0.2 ms from its last (StdinSource.ready).
      const readyEvents = () => subs.filter((s) => {
        if (s.error) return true;
        if (s.tag === EVENTTYPE.CLOCK) return process.hrtime.bigint() >= s.due;
        if (!fds.has(s.fd)) return true;
        const entry = fds.get(s.fd);
        return s.tag === EVENTTYPE.FD_READ && entry.kind === 'stdin' ? entry.source.ready() : true;
      });
      let ready = readyEvents();
      if (ready.length === 0) {
        const clocks = subs.filter((s) => s.tag === EVENTTYPE.CLOCK);
        waitUntil(() => (ready = readyEvents()).length > 0, {
          maxSleepMs: subs.some((s) => s.tag !== EVENTTYPE.CLOCK) ? 20 : 60_000,
          nextTimerMs: clocks.length ? () => Math.ceil(Number(clocks.reduce((a, b) => (a.due < b.due ? a : b)).due - process.hrtime.bigint()) / 1e6) : undefined,
        });
      }
      const v = view();
      ready.forEach((s, i) => {
        const at = outPtr + i * SIZE.EVENT;
        v.setBigUint64(at, s.userdata, true);
        const badFd = s.tag !== EVENTTYPE.CLOCK && !fds.has(s.fd);
        v.setUint16(at + 8, s.error || (badFd ? ERRNO.BADF : 0), true);
        v.setUint8(at + 10, s.tag);
        v.setBigUint64(at + 16, s.tag === EVENTTYPE.CLOCK ? 0n : 1n, true);
        v.setUint16(at + 24, 0, true);
      });
      v.setUint32(neventsPtr, ready.length, true);
    }),
    proc_exit: (code: number): never => {
      throw new ExitSignal(code);
    },
    proc_raise: call(() => ERRNO.NOSYS),
    random_get: call((buf: number, len: number) => {
      // MAX_CHUNK at a time: filling a plugin's whole 4 GiB memory at once held the run 20 s past
      // --timeout and Ctrl-C (attack 92). No cap, as WASI 0.2's (random.ts): the bytes go into the
      // guest's own memory, which the host does not hold.
      const target = bytes(buf, len); // out of bounds is EFAULT before a byte is written
      for (let at = 0; at < len; at += MAX_CHUNK) crypto().randomFillSync(target.subarray(at, at + MAX_CHUNK));
    }),
    sched_yield: call(() => ERRNO.SUCCESS),
    sock_accept: call((fd: number) => socketOnly(fd)),
    sock_recv: call((fd: number) => socketOnly(fd)),
    sock_send: call((fd: number) => socketOnly(fd)),
    sock_shutdown: call((fd: number) => socketOnly(fd)),
  };
  return { imports: { wasi_snapshot_preview1: wasi }, bindMemory: (m) => (memory = m) };
}

function clockNow(id: number): bigint {
  switch (id) {
    case CLOCK.REALTIME:
      return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    case CLOCK.MONOTONIC:
      return process.hrtime.bigint();
    case CLOCK.PROCESS_CPUTIME:
    case CLOCK.THREAD_CPUTIME: {
      const usage = process.cpuUsage();
      return BigInt(usage.user + usage.system) * 1000n;
    }
    default:
      return fail(ERRNO.INVAL);
  }
}

/** pread on a descriptor opened non-blocking: a FIFO with nothing yet is waited for, interruptibly. */
function readRetrying(fd: number, buf: Uint8Array, offset: number, length: number, position: bigint): number {
  for (;;) {
    try {
      return fs.readSync(fd, buf, offset, length, position);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ESPIPE') return fs.readSync(fd, buf, offset, length, null);
      if (code !== 'EAGAIN') throw error;
      sleep(5);
    }
  }
}

function writeRetrying(fd: number, buf: Uint8Array, offset: number, length: number, position: bigint | null): number {
  if (position !== null && position > MAX_WRITE_POSITION) fail(ERRNO.FBIG);
  for (;;) {
    try {
      return fs.writeSync(fd, buf, offset, length, position === null ? null : Number(position));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ESPIPE') return fs.writeSync(fd, buf, offset, length, null);
      if (code !== 'EAGAIN') throw error;
      sleep(5);
    }
  }
}
