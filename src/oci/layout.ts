import fs from 'node:fs';
import path from 'node:path';
import { InvalidReferenceError, UnsupportedArtifactError } from '../errors.js';
import { LocalFileError, openRegularFile, readRegularFile, readRegularText } from '../store/fsutil.js';
import { parseDigest, verifyBytes } from './digest.js';
import { parseAnnotations, type Bounds, type Descriptor } from './manifest.js';
import { NO_PROGRESS, type Progress } from './progress.js';
import { streamVerified, type FetchedManifest } from './repository.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';
const MAX_MARKER_BYTES = 64 * 1024;

/** A manifest found in a layout, with the annotations its index.json entry carries. */
export interface LayoutManifest extends FetchedManifest {
  indexAnnotations?: Record<string, string>;
}

/**
 * An OCI image layout folder (image-spec image-layout.md) used as an offline plugin source. Every
 * file is hostile until checked: only regular files are read (a FIFO or /dev/zero behind a name is
 * refused, not waited on or read forever), each with a byte bound counted as it is read.
 */
export class LayoutSource {
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
    let marker: { imageLayoutVersion?: unknown };
    try {
      marker = JSON.parse(readRegularText(path.join(this.dir, 'oci-layout'), MAX_MARKER_BYTES));
    } catch (error) {
      const why = error instanceof LocalFileError ? error.message : 'it is not JSON';
      throw new InvalidReferenceError(`${dir} is not an OCI image layout (no readable oci-layout file: ${why})`);
    }
    if (typeof marker?.imageLayoutVersion !== 'string') {
      throw new InvalidReferenceError(`${dir}: oci-layout file has no imageLayoutVersion`);
    }
  }

  /** Finds the manifest for a tag (ref.name annotation) or digest in index.json. */
  resolve(tag: string | undefined, digest: string | undefined, bounds: Bounds): LayoutManifest {
    const manifests = this.readIndex(bounds);
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
    return { bytes, contentType: desc.mediaType || undefined, digest: desc.digest, indexAnnotations: desc.annotations };
  }

  /** Reads a small blob (manifest, index) by digest. */
  readBlob(digest: string, limit: number): Buffer {
    return this.readFile(this.blobPath(digest), limit);
  }

  /** Copies a blob into `file`, checking size and digest while reading no more than the descriptor's size allows. */
  async fetchBlob(desc: Descriptor, file: string, progress: Progress = NO_PROGRESS, label = desc.digest): Promise<void> {
    const src = this.blobPath(desc.digest);
    let opened: { fd: number; size: number };
    try {
      opened = openRegularFile(src);
    } catch (error) {
      if (error instanceof LocalFileError && error.reason === 'missing') throw new UnsupportedArtifactError(`${this.dir}: blob ${desc.digest} is missing`);
      throw this.fileError(src, error);
    }
    if (opened.size !== desc.size) {
      fs.closeSync(opened.fd);
      throw new UnsupportedArtifactError(`${this.dir}: blob ${desc.digest} is ${opened.size} bytes but the manifest declares ${desc.size}`);
    }
    progress.start(label, desc.size);
    try {
      await streamVerified(fs.createReadStream('', { fd: opened.fd, start: 0, end: Math.max(0, desc.size - 1) }), desc, file, progress);
    } finally {
      progress.end();
    }
  }

  private readIndex(bounds: Bounds): Descriptor[] {
    const file = path.join(this.dir, 'index.json');
    let index: { manifests?: unknown };
    try {
      index = JSON.parse(this.readFile(file, bounds.maxManifestBytes).toString('utf8'));
    } catch (error) {
      if (error instanceof UnsupportedArtifactError) throw error;
      throw new UnsupportedArtifactError(`${this.dir}: index.json is not JSON`);
    }
    if (!Array.isArray(index?.manifests)) return [];
    return index.manifests.flatMap((m: Partial<Descriptor> | null) =>
      typeof m?.digest === 'string' ? [{ mediaType: typeof m.mediaType === 'string' ? m.mediaType : '', digest: m.digest, size: typeof m.size === 'number' ? m.size : -1, annotations: parseAnnotations(m.annotations) }] : []);
  }

  private blobPath(digest: string): string {
    const parsed = parseDigest(digest);
    if (!parsed) throw new UnsupportedArtifactError(`${this.dir}: invalid digest ${digest}`);
    return path.join(this.dir, 'blobs', parsed.algorithm, parsed.hex);
  }

  private readFile(file: string, limit: number): Buffer {
    try {
      return readRegularFile(file, limit);
    } catch (error) {
      throw this.fileError(file, error);
    }
  }

  private fileError(file: string, error: unknown): Error {
    if (!(error instanceof LocalFileError)) return error as Error;
    const name = path.relative(this.dir, file);
    if (error.reason === 'missing') return new UnsupportedArtifactError(`${this.dir}: ${name} is missing`);
    if (error.reason === 'not-regular') return new UnsupportedArtifactError(`${this.dir}: ${name} ${error.detail}; refused`);
    return new UnsupportedArtifactError(`${this.dir}: ${name} ${error.detail}`);
  }
}
