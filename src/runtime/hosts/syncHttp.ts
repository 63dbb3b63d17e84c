import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { SHARED_SLOTS, SLOT, type WorkerCall, type WorkerReply } from './workerProtocol.js';

const WORKER_START_TIMEOUT_MS = 10_000;

/** A call without its id (the client numbers calls). */
export type Call = WorkerCall extends infer C ? (C extends { kind: 'http' | 'exec' } ? Omit<C, 'id'> : never) : never;

/** A reply, or why there is none: the wait bound or the deadline passed, or the worker never started. */
export type CallOutcome = { ok: true; result: WorkerReply['result'] } | { ok: false; why: 'timeout' | 'deadline' | 'no-worker' };

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
  private readonly shared = new Int32Array(new SharedArrayBuffer(4 * SHARED_SLOTS));

  constructor(private readonly workerUrl: URL = new URL('./httpWorker.js', import.meta.url)) {}

  /** Starts the worker now, so that it boots while the main thread compiles and instantiates the plugin. */
  prestart(): void {
    if (this.worker || this.booting) return;
    const worker = new Worker(this.workerUrl, { workerData: { shared: this.shared } });
    worker.on('error', () => {});
    worker.unref();
    this.booting = worker;
  }

  /** Sends a call and waits for its own reply, at most `waitMs` and never past `deadline` (performance.now() ms). */
  call(message: Call, waitMs: number, deadline?: number): CallOutcome {
    const end = Math.min(performance.now() + waitMs, deadline ?? Infinity);
    const worker = this.start(end);
    if (!worker) return { ok: false, why: deadline !== undefined && performance.now() >= deadline ? 'deadline' : 'no-worker' };
    if (message.kind === 'exec') this.installExitHook();
    const id = this.nextId++;
    worker.postMessage({ ...message, id });
    for (;;) {
      const seen = Atomics.load(this.shared, SLOT.replies);
      for (let m = receiveMessageOnPort(this.port!); m; m = receiveMessageOnPort(this.port!)) {
        const reply = m.message as WorkerReply;
        // Any other id is a reply to a call this thread gave up on: it must not answer this one.
        if (reply.id === id) return { ok: true, result: reply.result };
      }
      const now = performance.now();
      if (now >= end) {
        worker.postMessage({ kind: 'cancel', id } satisfies WorkerCall);
        return { ok: false, why: deadline !== undefined && now >= deadline ? 'deadline' : 'timeout' };
      }
      Atomics.wait(this.shared, SLOT.replies, seen, end - now);
    }
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
    this.prestart();
    const worker = this.booting!;
    const bound = Math.min(WORKER_START_TIMEOUT_MS, Math.max(0, end - performance.now()));
    if (Atomics.wait(this.shared, SLOT.ready, 0, bound) === 'timed-out') return undefined;
    this.booting = undefined;
    // Replies come back on a dedicated channel so that receiveMessageOnPort can read them synchronously.
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    worker.postMessage({ replyPort: port2 }, [port2]);
    this.worker = worker;
    return worker;
  }
}
