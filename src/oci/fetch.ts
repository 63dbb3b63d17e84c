import fs from 'node:fs';
import path from 'node:path';
import { InvalidReferenceError, UnsupportedArtifactError } from '../errors.js';
import { LocalFileError, readRegularFile } from '../store/fsutil.js';
import { dockerCredentials, type CredentialFunc } from './auth/credentials.js';
import { sha256Of } from './digest.js';
import { LayoutSource, type LayoutManifest } from './layout.js';
import { isIndex, parseAnnotations, parseManifest, selectPlatform, selectWasmLayer, type Bounds, type Descriptor, type ImageManifest } from './manifest.js';
import { MediaType } from './mediaTypes.js';
import { NO_PROGRESS, type Progress } from './progress.js';
import { formatReference, type Source } from './reference.js';
import { Repository, type FetchedManifest } from './repository.js';
import { Transport, type TransportOptions } from './transport.js';

/** What a source currently names, found without downloading the wasm layer. */
export interface ResolvedArtifact {
  /** Digest of the resolved image manifest (absent for plain files). */
  manifestDigest?: string;
  manifestMediaType?: string;
  configMediaType?: string;
  artifactType?: string;
  layer: Descriptor;
  /** The manifest's annotations; for layouts also those of its index.json entry (the manifest's win). */
  annotations?: Record<string, string>;
}

/** What was fetched: the verified wasm bytes on disk, and where they came from. */
export interface FetchedArtifact extends ResolvedArtifact {
  /** The verified wasm file inside the staging folder. */
  wasmFile: string;
}

export interface FetchOptions extends TransportOptions {
  bounds: Bounds;
  credentials?: CredentialFunc;
  progress?: Progress;
}

/**
 * Fetches the single wasm layer of a source into `stageDir`, verifying every byte against its
 * digest. `pin` (an image manifest digest found by resolveArtifact) fetches exactly that manifest
 * instead of what the tag names now, so an upgrade installs what it compared.
 */
export async function fetchArtifact(source: Source, stageDir: string, options: FetchOptions, pin?: string): Promise<FetchedArtifact> {
  const wasmFile = path.join(stageDir, 'component.wasm');
  const progress = options.progress ?? NO_PROGRESS;
  switch (source.kind) {
    case 'file': {
      const bytes = readWasmFile(source.file, options.bounds);
      fs.writeFileSync(wasmFile, bytes, { flag: 'wx' });
      return { wasmFile, layer: { mediaType: MediaType.wasmLayer, digest: sha256Of(bytes), size: bytes.length } };
    }
    case 'oci-layout': {
      const layout = new LayoutSource(source.dir);
      const resolved = await resolveLayout(layout, source, options.bounds, pin);
      await layout.fetchBlob(resolved.layer, wasmFile, progress, blobLabel(resolved.layer));
      return { ...resolved, wasmFile };
    }
    case 'registry':
      return withRepository(source, options, async (repo) => {
        const resolved = await resolveRegistry(repo, options.bounds, pin);
        await repo.fetchBlob(resolved.layer, wasmFile, progress, blobLabel(resolved.layer));
        return { ...resolved, wasmFile };
      });
  }
}

/** What a source names now: its image manifest digest (or a file's own digest), without downloading the layer. */
export async function resolveArtifact(source: Source, options: FetchOptions): Promise<ResolvedArtifact> {
  switch (source.kind) {
    case 'file': {
      const bytes = readWasmFile(source.file, options.bounds);
      return { layer: { mediaType: MediaType.wasmLayer, digest: sha256Of(bytes), size: bytes.length } };
    }
    case 'oci-layout':
      return resolveLayout(new LayoutSource(source.dir), source, options.bounds);
    case 'registry':
      return withRepository(source, options, (repo) => resolveRegistry(repo, options.bounds));
  }
}

async function withRepository<T>(source: Extract<Source, { kind: 'registry' }>, options: FetchOptions, fn: (repo: Repository) => Promise<T>): Promise<T> {
  const transport = new Transport(options);
  try {
    return await fn(new Repository(source.ref, transport, options.credentials ?? dockerCredentials()));
  } finally {
    transport.close();
  }
}

async function resolveRegistry(repo: Repository, bounds: Bounds, pin?: string): Promise<ResolvedArtifact> {
  const what = formatReference(repo.ref);
  const top = await repo.fetchManifest(pin ?? repo.ref.digest ?? (repo.ref.tag as string), bounds);
  const { manifest, digest } = await resolveManifest(top, (d) => repo.fetchManifest(d, bounds), what);
  return describe(manifest, digest, selectWasmLayer(manifest, bounds, what));
}

async function resolveLayout(layout: LayoutSource, source: Extract<Source, { kind: 'oci-layout' }>, bounds: Bounds, pin?: string): Promise<ResolvedArtifact> {
  const top = pin ? layout.resolve(undefined, pin, bounds) : layout.resolve(source.tag, source.digest, bounds);
  const { manifest, digest } = await resolveManifest(top, (d) => layout.resolve(undefined, d, bounds), source.dir);
  const resolved = describe(manifest, digest, selectWasmLayer(manifest, bounds, source.dir));
  const fromIndex = (top as LayoutManifest).indexAnnotations;
  // The manifest's first (kept first within the bounds of one set; its value wins), then the index entry's.
  if (fromIndex) resolved.annotations = parseAnnotations({ ...resolved.annotations, ...fromIndex, ...resolved.annotations });
  return resolved;
}

/** The image manifest a source names: the manifest itself, or the wasm platform's entry of an index. */
async function resolveManifest(
  fetched: FetchedManifest,
  byDigest: (digest: string) => FetchedManifest | Promise<FetchedManifest>,
  what: string,
): Promise<{ manifest: ImageManifest; digest: string }> {
  let current = fetched;
  let parsed = parseManifest(current.bytes, current.contentType, what);
  if (isIndex(parsed)) {
    current = await byDigest(selectPlatform(parsed, what).digest);
    parsed = parseManifest(current.bytes, current.contentType, what);
    if (isIndex(parsed)) throw new UnsupportedArtifactError(`${what}: nested image index`);
  }
  return { manifest: parsed, digest: current.digest };
}

function describe(manifest: ImageManifest, digest: string, layer: Descriptor): ResolvedArtifact {
  return {
    manifestDigest: digest,
    manifestMediaType: manifest.mediaType,
    configMediaType: manifest.config.mediaType,
    artifactType: manifest.artifactType,
    layer,
    annotations: manifest.annotations,
  };
}

/** How progress names a blob: its file name when the artifact says, else its short digest. */
function blobLabel(layer: Descriptor): string {
  return layer.annotations?.['org.opencontainers.image.title'] ?? `${layer.digest.slice(0, 19)}…`;
}

/** A file:// source: a regular file only, read with a byte bound (never trusting stat of a device). */
function readWasmFile(file: string, bounds: Bounds): Buffer {
  try {
    return readRegularFile(file, bounds.maxBlobBytes);
  } catch (error) {
    if (!(error instanceof LocalFileError)) throw error;
    if (error.reason === 'too-large') throw new UnsupportedArtifactError(`${file} ${error.detail}`, { hint: 'set KREW_WASM_MAX_BLOB_BYTES to raise it' });
    throw new InvalidReferenceError(`cannot read ${file}: it ${error.detail}`);
  }
}

