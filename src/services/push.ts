import path from 'node:path';
import { importModule } from '../builtin.js';
import { InvalidReferenceError, UnsupportedArtifactError } from '../errors.js';
import { dockerCredentials } from '../oci/auth/credentials.js';
import type { FetchOptions } from '../oci/fetch.js';
import { NO_PROGRESS } from '../oci/progress.js';
import { formatReference, parseReference, parseSource, type Reference } from '../oci/reference.js';
import { Repository } from '../oci/repository.js';
import { Transport } from '../oci/transport.js';
import { Uploader, type BlobOutcome } from '../oci/upload.js';
import { buildWasmArtifact, worldOfWit, type ComponentWorld } from '../oci/wasmArtifact.js';
import { checkComponentInterface, checkPreview1Module, wasmKind } from '../runtime/component.js';
import { LocalFileError, readRegularFile } from '../store/fsutil.js';
import type { Receipt } from '../store/receipt.js';

export interface PushRequest {
  /** The wasm file (absolute, or relative to `cwd`). */
  file: string;
  cwd: string;
  /** Where to push: registry/repository[:tag]. */
  reference: string;
  /** Manifest annotations (`org.opencontainers.image.*`). */
  annotations: Record<string, string>;
  fetch: FetchOptions;
  /** Upload in chunks of this many bytes (blobs up to this size go in one request). */
  chunkBytes?: number;
  /** Repositories of the same registry to mount the layer from, if they have it. */
  mountFrom: string[];
  /** Installed plugins: a receipt from the same registry with this layer names a repository to mount from. */
  installed: Receipt[];
  notify?: (line: string) => void;
}

export interface PushResult {
  reference: Reference;
  manifestDigest: string;
  layerDigest: string;
  blobs: { what: string; outcome: BlobOutcome; from?: string }[];
}

/**
 * Publishes a plugin in the CNCF wasm artifact layout: checks that the file is a plugin krew-wasm
 * can run (a component exporting wasi:cli/run, or a WASI preview1 command module), describes its
 * WIT world in the config, uploads config and layer (or finds or mounts them), then puts the
 * manifest under the tag.
 */
export async function pushPlugin(req: PushRequest): Promise<PushResult> {
  const ref = pushTarget(req.reference);
  const file = path.resolve(req.cwd, req.file);
  const wasm = readPluginFile(file, req.fetch.bounds.maxBlobBytes);
  const world = await describeWorld(wasm);
  const artifact = buildWasmArtifact(wasm, { fileName: path.basename(file), world, annotations: req.annotations, created: new Date().toISOString() });
  const transport = new Transport(req.fetch);
  try {
    const repo = new Repository(ref, transport, req.fetch.credentials ?? dockerCredentials(), 'pull,push');
    const uploader = new Uploader(repo, req.chunkBytes, req.fetch.progress ?? NO_PROGRESS);
    const mountFrom = [...req.mountFrom, ...mountCandidates(req.installed, ref, artifact.layer.descriptor.digest)];
    req.notify?.(`Pushing ${path.basename(file)} to ${formatReference(ref)}`);
    const blobs: PushResult['blobs'] = [];
    const config = await uploader.pushBlob(artifact.config, 'config');
    blobs.push({ what: 'config', ...config });
    const layer = await uploader.pushBlob(artifact.layer, path.basename(file), [...new Set(mountFrom)]);
    blobs.push({ what: path.basename(file), ...layer });
    await uploader.putManifest(ref.tag as string, artifact.manifest);
    return { reference: ref, manifestDigest: artifact.manifest.digest, layerDigest: artifact.layer.descriptor.digest, blobs };
  } finally {
    transport.close();
  }
}

/** A push names a tag (latest by default); a digest is what the push produces, not what it targets. */
function pushTarget(reference: string): Reference {
  const ref = parseReference(reference);
  if (ref.digest) {
    throw new InvalidReferenceError(`cannot push to ${reference}: a digest names content that already exists`, { hint: 'push to a tag, e.g. registry/repo:1.0' });
  }
  return ref;
}

function readPluginFile(file: string, limit: number): Buffer {
  try {
    return readRegularFile(file, limit);
  } catch (error) {
    if (!(error instanceof LocalFileError)) throw error;
    if (error.reason === 'too-large') throw new UnsupportedArtifactError(`${file} ${error.detail}`, { hint: 'set KREW_WASM_MAX_BLOB_BYTES to raise it' });
    throw new InvalidReferenceError(`cannot push ${file}: it ${error.detail}`);
  }
}

/** A component's WIT imports and exports (checked to be a plugin krew-wasm runs); undefined for a preview1 module. */
async function describeWorld(wasm: Buffer): Promise<ComponentWorld | undefined> {
  if (wasmKind(wasm) === 'core-module') {
    checkPreview1Module(wasm);
    return undefined;
  }
  const { componentWit } = await importModule<typeof import('@bytecodealliance/jco-transpile/wasm-tools')>('@bytecodealliance/jco-transpile/wasm-tools');
  let wit: string;
  try {
    wit = await componentWit(wasm);
  } catch (error) {
    throw new UnsupportedArtifactError(`not a valid component: ${String((error as Error)?.message ?? error).split('\n')[0]}`);
  }
  const world = worldOfWit(wit);
  checkComponentInterface(world.imports, world.exports);
  return world;
}

/** Repositories of installed plugins pulled from the same registry with the same layer: mount sources. */
function mountCandidates(installed: Receipt[], target: Reference, layerDigest: string): string[] {
  const out: string[] = [];
  for (const receipt of installed) {
    if (receipt.layerDigest !== layerDigest) continue;
    try {
      const source = parseSource(receipt.source);
      if (source.kind === 'registry' && source.ref.registry === target.registry) out.push(source.ref.repository);
    } catch {
      // a receipt with a source we cannot read names no repository
    }
  }
  return out;
}
