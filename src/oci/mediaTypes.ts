/** Media types of the OCI image spec and the wasm artifact layouts in the wild (see README). */
export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociEmptyConfig: 'application/vnd.oci.empty.v1+json',
  /** CNCF TAG-runtime wasm layout (wasm-pkg-tools, oras push ... :application/wasm). */
  wasmConfigV0: 'application/vnd.wasm.config.v0+json',
  wasmLayer: 'application/wasm',
  /** wasm-to-oci layout used by the original krew-wasm plugins. */
  wasmToOciConfig: 'application/vnd.wasm.config.v1+json',
  wasmToOciLayer: 'application/vnd.wasm.content.layer.v1+wasm',
} as const;

/** Manifest media types we can read, in the order we ask for them. */
export const MANIFEST_ACCEPT = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
].join(', ');

/** Layer media types that hold a wasm binary. */
export const WASM_LAYER_TYPES: readonly string[] = [MediaType.wasmLayer, MediaType.wasmToOciLayer];

/** Index-like media types (lists of manifests per platform). */
export const INDEX_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList];
