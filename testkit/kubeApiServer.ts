import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** A pod as the fake keeps it. */
export interface FakePod { namespace: string; name: string; labels?: Record<string, string>; phase?: string; node?: string }

/** What the fake saw, for assertions. */
export interface SeenRequest { method: string; path: string; query: string; user?: string; authorization?: string; body: string }

export interface FakeApiServer {
  /** https://127.0.0.1:PORT */
  url: string;
  port: number;
  requests: SeenRequest[];
  /** Sends one watch event to every open watch (those asked with timeoutSeconds, which stay open). */
  emit(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: FakePod): void;
  /** How many watches are open now. */
  openWatches(): number;
  stop(): Promise<void>;
}

export interface FakeApiOptions {
  tls: { cert: string; key: string; ca: string };
  /** Bearer token -> user name. */
  tokens?: Record<string, string>;
  /** user:password -> user name. */
  basic?: Record<string, string>;
  /** Users that are authenticated but may not list pods (403). */
  forbidden?: string[];
  pods?: FakePod[];
}

const status = (code: number, reason: string, message: string) => ({
  kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code,
});

const podObject = (p: FakePod) => ({
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: { name: p.name, namespace: p.namespace, labels: p.labels ?? {}, uid: `uid-${p.namespace}-${p.name}`, creationTimestamp: '2026-11-27T10:00:00Z' },
  spec: { nodeName: p.node ?? 'node-1', containers: [{ name: 'main', image: 'registry.example/app:1' }] },
  status: { phase: p.phase ?? 'Running' },
});

/**
 * A loopback stand-in for kube-apiserver that speaks its wire format for what plugins use:
 * TLS with the test CA, client-certificate users (CN = user, O = groups), bearer tokens and basic
 * auth, /version, /api, /apis, /api/v1, pods lists (label selectors, ?watch=1 as chunked JSON
 * lines; with timeoutSeconds the watch stays open and `emit` sends events), single pods, and Status
 * objects for 401/403/404; for tests, /api/v1/echo (the request as seen), /api/v1/slow?ms=N&body=X
 * (an answer that comes late), /api/v1/large?bytes=N (a body streamed at the client's pace),
 * /api/v1/early (413 at once, the body read and let go of), /api/v1/unread (200 after 300 ms, the
 * body left unread, the connection kept), /api/v1/drip?n=N (N chunks of one byte) and
 * /api/v1/cut?bytes=N (N bytes, then the connection closed with the body unended).
 */
export async function startFakeApiServer(options: FakeApiOptions): Promise<FakeApiServer> {
  const pods = options.pods ?? [];
  const watches = new Set<http.ServerResponse>();
  const requests: SeenRequest[] = [];
  const server = https.createServer(
    { cert: fs.readFileSync(options.tls.cert), key: fs.readFileSync(options.tls.key), ca: fs.readFileSync(options.tls.ca), requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      // As kube-apiserver answers a body it will not take (413 past its limit, 401 before reading it): at once, the body unread.
      if (req.url === '/api/v1/early') {
        res.writeHead(413, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(status(413, 'RequestEntityTooLarge', 'the request is too large')));
        return void req.resume(); // what follows is read and let go of, the connection kept
      }
      // A server that answers a POST late and in full, reads no more of its body and keeps the
      // connection: the answer is written on the socket itself, as Node's own would read the rest.
      if (req.url === '/api/v1/unread') {
        const timer = setTimeout(() => req.socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"unread":true}'), 300);
        return void req.socket.once('close', () => clearTimeout(timer));
      }
      // A response sent a byte a chunk (?n= chunks), framed by hand so that a million of them are a
      // few writes here: the client's parser still sees each chunk.
      if (req.url?.startsWith('/api/v1/drip?')) {
        const n = Number(new URL(req.url, 'https://fake').searchParams.get('n') ?? 0);
        const socket = req.socket;
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n');
        const batch = Buffer.from('1\r\nx\r\n'.repeat(65536));
        const more = (left: number): void => {
          while (left > 0) {
            const count = Math.min(left, 65536);
            left -= count;
            if (!socket.write(batch.subarray(0, count * 6))) return void socket.once('drain', () => more(left));
          }
          socket.end('0\r\n\r\n');
        };
        return more(n);
      }
      // A response cut short: a chunk of ?bytes= bytes, then the connection closed in the same
      // write, with the body never ended (as a server or a proxy that goes away mid-response).
      if (req.url?.startsWith('/api/v1/cut?')) {
        const bytes = Number(new URL(req.url, 'https://fake').searchParams.get('bytes') ?? 0);
        const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n';
        return void req.socket.end(`${head}${bytes.toString(16)}\r\n${'x'.repeat(bytes)}\r\n`);
      }
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'https://fake');
        const user = authenticate(req.socket as TLSSocket, req.headers.authorization, options);
        requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.search, user, authorization: req.headers.authorization, body });
        const send = (code: number, obj: unknown) => {
          res.writeHead(code, { 'Content-Type': 'application/json', 'Audit-Id': `audit-${requests.length}` });
          res.end(JSON.stringify(obj));
        };
        if (url.pathname === '/version') return send(200, { major: '1', minor: '32', gitVersion: 'v1.32.0-krew-wasm-fake', platform: 'linux/amd64' });
        if (!user) return send(401, status(401, 'Unauthorized', 'Unauthorized'));
        if (url.pathname === '/api') return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });
        if (url.pathname === '/apis') return send(200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
        if (url.pathname === '/api/v1') {
          return send(200, { kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list', 'watch'] }] });
        }
        if (url.pathname === '/api/v1/redirect-elsewhere') {
          res.writeHead(302, { Location: url.searchParams.get('to') ?? 'http://127.0.0.1:1/' });
          return res.end();
        }
        if (url.pathname === '/api/v1/echo') return send(200, { method: req.method, query: url.search, body, user });
        if (url.pathname === '/api/v1/large') return sendLarge(res, Number(url.searchParams.get('bytes') ?? 0));
        if (url.pathname === '/api/v1/slow') {
          // Answers after ?ms= milliseconds with ?body= (a late reply for timeout tests).
          const timer = setTimeout(() => send(200, { slow: url.searchParams.get('body') ?? 'slow' }), Number(url.searchParams.get('ms') ?? 1000));
          res.on('close', () => clearTimeout(timer));
          return;
        }
        const m = /^\/api\/v1(?:\/namespaces\/([^/]+))?\/pods(?:\/([^/]+))?$/.exec(url.pathname);
        if (!m) return send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
        if (options.forbidden?.includes(user)) {
          return send(403, status(403, 'Forbidden', `pods is forbidden: User "${user}" cannot list resource "pods" in API group "" in the namespace "${m[1] ?? ''}"`));
        }
        const [, ns, name] = m;
        const selector = url.searchParams.get('labelSelector');
        const match = (p: FakePod) => (!ns || p.namespace === ns) && (!selector || selector.split(',').every((s) => { const [k, v] = s.split('='); return p.labels?.[k] === v; }));
        if (name) {
          const pod = pods.find((p) => p.namespace === ns && p.name === name);
          return pod ? send(200, podObject(pod)) : send(404, status(404, 'NotFound', `pods "${name}" not found`));
        }
        const items = pods.filter(match).map(podObject);
        if (url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true') {
          res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
          // Watching from a list's resourceVersion sends only what changed since; from none (or 0), the current state first.
          const since = url.searchParams.get('resourceVersion');
          if (!since || since === '0') for (const item of items) res.write(`${JSON.stringify({ type: 'ADDED', object: item })}\n`);
          // As kube-apiserver: a watch with timeoutSeconds stays open that long, events come as they happen.
          const seconds = Number(url.searchParams.get('timeoutSeconds'));
          if (!seconds) return res.end();
          watches.add(res);
          const timer = setTimeout(() => res.end(), seconds * 1000);
          res.on('close', () => {
            clearTimeout(timer);
            watches.delete(res);
          });
          return;
        }
        return send(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1000' }, items });
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    requests,
    emit: (type, pod) => {
      for (const res of watches) res.write(`${JSON.stringify({ type, object: podObject(pod) })}\n`);
    },
    openWatches: () => watches.size,
    stop: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** `bytes` bytes of 'x' in 64 KiB writes, waiting for the client to take each (a large streamed body). */
function sendLarge(res: http.ServerResponse, bytes: number): void {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes) });
  const chunk = Buffer.alloc(64 * 1024, 'x');
  let left = bytes;
  const more = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(chunk.subarray(0, n))) return void res.once('drain', more);
    }
    res.end();
  };
  more();
}

function authenticate(socket: TLSSocket, authorization: string | undefined, options: FakeApiOptions): string | undefined {
  if (authorization?.startsWith('Bearer ')) return options.tokens?.[authorization.slice(7)];
  if (authorization?.startsWith('Basic ')) return options.basic?.[Buffer.from(authorization.slice(6), 'base64').toString()];
  if (socket.authorized) {
    const cn = socket.getPeerCertificate()?.subject?.CN;
    return typeof cn === 'string' ? cn : undefined;
  }
  return undefined;
}
