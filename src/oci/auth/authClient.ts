import type http from 'node:http';
import { AuthError, RegistryTransferError } from '../../errors.js';
import { describeUrl, discard, readBodyLimited, type HttpRequest, type Transport } from '../transport.js';
import { parseChallenge } from './challenge.js';
import type { Credential, CredentialFunc } from './credentials.js';

const MAX_REDIRECTS = 5;
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;

/** One answer and where it came from: after redirects, possibly another origin than the registry's. */
export interface Exchange {
  res: http.IncomingMessage;
  /** The URL that answered. */
  url: URL;
  /** True when the answer came from another origin than the registry (blob storage after a redirect). */
  foreign: boolean;
}

/**
 * Sends registry requests with the distribution auth flow: a cached token for the scope first; on
 * 401 parse the challenge, obtain Basic or Bearer credentials, send again once. Credentials go
 * only to the registry's own origin and, for token flows, to a realm on that origin or an HTTPS
 * realm the registry itself named; plain-HTTP realms only when the registry itself is plain HTTP
 * (`--plain-http`). Redirects are followed for GET and HEAD without credentials once the origin
 * changes, never from https to http; a 401 from another origin is an error, never a login.
 * Retries are not done here but by the transport's one policy, around the whole exchange.
 */
export class AuthClient {
  private readonly tokens = new Map<string, string>();
  private credential?: Credential | null;

  constructor(
    private readonly transport: Transport,
    /** Registry host as the user wrote it (credentials are looked up by it). */
    private readonly registry: string,
    /** The registry's origin, e.g. `https://ghcr.io`. */
    private readonly origin: string,
    private readonly credentials: CredentialFunc,
  ) {}

  /** Sends a request for `scope` (e.g. `repository:foo/bar:pull`, space-separated for several). */
  async send(req: HttpRequest, scope: string, signal: AbortSignal): Promise<Exchange> {
    let ex = await this.exchange(this.withAuth(req, scope), signal);
    if (ex.res.statusCode !== 401) return ex;
    const header = ex.res.headers['www-authenticate'];
    discard(ex.res);
    if (ex.foreign) throw this.foreignChallenge(ex.url);
    await this.authenticate(typeof header === 'string' ? header : undefined, scope, req, signal);
    ex = await this.exchange(this.withAuth(req, scope), signal);
    if (ex.res.statusCode === 401 && ex.foreign) {
      discard(ex.res);
      throw this.foreignChallenge(ex.url);
    }
    if (ex.res.statusCode === 401 || (ex.res.statusCode === 403 && !ex.foreign)) {
      discard(ex.res);
      throw new AuthError(`${this.registry}: access denied for ${scope} (status ${ex.res.statusCode})`, {
        hint: 'check the credentials in your docker config (docker login)',
      });
    }
    return ex;
  }

  private foreignChallenge(url: URL): AuthError {
    return new AuthError(`${this.registry}: ${url.origin}, where the registry redirected, asked for credentials; they are sent only to the registry`);
  }

  private withAuth(req: HttpRequest, scope: string): HttpRequest {
    const token = this.tokens.get(scope) ?? this.tokens.get('*');
    return token ? { ...req, headers: { ...req.headers, Authorization: token } } : req;
  }

  private getCredential(): Credential | undefined {
    if (this.credential === undefined) this.credential = this.credentials(this.registry) ?? null;
    return this.credential ?? undefined;
  }

  private get registryIsPlainHttp(): boolean {
    return this.origin.startsWith('http:');
  }

  private async authenticate(header: string | undefined, scope: string, req: HttpRequest, signal: AbortSignal): Promise<void> {
    const challenge = header ? parseChallenge(header) : undefined;
    if (!challenge) throw new AuthError(`${this.registry}: ${req.url.pathname} requires authentication but sent no usable challenge`);
    const cred = this.getCredential();
    if (challenge.scheme === 'basic') {
      if (!cred?.username) {
        throw new AuthError(`${this.registry}: authentication required`, { hint: `log in first: docker login ${this.registry}` });
      }
      this.tokens.set('*', basicHeader(cred.username, cred.password ?? ''));
      return;
    }
    if (challenge.scheme !== 'bearer') throw new AuthError(`${this.registry}: unsupported auth scheme "${challenge.scheme}"`);
    const realm = this.checkRealm(challenge.params.realm);
    const wanted = (challenge.params.scope || scope).split(' ').filter(Boolean);
    this.tokens.set(scope, `Bearer ${await this.fetchToken(realm, challenge.params.service, wanted, cred, signal)}`);
  }

  /** A realm may receive credentials when it is on the registry's origin, HTTPS, or the registry is plain HTTP itself. */
  private checkRealm(realm: string | undefined): URL {
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch {
      throw new AuthError(`${this.registry}: bearer challenge with an invalid realm "${realm ?? ''}"`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new AuthError(`${this.registry}: bearer realm must be http(s), got ${url.protocol}`);
    }
    if (url.username || url.password) throw new AuthError(`${this.registry}: bearer realm with user info refused`);
    const allowed = url.origin === this.origin || url.protocol === 'https:' || this.registryIsPlainHttp;
    if (!allowed) {
      throw new AuthError(`${this.registry}: refusing to send credentials to the plain-HTTP token realm ${url.origin} of an HTTPS registry`, {
        hint: 'the registry must name an HTTPS token realm',
      });
    }
    return url;
  }

  /** Token endpoint (distribution spec docs/spec/auth/token.md, oauth.md for refresh tokens). */
  private async fetchToken(realm: URL, service: string | undefined, scopes: string[], cred: Credential | undefined, signal: AbortSignal): Promise<string> {
    let req: HttpRequest;
    if (cred?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.identityToken, client_id: 'krew-wasm' });
      for (const scope of scopes) form.append('scope', scope);
      if (service) form.set('service', service);
      req = { method: 'POST', url: realm, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form.toString() };
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set('service', service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      const headers: Record<string, string> = {};
      if (cred?.username) headers.Authorization = basicHeader(cred.username, cred.password ?? '');
      req = { method: 'GET', url, headers };
    }
    const { res } = await this.followRedirects(req, signal);
    const body = await readBodyLimited(res, MAX_TOKEN_RESPONSE_BYTES, `token from ${realm.host}`);
    if (res.statusCode !== 200) {
      throw new AuthError(`${this.registry}: token server ${realm.host} refused (status ${res.statusCode})`, {
        hint: cred ? 'check the credentials in your docker config' : `log in first: docker login ${this.registry}`,
      });
    }
    let json: { token?: unknown; access_token?: unknown };
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new AuthError(`${this.registry}: token server ${realm.host} answered with something that is not JSON`);
    }
    const token = typeof json?.token === 'string' ? json.token : json?.access_token;
    if (typeof token !== 'string' || token.length === 0 || /[\r\n]/.test(token)) {
      throw new AuthError(`${this.registry}: token server ${realm.host} returned no token`);
    }
    return token;
  }

  private async exchange(req: HttpRequest, signal: AbortSignal): Promise<Exchange> {
    const { res, url } = await this.followRedirects(req, signal);
    return { res, url, foreign: url.origin !== this.origin };
  }

  /** Follows redirects of GET and HEAD; Authorization is dropped for good once the origin changes. */
  private async followRedirects(req: HttpRequest, signal: AbortSignal): Promise<{ res: http.IncomingMessage; url: URL }> {
    let current = req;
    const follow = req.method === 'GET' || req.method === 'HEAD';
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const res = await this.transport.send(current, signal);
      const location = res.headers.location;
      const status = res.statusCode ?? 0;
      if (!follow || status < 300 || status >= 400 || status === 304 || !location) return { res, url: current.url };
      discard(res);
      const next = parseLocation(location, current.url);
      const refuse = (why: string) => new RegistryTransferError(`${current.method} ${describeUrl(current.url)}: ${why}`, {
        method: current.method, url: current.url, reason: 'redirect', retryable: false, why,
      });
      if (!next) throw refuse('redirect to an unusable location refused');
      if (next.protocol !== 'https:' && next.protocol !== 'http:') throw refuse(`redirect to unsupported scheme ${next.protocol} refused`);
      if (current.url.protocol === 'https:' && next.protocol === 'http:') throw refuse(`redirect from https to plain http (${next.origin}) refused`);
      const headers = { ...current.headers };
      if (next.origin !== current.url.origin) delete headers.Authorization;
      current = { ...current, url: next, headers };
    }
    throw new RegistryTransferError(`${req.method} ${describeUrl(req.url)}: more than ${MAX_REDIRECTS} redirects`, {
      method: req.method, url: req.url, reason: 'redirect', retryable: false, why: 'too many redirects',
    });
  }
}

function parseLocation(location: string, base: URL): URL | undefined {
  try {
    const url = new URL(location, base);
    return url.username || url.password ? undefined : url;
  } catch {
    return undefined;
  }
}

function basicHeader(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
