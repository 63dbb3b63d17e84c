import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** A loopback proxy that records what it was asked to reach. */
export interface TestProxy {
  /** e.g. http://127.0.0.1:PORT or socks5://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Every destination asked for (`host:port`), in order. */
  seen: string[];
  /** Proxy credentials received (`user:password`), in order. */
  credentials: string[];
  stop(): Promise<void>;
}

export interface ProxyOptions {
  /** Names only this proxy can resolve (e.g. `kube.example.test` -> `127.0.0.1`): a direct connection would fail. */
  hosts?: Record<string, string>;
  /** Require these credentials (`user:password`). */
  auth?: string;
  /** Serve the proxy itself over TLS (an `https://` proxy). */
  tls?: { cert: string; key: string };
}

const resolveName = (hosts: Record<string, string> | undefined, host: string) => hosts?.[host] ?? host;

/**
 * An HTTP proxy as corporate networks run them: CONNECT tunnels (what kubectl and krew-wasm use
 * for https servers) and absolute-form forward requests (for plain-http servers).
 */
export async function startConnectProxy(options: ProxyOptions = {}): Promise<TestProxy> {
  const seen: string[] = [];
  const credentials: string[] = [];
  const sockets = new Set<net.Socket>();
  const authorized = (header: string | undefined) => {
    if (header?.startsWith('Basic ')) credentials.push(Buffer.from(header.slice(6), 'base64').toString());
    return !options.auth || header === `Basic ${Buffer.from(options.auth).toString('base64')}`;
  };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    // Forward request: GET http://host:port/path
    const target = new URL(req.url ?? '');
    seen.push(target.host);
    if (!authorized(req.headers['proxy-authorization'])) {
      res.writeHead(407, { 'Proxy-Authenticate': 'Basic realm="test"' }).end();
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const upstream = http.request({ host: resolveName(options.hosts, target.hostname), port: target.port || 80, path: `${target.pathname}${target.search}`, method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  };
  const server = options.tls
    ? https.createServer({ cert: fs.readFileSync(options.tls.cert), key: fs.readFileSync(options.tls.key) }, handler)
    : http.createServer(handler);
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    seen.push(req.url ?? '');
    if (!authorized(req.headers['proxy-authorization'])) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
      return;
    }
    const [host, port] = splitHostPort(req.url ?? '');
    const upstream = net.connect({ host: resolveName(options.hosts, host), port });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
  });
  return listen(server, options.tls ? 'https' : 'http', seen, credentials, sockets);
}

/** A SOCKS5 proxy (RFC 1928, with RFC 1929 username/password when `auth` is set) that resolves names itself. */
export async function startSocks5Proxy(options: ProxyOptions = {}): Promise<TestProxy> {
  const seen: string[] = [];
  const credentials: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    let buffer = Buffer.alloc(0);
    let stage: 'greeting' | 'auth' | 'request' | 'piping' = 'greeting';
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (stage === 'greeting') {
          if (buffer.length < 2 || buffer.length < 2 + buffer[1]) return;
          const methods = [...buffer.subarray(2, 2 + buffer[1])];
          buffer = buffer.subarray(2 + buffer[1]);
          const wanted = options.auth ? 2 : 0;
          if (!methods.includes(wanted)) return void client.end(Buffer.from([5, 0xff]));
          client.write(Buffer.from([5, wanted]));
          stage = options.auth ? 'auth' : 'request';
        } else if (stage === 'auth') {
          if (buffer.length < 2) return;
          const ulen = buffer[1];
          if (buffer.length < 3 + ulen || buffer.length < 3 + ulen + buffer[2 + ulen]) return;
          const plen = buffer[2 + ulen];
          const given = `${buffer.subarray(2, 2 + ulen)}:${buffer.subarray(3 + ulen, 3 + ulen + plen)}`;
          buffer = buffer.subarray(3 + ulen + plen);
          credentials.push(given);
          if (given !== options.auth) return void client.end(Buffer.from([1, 1]));
          client.write(Buffer.from([1, 0]));
          stage = 'request';
        } else if (stage === 'request') {
          if (buffer.length < 5) return;
          const type = buffer[3];
          const addrLen = type === 1 ? 4 : type === 4 ? 16 : 1 + buffer[4];
          if (buffer.length < 4 + addrLen + 2) return;
          const addr = buffer.subarray(4, 4 + addrLen);
          const host = type === 1 ? [...addr].join('.') : type === 3 ? addr.subarray(1).toString() : formatIPv6(addr);
          const port = buffer.readUInt16BE(4 + addrLen);
          buffer = buffer.subarray(4 + addrLen + 2);
          seen.push(`${host}:${port}`);
          stage = 'piping';
          client.off('data', onData);
          const upstream = net.connect({ host: resolveName(options.hosts, host), port });
          sockets.add(upstream);
          upstream.on('close', () => sockets.delete(upstream));
          upstream.on('connect', () => {
            client.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
            if (buffer.length) upstream.write(buffer);
            upstream.pipe(client);
            client.pipe(upstream);
          });
          upstream.on('error', () => client.end(Buffer.from([5, 4, 0, 1, 0, 0, 0, 0, 0, 0])));
          return;
        } else return;
      }
    };
    client.on('data', onData);
  });
  return listen(server, 'socks5', seen, credentials, sockets);
}

function formatIPv6(addr: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(addr.readUInt16BE(i).toString(16));
  return groups.join(':');
}

function splitHostPort(authority: string): [string, number] {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(authority);
  return m ? [m[1], Number(m[2])] : [authority, 443];
}

async function listen(server: net.Server, scheme: string, seen: string[], credentials: string[], sockets: Set<net.Socket>): Promise<TestProxy> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    seen,
    credentials,
    stop: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      if ('closeAllConnections' in server) (server as http.Server).closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
