import fs from 'node:fs';
import type http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { DigestMismatchError, RegistryError, UnsupportedArtifactError } from '../errors.js';
import { AuthClient } from './auth/authClient.js';
import type { CredentialFunc } from './auth/credentials.js';
import { DigestVerifier, parseDigest, sha256Of, verifyBytes } from './digest.js';
import type { Bounds, Descriptor } from './manifest.js';
import { MANIFEST_ACCEPT } from './mediaTypes.js';
import { formatReference, registryHost, type Reference } from './reference.js';
import { readBodyLimited, type Transport } from './transport.js';

/** Raw manifest bytes plus what the registry said about them. */
export interface FetchedManifest {
  bytes: Buffer;
  contentType?: string;
  digest: string;
}

const BLOB_ATTEMPTS = 3;

/** One repository on a registry, speaking the distribution API (OCI distribution-spec, "Pull"). */
export class Repository {
  private readonly client: AuthClient;
  private readonly scope: string;

  constructor(readonly ref: Reference, private readonly transport: Transport, credentials: CredentialFunc) {
    this.client = new AuthClient(transport, ref.registry, credentials);
    this.scope = `repository:${ref.repository}:pull`;
  }

  private url(path: string): URL {
    return new URL(`${this.transport.scheme}://${registryHost(this.ref)}/v2/${this.ref.repository}/${path}`);
  }

  /** Fetches a manifest by tag or digest; a by-digest fetch is checked against that digest. */
  async fetchManifest(reference: string, bounds: Bounds): Promise<FetchedManifest> {
    const what = `manifest ${formatReference(this.ref)}`;
    const res = await this.client.send(
      { method: 'GET', url: this.url(`manifests/${reference}`), headers: { Accept: MANIFEST_ACCEPT } },
      this.scope,
    );
    if (res.statusCode !== 200) throw await statusError(res, what, this.ref);
    const bytes = await readBodyLimited(res, bounds.maxManifestBytes, what);
    let digest = sha256Of(bytes);
    if (parseDigest(reference)) {
      verifyBytes(bytes, reference, what);
      digest = reference;
    } else {
      const claimed = res.headers['docker-content-digest'];
      if (typeof claimed === 'string' && claimed.startsWith('sha256:') && claimed !== digest) {
        throw new DigestMismatchError(`${what}: registry claims digest ${claimed} but the bytes hash to ${digest}`);
      }
    }
    return { bytes, contentType: res.headers['content-type'], digest };
  }

  /**
   * Streams a blob into `file`, checking size and digest on the way. A transfer cut short (reset,
   * truncated, stalled) is started again, a bounded number of times with back-off; bytes that do
   * not match the digest are not: the registry would send them again.
   */
  async fetchBlob(desc: Descriptor, file: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.fetchBlobOnce(desc, file);
      } catch (error) {
        fs.rmSync(file, { force: true });
        if (!(error instanceof RegistryError) || attempt >= BLOB_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** (attempt - 1)));
      }
    }
  }

  private async fetchBlobOnce(desc: Descriptor, file: string): Promise<void> {
    const what = `blob ${desc.digest}`;
    const digest = parseDigest(desc.digest);
    if (!digest) throw new UnsupportedArtifactError(`${what}: unsupported digest algorithm`);
    const res = await this.client.send({ method: 'GET', url: this.url(`blobs/${desc.digest}`) }, this.scope);
    if (res.statusCode !== 200) throw await statusError(res, what, this.ref);
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared !== desc.size) {
      res.destroy();
      // A transport-level disagreement (a proxy's doing, often passing): retried like a cut transfer.
      throw new RegistryError(`${what}: registry sends ${declared} bytes but the manifest declares ${desc.size}`);
    }
    await streamVerified(res, desc, file);
  }
}

/** Pipes a readable into a file while checking digest and size; shared by registry and layout sources. */
export async function streamVerified(source: NodeJS.ReadableStream, desc: Descriptor, file: string): Promise<void> {
  const digest = parseDigest(desc.digest);
  if (!digest) throw new UnsupportedArtifactError(`blob ${desc.digest}: unsupported digest algorithm`);
  const verifier = new DigestVerifier(digest, desc.size, `blob ${desc.digest}`);
  const check = new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        verifier.update(chunk);
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
    await pipeline(source, check, fs.createWriteStream(file, { flags: 'wx', mode: 0o644 }));
  } catch (error) {
    if (error instanceof DigestMismatchError || error instanceof RegistryError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNABORTED' || code === 'EPIPE') {
      throw new RegistryError(`blob ${desc.digest}: connection closed before the whole blob arrived`, { cause: error });
    }
    throw error;
  }
}

/** Turns a non-200 answer into a RegistryError that names the registry's own error codes. */
async function statusError(res: http.IncomingMessage, what: string, ref: Reference): Promise<RegistryError> {
  let detail = '';
  try {
    const body = await readBodyLimited(res, 64 * 1024, what);
    const json = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    detail = (json.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
  } catch {
    // A body that is not a distribution error document (an HTML page, a proxy's text) says nothing we can use.
  }
  const suffix = detail ? ` (${detail})` : '';
  if (res.statusCode === 404) {
    return new RegistryError(`${what}: not found on ${ref.registry}${suffix}`, { hint: 'check the repository name and tag' });
  }
  if (res.statusCode === 401 || res.statusCode === 403) {
    return new RegistryError(`${what}: access denied by ${ref.registry} (status ${res.statusCode})${suffix}`);
  }
  return new RegistryError(`${what}: registry ${ref.registry} answered status ${res.statusCode}${suffix}`);
}
