import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { WorkerRequest, WorkerResponse } from './httpWorker.js';

const WORKER_START_TIMEOUT_MS = 10_000;

/** Blocks the calling (main) thread until a worker has performed one HTTP request. */
export class SyncHttpClient {
  private worker?: Worker;
  private booting?: { worker: Worker; ready: Int32Array };

  constructor(private readonly workerUrl: URL) {}

  /** Starts the worker now, so that it boots while the main thread compiles and instantiates the plugin. */
  prestart(): void {
    if (this.worker || this.booting) return;
    const ready = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(this.workerUrl, { workerData: { ready } });
    worker.on('error', () => {});
    worker.unref();
    this.booting = { worker, ready };
  }

  send(req: Omit<WorkerRequest, 'signal'>): WorkerResponse {
    const worker = this.start();
    if (!worker) return { ok: false, error: 'request-error', message: 'the HTTP worker of krew-wasm did not start' };
    const signal = new Int32Array(new SharedArrayBuffer(4));
    worker.postMessage({ ...req, signal });
    // The worker also enforces the timeout; this bound only guards against a wedged worker.
    const waited = Atomics.wait(signal, 0, 0, req.timeoutMs + 5_000);
    const message = receiveMessageOnPort(this.port!);
    if (waited === 'timed-out' || !message) return { ok: false, error: 'request-error', message: 'request timed out' };
    return message.message as WorkerResponse;
  }

  private port?: MessagePort;

  /**
   * Starts the worker and waits until its module has loaded: the main thread cannot see a worker's
   * 'error' event while it blocks, so a worker that fails to load must not leave the guest hanging.
   */
  private start(): Worker | undefined {
    if (this.worker) return this.worker;
    this.prestart();
    const { worker, ready } = this.booting!;
    this.booting = undefined;
    if (Atomics.wait(ready, 0, 0, WORKER_START_TIMEOUT_MS) === 'timed-out') {
      void worker.terminate();
      return undefined;
    }
    // Replies come back on a dedicated channel so that receiveMessageOnPort can read them synchronously.
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    worker.postMessage({ replyPort: port2 }, [port2]);
    this.worker = worker;
    return worker;
  }
}
