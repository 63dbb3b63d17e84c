import fs from 'node:fs';
import type http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { DigestMismatchError, RegistryError, RegistryResponseError, RegistryTransferError, UnsupportedArtifactError, type RegistryErrorDetail } from '../errors.js';
import { AuthClient, type Exchange } from './auth/authClient.js';
import type { CredentialFunc } from './auth/credentials.js';
import { DigestVerifier, parseDigest, sha256Of, verifyBytes } from './digest.js';
import type { Bounds, Descriptor } from './manifest.js';
import { MANIFEST_ACCEPT } from './mediaTypes.js';
import { NO_PROGRESS, type Progress } from './progress.js';
import { formatReference, registryHost, type Reference } from './reference.js';
import { isRetryableStatus } from './retry.js';
import { discard, readBodyLimited, truncatedError, type HttpMethod, type HttpRequest, type Transport } from './transport.js';

/** Raw manifest bytes plus what the registry said about them. */
export interface FetchedManifest {
  bytes: Buffer;
  contentType?: string;
  digest: string;
}

const MAX_ERROR_BODY_BYTES = 64 * 1024;
const MAX_TAG_PAGE_BYTES = 4 * 1024 * 1024;
const MAX_TAG_PAGES = 1000;
/**
 * More than any repository's tags a person reads: a registry that served tags page after page
 * took a `tags` 6.5 GB of memory before Node died of it (attack 87).
 */
const MAX_TAGS = 100_000;
const TAG = /^[\w][\w.-]{0,127}$/;

/** One repository on a registry, speaking the distribution API (OCI distribution-spec). */
export class Repository {
  readonly client: AuthClient;
  /** The auth scope of what this repository is used for (`pull`, or `pull,push` when pushing). */
  readonly scope: string;
  readonly origin: string;

  constructor(readonly ref: Reference, readonly transport: Transport, credentials: CredentialFunc, actions: 'pull' | 'pull,push' = 'pull') {
    this.origin = `${transport.scheme}://${registryHost(ref)}`;
    this.client = new AuthClient(transport, ref.registry, this.origin, credentials);
    this.scope = `repository:${ref.repository}:${actions}`;
  }

  /** A URL under this repository's /v2/<name>/ path. */
  url(path: string): URL {
    return new URL(`${this.origin}/v2/${this.ref.repository}/${path}`);
  }

  /**
   * One logical request under the transport's deadline and retry policy: `consume` sends with
   * `send` and reads what it needs; a retry starts it again from scratch.
   */
  perform<T>(method: HttpMethod, url: URL, consume: (send: (req: HttpRequest, scope?: string) => Promise<Exchange>) => Promise<T>, repeatable = true): Promise<T> {
    return this.transport.perform({ method, url }, (signal) => consume((req, scope) => this.client.send(req, scope ?? this.scope, signal)), repeatable);
  }

  /** Fetches a manifest by tag or digest; a by-digest fetch is checked against that digest. */
  fetchManifest(reference: string, bounds: Bounds): Promise<FetchedManifest> {
    const what = `manifest ${formatReference(this.ref)}`;
    const url = this.url(`manifests/${reference}`);
    return this.perform('GET', url, async (send) => {
      const ex = await send({ method: 'GET', url, headers: { Accept: MANIFEST_ACCEPT } });
      if (ex.res.statusCode !== 200) throw await statusError(ex, 'GET', what, this.ref);
      const bytes = await readBody(ex, bounds.maxManifestBytes, what);
      let digest = sha256Of(bytes);
      if (parseDigest(reference)) {
        verifyBytes(bytes, reference, what);
        digest = reference;
      } else {
        const claimed = ex.res.headers['docker-content-digest'];
        if (typeof claimed === 'string' && claimed.startsWith('sha256:') && claimed !== digest) {
          throw new DigestMismatchError(`${what}: registry claims digest ${claimed} but the bytes hash to ${digest}`);
        }
      }
      return { bytes, contentType: ex.res.headers['content-type'], digest };
    });
  }

  /**
   * Streams a blob into `file`, checking size and digest on the way. A transfer cut short (reset,
   * truncated, stalled) is started again by the retry policy; bytes that do not match the digest
   * are not: the registry would send them again.
   */
  async fetchBlob(desc: Descriptor, file: string, progress: Progress = NO_PROGRESS, label = desc.digest): Promise<void> {
    const what = `blob ${desc.digest}`;
    if (!parseDigest(desc.digest)) throw new UnsupportedArtifactError(`${what}: unsupported digest algorithm`);
    const url = this.url(`blobs/${desc.digest}`);
    return this.perform('GET', url, async (send) => {
      fs.rmSync(file, { force: true });
      try {
        const ex = await send({ method: 'GET', url });
        if (ex.res.statusCode !== 200) throw await statusError(ex, 'GET', what, this.ref);
        checkDeclaredLength(ex, desc, what);
        progress.start(label, desc.size);
        await streamVerified(ex.res, desc, file, progress, { method: 'GET', url: ex.url });
      } catch (error) {
        fs.rmSync(file, { force: true });
        throw error;
      } finally {
        progress.end();
      }
    });
  }

  /** All tags of the repository (distribution tags/list), page by page along the Link headers. */
  async listTags(pageSize = 1000): Promise<string[]> {
    const tags: string[] = [];
    let next: URL | undefined = this.url(`tags/list?n=${pageSize}`);
    for (let page = 0; next; page++) {
      if (page >= MAX_TAG_PAGES) throw new RegistryError(`tags of ${this.ref.registry}/${this.ref.repository}: more than ${MAX_TAG_PAGES} pages`);
      const url: URL = next;
      const result = await this.perform('GET', url, async (send) => {
        const ex = await send({ method: 'GET', url, headers: { Accept: 'application/json' } });
        if (ex.res.statusCode !== 200) throw await statusError(ex, 'GET', `tags of ${this.ref.registry}/${this.ref.repository}`, this.ref);
        const body = await readBody(ex, MAX_TAG_PAGE_BYTES, 'tag list');
        return { body, link: ex.res.headers.link };
      });
      // One by one: a page of 400,000 tags spread into push's arguments overflowed the stack.
      for (const tag of parseTagPage(result.body, this.ref)) {
        if (tags.length === MAX_TAGS) throw new RegistryError(`tags of ${this.ref.registry}/${this.ref.repository}: more than ${MAX_TAGS} tags`);
        tags.push(tag);
      }
      next = nextPage(result.link, url, this.origin);
    }
    return tags;
  }
}

function parseTagPage(body: Buffer, ref: Reference): string[] {
  let json: { tags?: unknown };
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new RegistryError(`${ref.registry}: the tag list of ${ref.repository} is not JSON`);
  }
  if (json?.tags === null || json?.tags === undefined) return [];
  if (!Array.isArray(json.tags)) throw new RegistryError(`${ref.registry}: the tag list of ${ref.repository} has no "tags" array`);
  // Tags end up on a terminal: anything outside the tag grammar (control characters included) is dropped.
  return json.tags.filter((t): t is string => typeof t === 'string' && TAG.test(t));
}

/** The `rel="next"` target of a Link header (RFC 8288), on the registry's origin only. */
function nextPage(link: string | string[] | undefined, base: URL, origin: string): URL | undefined {
  const header = Array.isArray(link) ? link.join(', ') : link;
  const match = header ? /<([^>]*)>\s*;[^,]*\brel="?next"?/i.exec(header) : null;
  if (!match) return undefined;
  let url: URL;
  try {
    url = new URL(match[1], base);
  } catch {
    return undefined;
  }
  if (url.origin !== origin) throw new RegistryError(`the registry's tag list points to another origin (${url.origin}); refused`);
  return url;
}

/** A body read with a byte bound; a connection closed mid-body is a retryable transfer failure. */
async function readBody(ex: Exchange, limit: number, what: string): Promise<Buffer> {
  try {
    return await readBodyLimited(ex.res, limit, what);
  } catch (error) {
    throw truncatedError(error, { method: 'GET', url: ex.url }, what);
  }
}

function checkDeclaredLength(ex: Exchange, desc: Descriptor, what: string): void {
  const declared = Number(ex.res.headers['content-length']);
  if (!Number.isFinite(declared) || declared === desc.size) return;
  ex.res.destroy();
  // A transport-level disagreement (a proxy's doing, often passing): retried like a cut transfer.
  // After a redirect, the other server's numbers are none of the user's business.
  const message = ex.foreign
    ? `${what}: ${ex.url.origin}, where the registry redirected, sends a different size than the manifest declares`
    : `${what}: registry sends ${declared} bytes but the manifest declares ${desc.size}`;
  throw new RegistryTransferError(message, { method: 'GET', url: ex.url, reason: 'size', retryable: true, why: 'wrong Content-Length' });
}

/** Pipes a readable into a file while checking digest and size; shared by registry and layout sources. */
export async function streamVerified(
  source: NodeJS.ReadableStream,
  desc: Descriptor,
  file: string,
  progress: Progress = NO_PROGRESS,
  origin?: { method: string; url: URL },
): Promise<void> {
  const digest = parseDigest(desc.digest);
  if (!digest) throw new UnsupportedArtifactError(`blob ${desc.digest}: unsupported digest algorithm`);
  const verifier = new DigestVerifier(digest, desc.size, `blob ${desc.digest}`);
  const check = new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        verifier.update(chunk);
        progress.advance(chunk.length);
        done(null, chunk);
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done) {
      try {
        verifier.finish();
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
  try {
    // Opened here, synchronously: a stream left over from a failed attempt must not be able to create
    // the file after the retry removed it (an asynchronous open could, and the retry's 'wx' would fail).
    const fd = fs.openSync(file, 'wx', 0o644);
    await pipeline(source, check, fs.createWriteStream(file, { fd }));
  } catch (error) {
    if (error instanceof DigestMismatchError || error instanceof RegistryError || !origin) throw error;
    throw truncatedError(error, origin, `blob ${desc.digest}`, 'blob');
  }
}

/** Turns a non-2xx answer into a typed error that names the registry's own error codes. */
export async function statusError(ex: Exchange, method: string, what: string, ref: Reference): Promise<RegistryResponseError> {
  const status = ex.res.statusCode ?? 0;
  const details = { method, url: ex.url, status, retryable: isRetryableStatus(status) };
  if (ex.foreign) {
    // Blob storage the registry redirected to: its body is not the registry's to report.
    discard(ex.res);
    return new RegistryResponseError(`${what}: ${ex.url.origin}, where the registry redirected, answered status ${status}`, details);
  }
  const { errors, text } = await readErrorBody(ex.res, what);
  const detail = errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
  const suffix = detail ? ` (${detail})` : '';
  const withErrors = { ...details, errors };
  if (status === 404) {
    return new RegistryResponseError(`${what}: not found on ${ref.registry}${suffix}`, withErrors, { hint: 'check the repository name and tag' });
  }
  if (status === 401 || status === 403) {
    return new RegistryResponseError(`${what}: access denied by ${ref.registry} (status ${status})${suffix}`, withErrors);
  }
  // Go's HTTP server (docker's registry among others) answers a plain request on a TLS port so.
  if (status === 400 && ex.url.protocol === 'http:' && /HTTP request to an HTTPS server/i.test(text)) {
    return new RegistryResponseError(`${what}: ${ref.registry} speaks HTTPS, and --plain-http sent it plain HTTP (status 400)`, withErrors, { hint: 'drop --plain-http' });
  }
  return new RegistryResponseError(`${what}: registry ${ref.registry} answered status ${status}${suffix}`, withErrors);
}

/** The registry's `errors[]`, bounded and reduced to printable codes and one-line messages. */
async function readErrorBody(res: http.IncomingMessage, what: string): Promise<{ errors: RegistryErrorDetail[]; text: string }> {
  let text = '';
  try {
    text = (await readBodyLimited(res, MAX_ERROR_BODY_BYTES, what)).toString('utf8');
    return { errors: errorCodes(text), text };
  } catch {
    return { errors: [], text };
  }
}

/** The registry's `errors[]` (distribution spec), printable and bounded; none for any other body. */
function errorCodes(body: string): RegistryErrorDetail[] {
  try {
    const json = JSON.parse(body) as { errors?: unknown };
    if (!Array.isArray(json?.errors)) return [];
    const printable = (v: unknown, max: number) => (typeof v === 'string' ? v.replace(/[^\x20-\x7e]/g, '?').slice(0, max) : undefined);
    return json.errors.slice(0, 8).flatMap((e: { code?: unknown; message?: unknown }) => {
      const code = printable(e?.code, 64);
      return code ? [{ code, message: printable(e?.message, 200) }] : [];
    });
  } catch {
    // A body that is not a distribution error document (an HTML page, a proxy's text) says nothing we can use.
    return [];
  }
}
