import type http from 'node:http';
import { AuthError, RegistryError } from '../../errors.js';
import { discard, readBodyLimited, type HttpRequest, type Transport } from '../transport.js';
import { parseChallenge } from './challenge.js';
import type { Credential, CredentialFunc } from './credentials.js';

const MAX_REDIRECTS = 5;
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

/** How many times an idempotent request is tried, and the first back-off delay. */
export interface RetryPolicy { attempts: number; baseDelayMs: number }
export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 200 };

/**
 * Sends registry requests with the distribution auth flow: a cached token for the scope first;
 * on 401 parse the challenge, obtain Basic or Bearer credentials, retry once. Follows redirects,
 * dropping Authorization when the origin changes (blob storage redirects). Retries idempotent
 * requests on 5xx and connection failures with exponential back-off.
 */
export class AuthClient {
  private readonly tokens = new Map<string, string>();
  private credential?: Credential | null;

  constructor(
    private readonly transport: Transport,
    private readonly registry: string,
    private readonly credentials: CredentialFunc,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {}

  /** Sends a request for `scope` (e.g. `repository:foo/bar:pull`) and returns the final response. */
  async send(req: HttpRequest, scope: string): Promise<http.IncomingMessage> {
    let res = await this.sendWithRetry(this.withAuth(req, scope));
    if (res.statusCode === 401) {
      const header = res.headers['www-authenticate'];
      discard(res);
      await this.authenticate(typeof header === 'string' ? header : undefined, scope, req);
      res = await this.sendWithRetry(this.withAuth(req, scope));
      if (res.statusCode === 401 || res.statusCode === 403) {
        discard(res);
        throw new AuthError(`${this.registry}: access denied for ${scope} (status ${res.statusCode})`, {
          hint: 'check the credentials in your docker config (docker login)',
        });
      }
    }
    return res;
  }

  private withAuth(req: HttpRequest, scope: string): HttpRequest {
    const token = this.tokens.get(scope) ?? this.tokens.get('*');
    return token ? { ...req, headers: { ...req.headers, Authorization: token } } : req;
  }

  private getCredential(): Credential | undefined {
    if (this.credential === undefined) this.credential = this.credentials(this.registry) ?? null;
    return this.credential ?? undefined;
  }

  private async authenticate(header: string | undefined, scope: string, req: HttpRequest): Promise<void> {
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
    const realm = challenge.params.realm;
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm ?? '');
    } catch {
      throw new AuthError(`${this.registry}: bearer challenge with an invalid realm "${realm ?? ''}"`);
    }
    if (realmUrl.protocol !== 'https:' && realmUrl.protocol !== 'http:') {
      throw new AuthError(`${this.registry}: bearer realm must be http(s), got ${realmUrl.protocol}`);
    }
    const wantedScope = challenge.params.scope || scope;
    this.tokens.set(scope, `Bearer ${await this.fetchToken(realmUrl, challenge.params.service, wantedScope, cred)}`);
  }

  /** Token endpoint (distribution spec docs/spec/auth/token.md, oauth.md for refresh tokens). */
  private async fetchToken(realm: URL, service: string | undefined, scope: string, cred: Credential | undefined): Promise<string> {
    let req: HttpRequest;
    if (cred?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.identityToken, client_id: 'krew-wasm', scope });
      if (service) form.set('service', service);
      req = { method: 'POST', url: realm, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form.toString() };
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set('service', service);
      url.searchParams.append('scope', scope);
      const headers: Record<string, string> = {};
      if (cred?.username) headers.Authorization = basicHeader(cred.username, cred.password ?? '');
      req = { method: 'GET', url, headers };
    }
    const res = await this.sendWithRetry(req);
    const body = await readBodyLimited(res, MAX_TOKEN_RESPONSE_BYTES, `token from ${realm.host}`);
    if (res.statusCode !== 200) {
      throw new AuthError(`${this.registry}: token server ${realm.host} refused (status ${res.statusCode})`, {
        hint: cred ? 'check the credentials in your docker config' : `log in first: docker login ${this.registry}`,
      });
    }
    let json: { token?: string; access_token?: string };
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new AuthError(`${this.registry}: token server ${realm.host} answered with something that is not JSON`);
    }
    const token = json.token ?? json.access_token;
    if (!token) throw new AuthError(`${this.registry}: token server ${realm.host} returned no token`);
    return token;
  }

  /** Follows redirects and retries idempotent requests on transient failures. */
  private async sendWithRetry(req: HttpRequest): Promise<http.IncomingMessage> {
    const idempotent = req.method === 'GET' || req.method === 'HEAD';
    const attempts = idempotent ? Math.max(1, this.retry.attempts) : 1;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await sleep(this.retry.baseDelayMs * 2 ** (attempt - 1));
      try {
        const res = await this.followRedirects(req);
        if (idempotent && RETRY_STATUSES.has(res.statusCode ?? 0) && attempt + 1 < attempts) {
          discard(res);
          lastError = new RegistryError(`${req.method} ${req.url.href}: status ${res.statusCode}`);
          continue;
        }
        return res;
      } catch (error) {
        lastError = error;
        if (error instanceof AuthError) throw error;
      }
    }
    throw lastError;
  }

  private async followRedirects(req: HttpRequest): Promise<http.IncomingMessage> {
    let current = req;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const res = await this.transport.send(current);
      const location = res.headers.location;
      if (!res.statusCode || res.statusCode < 300 || res.statusCode >= 400 || res.statusCode === 304 || !location) return res;
      discard(res);
      const next = new URL(location, current.url);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new RegistryError(`${req.url.host}: redirect to unsupported scheme ${next.protocol}`);
      }
      const headers = { ...current.headers };
      // Credentials are for the registry only: never send them to blob storage on another origin.
      if (next.origin !== current.url.origin) delete headers.Authorization;
      current = { ...current, url: next, headers };
    }
    throw new RegistryError(`${req.url.href}: more than ${MAX_REDIRECTS} redirects`);
  }
}

function basicHeader(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
