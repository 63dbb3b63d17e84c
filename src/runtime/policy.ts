/**
 * The outbound-http destination policy: pure functions, no IO. A request may go only to the API
 * server of the selected kubeconfig cluster: same scheme, same host as written (no alternative
 * spellings of an address), same port (defaults normalized), a path under the server's path.
 */

/** Why a URL was refused. */
export type PolicyVerdict =
  | { allowed: true; url: URL }
  | { allowed: false; error: 'invalid-url' | 'destination-not-allowed'; reason: string };

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

/**
 * A URI that is an absolute path (`/api/v1/pods`) is relative to the API server URL, path prefix
 * included, so that plugins need not know the server; anything else is taken as written.
 */
export function resolveAgainstServer(uri: string, server: string): string {
  if (uri.startsWith('/') && !uri.startsWith('//')) return server.replace(/\/+$/, '') + uri;
  return uri;
}

/** Checks a guest-supplied URI against the API server URL. */
export function checkDestination(uri: string, server: string): PolicyVerdict {
  let url: URL;
  let base: URL;
  try {
    base = new URL(server);
  } catch {
    return { allowed: false, error: 'destination-not-allowed', reason: `the kubeconfig server "${server}" is not a URL` };
  }
  if (/[\s\u0000-\u001f\u007f]/.test(uri)) return { allowed: false, error: 'invalid-url', reason: 'control characters or spaces in the URL' };
  try {
    url = new URL(uri);
  } catch {
    return { allowed: false, error: 'invalid-url', reason: 'not an absolute URL' };
  }
  const deny = (reason: string): PolicyVerdict => ({ allowed: false, error: 'destination-not-allowed', reason });
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return deny(`scheme ${url.protocol} is not http(s)`);
  if (url.protocol !== base.protocol) return deny(`scheme ${url.protocol} differs from the API server's ${base.protocol}`);
  if (url.username || url.password || rawAuthority(uri).includes('@')) return deny('credentials in the URL');
  // WHATWG URL rewrites 2130706433, 0x7f.1, 127.1 and %-escapes to 127.0.0.1: the host must already be canonical as written.
  if (rawAuthority(uri).toLowerCase() !== url.host && rawAuthority(uri).toLowerCase() !== `${url.hostname}:${DEFAULT_PORTS[url.protocol]}`) {
    return deny(`host "${rawAuthority(uri)}" is not written canonically`);
  }
  if (url.hostname !== base.hostname) return deny(`host ${url.hostname} is not the API server ${base.hostname}`);
  if (portOf(url) !== portOf(base)) return deny(`port ${portOf(url)} is not the API server port ${portOf(base)}`);
  const rawPath = rawPathOf(uri);
  if (/%2f|%2e|%5c|\\/i.test(rawPath)) return deny('encoded slashes, dots or backslashes in the path');
  const prefix = base.pathname.replace(/\/+$/, '');
  if (prefix && url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`)) return deny(`path ${url.pathname} is outside ${prefix}`);
  url.hash = '';
  return { allowed: true, url };
}

function portOf(url: URL): string {
  return url.port || DEFAULT_PORTS[url.protocol] || '';
}

/** The authority exactly as the guest wrote it (between `//` and the next `/`, `?` or `#`). */
function rawAuthority(uri: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(uri);
  return m ? m[1] : '';
}

function rawPathOf(uri: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/i.exec(uri);
  return m ? m[1] : '';
}
