import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';

/** Artifact layouts the tests push (README "Artifact layouts"). */
export type Layout = 'cncf' | 'wasm-to-oci' | 'oci11' | 'docker' | 'index' | 'container-image';

export interface PushTarget {
  /** http(s)://host:port */
  url: string;
  repo: string;
  tag: string;
  auth?: { user: string; password: string };
  /** CA PEM for a TLS registry. */
  ca?: string;
}

export interface Pushed {
  manifestDigest: string;
  layerDigest: string;
  /** Digest the tag points at (the index for `index`). */
  taggedDigest: string;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Blob { mediaType: string; bytes: Buffer }

/** Annotations a producer may write: on the manifest, and the layer's file name. */
export interface ImageAnnotations {
  manifest?: Record<string, string>;
  /** org.opencontainers.image.title of the layer (the file name, as oras push writes it). */
  layerTitle?: string;
}

/** Manifest, config and layer for one layout, as the tools that produce it would write them. */
export function buildImage(layout: Exclude<Layout, 'index'>, wasm: Buffer, annotations: ImageAnnotations = {}): { manifest: Blob; blobs: Blob[]; layerDigest: string } {
  const layerType = {
    cncf: 'application/wasm',
    'wasm-to-oci': 'application/vnd.wasm.content.layer.v1+wasm',
    oci11: 'application/wasm',
    docker: 'application/vnd.wasm.content.layer.v1+wasm',
    'container-image': 'application/vnd.oci.image.layer.v1.tar+gzip',
  }[layout];
  const layer: Blob = { mediaType: layerType, bytes: wasm };
  const config: Blob = {
    cncf: { mediaType: 'application/vnd.wasm.config.v0+json', bytes: Buffer.from(JSON.stringify({ architecture: 'wasm', os: 'wasip2', layerDigests: [sha256(wasm)] })) },
    'wasm-to-oci': { mediaType: 'application/vnd.wasm.config.v1+json', bytes: Buffer.from('{}') },
    oci11: { mediaType: 'application/vnd.oci.empty.v1+json', bytes: Buffer.from('{}') },
    docker: { mediaType: 'application/vnd.wasm.config.v1+json', bytes: Buffer.from('{}') },
    'container-image': { mediaType: 'application/vnd.oci.image.config.v1+json', bytes: Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' })) },
  }[layout];
  const descriptor = (b: Blob) => ({ mediaType: b.mediaType, digest: sha256(b.bytes), size: b.bytes.length });
  const manifestType = layout === 'docker' ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json';
  const layerDescriptor = { ...descriptor(layer), ...(annotations.layerTitle ? { annotations: { 'org.opencontainers.image.title': annotations.layerTitle } } : {}) };
  const body: Record<string, unknown> = { schemaVersion: 2, mediaType: manifestType, config: descriptor(config), layers: [layerDescriptor] };
  if (layout === 'oci11') body.artifactType = 'application/vnd.krew-wasm.plugin.v1+wasm';
  if (annotations.manifest) body.annotations = annotations.manifest;
  return { manifest: { mediaType: manifestType, bytes: Buffer.from(JSON.stringify(body)) }, blobs: [config, layer], layerDigest: sha256(wasm) };
}

/** Pushes an artifact through the distribution HTTP API (blob uploads, then manifests). */
export async function pushArtifact(target: PushTarget, layout: Layout, wasm: Buffer, annotations: ImageAnnotations = {}): Promise<Pushed> {
  const client = new PushClient(target);
  if (layout === 'index') {
    const wasmImage = buildImage('cncf', wasm);
    const other = buildImage('container-image', Buffer.from('not wasm'));
    const wasmDigest = await client.pushImage(wasmImage, sha256(wasmImage.manifest.bytes));
    const otherDigest = await client.pushImage(other, sha256(other.manifest.bytes));
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: other.manifest.mediaType, digest: otherDigest, size: other.manifest.bytes.length, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: wasmImage.manifest.mediaType, digest: wasmDigest, size: wasmImage.manifest.bytes.length, platform: { architecture: 'wasm', os: 'wasip2' } },
      ],
    };
    const bytes = Buffer.from(JSON.stringify(index));
    await client.putManifest(target.tag, { mediaType: index.mediaType, bytes });
    return { manifestDigest: wasmDigest, layerDigest: wasmImage.layerDigest, taggedDigest: sha256(bytes) };
  }
  const image = buildImage(layout, wasm, annotations);
  const digest = await client.pushImage(image, target.tag);
  return { manifestDigest: digest, layerDigest: image.layerDigest, taggedDigest: digest };
}

/** Writes an OCI image layout folder holding one CNCF wasm artifact under `tag` (ref name annotation in index.json). */
export function writeLayout(dir: string, tag: string, wasm: Buffer, annotations: ImageAnnotations = {}): { manifestDigest: string } {
  const image = buildImage('cncf', wasm, annotations);
  const put = (b: Buffer) => {
    const hex = sha256(b).slice(7);
    fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'blobs/sha256', hex), b);
  };
  for (const blob of image.blobs) put(blob.bytes);
  put(image.manifest.bytes);
  const manifestDigest = sha256(image.manifest.bytes);
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const indexFile = path.join(dir, 'index.json');
  const index = fs.existsSync(indexFile)
    ? JSON.parse(fs.readFileSync(indexFile, 'utf8'))
    : { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
  index.manifests = index.manifests.filter((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] !== tag);
  index.manifests.push({
    mediaType: image.manifest.mediaType,
    digest: manifestDigest,
    size: image.manifest.bytes.length,
    annotations: { 'org.opencontainers.image.ref.name': tag },
  });
  fs.writeFileSync(indexFile, JSON.stringify(index, null, 2));
  return { manifestDigest };
}

interface Response { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

class PushClient {
  private authorization?: string;

  constructor(private readonly target: PushTarget) {}

  async pushImage(image: { manifest: Blob; blobs: Blob[] }, reference: string): Promise<string> {
    for (const blob of image.blobs) await this.pushBlob(blob.bytes);
    await this.putManifest(reference, image.manifest);
    return sha256(image.manifest.bytes);
  }

  async pushBlob(bytes: Buffer): Promise<void> {
    const start = await this.send('POST', `/v2/${this.target.repo}/blobs/uploads/`);
    if (start.status !== 202) throw new Error(`upload start: ${start.status} ${start.body}`);
    const location = new URL(start.headers.location as string, this.target.url);
    location.searchParams.set('digest', sha256(bytes));
    const done = await this.send('PUT', location.pathname + location.search, bytes, { 'Content-Type': 'application/octet-stream' });
    if (done.status !== 201) throw new Error(`upload: ${done.status} ${done.body}`);
  }

  async putManifest(reference: string, manifest: Blob): Promise<void> {
    const res = await this.send('PUT', `/v2/${this.target.repo}/manifests/${reference}`, manifest.bytes, { 'Content-Type': manifest.mediaType });
    if (res.status !== 201) throw new Error(`manifest: ${res.status} ${res.body}`);
  }

  private async send(method: string, p: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Response> {
    let res = await this.raw(method, p, body, headers);
    if (res.status === 401 && this.target.auth) {
      await this.login(String(res.headers['www-authenticate'] ?? ''));
      res = await this.raw(method, p, body, headers);
    }
    return res;
  }

  private async login(challenge: string): Promise<void> {
    const { user, password } = this.target.auth!;
    const basic = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    if (/^basic/i.test(challenge)) {
      this.authorization = basic;
      return;
    }
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const url = new URL(params.realm);
    url.searchParams.set('service', params.service);
    url.searchParams.set('scope', `repository:${this.target.repo}:pull,push`);
    const res = await request(url, 'GET', undefined, { Authorization: basic }, this.target.ca);
    this.authorization = `Bearer ${JSON.parse(res.body.toString()).token}`;
  }

  private raw(method: string, p: string, body: Buffer | undefined, headers: Record<string, string>): Promise<Response> {
    const h = { ...headers, ...(this.authorization ? { Authorization: this.authorization } : {}) };
    return request(new URL(p, this.target.url), method, body, h, this.target.ca);
  }
}

/** One HTTP(S) request with an optional CA, body collected. */
export function request(url: URL, method: string, body?: Buffer, headers: Record<string, string> = {}, ca?: string): Promise<Response> {
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers: { ...headers, ...(body ? { 'Content-Length': String(body.length) } : {}) }, ca: ca ? fs.readFileSync(ca) : undefined }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** An OCI image layout folder holding `layout` (an index of a wasm and a linux image for `index`), under `tag`. */
export function writeLayoutOf(dir: string, layout: Exclude<Layout, 'container-image' | 'docker'>, tag: string, wasm: Buffer): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer) => fs.writeFileSync(path.join(dir, 'blobs/sha256', sha256(b).slice(7)), b);
  let top: Blob;
  if (layout === 'index') {
    const images = [buildImage('container-image', Buffer.from('not wasm')), buildImage('cncf', wasm)];
    for (const image of images) [...image.blobs, image.manifest].forEach((b) => put(b.bytes));
    const platforms = [{ architecture: 'amd64', os: 'linux' }, { architecture: 'wasm', os: 'wasip2' }];
    const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: images.map((image, i) => ({ mediaType: image.manifest.mediaType, digest: sha256(image.manifest.bytes), size: image.manifest.bytes.length, platform: platforms[i] })) };
    top = { mediaType: index.mediaType, bytes: Buffer.from(JSON.stringify(index)) };
  } else {
    const image = buildImage(layout, wasm);
    image.blobs.forEach((b) => put(b.bytes));
    top = image.manifest;
  }
  put(top.bytes);
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: top.mediaType, digest: sha256(top.bytes), size: top.bytes.length, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
}

/**
 * Pushes an artifact with curl, request by request as the distribution spec describes (POST, PUT
 * ?digest=, PUT manifest): an independent client for what skopeo cannot copy (Docker v2 manifests
 * with wasm layers).
 */
export function pushWithCurl(target: PushTarget, layout: Exclude<Layout, 'index'>, wasm: Buffer): Pushed {
  const image = buildImage(layout, wasm);
  const curl = (args: string[], input?: Buffer) => execFileSync('curl', ['-sS', '--fail-with-body', ...args], { input, encoding: 'utf8' });
  for (const blob of image.blobs) {
    const headers = curl(['-D', '-', '-o', '/dev/null', '-X', 'POST', `${target.url}/v2/${target.repo}/blobs/uploads/`]);
    const location = new URL(/^location:\s*(\S+)/im.exec(headers)![1], target.url);
    location.searchParams.set('digest', sha256(blob.bytes));
    curl(['-X', 'PUT', '-H', 'Content-Type: application/octet-stream', '--data-binary', '@-', location.href], blob.bytes);
  }
  curl(['-X', 'PUT', '-H', `Content-Type: ${image.manifest.mediaType}`, '--data-binary', '@-', `${target.url}/v2/${target.repo}/manifests/${target.tag}`], image.manifest.bytes);
  const digest = sha256(image.manifest.bytes);
  return { manifestDigest: digest, layerDigest: image.layerDigest, taggedDigest: digest };
}
