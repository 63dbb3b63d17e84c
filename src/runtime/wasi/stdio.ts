import fs from 'node:fs';
import type net from 'node:net';
import { builtin } from '../../builtin.js';
import { allDescriptorsHeld } from '../limits.js';
import { isTerminal, writeAllSync } from '../../fdio.js';
import type { ByteSink, ByteSource } from './io.js';
import { sleep } from './wait.js';

/**
 * The plugin's stdio. Writes are synchronous: a write returns once the bytes are in the pipe, so
 * nothing is lost at exit and a slow reader slows the plugin (real back-pressure) instead of
 * growing a queue in the host. A closed pipe (`kubectl foo | head`) ends the plugin quietly with
 * 141, as SIGPIPE ends `yes`.
 *
 * No read or write may block in a syscall, where neither `--timeout` nor Ctrl-C could end it (see
 * wait.ts). A pipe or terminal is reopened through /proc/self/fd/N with O_NONBLOCK: a new open
 * file description, so the flag does not leak to the processes we share the pipe with. A socket
 * (what libuv-based parents such as Node give their children) cannot be reopened: libuv sets
 * O_NONBLOCK on it when a handle is opened on the fd, and Node restores the flag at exit, as it
 * does for its own process.stdin. Regular files and /dev/null never block.
 */

/** Exit status of a plugin whose output pipe was closed by its reader. */
export const SIGPIPE_EXIT = 141;

/**
 * Thrown to end the run with an exit code; the run loop turns it into the exit status. An Error,
 * because jco's glue re-throws Errors from a host call that returns a result, where any other
 * value would be taken for the call's error payload.
 */
export class ExitSignal extends Error {
  readonly hostControl = true;
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

const { O_RDONLY, O_WRONLY, O_NONBLOCK, O_NOCTTY } = fs.constants;

/** Kept alive: a collected handle would close its fd. */
const socketHandles: net.Socket[] = [];

/** The descriptor to use for host fd `fd`: a non-blocking reopen of a pipe or terminal, else `fd` itself. */
function nonBlockingFd(fd: number, flags: number): number {
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(fd);
  } catch {
    return fd; // closed: the first read or write reports it
  }
  if (stat.isSocket()) {
    // readable/writable false: the handle exists to set the flag and never reads on its own.
    const { Socket } = builtin<typeof net>('node:net');
    socketHandles.push(new Socket({ fd, readable: false, writable: false }));
    return fd;
  }
  if (!stat.isFIFO() && !stat.isCharacterDevice()) return fd;
  if (stat.isCharacterDevice() && !isTerminal(fd)) return fd; // /dev/null and friends never block
  try {
    return fs.openSync(`/proc/self/fd/${fd}`, flags | O_NONBLOCK | O_NOCTTY);
  } catch (error) {
    // With no descriptor left (the plugin holds them all), the blocking one would let a read or
    // write wait in the kernel past --timeout and Ctrl-C (attack 68): the run ends instead.
    const held = allDescriptorsHeld(error);
    if (held) throw held;
    return fd; // no /proc, a FIFO with no reader yet: the first read or write reports what it can
  }
}

/** Sink writing to host fd 1 or 2. */
export class FdSink implements ByteSink {
  private fd?: number;
  constructor(private readonly hostFd: number) {}

  write(bytes: Uint8Array): void {
    const fd = (this.fd ??= nonBlockingFd(this.hostFd, O_WRONLY));
    try {
      writeAllSync(fd, bytes, sleep); // a slow reader is waited for, interruptibly
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EPIPE') throw new ExitSignal(SIGPIPE_EXIT);
      throw error;
    }
  }
}

/** Source reading host fd 0. Readiness is found by trying, so a read ahead is kept for the next read. */
export class StdinSource implements ByteSource {
  private fd?: number;
  private pending?: Uint8Array | 'eof';
  private readonly buffer = Buffer.allocUnsafe(64 * 1024);
  /** When a look found nothing to read (process.hrtime.bigint()). */
  private emptyAt?: bigint;

  read(max: number): Uint8Array | 'eof' {
    const ahead = this.takePending(max);
    if (ahead) return ahead;
    return this.readNow(max);
  }

  /**
   * Whether a read would not wait. Asked again within 0.2 ms of finding nothing, it answers
   * from that look: a poll of thousands of stdin pollables made a failed read (and Node's error
   * object) for each at every turn, a core's worth while it waited (attacks 74 and 75).
   */
  ready(): boolean {
    if (this.pending === undefined && !(this.emptyAt !== undefined && process.hrtime.bigint() - this.emptyAt < 200_000n)) {
      const bytes = this.readNow(this.buffer.length);
      if (bytes === 'eof' || bytes.length > 0) this.pending = bytes === 'eof' ? bytes : Uint8Array.from(bytes);
      else this.emptyAt = process.hrtime.bigint();
    }
    return this.pending !== undefined;
  }

  private takePending(max: number): Uint8Array | 'eof' | undefined {
    const ahead = this.pending;
    if (ahead === undefined || ahead === 'eof') return ahead;
    if (ahead.length <= max) {
      this.pending = undefined;
      return ahead;
    }
    this.pending = ahead.subarray(max);
    return ahead.subarray(0, max);
  }

  private readNow(max: number): Uint8Array | 'eof' {
    const fd = (this.fd ??= nonBlockingFd(0, O_RDONLY));
    try {
      const n = fs.readSync(fd, this.buffer, 0, Math.min(max, this.buffer.length), null);
      return n === 0 ? 'eof' : Uint8Array.prototype.slice.call(this.buffer, 0, n);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') return new Uint8Array(0);
      if (code === 'EOF' || code === 'EBADF') return 'eof';
      throw error;
    }
  }
}
