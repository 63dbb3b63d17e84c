/**
 * Runs in a worker thread: performs the HTTP requests and exec credential plugins the network
 * context hands over, while the main thread (inside a synchronous wasm import) sleeps on
 * Atomics.wait. Node 20 has no JSPI, so a guest import cannot await; the preview2 shim does the
 * same for its own IO. Every call carries an id and every reply names it: the main thread may have
 * given up on a call (timeout, deadline), and its late reply must not answer the next one.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { runExecCredential } from '../../kube/execCredential.js';
import { bare, connectToProxy, openTunnel, proxyAuthorization } from './proxyTunnel.js';
import { SLOT, type HttpCall, type HttpReply, type WorkerCall, type WorkerReply } from './workerProtocol.js';

/** Cancels in-flight calls by id. */
const inFlight = new Map<number, () => void>();

function perform(req: HttpCall, id: number): Promise<HttpReply> {
  return new Promise((resolve) => {
    let done = false;
    let request: http.ClientRequest | undefined;
    const finish = (reply: HttpReply) => {
      if (done) return;
      done = true;
      inFlight.delete(id);
      resolve(reply);
    };
    const fail = (message: string) => {
      request?.destroy();
      finish({ ok: false, message });
    };
    inFlight.set(id, () => fail('cancelled'));
    const socketTimeoutMs = req.timeoutMs + 1000;
    const onResponse = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > req.maxResponseBytes) return fail(`response body larger than ${req.maxResponseBytes} bytes`);
        chunks.push(chunk);
      });
      res.on('end', () => {
        const headers: [string, string][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i].toLowerCase(), res.rawHeaders[i + 1]]);
        finish({ ok: true, status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
      });
      res.on('error', (e) => fail(e.message));
    };
    const start = ({ options, client, socket }: Connection) => {
      if (done) return void socket?.destroy();
      // No agent: a fresh connection per request; with our own connection Node wants no agent at all.
      const agent = options.createConnection ? undefined : false;
      request = client.request({ ...options, method: req.method.toUpperCase(), agent, timeout: socketTimeoutMs }, onResponse);
      request.setTimeout(socketTimeoutMs, () => fail(`no answer within ${socketTimeoutMs} ms`));
      request.on('error', (e) => fail(e.message));
      request.end(req.body ? Buffer.from(req.body) : undefined);
    };
    connectOptions(req, socketTimeoutMs).then(start, (error: Error) => fail(error.message));
  });
}

interface Connection {
  options: http.RequestOptions;
  client: typeof http | typeof https;
  /** The connection made ahead of the request, when there is a proxy. */
  socket?: net.Socket;
}

/** How to reach the server: directly, through a tunnel (CONNECT or SOCKS5), or as a forward request to an HTTP proxy. */
async function connectOptions(req: HttpCall, timeoutMs: number): Promise<Connection> {
  const url = new URL(req.url);
  const host = bare(url.hostname);
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  const secure = url.protocol === 'https:';
  const tlsOptions: tls.ConnectionOptions = {
    ca: req.tls.ca,
    cert: req.tls.cert,
    key: req.tls.key,
    rejectUnauthorized: req.tls.rejectUnauthorized,
    servername: req.tls.servername ?? (net.isIP(host) ? undefined : host),
  };
  if (!req.tls.checkHostname) tlsOptions.checkServerIdentity = () => undefined;
  // The Host header (and a proxy's credentials) are the host's: the plugin's were filtered out before.
  const headers = headerObject(req.headers);
  headers.host = url.host;
  const target = { host, port, path: `${url.pathname}${url.search}`, headers };
  if (!req.proxy) return { options: secure ? { ...target, ...tlsOptions } : target, client: secure ? https : http };
  const proxyUrl = new URL(req.proxy.url);
  if (!secure && proxyUrl.protocol !== 'socks5:') {
    // Plain-HTTP servers are reached as Go's transport does: the request in absolute form, to the proxy.
    const socket = await connectToProxy(req.proxy, proxyUrl, timeoutMs);
    const auth = proxyAuthorization(proxyUrl);
    if (auth) headers['proxy-authorization'] = auth;
    return { options: { ...target, path: url.href, createConnection: () => socket }, client: http, socket };
  }
  // The tunnel comes paused (nothing it receives is lost before its consumer listens).
  const tunnel = await openTunnel(req.proxy, host, port, timeoutMs);
  const socket = secure ? tls.connect({ ...tlsOptions, socket: tunnel, host }) : tunnel;
  return { options: { ...target, createConnection: () => socket.resume() }, client: http, socket };
}

function headerObject(headers: [string, string][]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of headers) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

const shared = (workerData as { shared?: Int32Array } | null)?.shared;

async function handle(message: WorkerCall): Promise<WorkerReply | undefined> {
  if (message.kind === 'cancel') {
    inFlight.get(message.id)?.();
    return undefined;
  }
  if (message.kind === 'exec') {
    const result = await runExecCredential(message.exec, message.limitMs, {
      spawned: (pid) => shared && Atomics.store(shared, SLOT.execPid, pid),
      ended: () => shared && Atomics.store(shared, SLOT.execPid, 0),
    });
    return { id: message.id, result };
  }
  return { id: message.id, result: await perform(message.call, message.id) };
}

// The first message hands over the port replies go to; every later one is a call.
let replyPort: MessagePort | undefined;
parentPort?.on('message', (message: WorkerCall | { replyPort: MessagePort }) => {
  if ('replyPort' in message) {
    replyPort = message.replyPort;
    return;
  }
  handle(message).then(
    (reply) => reply && send(reply),
    (error: Error) => message.kind !== 'cancel' && send({ id: message.id, result: { ok: false, message: error.message } }),
  );
});

function send(reply: WorkerReply): void {
  replyPort!.postMessage(reply);
  if (!shared) return;
  Atomics.add(shared, SLOT.replies, 1);
  Atomics.notify(shared, SLOT.replies);
}

// Tell the main thread, which waits synchronously, that this module loaded and listens.
if (shared) {
  Atomics.store(shared, SLOT.ready, 1);
  Atomics.notify(shared, SLOT.ready);
}
