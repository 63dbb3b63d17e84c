import fs from 'node:fs';
import path from 'node:path';
import { InvalidReferenceError, UnsupportedArtifactError } from '../errors.js';
import { dockerCredentials, type CredentialFunc } from './auth/credentials.js';
import { sha256Of } from './digest.js';
import { LayoutSource } from './layout.js';
import { DEFAULT_BOUNDS, isIndex, parseManifest, selectPlatform, selectWasmLayer, type Bounds, type Descriptor, type ImageManifest } from './manifest.js';
import { MediaType } from './mediaTypes.js';
import { formatReference, type Source } from './reference.js';
import { Repository, type FetchedManifest } from './repository.js';
import { Transport, type TransportOptions } from './transport.js';
import type { Settings } from '../settings.js';

/** What was fetched: the wasm bytes on disk and where they came from. */
export interface FetchedArtifact {
  /** The verified wasm file inside the staging folder. */
  wasmFile: string;
  /** Digest of the resolved image manifest (absent for plain files). */
  manifestDigest?: string;
  manifestMediaType?: string;
  configMediaType?: string;
  artifactType?: string;
  layer: Descriptor;
}

export interface FetchOptions extends TransportOptions {
  bounds: Bounds;
  credentials?: CredentialFunc;
}

/** Fetches the single wasm layer of a source into `stageDir`, verifying every byte against its digest. */
export async function fetchArtifact(source: Source, stageDir: string, options: FetchOptions): Promise<FetchedArtifact> {
  const { bounds } = options;
  const wasmFile = path.join(stageDir, 'component.wasm');
  switch (source.kind) {
    case 'file': return fetchFile(source.file, wasmFile, bounds);
    case 'oci-layout': {
      const layout = new LayoutSource(source.dir);
      const resolve = (ref: string | undefined, digest?: string) => layout.resolve(ref, digest, bounds);
      const { manifest, digest } = await resolveManifest(resolve(source.tag, source.digest), (d) => resolve(undefined, d), source.dir);
      const layer = selectWasmLayer(manifest, bounds, source.dir);
      await layout.fetchBlob(layer, wasmFile);
      return describe(wasmFile, manifest, digest, layer);
    }
    case 'registry': {
      const repo = new Repository(source.ref, new Transport(options), options.credentials ?? dockerCredentials());
      const what = formatReference(source.ref);
      const top = await repo.fetchManifest(source.ref.digest ?? (source.ref.tag as string), bounds);
      const { manifest, digest } = await resolveManifest(top, (d) => repo.fetchManifest(d, bounds), what);
      const layer = selectWasmLayer(manifest, bounds, what);
      await repo.fetchBlob(layer, wasmFile);
      return describe(wasmFile, manifest, digest, layer);
    }
  }
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

function describe(wasmFile: string, manifest: ImageManifest, digest: string, layer: Descriptor): FetchedArtifact {
  return {
    wasmFile,
    manifestDigest: digest,
    manifestMediaType: manifest.mediaType,
    configMediaType: manifest.config.mediaType,
    artifactType: manifest.artifactType,
    layer,
  };
}

async function fetchFile(file: string, wasmFile: string, bounds: Bounds): Promise<FetchedArtifact> {
  let bytes: Buffer;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw new InvalidReferenceError(`${file} is not a file`);
    if (stat.size > bounds.maxBlobBytes) throw new UnsupportedArtifactError(`${file}: ${stat.size} bytes, more than the limit of ${bounds.maxBlobBytes}`);
    bytes = fs.readFileSync(file);
  } catch (error) {
    if (error instanceof InvalidReferenceError || error instanceof UnsupportedArtifactError) throw error;
    throw new InvalidReferenceError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  fs.writeFileSync(wasmFile, bytes, { flag: 'wx' });
  return { wasmFile, layer: { mediaType: MediaType.wasmLayer, digest: sha256Of(bytes), size: bytes.length } };
}

/** The parts of FetchOptions that come from Settings: transfer timeouts and the blob size bound. */
export function fetchSettings(settings: Pick<Settings, 'registryIdleTimeoutMs' | 'maxBlobBytes'>): Pick<FetchOptions, 'idleTimeoutMs' | 'bounds'> {
  return { idleTimeoutMs: settings.registryIdleTimeoutMs, bounds: { ...DEFAULT_BOUNDS, maxBlobBytes: settings.maxBlobBytes } };
}
