/**
 * Tunnels to the API server through the cluster's `proxy-url`, as client-go does: an `http` or
 * `https` proxy is asked to CONNECT (RFC 9110 §9.3.6), a `socks5` proxy to connect by name
 * (RFC 1928; the proxy resolves the name, as Go's SOCKS5 dialer lets it). Credentials in the
 * proxy URL become Proxy-Authorization: Basic, or SOCKS5 username/password (RFC 1929).
 * Written here rather than taken from npm: two small handshakes, with the proxy's answer bounded,
 * and the proxy's TLS kept apart from the API server's. Loaded only in the HTTP worker.
 */
import net from 'node:net';
import tls from 'node:tls';

/** A proxy as configured in the kubeconfig, and how to trust it when it speaks TLS. */
export interface ProxySpec {
  url: string;
  /** For an `https` proxy: the CA to verify it with (the cluster's, as Go's transport does), or the system's. */
  ca?: string[];
  rejectUnauthorized: boolean;
}

/**
 * How to reach a proxy: the time its connection (and handshake) may take; a signal that destroys
 * the connection, whether it is still being made or made (see connectToProxy); and, for an `https`
 * proxy, the TLS context to trust it with, made once by the caller (one a request was a parse of
 * the CA each time: attack 104).
 */
export interface ProxyDial {
  timeoutMs: number;
  signal?: AbortSignal;
  secureContext?: tls.SecureContext;
}

/** Largest CONNECT answer header accepted from a proxy. */
const MAX_PROXY_HEADER_BYTES = 16 * 1024;

/** Opens a byte stream to host:port through the proxy; rejects with a one-line reason. */
export async function openTunnel(proxy: ProxySpec, host: string, port: number, dial: ProxyDial): Promise<net.Socket> {
  const { timeoutMs } = dial;
  const url = new URL(proxy.url);
  const socket = await connectToProxy(proxy, url, dial);
  const timer = setTimeout(() => socket.destroy(new Error(`proxy ${url.host} did not answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    if (url.protocol === 'socks5:') await socks5Connect(socket, url, host, port);
    else await httpConnect(socket, url, host, port);
    // From here on failures surface through the TLS socket or the HTTP request that wraps this one.
    socket.on('error', () => {});
    return socket;
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The Proxy-Authorization header value for credentials in a proxy URL, if any. */
export function proxyAuthorization(url: URL): string | undefined {
  if (!url.username && !url.password) return undefined;
  return `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
}

/**
 * A plain or TLS connection to the proxy itself. The dial's signal destroys it, whether it is still
 * being made or made: a request dropped while its proxy had not answered left the connection open
 * until the connect timeout (60 s, or the plugin's), and a plugin that sent requests and dropped
 * them at once held ~17,000 connections to the user's proxy (attack 103).
 */
export function connectToProxy(proxy: ProxySpec, url: URL, { timeoutMs, signal, secureContext }: ProxyDial): Promise<net.Socket> {
  const port = Number(url.port) || { 'http:': 80, 'https:': 443, 'socks5:': 1080 }[url.protocol] || 0;
  const host = bare(url.hostname);
  return new Promise((resolve, reject) => {
    const trust = secureContext ? { secureContext } : { ca: proxy.ca };
    const socket = url.protocol === 'https:'
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...trust, rejectUnauthorized: proxy.rejectUnauthorized })
      : net.connect({ host, port });
    const timer = setTimeout(() => socket.destroy(new Error(`cannot connect to proxy ${url.host} within ${timeoutMs} ms`)), timeoutMs);
    // Destroyed without an error: once made, the socket may have no error listener yet.
    const abort = () => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error('cancelled'));
    };
    if (signal?.aborted) abort();
    else signal?.addEventListener('abort', abort, { once: true });
    socket.once('close', () => signal?.removeEventListener('abort', abort));
    socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`proxy ${url.host}: ${error.message}`));
    });
  });
}

async function httpConnect(socket: net.Socket, url: URL, host: string, port: number): Promise<void> {
  const authority = `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
  const auth = proxyAuthorization(url);
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ''}\r\n`);
  const reader = new SocketReader(socket);
  try {
    const head = await reader.readUntil('\r\n\r\n', MAX_PROXY_HEADER_BYTES);
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'));
    if (!status) throw new Error(`proxy ${url.host} did not answer CONNECT with HTTP`);
    if (status[1][0] !== '2') throw new Error(`proxy ${url.host} refused CONNECT ${authority} (status ${status[1]})`);
  } finally {
    reader.release();
  }
}

const SOCKS_REPLIES: Record<number, string> = {
  1: 'general failure', 2: 'connection not allowed by ruleset', 3: 'network unreachable', 4: 'host unreachable',
  5: 'connection refused', 6: 'TTL expired', 7: 'command not supported', 8: 'address type not supported',
};

async function socks5Connect(socket: net.Socket, url: URL, host: string, port: number): Promise<void> {
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  const withAuth = user.length > 0 || pass.length > 0;
  const reader = new SocketReader(socket);
  try {
    socket.write(Buffer.from(withAuth ? [5, 2, 0, 2] : [5, 1, 0]));
    const [version, method] = await reader.read(2);
    if (version !== 5) throw new Error(`proxy ${url.host} is not a SOCKS5 proxy`);
    if (method === 2 && withAuth) {
      const u = Buffer.from(user);
      const p = Buffer.from(pass);
      if (u.length > 255 || p.length > 255) throw new Error('SOCKS5 username or password longer than 255 bytes');
      socket.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
      const [, status] = await reader.read(2);
      if (status !== 0) throw new Error(`proxy ${url.host} refused the SOCKS5 username and password`);
    } else if (method !== 0) {
      throw new Error(`proxy ${url.host} accepts none of our SOCKS5 authentication methods`);
    }
    socket.write(Buffer.concat([Buffer.from([5, 1, 0]), socksAddress(host), Buffer.from([port >> 8, port & 0xff])]));
    const [, reply, , addressType] = await reader.read(4);
    if (reply !== 0) throw new Error(`proxy ${url.host} could not connect to ${host}:${port} (SOCKS5: ${SOCKS_REPLIES[reply] ?? `reply ${reply}`})`);
    const addressLength = addressType === 1 ? 4 : addressType === 4 ? 16 : addressType === 3 ? (await reader.read(1))[0] : -1;
    if (addressLength < 0) throw new Error(`proxy ${url.host} sent a malformed SOCKS5 reply`);
    await reader.read(addressLength + 2);
  } finally {
    reader.release();
  }
}

/** DST.ADDR: an IP as bytes, anything else as a name the proxy resolves. */
function socksAddress(host: string): Buffer {
  if (net.isIPv4(host)) return Buffer.from([1, ...host.split('.').map(Number)]);
  if (net.isIPv6(host)) {
    const groups = expandIPv6(host);
    return Buffer.concat([Buffer.from([4]), Buffer.from(groups.flatMap((g) => [g >> 8, g & 0xff]))]);
  }
  const name = Buffer.from(host);
  if (name.length > 255) throw new Error(`host name ${host} is too long for SOCKS5`);
  return Buffer.concat([Buffer.from([3, name.length]), name]);
}

function expandIPv6(host: string): number[] {
  let text = host;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail !== undefined && tail ? tail.split(':') : [];
  const fill = tail !== undefined ? new Array(8 - left.length - right.length).fill('0') : [];
  return [...left, ...fill, ...right].map((g) => parseInt(g, 16));
}

/** `[::1]` -> `::1` (URL.hostname keeps IPv6 brackets). */
export function bare(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** Reads exact byte counts from a socket during a handshake, then hands unread bytes back to it. */
class SocketReader {
  private buffer = Buffer.alloc(0);
  private waiter?: () => void;
  private failure?: Error;
  private readonly onData = (chunk: Buffer) => {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    this.waiter?.();
  };
  private readonly onEnd = () => this.fail(new Error('the proxy closed the connection during the handshake'));
  // A connection destroyed (cancelled) ends with 'close' alone.
  private readonly onClose = () => this.fail(new Error('the connection to the proxy closed during the handshake'));
  private readonly onError = (error: Error) => this.fail(error);

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
  }

  async read(n: number): Promise<Buffer> {
    await this.until(() => this.buffer.length >= n);
    return this.take(n);
  }

  async readUntil(marker: string, limit: number): Promise<Buffer> {
    let at = -1;
    await this.until(() => {
      at = this.buffer.indexOf(marker);
      if (at < 0 && this.buffer.length > limit) throw new Error(`the proxy's answer is larger than ${limit} bytes`);
      return at >= 0;
    });
    return this.take(at + marker.length);
  }

  release(): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onClose);
    this.socket.off('error', this.onError);
    this.socket.pause();
    if (this.buffer.length > 0) this.socket.unshift(this.buffer);
  }

  private take(n: number): Buffer {
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  private until(ready: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        try {
          if (this.failure) return reject(this.failure);
          if (ready()) {
            this.waiter = undefined;
            return resolve();
          }
        } catch (error) {
          return reject(error);
        }
      };
      this.waiter = check;
      check();
    });
  }

  private fail(error: Error): void {
    this.failure = error;
    this.waiter?.();
  }
}
