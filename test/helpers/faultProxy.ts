import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does to a matching request. */
export type Fault =
  | 'status-503' // answer 503 with a distribution error body
  | 'reset' // close the connection before answering
  | 'truncate' // send the headers and half the body, then close
  | 'stall' // send the headers and a little of the body, then nothing
  | 'drip' // send the body in small slow pieces (must still work)
  | 'trickle' // send the body one byte every 0.7 s: never idle, never done (the overall deadline's case)
  | 'wrong-length' // claim more bytes than are sent, then close
  | 'flip-byte' // alter one byte of the body, keep the registry's headers
  | 'html' // answer 200 with an HTML page, as a captive portal or a misrouted proxy does
  | 'paginate-tags' // serve tags/list in pages of ?n= with a Link header (distribution spec; Debian's registry ignores n)
  | 'hold'; // pass the request on only after release(): a transfer the test does something during

export interface FaultRule {
  match: RegExp;
  fault: Fault;
  /** How many matching requests get the fault before the proxy passes them through (Infinity: all). */
  times: number;
}

/** A loopback reverse proxy in front of a real registry that injects faults by rule. */
export interface FaultProxy {
  host: string;
  rules: FaultRule[];
  /** Requests seen per rule index, and in total. */
  hits: number[];
  requests: string[];
  /** Resolves when a request is held ('hold'). */
  held(): Promise<void>;
  /** Passes the held requests on, and those to come. */
  release(): void;
  stop(): Promise<void>;
}

/**
 * `rewriteHost`: send the upstream's own host instead of the client's, as a misconfigured reverse
 * proxy does (the registry then names upload locations on its own origin, not the proxy's).
 */
export async function startFaultProxy(upstream: string, options: { rewriteHost?: boolean } = {}): Promise<FaultProxy> {
  let heldOne = () => {};
  const firstHeld = new Promise<void>((resolve) => (heldOne = resolve));
  let releaseAll = () => {};
  const released = new Promise<void>((resolve) => (releaseAll = resolve));
  const state: FaultProxy = { host: '', rules: [], hits: [], requests: [], held: () => firstHeld, release: () => releaseAll(), stop: async () => {} };
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    state.requests.push(`${req.method} ${req.url}`);
    const index = state.rules.findIndex((r, i) => r.match.test(req.url ?? '') && (state.hits[i] ?? 0) < r.times);
    const fault = index >= 0 ? state.rules[index].fault : undefined;
    if (index >= 0) state.hits[index] = (state.hits[index] ?? 0) + 1;
    if (fault === 'reset') return req.socket.destroy();
    if (fault === 'status-503') {
      res.writeHead(503, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'service unavailable' }] }));
    }
    if (fault === 'trickle') {
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, padding: 'x'.repeat(4096) }));
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': String(body.length) });
      let offset = 0;
      const timer = setInterval(() => {
        if (res.destroyed || offset >= body.length) return clearInterval(timer);
        res.write(body.subarray(offset, ++offset));
      }, 700);
      res.on('close', () => clearInterval(timer));
      return;
    }
    if (fault === 'html') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      return res.end('<html><body><h1>Please log in to the guest Wi-Fi</h1></body></html>');
    }
    if (fault === 'paginate-tags') return paginateTags(req, res, upstream);
    if (fault === 'hold') {
      heldOne();
      return void released.then(() => pass(req, res, undefined));
    }
    pass(req, res, fault);
  });
  const pass = (req: http.IncomingMessage, res: http.ServerResponse, fault: Fault | undefined) => {
    const headers = options.rewriteHost ? { ...req.headers, host: new URL(upstream).host } : req.headers;
    const up = http.request(new URL(req.url ?? '/', upstream), { method: req.method, headers }, (upRes) => {
      const chunks: Buffer[] = [];
      upRes.on('data', (c) => chunks.push(c));
      upRes.on('end', () => {
        let body = Buffer.concat(chunks);
        const headers = { ...upRes.headers };
        if (fault === 'flip-byte' && body.length > 0) {
          body = Buffer.from(body);
          body[body.length - 1] ^= 0xff;
        }
        if (fault === 'wrong-length') headers['content-length'] = String(body.length + 1000);
        res.writeHead(upRes.statusCode ?? 502, headers);
        switch (fault) {
          case 'truncate':
            res.write(body.subarray(0, Math.floor(body.length / 2)));
            return setTimeout(() => res.socket?.destroy(), 20);
          case 'stall':
            return res.write(body.subarray(0, Math.min(100, body.length)));
          case 'wrong-length':
            res.write(body);
            return setTimeout(() => res.socket?.destroy(), 20);
          case 'drip': {
            let offset = 0;
            const step = Math.max(1, Math.ceil(body.length / 20));
            const timer = setInterval(() => {
              res.write(body.subarray(offset, offset + step));
              offset += step;
              if (offset >= body.length) {
                clearInterval(timer);
                res.end();
              }
            }, 25);
            return;
          }
          default:
            return res.end(body);
        }
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  };
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.stop = () => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
  return state;
}

/** tags/list in pages: the upstream's whole list, sorted, `n` at a time after `last`, with a Link to the next page. */
function paginateTags(req: http.IncomingMessage, res: http.ServerResponse, upstream: string): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const n = Number(url.searchParams.get('n') ?? '1000');
  const last = url.searchParams.get('last');
  http.get(new URL(url.pathname, upstream), { headers: req.headers }, (upRes) => {
    const chunks: Buffer[] = [];
    upRes.on('data', (c) => chunks.push(c));
    upRes.on('end', () => {
      const all = JSON.parse(Buffer.concat(chunks).toString()) as { name: string; tags: string[] };
      const rest = [...all.tags].sort().filter((t) => last === null || t > last);
      const page = rest.slice(0, n);
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (rest.length > n) headers.Link = `<${url.pathname}?n=${n}&last=${encodeURIComponent(page[page.length - 1])}>; rel="next"`;
      res.writeHead(200, headers).end(JSON.stringify({ name: all.name, tags: page }));
    });
  });
}
