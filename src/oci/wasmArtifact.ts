import { sha256Of } from './digest.js';
import type { Descriptor } from './manifest.js';
import { MediaType } from './mediaTypes.js';

/** A blob to push: its bytes and descriptor. */
export interface Blob {
  descriptor: Descriptor;
  bytes: Buffer;
}

/** An artifact ready to push: config and layer blobs, and the manifest that names them. */
export interface WasmArtifact {
  config: Blob;
  layer: Blob;
  manifest: { bytes: Buffer; mediaType: string; digest: string };
}

/** What the config says about a component: its WIT imports and exports (CNCF wasm OCI artifact). */
export interface ComponentWorld {
  imports: string[];
  exports: string[];
}

export const TITLE = 'org.opencontainers.image.title';
export const CREATED = 'org.opencontainers.image.created';

/**
 * The CNCF TAG-runtime wasm artifact layout (as wasm-pkg-tools and oci-wasm write it): an OCI
 * image manifest, config `application/vnd.wasm.config.v0+json` with architecture `wasm`, os
 * `wasip2` for a component (with its WIT imports and exports) or `wasip1` for a core module, the
 * layer digests, and exactly one `application/wasm` layer titled with its file name.
 */
export function buildWasmArtifact(wasm: Buffer, options: {
  fileName: string;
  /** Undefined for a preview1 core module. */
  world?: ComponentWorld;
  annotations: Record<string, string>;
  created: string;
}): WasmArtifact {
  const layerDescriptor: Descriptor = {
    mediaType: MediaType.wasmLayer,
    digest: sha256Of(wasm),
    size: wasm.length,
    annotations: { [TITLE]: options.fileName },
  };
  const config: Record<string, unknown> = {
    created: options.created,
    architecture: 'wasm',
    os: options.world ? 'wasip2' : 'wasip1',
    layerDigests: [layerDescriptor.digest],
  };
  if (options.annotations['org.opencontainers.image.authors']) config.author = options.annotations['org.opencontainers.image.authors'];
  if (options.world) config.component = { exports: options.world.exports, imports: options.world.imports, target: null };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDescriptor: Descriptor = { mediaType: MediaType.wasmConfigV0, digest: sha256Of(configBytes), size: configBytes.length };
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: configDescriptor,
    layers: [layerDescriptor],
    annotations: { [CREATED]: options.created, ...options.annotations },
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    config: { descriptor: configDescriptor, bytes: configBytes },
    layer: { descriptor: layerDescriptor, bytes: wasm },
    manifest: { bytes: manifestBytes, mediaType: MediaType.ociManifest, digest: sha256Of(manifestBytes) },
  };
}

const WORLD_ITEM = /^\s*(import|export)\s+([a-z0-9-]+:[a-z0-9-]+(?:\/[a-z0-9-]+)+(?:@[0-9A-Za-z.+-]+)?)\s*;\s*$/;

/** The interface imports and exports of a component's WIT world, as `wasm-tools component wit` prints it. */
export function worldOfWit(wit: string): ComponentWorld {
  const world: ComponentWorld = { imports: [], exports: [] };
  for (const line of wit.split('\n')) {
    const m = WORLD_ITEM.exec(line);
    if (m) (m[1] === 'import' ? world.imports : world.exports).push(m[2]);
  }
  return world;
}
