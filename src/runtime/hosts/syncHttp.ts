import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { wakeWord, waitUntil } from '../wasi/wait.js';
import { MAX_OPEN_STREAMS, messageCost, SHARED_SLOTS, SLOT, type StreamCall, type StreamEvent, type WorkerCall, type WorkerReply } from './workerProtocol.js';

const WORKER_START_TIMEOUT_MS = 10_000;

/** A call without its id (the client numbers calls). */
export type Call = WorkerCall extends infer C ? (C extends { kind: 'http' | 'exec' } ? Omit<C, 'id'> : never) : never;

/** A reply, or why there is none: the wait bound or the deadline passed, or the worker never started. */
export type CallOutcome = { ok: true; result: WorkerReply['result'] } | { ok: false; why: 'timeout' | 'deadline' | 'no-worker' | 'worker-failed' };

/**
 * Blocks the calling (main) thread until the HTTP worker answered one call. The guest calls the
 * host synchronously (Node 20 has no JSPI), so the only wait that is allowed here is Atomics.wait
 * with a bound: it is also what V8's TerminateExecution (the time limit, Ctrl-C) can interrupt,
 * which a blocking system call on this thread could not be.
 */
export class SyncWorker {
  private worker?: Worker;
  private booting?: Worker;
  private port?: MessagePort;
  private nextId = 1;
  private exitHookInstalled = false;
  private failedToStart = false;
  private readonly shared = new Int32Array(new SharedArrayBuffer(4 * SHARED_SLOTS));

  constructor(
    private readonly workerUrl: URL = new URL('./httpWorker.js', import.meta.url),
    private readonly startTimeoutMs = WORKER_START_TIMEOUT_MS,
  ) {}

  /** Whether the worker has been started (it may still be booting). */
  get started(): boolean {
    return this.worker !== undefined || this.booting !== undefined;
  }

  /** Starts the worker now, so that it boots while the main thread compiles and instantiates the plugin. */
  prestart(): void {
    if (this.worker || this.booting) return;
    // stdout and stderr of its own (it writes to neither): by default Node pipes a worker's output
    // into process.stdout and process.stderr, making them, which loads node:net for a pipe (~3 ms).
    // None of the user's Node options: a worker inherits the preloads of NODE_OPTIONS and execArgv
    // (--require, --import), and one started at a plugin's first request would load a file the
    // plugin may have rewritten by then (found by an attack). Exec credential plugins get the
    // environment frozen with the kubeconfig, not this thread's.
    const worker = new Worker(this.workerUrl, { workerData: { shared: this.shared, wake: wakeWord() }, stdout: true, stderr: true, execArgv: [], env: workerEnv() });
    worker.on('error', () => {});
    worker.unref();
    this.booting = worker;
  }

  /** Whether a call has needed the worker: a request, or an exec credential plugin. */
  get used(): boolean {
    return this.worker !== undefined;
  }

  /** Has a started worker make TLS's one-time set-up now (an https server or proxy is ahead), not at the first request. */
  warmTls(): void {
    (this.worker ?? this.booting)?.postMessage({ kind: 'warm-tls' } satisfies WorkerCall);
  }

  /** Sends a call and waits for its own reply, at most `waitMs` and never past `deadline` (performance.now() ms). */
  call(message: Call, waitMs: number, deadline?: number): CallOutcome {
    const end = Math.min(performance.now() + waitMs, deadline ?? Infinity);
    if (this.failedToStart) return { ok: false, why: 'worker-failed' };
    const worker = this.start(end);
    if (!worker) return { ok: false, why: deadline !== undefined && performance.now() >= deadline ? 'deadline' : 'no-worker' };
    if (message.kind === 'exec') this.installExitHook();
    const id = this.nextId++;
    worker.postMessage({ ...message, id });
    for (;;) {
      const seen = Atomics.load(this.shared, SLOT.replies);
      for (let m = receiveMessageOnPort(this.port!); m; m = receiveMessageOnPort(this.port!)) {
        const reply = m.message as WorkerReply;
        if (reply.id === id) return { ok: true, result: reply.result };
        // An open stream's events wait for it; any other id is a reply to a call this thread gave up on.
        this.deliver(reply);
      }
      const now = performance.now();
      if (now >= end) {
        worker.postMessage({ kind: 'cancel', id } satisfies WorkerCall);
        return { ok: false, why: deadline !== undefined && now >= deadline ? 'deadline' : 'timeout' };
      }
      Atomics.wait(this.shared, SLOT.replies, seen, end - now);
    }
  }

  private readonly streams = new Map<number, StreamEvent[]>();
  /** Streams the worker has in hand: not yet over (end, error) nor let go of after a cancel. */
  private readonly unsettled = new Set<number>();

  /**
   * Starts a streaming request; its events queue up here until the stream takes them. Returns
   * undefined when the worker did not start within `waitMs`. Waits (interruptibly) while the
   * worker has MAX_OPEN_STREAMS in hand.
   */
  openStream(call: StreamCall, waitMs: number): HttpStream | undefined {
    const worker = this.start(performance.now() + waitMs);
    if (!worker) return undefined;
    waitUntil(() => {
      this.drain();
      return this.unsettled.size < MAX_OPEN_STREAMS;
    }, { maxSleepMs: 60_000 });
    const id = this.nextId++;
    this.unsettled.add(id);
    this.streams.set(id, []);
    worker.postMessage({ kind: 'stream', id, call } satisfies WorkerCall);
    return new HttpStream(this, id);
  }

  /** The events of stream `id` the worker has sent so far. */
  takeEvents(id: number): StreamEvent[] {
    this.drain();
    const queue = this.streams.get(id) ?? [];
    return queue.splice(0);
  }

  /** Moves every message the worker sent to the stream it belongs to. */
  private drain(): void {
    for (let m = receiveMessageOnPort(this.port!); m; m = receiveMessageOnPort(this.port!)) this.deliver(m.message as WorkerReply);
  }

  /** A reply to the stream it belongs to, if it is still open; a stream's last one settles it. */
  private deliver(reply: WorkerReply): void {
    const event = reply.result as StreamEvent;
    if (event.event === 'end' || event.event === 'error' || event.event === 'cancelled') this.unsettled.delete(reply.id);
    this.streams.get(reply.id)?.push(event);
  }

  post(message: WorkerCall): void {
    this.worker?.postMessage(message);
  }

  forgetStream(id: number): void {
    this.streams.delete(id);
    this.post({ kind: 'cancel', id });
  }

  /** Ends the process group of a running exec credential plugin, if there is one. */
  endExecGroup(): void {
    const pid = Atomics.load(this.shared, SLOT.execPid);
    if (pid <= 0) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /** Stops the worker (tests; a run simply exits). */
  close(): void {
    this.endExecGroup();
    void (this.worker ?? this.booting)?.terminate();
    this.worker = this.booting = undefined;
  }

  /**
   * An exec plugin runs in its own process group (so that it can be ended as a whole), which
   * the terminal's Ctrl-C does not reach: when this process ends for any reason that lets exit
   * handlers run (the time limit included), the group goes with it.
   */
  private installExitHook(): void {
    if (this.exitHookInstalled) return;
    this.exitHookInstalled = true;
    process.once('exit', () => this.endExecGroup());
  }

  /**
   * Starts the worker and waits until its module has loaded: the main thread cannot see a worker's
   * 'error' event while it blocks, so a worker that fails to load must not leave the guest hanging.
   */
  private start(end: number): Worker | undefined {
    if (this.worker) return this.worker;
    if (this.failedToStart) return undefined;
    this.prestart();
    const worker = this.booting!;
    const bound = Math.min(this.startTimeoutMs, Math.max(0, end - performance.now()));
    if (Atomics.wait(this.shared, SLOT.ready, 0, bound) === 'timed-out') {
      // A worker that could not boot (no file descriptors left, say) says so only on the event
      // loop, which this thread does not turn: after its whole start limit, no later call waits again.
      this.failedToStart = bound === this.startTimeoutMs;
      return undefined;
    }
    this.booting = undefined;
    // Replies come back on a dedicated channel so that receiveMessageOnPort can read them synchronously.
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    worker.postMessage({ replyPort: port2 }, [port2]);
    this.worker = worker;
    return worker;
  }
}

/** The process's environment without NODE_OPTIONS, which a worker given an environment parses again. */
function workerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/** Request body bytes sent to the worker and not yet written, before a write waits. */
const BODY_WINDOW_BYTES = 1024 * 1024;
/** Acknowledge consumed response bytes in batches. */
const ACK_BATCH_BYTES = 64 * 1024;

/**
 * One streaming request, seen from the main thread: the response head, then body bytes as they
 * arrive. Waiting is left to the caller (wasi:io pollables); every wait is an Atomics.wait on the
 * wake word, which the worker bumps with each event.
 */
export class HttpStream {
  private head?: { status: number; headers: [string, string][] };
  private readonly chunks: Uint8Array[] = [];
  /** What each chunk counts in the worker's window beyond its bytes. */
  private readonly overheads: number[] = [];
  private ended = false;
  private error?: { code: string; message: string };
  private consumed = 0;
  private unwritten = 0;
  private closed = false;
  /** Told of request body bytes no longer held: written to the connection, or dropped with the request. */
  onBodyReleased?: (bytes: number) => void;
  /** Told once the guest dropped the request's response (closed). */
  onClosed?: () => void;

  constructor(private readonly worker: SyncWorker, private readonly id: number) {}

  /** The response head once it arrived, or the error that ended the request, or undefined (not yet). */
  response(): { status: number; headers: [string, string][] } | { error: { code: string; message: string } } | undefined {
    this.pump();
    if (this.head) return this.head;
    if (this.error) return { error: this.error };
    return undefined;
  }

  /** Up to `max` body bytes, an empty array when none arrived yet, or 'eof'; throws the transport error. */
  read(max: number): Uint8Array | 'eof' {
    this.pump();
    if (this.chunks.length === 0) {
      this.throwIfFailed();
      return this.ended ? 'eof' : new Uint8Array(0);
    }
    const first = this.chunks[0];
    const taken = first.length <= max ? (this.chunks.shift() as Uint8Array) : first.subarray(0, max);
    if (taken !== first) this.chunks[0] = first.subarray(max);
    // The worker counts more than the bytes (messageCost): that is acknowledged with the chunk's last byte.
    this.consumed += taken === first ? taken.length + (this.overheads.shift() as number) : taken.length;
    if (this.consumed >= ACK_BATCH_BYTES || this.chunks.length === 0) {
      this.worker.post({ kind: 'stream-ack', id: this.id, bytes: this.consumed });
      this.consumed = 0;
    }
    return taken;
  }

  /** Whether the request still holds a connection or response bytes of the host's: not dropped, and not over with all its bytes read. */
  holding(): boolean {
    if (this.closed) return false;
    this.pump();
    return this.chunks.length > 0 || (!this.ended && this.error === undefined);
  }

  /** Whether a read would return bytes, end-of-body or an error now. */
  readable(): boolean {
    this.pump();
    return this.chunks.length > 0 || this.ended || this.error !== undefined;
  }

  /** Sends request body bytes, waiting (interruptibly) while the worker is a window behind (counted in messageCost). */
  writeBody(bytes: Uint8Array): void {
    // The guest dropped the response: the request is gone, and nothing would acknowledge these bytes.
    if (this.closed) throw new StreamError('HTTP-request-error', 'the request was dropped');
    this.throwIfFailed();
    waitUntil(() => {
      this.pump();
      return this.unwritten < BODY_WINDOW_BYTES || this.error !== undefined;
    }, { maxSleepMs: 60_000 });
    this.throwIfFailed();
    this.unwritten += messageCost(bytes.length);
    this.worker.post({ kind: 'stream-body', id: this.id, chunk: Uint8Array.from(bytes) });
  }

  endBody(): void {
    this.worker.post({ kind: 'stream-body-end', id: this.id });
  }

  /** What the writes sent to the worker and not yet written to the connection cost (messageCost). */
  unwrittenBytes(): number {
    return this.unwritten;
  }

  /** Takes in what the worker reported (body bytes written, among them); false once the request is closed. */
  settle(): boolean {
    if (this.closed) return false;
    this.pump();
    return true;
  }

  /** The request can no longer complete (its body was dropped unfinished): it fails (internal-error, `message`), and the worker stops it. */
  abort(message: string): void {
    if (this.closed || this.ended || this.error) return;
    this.error = { code: 'internal-error', message };
    this.worker.post({ kind: 'cancel', id: this.id });
    this.releaseUnwritten();
  }

  /** The guest dropped the response or its body: the worker stops reading from the server. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.worker.forgetStream(this.id);
    this.releaseUnwritten();
    this.chunks.length = 0; // what arrived and was never read: no one will
    this.overheads.length = 0;
    this.onClosed?.();
  }

  /** Body bytes that will never be acknowledged (the request failed or was dropped) are no longer held. */
  private releaseUnwritten(): void {
    if (this.unwritten > 0) this.onBodyReleased?.(this.unwritten);
    this.unwritten = 0;
  }

  private throwIfFailed(): void {
    if (this.error) throw new StreamError(this.error.code, this.error.message);
  }

  private pump(): void {
    for (const event of this.worker.takeEvents(this.id)) {
      if (event.event === 'head') this.head = { status: event.status, headers: event.headers };
      else if (event.event === 'data') {
        this.chunks.push(event.chunk);
        this.overheads.push(event.overhead);
      }
      else if (event.event === 'end') this.ended = true;
      else if (event.event === 'error') {
        this.error = { code: event.code, message: event.message };
        this.releaseUnwritten();
      } else if (event.event === 'written' && this.unwritten > 0) {
        // One event a write: what it cost is released.
        const cost = Math.min(this.unwritten, messageCost(event.bytes));
        this.unwritten -= cost;
        this.onBodyReleased?.(cost);
      }
    }
  }
}

/** A transport failure of a streaming request, with its wasi:http error-code. */
export class StreamError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

