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
import { SecureContexts } from './secureContexts.js';
import { bump, messageCost, SLOT, STREAM_WINDOW_BYTES, type HttpCall, type HttpReply, type StreamCall, type StreamEvent, type WorkerCall, type WorkerReply } from './workerProtocol.js';

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
    const connection = new AbortController(); // a connection to a proxy still being made: see connectToProxy
    const fail = (message: string) => {
      connection.abort();
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
      if (req.body?.length) frameBody(request, req.body.length);
      request.end(req.body ? Buffer.from(req.body) : undefined);
    };
    // A connection Node cannot even begin (TLS refusing the client key) throws from start: a failed request too.
    connectOptions(req, socketTimeoutMs, connection.signal).then(start).catch((error: Error) => fail(error.message));
  });
}

interface Connection {
  options: http.RequestOptions;
  client: typeof http | typeof https;
  /** The connection made ahead of the request, when there is a proxy. */
  socket?: net.Socket;
}

const secureContexts = new SecureContexts();

/** How to reach the server: directly, through a tunnel (CONNECT or SOCKS5), or as a forward request to an HTTP proxy. */
async function connectOptions(req: Pick<HttpCall, 'url' | 'headers' | 'tls' | 'proxy'>, timeoutMs: number, signal: AbortSignal): Promise<Connection> {
  const url = new URL(req.url);
  const host = bare(url.hostname);
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  const secure = url.protocol === 'https:';
  const tlsOptions: tls.ConnectionOptions = {
    secureContext: secureContexts.for(req.tls),
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
  const dial = { timeoutMs, signal, secureContext: proxyUrl.protocol === 'https:' ? secureContexts.for({ ca: req.proxy.ca }) : undefined };
  if (!secure && proxyUrl.protocol !== 'socks5:') {
    // Plain-HTTP servers are reached as Go's transport does: the request in absolute form, to the proxy.
    const socket = await connectToProxy(req.proxy, proxyUrl, dial);
    const auth = proxyAuthorization(proxyUrl);
    if (auth) headers['proxy-authorization'] = auth;
    return { options: { ...target, path: url.href, createConnection: () => socket }, client: http, socket };
  }
  // The tunnel comes paused (nothing it receives is lost before its consumer listens).
  const tunnel = await openTunnel(req.proxy, host, port, dial);
  const socket = secure ? tls.connect({ ...tlsOptions, socket: tunnel, host }) : tunnel;
  return { options: { ...target, createConnection: () => socket.resume() }, client: http, socket };
}

/** A streaming request in flight: what the main thread's later messages act on. */
interface OpenStream {
  write(chunk: Uint8Array): void;
  end(): void;
  ack(bytes: number): void;
  cancel(): void;
}

const streams = new Map<number, OpenStream>();
/** Response bytes gathered into one message at most before it is sent (see performStream). */
const GATHER_BYTES = 16 * 1024;

/**
 * A streaming request (wasi:http): response events go out as the bytes arrive, so a watch prints
 * each event when the server sends it; the response is paused while the guest is more than
 * STREAM_WINDOW_BYTES behind (it acknowledges what it read), so a 64 MiB body never sits whole
 * in memory; the request body arrives in pieces and each is acknowledged once written.
 */
function performStream(call: StreamCall, id: number): void {
  const emit = (event: StreamEvent, transfer?: ArrayBuffer[]) => send({ id, result: event }, transfer);
  let request: http.ClientRequest | undefined;
  let response: http.IncomingMessage | undefined;
  let finished = false;
  let unacked = 0;
  let paused = false;
  const pendingBody: (Uint8Array | 'end')[] = [];
  /** Body writes handed to the connection and not yet written: each is acknowledged once, written or dropped (see ackDropped). */
  const unwritten = new Set<{ bytes: number }>();
  const acknowledge = (write: { bytes: number }) => {
    if (unwritten.delete(write)) emit({ event: 'written', bytes: write.bytes });
  };
  const timers = new Set<NodeJS.Timeout>();
  const timer = (ms: number, code: string, what: string) => {
    const t = setTimeout(() => fail(code, `${what} within ${ms} ms`), ms);
    timers.add(t);
    return t;
  };
  const clear = (t?: NodeJS.Timeout) => {
    if (!t) return;
    clearTimeout(t);
    timers.delete(t);
  };
  const finish = () => {
    finished = true;
    streams.delete(id);
    for (const t of timers) clearTimeout(t);
    for (const write of [...unwritten]) acknowledge(write);
  };
  const connection = new AbortController(); // a connection to a proxy still being made: see connectToProxy
  /** Sends the response bytes gathered and not yet sent (see onResponse). */
  let sendGathered = () => {};
  const fail = (code: string, message: string) => {
    if (finished) return;
    // What arrived before the failure is the plugin's, as it was before chunks were gathered: a
    // watch's last events before the server reset the connection.
    sendGathered();
    finish();
    connection.abort();
    request?.destroy();
    response?.destroy();
    emit({ event: 'error', code, message });
  };
  let firstByte: NodeJS.Timeout | undefined;
  let betweenBytes: NodeJS.Timeout | undefined;
  const bodySent = () => {
    firstByte = timer(call.firstByteTimeoutMs, 'HTTP-response-timeout', 'no response');
  };
  const writeBody = (item: Uint8Array | 'end') => {
    if (finished) return void (item !== 'end' && emit({ event: 'written', bytes: item.length })); // see ackDropped
    if (!request) return;
    if (item === 'end') {
      request.end();
      bodySent();
      return;
    }
    const write = { bytes: item.length };
    unwritten.add(write);
    request.write(Buffer.from(item), () => acknowledge(write));
  };
  streams.set(id, {
    write: (chunk) => (request ? writeBody(chunk) : pendingBody.push(chunk)),
    end: () => (request ? writeBody('end') : pendingBody.push('end')),
    ack: (bytes) => {
      unacked -= bytes;
      if (paused && unacked < STREAM_WINDOW_BYTES / 2) {
        paused = false;
        response?.socket.resume();
      }
    },
    cancel: () => {
      if (finished) return;
      finish();
      connection.abort();
      request?.destroy();
      response?.destroy();
    },
  });
  const connecting = timer(call.connectTimeoutMs, 'connection-timeout', 'no connection');
  const onResponse = (res: http.IncomingMessage) => {
    response = res;
    clear(firstByte);
    const headers: [string, string][] = [];
    for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i].toLowerCase(), res.rawHeaders[i + 1]]);
    emit({ event: 'head', status: res.statusCode ?? 0, headers });
    const quietLimit = call.betweenBytesTimeoutMs;
    const rearm = () => {
      clear(betweenBytes);
      if (quietLimit !== undefined) betweenBytes = timer(quietLimit, 'connection-read-timeout', 'no data');
    };
    rearm();
    // What is held back is the connection, not the response. A paused response keeps taking what
    // Node parses, one object a chunk, to its high-water mark of bytes and on to the end of the
    // socket read at hand: a response of 1-byte chunks held ~9 MB that way (attack 102). Node
    // resumes the socket whenever the response wants more (IncomingMessage#_read), so a resume
    // while the window is full is undone at once.
    res.socket.on('resume', () => {
      if (paused) res.socket.pause();
    });
    // The chunks of one socket read go out as one message, once Node has parsed them all: a read
    // of 1-byte chunks was ~11,000 messages.
    let gathered: Buffer[] = [];
    let gatheredBytes = 0;
    /** What the gathered chunks count against the window: each its bytes and a message's worth (messageCost). */
    let gatheredCost = 0;
    sendGathered = () => {
      if (gathered.length === 0 || finished) return;
      // Socket chunks are views into larger pooled buffers, which postMessage would copy whole: an
      // exact copy is transferred instead (moved, not copied again).
      const exact = new Uint8Array(gatheredBytes);
      let at = 0;
      for (const piece of gathered) {
        exact.set(piece, at);
        at += piece.length;
      }
      const overhead = gatheredCost - gatheredBytes;
      gathered = [];
      gatheredBytes = 0;
      gatheredCost = 0;
      emit({ event: 'data', chunk: exact, overhead }, [exact.buffer]);
    };
    res.on('data', (chunk: Buffer) => {
      rearm();
      if (gathered.length === 0) setImmediate(sendGathered);
      gathered.push(chunk);
      gatheredBytes += chunk.length;
      // Each chunk counted as it comes (parsed, it cost the host an object whatever its size), and
      // paused at once: libuv reads a socket up to 32 times before the gathered chunks go out.
      gatheredCost += messageCost(chunk.length);
      unacked += messageCost(chunk.length);
      if (unacked > STREAM_WINDOW_BYTES && !paused) {
        paused = true;
        res.socket.pause();
      }
      // Large chunks go out as they come, as before: gathering is for the small ones.
      if (gatheredBytes >= GATHER_BYTES) sendGathered();
    });
    res.on('end', () => {
      if (finished) return;
      sendGathered();
      finish();
      // Answered before its body was all written: what is left of the body goes nowhere. A server
      // that read no more and kept the connection left writes that never completed, which held
      // the plugin's next write until --timeout and the request, its socket and its bytes in
      // memory until the server closed (attack 100).
      if (!request?.writableFinished) request?.destroy();
      emit({ event: 'end' });
    });
    res.on('aborted', () => fail('HTTP-response-incomplete', 'the response ended early'));
    res.on('error', (e) => fail(errorCodeOf(e), e.message));
  };
  // .catch, not then's second argument: a connection Node cannot even begin (TLS refusing the client key) throws here.
  connectOptions(call, call.connectTimeoutMs, connection.signal).then(({ options, client, socket }) => {
    if (finished) return void socket?.destroy();
    const agent = options.createConnection ? undefined : false;
    request = client.request({ ...options, method: call.method.toUpperCase(), agent }, onResponse);
    request.on('socket', (s) => (s.connecting ? s.once('connect', () => clear(connecting)) : clear(connecting)));
    request.on('error', (e) => fail(errorCodeOf(e), e.message));
    if (!call.bodyFollows) {
      request.end();
      bodySent();
      return;
    }
    frameBody(request, call.bodyLength);
    for (const item of pendingBody.splice(0)) writeBody(item);
  }).catch((error: Error) => fail(errorCodeOf(error), error.message));
}

/**
 * Says how long the request body is: its Content-Length when known, else chunked. The host owns
 * these headers (the guest's are dropped: kube/networkContext.ts), and Node frames a body itself
 * only for methods it expects one with: the body of a DELETE (its DeleteOptions: a dry run,
 * preconditions) went out unframed, so the server saw none and read the bytes as a next request
 * on the user's connection (attack 69). An empty body of a known length needs no header (Node
 * sends `Content-Length: 0` where a body is expected).
 */
function frameBody(request: http.ClientRequest, length: number | undefined): void {
  if (length === undefined) request.setHeader('transfer-encoding', 'chunked');
  else if (length > 0) request.setHeader('content-length', String(length));
}

/**
 * Body bytes of a request that has ended (the server answered before it read them all: a 413, a
 * 401) go nowhere, and are said so: the main thread counts a request's unwritten bytes, and a
 * write past its window waited for an acknowledgement that never came, until --timeout (attack 70).
 */
function ackDropped(id: number, chunk: Uint8Array): void {
  send({ id, result: { event: 'written', bytes: chunk.length } });
}

/** A transport failure as a wasi:http error-code. */
function errorCodeOf(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (code === 'ECONNREFUSED') return 'connection-refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'destination-not-found';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'connection-terminated';
  if (code === 'ETIMEDOUT') return 'connection-timeout';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'destination-unavailable';
  if (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME|ALTNAME/.test(code) || /certificate/i.test(error.message)) return 'TLS-certificate-error';
  if (/^ERR_SSL|^ERR_TLS/.test(code)) return 'TLS-protocol-error';
  return 'internal-error';
}

/**
 * The first TLS context a Node 20 process makes, with a CA of its own or not, parses the ~140
 * bundled root certificates (SecureContext::SetCACert compares the store with the root store,
 * creating it): ~20 ms. Made while the main thread compiles the plugin, it is off the path of the
 * first request. Only the root store is kept; the request's own context still trusts only its CA.
 */
function warmTls(): void {
  tls.createSecureContext();
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
/** The main thread's wake word (runtime/wasi/wait.ts): a guest polling a body and stdin together wakes on either. */
const wake = (workerData as { wake?: Int32Array } | null)?.wake;

async function handle(message: WorkerCall): Promise<WorkerReply | undefined> {
  if (message.kind === 'warm-tls') return void warmTls();
  if (message.kind === 'cancel') {
    inFlight.get(message.id)?.();
    streams.get(message.id)?.cancel();
    // Said of every cancel: the main thread counts the streams this thread has in hand (MAX_OPEN_STREAMS).
    return void send({ id: message.id, result: { event: 'cancelled' } });
  }
  if (message.kind === 'stream') {
    performStream(message.call, message.id);
    return undefined;
  }
  if (message.kind === 'stream-body') {
    const stream = streams.get(message.id);
    return void (stream ? stream.write(message.chunk) : ackDropped(message.id, message.chunk));
  }
  if (message.kind === 'stream-body-end') return void streams.get(message.id)?.end();
  if (message.kind === 'stream-ack') return void streams.get(message.id)?.ack(message.bytes);
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
    (error: Error) => (message.kind === 'http' || message.kind === 'exec') && send({ id: message.id, result: { ok: false, message: error.message } }),
  );
});

function send(reply: WorkerReply, transfer?: ArrayBuffer[]): void {
  replyPort!.postMessage(reply, transfer);
  if (wake) bump(wake);
  if (shared) bump(shared, SLOT.replies);
}

// Tell the main thread, which waits synchronously, that this module loaded and listens.
if (shared) {
  Atomics.store(shared, SLOT.ready, 1);
  Atomics.notify(shared, SLOT.ready);
}
