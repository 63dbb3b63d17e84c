import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { WorkerRequest, WorkerResponse } from './httpWorker.js';

/** Blocks the calling (main) thread until a worker has performed one HTTP request. */
export class SyncHttpClient {
  private worker?: Worker;

  constructor(private readonly workerUrl: URL) {}

  send(req: Omit<WorkerRequest, 'signal'>): WorkerResponse {
    const worker = this.start();
    const signal = new Int32Array(new SharedArrayBuffer(4));
    worker.postMessage({ ...req, signal });
    // The worker also enforces the timeout; this bound only guards against a wedged worker.
    const waited = Atomics.wait(signal, 0, 0, req.timeoutMs + 5_000);
    const message = receiveMessageOnPort(this.port!);
    if (waited === 'timed-out' || !message) return { ok: false, error: 'request-error', message: 'request timed out' };
    return message.message as WorkerResponse;
  }

  private port?: MessagePort;

  private start(): Worker {
    if (this.worker) return this.worker;
    // Replies come back on a dedicated channel so that receiveMessageOnPort can read them synchronously.
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(this.workerUrl);
    this.worker.postMessage({ replyPort: port2 }, [port2]);
    this.worker.unref();
    return this.worker;
  }
}
