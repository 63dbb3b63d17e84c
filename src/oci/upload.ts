import { DigestMismatchError, RegistryError } from '../errors.js';
import type { Exchange } from './auth/authClient.js';
import { NO_PROGRESS, type Progress } from './progress.js';
import { statusError, type Repository } from './repository.js';
import { discard, type HttpRequest } from './transport.js';
import type { Blob } from './wasmArtifact.js';

/** How a blob reached the registry. */
export type BlobOutcome = 'exists' | 'mounted' | 'uploaded';

/** Up to this size a blob goes in one PUT; bigger ones in PATCH chunks of this size. */
export const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * Pushes blobs and manifests (OCI distribution-spec, "Push"): a blob the repository has is left
 * alone (HEAD); one another repository of the registry has is mounted (POST ?mount=&from=);
 * anything else is uploaded, in one PUT (monolithic) or in PATCH chunks, then closed with the
 * digest. Every URL the registry hands out for an upload must stay on its origin: credentials
 * are sent to it.
 */
export class Uploader {
  constructor(private readonly repo: Repository, private readonly chunkBytes = DEFAULT_CHUNK_BYTES, private readonly progress: Progress = NO_PROGRESS) {}

  /** Makes sure the repository has `blob`; `mountFrom` lists repositories of the same registry that may have it. */
  async pushBlob(blob: Blob, label: string, mountFrom: string[] = []): Promise<{ outcome: BlobOutcome; from?: string }> {
    if (await this.exists(blob.descriptor.digest)) return { outcome: 'exists' };
    for (const from of mountFrom.filter((r) => r !== this.repo.ref.repository)) {
      const mounted = await this.startUpload(blob, from);
      if (mounted === 'mounted') return { outcome: 'mounted', from };
    }
    await this.upload(blob, label);
    return { outcome: 'uploaded' };
  }

  /** Puts a manifest under `reference` (a tag); checks the digest the registry computed. */
  async putManifest(reference: string, manifest: { bytes: Buffer; mediaType: string; digest: string }): Promise<void> {
    const url = this.repo.url(`manifests/${reference}`);
    await this.repo.perform('PUT', url, async (send) => {
      const ex = await send({ method: 'PUT', url, headers: { 'Content-Type': manifest.mediaType }, body: manifest.bytes });
      if (ex.res.statusCode !== 201) throw await statusError(ex, 'PUT', `manifest ${this.repo.ref.registry}/${this.repo.ref.repository}:${reference}`, this.repo.ref);
      checkDigestHeader(ex, manifest.digest, 'manifest');
      discard(ex.res);
    });
  }

  private async exists(digest: string): Promise<boolean> {
    const url = this.repo.url(`blobs/${digest}`);
    return this.repo.perform('HEAD', url, async (send) => {
      const ex = await send({ method: 'HEAD', url });
      if (ex.res.statusCode !== 200 && ex.res.statusCode !== 404) throw await statusError(ex, 'HEAD', `blob ${digest}`, this.repo.ref);
      discard(ex.res);
      return ex.res.statusCode === 200;
    });
  }

  /** POST to /blobs/uploads/ (with a mount request when `from` is given): mounted, or where to upload. */
  private async startUpload(blob: Blob, from?: string, send?: Sender): Promise<'mounted' | URL> {
    const query = from ? `?mount=${encodeURIComponent(blob.descriptor.digest)}&from=${encodeURIComponent(from)}` : '';
    const url = this.repo.url(`blobs/uploads/${query}`);
    const scope = from ? `${this.repo.scope} repository:${from}:pull` : this.repo.scope;
    const post = async (s: Sender) => {
      const ex = await s({ method: 'POST', url, headers: { 'Content-Length': '0' } }, scope);
      if (ex.res.statusCode !== 202 && !(from && ex.res.statusCode === 201)) throw await statusError(ex, 'POST', `upload of blob ${blob.descriptor.digest}`, this.repo.ref);
      discard(ex.res);
      return ex.res.statusCode === 201 ? 'mounted' as const : this.location(ex);
    };
    return send ? post(send) : this.repo.perform('POST', url, post);
  }

  /**
   * One upload from POST to the closing PUT, retried as a whole: a blob is content-addressed, so
   * starting again can do no harm, and a half-done chunked upload cannot be resumed reliably.
   */
  private async upload(blob: Blob, label: string): Promise<void> {
    const { digest, size } = blob.descriptor;
    await this.repo.perform('PUT', this.repo.url('blobs/uploads/'), async (send) => {
      this.progress.start(label, size);
      try {
        let location = await this.startUpload(blob, undefined, send) as URL;
        const chunk = Math.max(1, this.chunkBytes);
        let closing: Buffer = blob.bytes;
        if (size > chunk) {
          for (let start = 0; start < size; start += chunk) {
            const part = blob.bytes.subarray(start, Math.min(size, start + chunk));
            const headers = { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${start + part.length - 1}` };
            const ex = await send({ method: 'PATCH', url: location, headers, body: part });
            if (ex.res.statusCode !== 202) throw await statusError(ex, 'PATCH', `upload of blob ${digest}`, this.repo.ref);
            discard(ex.res);
            location = this.location(ex);
            this.progress.advance(part.length);
          }
          closing = Buffer.alloc(0);
        }
        const done = new URL(location);
        done.searchParams.set('digest', digest);
        const ex = await send({ method: 'PUT', url: done, headers: { 'Content-Type': 'application/octet-stream' }, body: closing });
        if (ex.res.statusCode !== 201) throw await statusError(ex, 'PUT', `upload of blob ${digest}`, this.repo.ref);
        discard(ex.res);
        checkDigestHeader(ex, digest, `blob ${digest}`);
        if (closing.length > 0) this.progress.advance(closing.length);
      } finally {
        this.progress.end();
      }
    });
  }

  /** The Location of an upload, resolved against the registry and held to its origin. */
  private location(ex: Exchange): URL {
    const header = ex.res.headers.location;
    let url: URL | undefined;
    try {
      url = header ? new URL(header, this.repo.url('')) : undefined;
    } catch {
      url = undefined;
    }
    if (!url) throw new RegistryError(`${this.repo.ref.registry}: an upload answer without a usable Location`);
    if (url.origin !== this.repo.origin || url.username || url.password) {
      throw new RegistryError(`${this.repo.ref.registry}: the registry named an upload location on another origin (${url.origin}); refused, credentials go only to the registry`);
    }
    return url;
  }
}

type Sender = (req: HttpRequest, scope?: string) => Promise<Exchange>;

function checkDigestHeader(ex: Exchange, expected: string, what: string): void {
  const claimed = ex.res.headers['docker-content-digest'];
  if (typeof claimed === 'string' && claimed.startsWith('sha256:') && claimed !== expected) {
    throw new DigestMismatchError(`${what}: the registry stored digest ${claimed}, not ${expected}`);
  }
}
