import fs from 'node:fs';
import path from 'node:path';
import { InvalidReferenceError, UnsupportedArtifactError } from '../errors.js';
import { parseDigest, verifyBytes } from './digest.js';
import type { Bounds, Descriptor } from './manifest.js';
import { streamVerified, type FetchedManifest } from './repository.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

/** An OCI image layout folder (image-spec image-layout.md) used as an offline plugin source. */
export class LayoutSource {
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
    let marker: { imageLayoutVersion?: string };
    try {
      marker = JSON.parse(fs.readFileSync(path.join(this.dir, 'oci-layout'), 'utf8'));
    } catch {
      throw new InvalidReferenceError(`${dir} is not an OCI image layout (no readable oci-layout file)`);
    }
    if (typeof marker.imageLayoutVersion !== 'string') {
      throw new InvalidReferenceError(`${dir}: oci-layout file has no imageLayoutVersion`);
    }
  }

  /** Finds the manifest for a tag (ref.name annotation) or digest in index.json. */
  resolve(tag: string | undefined, digest: string | undefined, bounds: Bounds): FetchedManifest {
    const index = JSON.parse(this.readBlobFile(path.join(this.dir, 'index.json'), bounds.maxManifestBytes).toString('utf8')) as {
      manifests?: Descriptor[];
    };
    const manifests = index.manifests ?? [];
    let desc: Descriptor | undefined;
    if (digest) desc = manifests.find((m) => m.digest === digest) ?? { mediaType: '', digest, size: -1 };
    else if (tag) desc = manifests.find((m) => m.annotations?.[REF_NAME] === tag);
    else desc = manifests.length === 1 ? manifests[0] : manifests.find((m) => m.annotations?.[REF_NAME] === 'latest');
    if (!desc) {
      const tags = manifests.map((m) => m.annotations?.[REF_NAME]).filter(Boolean);
      throw new InvalidReferenceError(
        `${this.dir}: no manifest ${tag ? `tagged "${tag}"` : 'selected'} (tags: ${tags.join(', ') || 'none'})`,
      );
    }
    const bytes = this.readBlob(desc.digest, bounds.maxManifestBytes);
    verifyBytes(bytes, desc.digest, `manifest ${desc.digest}`);
    return { bytes, contentType: desc.mediaType || undefined, digest: desc.digest };
  }

  /** Reads a small blob (manifest, index) by digest. */
  readBlob(digest: string, limit: number): Buffer {
    return this.readBlobFile(this.blobPath(digest), limit);
  }

  /** Copies a blob into `file`, checking size and digest. */
  async fetchBlob(desc: Descriptor, file: string): Promise<void> {
    const src = this.blobPath(desc.digest);
    if (!fs.existsSync(src)) throw new UnsupportedArtifactError(`${this.dir}: blob ${desc.digest} is missing`);
    await streamVerified(fs.createReadStream(src), desc, file);
  }

  private blobPath(digest: string): string {
    const parsed = parseDigest(digest);
    if (!parsed) throw new UnsupportedArtifactError(`${this.dir}: invalid digest ${digest}`);
    return path.join(this.dir, 'blobs', parsed.algorithm, parsed.hex);
  }

  private readBlobFile(file: string, limit: number): Buffer {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      throw new UnsupportedArtifactError(`${this.dir}: ${path.relative(this.dir, file)} is missing`);
    }
    if (stat.size > limit) throw new UnsupportedArtifactError(`${file}: ${stat.size} bytes, more than the limit of ${limit}`);
    return fs.readFileSync(file);
  }
}
