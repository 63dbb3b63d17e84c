/**
 * Runs in a worker thread: performs the HTTP requests the outbound-http host hands over, while the
 * main thread (inside a synchronous wasm import) sleeps on Atomics.wait. Node 20 has no JSPI, so a
 * guest import cannot await; this is the same trick the preview2 shim uses for its own IO.
 */
import http from 'node:http';
import https from 'node:https';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';

/** One request, already checked against the policy by the main thread. */
export interface WorkerRequest {
  url: string;
  method: string;
  headers: [string, string][];
  body?: Uint8Array;
  tls: { ca?: string[]; cert?: string; key?: string; rejectUnauthorized: boolean; servername?: string; checkHostname: boolean };
  timeoutMs: number;
  maxResponseBytes: number;
  signal: Int32Array;
}

export type WorkerResponse =
  | { ok: true; status: number; headers: [string, string][]; body: Uint8Array }
  | { ok: false; error: 'request-error'; message: string };

function perform(req: WorkerRequest): Promise<WorkerResponse> {
  return new Promise((resolve) => {
    const url = new URL(req.url);
    const options: https.RequestOptions = {
      method: req.method.toUpperCase(),
      headers: req.headers.reduce<Record<string, string | string[]>>((acc, [k, v]) => {
        const prev = acc[k];
        acc[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
        return acc;
      }, {}),
      timeout: req.timeoutMs,
      agent: false,
    };
    if (url.protocol === 'https:') {
      Object.assign(options, {
        ca: req.tls.ca,
        cert: req.tls.cert,
        key: req.tls.key,
        rejectUnauthorized: req.tls.rejectUnauthorized,
        servername: req.tls.servername,
      });
      if (!req.tls.checkHostname) options.checkServerIdentity = () => undefined;
    }
    const fail = (message: string) => resolve({ ok: false, error: 'request-error', message });
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > req.maxResponseBytes) {
          res.destroy();
          fail(`response body larger than ${req.maxResponseBytes} bytes`);
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        const headers: [string, string][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i].toLowerCase(), res.rawHeaders[i + 1]]);
        resolve({ ok: true, status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
      });
      res.on('error', (e) => fail(e.message));
    });
    request.setTimeout(req.timeoutMs, () => request.destroy(new Error(`no answer within ${req.timeoutMs} ms`)));
    request.on('error', (e) => fail(e.message));
    request.end(req.body ? Buffer.from(req.body) : undefined);
  });
}

// Tell the main thread, which waits synchronously, that this module loaded and listens.
const ready = (workerData as { ready?: Int32Array } | null)?.ready;
if (ready) {
  Atomics.store(ready, 0, 1);
  Atomics.notify(ready, 0);
}

// The first message hands over the port replies go to; every later one is a request.
let replyPort: MessagePort | undefined;
parentPort?.on('message', async (message: WorkerRequest | { replyPort: MessagePort }) => {
  if ('replyPort' in message) {
    replyPort = message.replyPort;
    return;
  }
  const req = message;
  let result: WorkerResponse;
  try {
    result = await perform(req);
  } catch (error) {
    result = { ok: false, error: 'request-error', message: (error as Error).message };
  }
  replyPort!.postMessage(result);
  Atomics.store(req.signal, 0, 1);
  Atomics.notify(req.signal, 0);
});
