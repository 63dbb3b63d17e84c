import { MAX_WRITE_BYTES } from '../../fdio.js';
import { fsErrorCode, isHostControl, type FsErrorCode } from './errors.js';
import { waitUntil } from './wait.js';

/**
 * wasi:io (error, poll, streams): one implementation of input-stream and output-stream for every
 * host path (stdio, files, HTTP bodies), each backed by a small source or sink. jco checks
 * resources with `instanceof` against the classes in the import object, so there is exactly one
 * class per resource type and the variety lives in the source/sink it holds.
 */

/**
 * Largest chunk a single read hands to the guest, and one read or write system call moves: the
 * guest picks `len`, and the host neither allocates it blindly nor makes a call the watchdog
 * (--timeout, Ctrl-C) cannot stop inside (attack 93: a write of 2 GiB, 13 s): the bound of one
 * write of the process's own (fdio.ts), for every native call a plugin sizes.
 */
export const MAX_CHUNK = MAX_WRITE_BYTES;

/** wasi:io/error.error: a failure description, with the filesystem error-code when there is one. */
export class IoError {
  constructor(private readonly message: string, readonly fsCode?: FsErrorCode) {}
  toDebugString(): string {
    return this.message;
  }
}

/** What a stream reads from. `read` never blocks: an empty result means "nothing yet". */
export interface ByteSource {
  read(max: number): Uint8Array | 'eof';
  /** True when a read would return data or end-of-stream (default: always). */
  ready?(): boolean;
  /** True when readiness is only found by trying (a pipe), false when a worker bumps the wake word (default true). */
  polled?: boolean;
  close?(): void;
}

/** What a stream writes to. `write` writes everything, waiting (interruptibly) if the sink is full. */
export interface ByteSink {
  write(bytes: Uint8Array): void;
  flush?(): void;
  /** Bytes the guest may write before waiting (check-write); default MAX_CHUNK. */
  capacity?(): number;
  ready?(): boolean;
  close?(): void;
}

/** A failure of a stream operation, shown to the guest as `last-operation-failed`. */
export class StreamFailure extends Error {
  constructor(message: string, readonly fsCode?: FsErrorCode) {
    super(message);
  }
}

const CLOSED = { tag: 'closed' } as const;

function streamError(error: unknown): unknown {
  if (isHostControl(error) || (typeof error === 'object' && error !== null && (error as { tag?: unknown }).tag === 'closed')) return error;
  if (error instanceof StreamFailure) return { tag: 'last-operation-failed', val: new IoError(error.message, error.fsCode) };
  const code = fsErrorCode(error);
  return { tag: 'last-operation-failed', val: new IoError((error as Error)?.message ?? String(error), code) };
}

/** Runs a stream operation, turning failures into wasi:io stream-error values. */
function streamOp<T>(op: () => T): T {
  try {
    return op();
  } catch (error) {
    throw streamError(error);
  }
}

function clampLength(len: bigint, max = MAX_CHUNK): number {
  return len > BigInt(max) ? max : Number(len);
}

/** How long a wait sleeps at most when no event can end it early (readiness found by trying). */
const POLL_INTERVAL_MS = 20;
/** How long a wait sleeps at most when only timers and the wake word can end it. */
const EVENT_SLEEP_MS = 60_000;

/**
 * wasi:io/poll.pollable. Timers carry a deadline so that poll sleeps exactly until the first one;
 * `polled` pollables (a pipe) are retried with back-off, the others wait for the wake word.
 */
export class Pollable {
  constructor(private readonly isReady: () => boolean, readonly options: { deadlineNs?: bigint; polled?: boolean } = {}) {}
  get deadlineNs(): bigint | undefined {
    return this.options.deadlineNs;
  }
  ready(): boolean {
    return this.isReady();
  }
  block(): void {
    poll([this]);
  }
}

/** wasi:io/poll.poll: blocks until at least one pollable is ready; returns the ready indexes. */
export function poll(pollables: Pollable[]): Uint32Array {
  if (pollables.length === 0) throw new StreamFailure('poll of an empty list');
  let ready: number[] = [];
  // Each pollable asked once a turn, however often the list names it (150,000 copies of one
  // kept a core busy while the poll waited: attack 75); deadlines do not change, so the first
  // is found once (a scan of 3,000,000 copies at every turn did the same: attack 76).
  const distinct = [...new Set(pollables)];
  const first = distinct.reduce<bigint | undefined>((a, p) => (p.deadlineNs !== undefined && (a === undefined || p.deadlineNs < a) ? p.deadlineNs : a), undefined);
  const nextTimerMs = first === undefined ? undefined : () => Math.ceil(Number(first - process.hrtime.bigint()) / 1e6);
  const maxSleepMs = distinct.some((p) => p.options.polled) ? POLL_INTERVAL_MS : EVENT_SLEEP_MS;
  waitUntil(() => {
    const readyNow = new Set(distinct.filter((p) => p.ready()));
    ready = [];
    if (readyNow.size > 0) pollables.forEach((p, i) => readyNow.has(p) && ready.push(i));
    return ready.length > 0;
  }, { nextTimerMs, maxSleepMs });
  return new Uint32Array(ready);
}

/** wasi:io/streams.input-stream */
export class InputStream {
  private finished = false;
  constructor(private readonly source: ByteSource) {}

  read(len: bigint): Uint8Array {
    return streamOp(() => this.readNow(len));
  }

  blockingRead(len: bigint): Uint8Array {
    return streamOp(() => {
      for (;;) {
        const bytes = this.readNow(len);
        if (bytes.length > 0 || len === 0n) return bytes;
        waitUntil(() => this.source.ready?.() ?? true, { maxSleepMs: this.source.polled === false ? EVENT_SLEEP_MS : POLL_INTERVAL_MS });
      }
    });
  }

  skip(len: bigint): bigint {
    return BigInt(this.read(len).length);
  }


  blockingSkip(len: bigint): bigint {
    return BigInt(this.blockingRead(len).length);
  }

  subscribe(): Pollable {
    return new Pollable(() => this.finished || (this.source.ready?.() ?? true), { polled: this.source.polled !== false });
  }

  [Symbol.for('dispose')](): void {
    this.source.close?.();
  }

  private readNow(len: bigint): Uint8Array {
    if (this.finished) throw CLOSED;
    if (len === 0n) return new Uint8Array(0);
    const bytes = this.source.read(clampLength(len));
    if (bytes === 'eof') {
      this.finished = true;
      throw CLOSED;
    }
    return bytes;
  }
}

const ZEROES = new Uint8Array(64 * 1024);

/** wasi:io/streams.output-stream: every method of the interface, on any sink. */
export class OutputStream {
  constructor(private readonly sink: ByteSink) {}

  checkWrite(): bigint {
    return streamOp(() => BigInt(this.sink.capacity?.() ?? MAX_CHUNK));
  }

  write(contents: Uint8Array): void {
    streamOp(() => this.sink.write(contents));
  }

  blockingWriteAndFlush(contents: Uint8Array): void {
    streamOp(() => {
      this.sink.write(contents);
      this.sink.flush?.();
    });
  }

  flush(): void {
    streamOp(() => this.sink.flush?.());
  }

  blockingFlush(): void {
    this.flush();
  }

  subscribe(): Pollable {
    return new Pollable(() => this.sink.ready?.() ?? true);
  }

  writeZeroes(len: bigint): void {
    streamOp(() => this.zeroes(len));
  }

  blockingWriteZeroesAndFlush(len: bigint): void {
    streamOp(() => {
      this.zeroes(len);
      this.sink.flush?.();
    });
  }

  /**
   * Moves up to `len` bytes from `src` without waiting for it; `closed` once `src` has ended. As
   * WASI says: check-write first, then a read of no more than it permits, then the write. Reading
   * first lost what was read whenever the write then failed (attack 98).
   */
  splice(src: InputStream, len: bigint): bigint {
    const bytes = src.read(BigInt(this.permitted(len)));
    this.write(bytes);
    return BigInt(bytes.length);
  }

  /** splice, once this stream is ready for a write (and then `src` for a read). */
  blockingSplice(src: InputStream, len: bigint): bigint {
    this.subscribe().block();
    const bytes = src.blockingRead(BigInt(this.permitted(len)));
    this.write(bytes);
    return BigInt(bytes.length);
  }

  [Symbol.for('dispose')](): void {
    this.sink.close?.();
  }

  /** The most of `len` a write may take now: what check-write permits, at most MAX_CHUNK. */
  private permitted(len: bigint): number {
    return clampLength(len, Math.min(MAX_CHUNK, Number(this.checkWrite())));
  }

  private zeroes(len: bigint): void {
    // The guest picks len: it may not exceed what check-write allows, so the host never loops for 2^64 bytes.
    const capacity = BigInt(this.sink.capacity?.() ?? MAX_CHUNK);
    if (len > capacity) throw new StreamFailure(`write-zeroes of ${len} bytes exceeds check-write (${capacity})`, 'invalid');
    let left = Number(len);
    while (left > 0) {
      const n = Math.min(left, ZEROES.length);
      this.sink.write(ZEROES.subarray(0, n));
      left -= n;
    }
  }
}

/** Makes a resource class answer to Symbol.dispose too: jco calls whichever the runtime has. */
export function aliasDispose(cls: { prototype: object }): void {
  if (typeof Symbol.dispose !== 'symbol') return;
  const dispose = (cls.prototype as Record<symbol, unknown>)[Symbol.for('dispose')];
  Object.defineProperty(cls.prototype, Symbol.dispose, { value: dispose });
}

aliasDispose(InputStream);
aliasDispose(OutputStream);
