import { UnsupportedArtifactError } from '../errors.js';
import { printable, printableLine, someOf } from '../printable.js';
import { parseDigest } from './digest.js';
import { INDEX_TYPES, MediaType, WASM_LAYER_TYPES } from './mediaTypes.js';

/** An OCI content descriptor (image-spec descriptor.md). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture?: string; os?: string };
}

/** An image manifest (OCI or Docker v2) after validation. */
export interface ImageManifest {
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** An image index / manifest list after validation. */
export interface ImageIndex {
  mediaType: string;
  manifests: Descriptor[];
}

/** Limits applied before anything is downloaded. */
export interface Bounds {
  maxManifestBytes: number;
  maxLayers: number;
  maxBlobBytes: number;
}

export const DEFAULT_BOUNDS: Bounds = {
  maxManifestBytes: 4 * 1024 * 1024,
  maxLayers: 16,
  maxBlobBytes: 512 * 1024 * 1024,
};

/** Parses manifest bytes into an index or an image manifest, validating the fields we rely on. */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined, what: string): ImageIndex | ImageManifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    const type = contentType ? ` (content type ${contentType})` : '';
    throw new UnsupportedArtifactError(`${what}: the manifest is not JSON${type}`);
  }
  if (!isObject(json)) throw new UnsupportedArtifactError(`${what}: the manifest is not a JSON object`);
  const mediaType = mediaTypeField(json, 'mediaType', what) ?? headerMediaType(contentType) ?? '';
  if (json.schemaVersion !== 2) throw new UnsupportedArtifactError(`${what}: unsupported manifest schemaVersion ${String(json.schemaVersion)}`);
  if (INDEX_TYPES.includes(mediaType) || (Array.isArray(json.manifests) && !Array.isArray(json.layers))) {
    const manifests = arrayField(json, 'manifests', what).map((d, i) => parseDescriptor(d, `${what}: manifests[${i}]`));
    return { mediaType: mediaType || MediaType.ociIndex, manifests };
  }
  const config = parseDescriptor(json.config, `${what}: config`);
  const layers = arrayField(json, 'layers', what).map((d, i) => parseDescriptor(d, `${what}: layers[${i}]`));
  return { mediaType: mediaType || MediaType.ociManifest, artifactType: mediaTypeField(json, 'artifactType', what), config, layers, annotations: parseAnnotations(json.annotations) };
}

/** True when parseManifest returned an index. */
export function isIndex(m: ImageIndex | ImageManifest): m is ImageIndex {
  return 'manifests' in m;
}

/** Picks the wasm manifest of an index: platform os wasip2 first, then wasip1, then wasi. */
export function selectPlatform(index: ImageIndex, what: string): Descriptor {
  const wasm = index.manifests.filter((d) => d.platform?.architecture === 'wasm' || d.platform?.os?.startsWith('wasi'));
  for (const os of ['wasip2', 'wasip1', 'wasi']) {
    const found = wasm.find((d) => d.platform?.os === os);
    if (found) return found;
  }
  if (wasm.length > 0) return wasm[0];
  const platforms = index.manifests.map((d) => `${d.platform?.os ?? '?'}/${d.platform?.architecture ?? '?'}`);
  throw new UnsupportedArtifactError(
    `${what}: the image index has no wasm platform (found: ${someOf(platforms) || 'no manifests'})`,
  );
}

/** Picks the single wasm layer of a manifest, or explains which media types were found instead. */
export function selectWasmLayer(manifest: ImageManifest, bounds: Bounds, what: string): Descriptor {
  if (manifest.layers.length > bounds.maxLayers) {
    throw new UnsupportedArtifactError(`${what}: ${manifest.layers.length} layers, more than the limit of ${bounds.maxLayers}`);
  }
  const wasmLayers = manifest.layers.filter((l) => WASM_LAYER_TYPES.includes(l.mediaType));
  if (wasmLayers.length !== 1) {
    const found = [`config ${manifest.config.mediaType}`, ...manifest.layers.map((l) => `layer ${l.mediaType}`)];
    const why = wasmLayers.length === 0 ? 'no wasm layer' : `${wasmLayers.length} wasm layers`;
    throw new UnsupportedArtifactError(
      `${what}: not a wasm plugin artifact (${why}; found ${someOf(found)}; expected one layer of ${WASM_LAYER_TYPES.join(' or ')})`,
    );
  }
  const layer = wasmLayers[0];
  if (layer.size > bounds.maxBlobBytes) {
    throw new UnsupportedArtifactError(
      `${what}: wasm layer is ${layer.size} bytes, more than the limit of ${bounds.maxBlobBytes} (set KREW_WASM_MAX_BLOB_BYTES to raise it)`,
    );
  }
  return layer;
}

function parseDescriptor(value: unknown, what: string): Descriptor {
  if (!isObject(value)) throw new UnsupportedArtifactError(`${what}: missing descriptor`);
  const mediaType = mediaTypeField(value, 'mediaType', what);
  const digest = stringField(value, 'digest');
  const size = value.size;
  if (!mediaType) throw new UnsupportedArtifactError(`${what}: descriptor without mediaType`);
  if (!digest || !parseDigest(digest)) throw new UnsupportedArtifactError(`${what}: descriptor with an invalid digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new UnsupportedArtifactError(`${what}: descriptor with an invalid size`);
  }
  const platform = isObject(value.platform)
    ? { architecture: stringField(value.platform, 'architecture'), os: stringField(value.platform, 'os') }
    : undefined;
  const annotations = parseAnnotations(value.annotations);
  return { mediaType, digest, size, platform, annotations, artifactType: mediaTypeField(value, 'artifactType', what) };
}

const MAX_ANNOTATIONS = 64;
const MAX_ANNOTATION_KEY = 256;
const MAX_ANNOTATION_VALUE = 4096;
/**
 * All of them, as a receipt writes them (JSON, UTF-8): 64 values of 4096 characters each, counted
 * in characters, made a receipt past the 1 MiB its reader takes (3-byte characters; lone surrogates,
 * which JSON writes as 6-byte escapes), and the plugin was installed damaged (attack 87).
 */
const MAX_ANNOTATION_BYTES = 64 * 1024;

/**
 * Annotations as far as we keep them: string values only, a bounded number of bounded entries,
 * MAX_ANNOTATION_BYTES in all, well-formed text without control characters (they end up in
 * receipts and on terminals). Others are dropped, and those past the bounds.
 */
export function parseAnnotations(value: unknown): Record<string, string> | undefined {
  if (!isObject(value)) return undefined;
  const out: Record<string, string> = {};
  let kept = 0;
  let bytes = 0;
  for (const [key, v] of Object.entries(value)) {
    if (kept >= MAX_ANNOTATIONS) break;
    if (typeof v !== 'string' || key.length > MAX_ANNOTATION_KEY || v.length > MAX_ANNOTATION_VALUE) continue;
    // Keys one line, values lines and tabs, both nothing else a terminal acts on (C1, bidi: attack 88).
    if (printableLine(key) !== key || printable(v.replace(/\t/g, ' ')) !== v.replace(/\t/g, ' ') || LONE_SURROGATE.test(key) || LONE_SURROGATE.test(v)) continue;
    const size = Buffer.byteLength(JSON.stringify(key)) + Buffer.byteLength(JSON.stringify(v));
    if (bytes + size > MAX_ANNOTATION_BYTES) continue;
    out[key] = v;
    kept++;
    bytes += size;
  }
  return kept > 0 ? out : undefined;
}

/** Half of a UTF-16 pair without its other half: no character at all. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringField(o: Record<string, unknown>, key: string): string | undefined {
  return typeof o[key] === 'string' ? (o[key] as string) : undefined;
}

function arrayField(o: Record<string, unknown>, key: string, what: string): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new UnsupportedArtifactError(`${what}: manifest without a "${key}" list`);
  return v;
}

/**
 * A media type as the OCI spec asks (RFC 6838 section 4.2: `type/subtype`, each at most 127
 * characters of a small set, no parameters): media types go into receipts and messages, and a
 * 1.2 MB `artifactType` made a receipt its reader refuses (attack 88).
 */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** A media type field of a manifest or a descriptor, if there is one; refused when it is no media type. */
function mediaTypeField(o: Record<string, unknown>, key: string, what: string): string | undefined {
  const value = o[key];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !MEDIA_TYPE.test(value)) throw new UnsupportedArtifactError(`${what}: ${key} is not a media type (type/subtype, as the OCI spec asks)`);
  return value;
}

/** The media type of a Content-Type header, its parameters aside, when it is one. */
function headerMediaType(contentType: string | undefined): string | undefined {
  const type = contentType?.split(';')[0].trim();
  return type && MEDIA_TYPE.test(type) ? type : undefined;
}
