import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MAX_WRITE_BYTES, writeAllSync } from '../../src/fdio.js';
import { GlueBudget } from '../../src/runtime/limits.js';
import { preview1Imports } from '../../src/runtime/preview1/host.js';
import { RIGHT } from '../../src/runtime/preview1/abi.js';
import { preopenedDirectories, type Descriptor } from '../../src/runtime/wasi/filesystem.js';
import { MAX_CHUNK } from '../../src/runtime/wasi/io.js';
import { closePreopens, createFsContext, DeferredFs, openPreopens } from '../../src/runtime/wasi/preopens.js';

/**
 * Host work whose size the plugin picks is done in native calls of at most 1 MiB each: the
 * watchdog (--timeout, Ctrl-C) stops a run between two native calls, never inside one, and one
 * write or copy of 2 GiB held a run 13-16 s past both (attack 93). Each case moves 3 MiB and a
 * few bytes, checks what arrived, and counts the native calls it took. Serial: each spies on a
 * function shared by the file's tests.
 */

const SIZE = 3 * 1024 * 1024 + 5;
const PATTERN = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i++) PATTERN[i] = (i * 7 + 3) & 0xff;
const pattern = () => Uint8Array.from(PATTERN);

/** Whether `bytes` are the pattern's first `length` (compared whole: ava's deepEqual of 3 MiB takes seconds). */
const isPattern = (bytes: Uint8Array, length = SIZE) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(PATTERN.subarray(0, length));

/** Runs `work` with `fs.writeSync` counted: the length of each call. */
function writesOf(work: () => void): number[] {
  const lengths: number[] = [];
  const real = fs.writeSync;
  (fs as { writeSync: unknown }).writeSync = (fd: number, buffer: Uint8Array, offset?: number, length?: number, position?: unknown) => {
    lengths.push(length ?? buffer.length - (offset ?? 0));
    return (real as (...args: unknown[]) => number)(fd, buffer, offset, length, position);
  };
  try {
    work();
  } finally {
    (fs as { writeSync: unknown }).writeSync = real;
  }
  return lengths;
}

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-bounded-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A preview1 host with `dir` preopened as fd 3, bound to a memory of `pages`: its imports as the guest calls them. */
function preview1With(t: ExecutionContext, dir: string, pages: number) {
  const opened = openPreopens([{ guestPath: '/root', hostPath: dir, readOnly: false }]);
  t.teardown(() => closePreopens(opened));
  const { imports, bindMemory } = preview1Imports({ args: [], env: {}, fs: new DeferredFs(opened, () => ({ protectedDirs: [], readOnlyDirs: [], launchPaths: [] })) });
  const memory = new WebAssembly.Memory({ initial: pages });
  bindMemory(memory);
  return { wasi: imports.wasi_snapshot_preview1 as Record<string, (...args: (number | bigint)[]) => number>, memory, view: new DataView(memory.buffer) };
}

function boundedWrites(t: ExecutionContext, lengths: number[], max: number): void {
  t.true(lengths.length >= Math.ceil(SIZE / max), `${lengths.length} writes`);
  t.true(lengths.every((n) => n <= max), `the longest: ${Math.max(...lengths)} bytes`);
}

test.serial('the glue copies a list out of guest memory 1 MiB at a time, the same bytes', (t) => {
  const memory = new WebAssembly.Memory({ initial: 64 });
  const bytes = pattern();
  new Uint8Array(memory.buffer).set(bytes, 100);
  const sets: number[] = [];
  const realSet = Uint8Array.prototype.set;
  Uint8Array.prototype.set = function (this: Uint8Array, array: ArrayLike<number>, offset?: number) {
    sets.push(array.length);
    return realSet.call(this, array, offset);
  };
  let copy: ArrayBuffer;
  try {
    copy = new GlueBudget().slice(memory.buffer, 100, 100 + SIZE);
  } finally {
    Uint8Array.prototype.set = realSet;
  }
  t.true(isPattern(new Uint8Array(copy)));
  t.true(sets.length >= 4 && sets.every((n) => n <= 1024 * 1024), `copies of ${sets.join(', ')} bytes`);
  t.true(isPattern(new Uint8Array(new GlueBudget().slice(memory.buffer, 100, 110)), 10), 'a small list in one');
});

test.serial('stdout and the CLI write MAX_WRITE_BYTES at a time (writeAllSync)', (t) => {
  const file = path.join(tempDir(t), 'out');
  const fd = fs.openSync(file, 'w');
  t.teardown(() => fs.closeSync(fd));
  boundedWrites(t, writesOf(() => writeAllSync(fd, pattern())), MAX_WRITE_BYTES);
  t.true(isPattern(fs.readFileSync(file)));
});

test.serial('WASI 0.2 files: an output stream writes MAX_CHUNK at a time; descriptor.write writes at most MAX_CHUNK, a short write', (t) => {
  const dir = tempDir(t);
  const ctx = createFsContext({ preopens: [{ guestPath: '/root', hostPath: dir, readOnly: false }], protectedDirs: [], readOnlyDirs: [], launchPaths: [] });
  const [[root]] = preopenedDirectories(ctx) as [Descriptor, string][];
  const file = root.openAt({ symlinkFollow: false }, 'streamed', { create: true }, { write: true });
  const stream = file.writeViaStream(0n);
  boundedWrites(t, writesOf(() => stream.blockingWriteAndFlush(pattern())), MAX_CHUNK);
  t.true(isPattern(fs.readFileSync(path.join(dir, 'streamed'))));
  const direct = root.openAt({ symlinkFollow: false }, 'direct', { create: true }, { write: true });
  t.is(direct.write(pattern(), 0n), BigInt(MAX_CHUNK), 'a short write: the plugin writes the rest');
  t.true(isPattern(fs.readFileSync(path.join(dir, 'direct')), MAX_CHUNK));
});

test.serial('preview1 files: fd_write writes MAX_CHUNK at a time, all of it', (t) => {
  const dir = tempDir(t);
  const { wasi, memory, view } = preview1With(t, dir, 64);
  const name = new TextEncoder().encode('p1file');
  new Uint8Array(memory.buffer).set(name, 16);
  t.is(wasi.path_open!(3, 0, 16, name.length, 1, RIGHT.FD_WRITE, 0n, 0, 32), 0, 'path_open');
  const fd = view.getUint32(32, true);
  new Uint8Array(memory.buffer).set(pattern(), 4096);
  view.setUint32(64, 4096, true); // one iovec: the whole pattern
  view.setUint32(68, SIZE, true);
  boundedWrites(t, writesOf(() => t.is(wasi.fd_write!(fd, 64, 1, 80), 0)), MAX_CHUNK);
  t.is(view.getUint32(80, true), SIZE);
  t.true(isPattern(fs.readFileSync(path.join(dir, 'p1file'))));
});

test.serial('preview1 fd_readdir reads a directory as the guest\'s buffers ask, not the whole listing; every entry once, cut entries asked again, a pass started over', (t) => {
  const dir = tempDir(t);
  const names = Array.from({ length: 5000 }, (_, i) => `entry-${i}`);
  for (const name of names) fs.writeFileSync(path.join(dir, name), '');
  const { wasi, memory, view } = preview1With(t, dir, 1);
  /** One fd_readdir call into a buffer of `size` at 1024: the complete entries (name, next cookie), and whether it was full. */
  const readdir = (cookie: bigint, size: number) => {
    t.is(wasi.fd_readdir!(3, 1024, size, cookie, 16), 0);
    const used = view.getUint32(16, true);
    const got: [string, bigint][] = [];
    for (let at = 1024; at + 24 <= 1024 + used;) {
      const next = view.getBigUint64(at, true);
      const length = view.getUint32(at + 16, true);
      if (at + 24 + length > 1024 + used) break; // cut: asked for again from the last whole entry's cookie
      got.push([new TextDecoder().decode(new Uint8Array(memory.buffer, at + 24, length)), next]);
      at += 24 + length;
    }
    return { got, full: used === size };
  };
  // Entries the host takes from the directory, whichever way it reads it.
  const reads = { count: 0 };
  const realRead = fs.Dir.prototype.readSync;
  const realReaddir = fs.readdirSync;
  fs.Dir.prototype.readSync = function (this: fs.Dir) {
    reads.count++;
    return realRead.call(this);
  };
  (fs as { readdirSync: unknown }).readdirSync = (...args: unknown[]) => {
    const listed = (realReaddir as (...a: unknown[]) => unknown[])(...args);
    reads.count += listed.length;
    return listed;
  };
  t.teardown(() => {
    fs.Dir.prototype.readSync = realRead;
    (fs as { readdirSync: unknown }).readdirSync = realReaddir;
  });
  const first = readdir(0n, 200);
  t.true(first.full);
  t.true(reads.count <= 10, `${reads.count} entries taken from the directory for a buffer of 200 bytes`);
  // A whole pass, as wasi-libc makes it: from the cookie of the last whole entry, again and again.
  const seen: string[] = [];
  let cookie = 0n;
  for (;;) {
    const { got, full } = readdir(cookie, 200);
    seen.push(...got.map(([name]) => name));
    if (!full) break;
    cookie = got[got.length - 1]![1];
  }
  t.deepEqual(seen.slice(0, 2), ['.', '..']);
  t.deepEqual(seen.slice(2).sort(), [...names].sort(), 'every entry once');
  // Back to an earlier cookie: the directory is read again from its start, the same entries.
  const again = readdir(3n, 200).got.map(([name]) => name);
  t.is(again.length > 0, true);
  t.deepEqual(again, seen.slice(3, 3 + again.length));
});

test.serial('preview1 fd_readdir: a directory that cannot be opened again fails that call only; the next pass reads it (attack 97)', (t) => {
  const dir = tempDir(t);
  for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(dir, `entry-${i}`), '');
  const { wasi } = preview1With(t, dir, 1);
  t.is(wasi.fd_readdir!(3, 1024, 400, 0n, 16), 0);
  t.is(wasi.fd_readdir!(3, 1024, 400, 5n, 16), 0, 'on into the pass');
  const realOpendir = fs.opendirSync;
  (fs as { opendirSync: unknown }).opendirSync = () => {
    throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
  };
  try {
    t.not(wasi.fd_readdir!(3, 1024, 400, 3n, 16), 0, 'back to an earlier cookie: the folder cannot be opened again');
    t.not(wasi.fd_readdir!(3, 1024, 400, 0n, 16), 0, 'nor for a new pass');
  } finally {
    (fs as { opendirSync: unknown }).opendirSync = realOpendir;
  }
  t.is(wasi.fd_readdir!(3, 1024, 400, 3n, 16), 0, 'readable again: the pass goes on');
  t.is(wasi.fd_readdir!(3, 1024, 400, 0n, 16), 0, 'and a new pass reads it');
});
