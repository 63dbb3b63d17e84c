import test from 'ava';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { InvalidReferenceError, UnsupportedArtifactError } from '../../src/errors.js';
import { fetchArtifact } from '../../src/oci/fetch.js';
import { fetchSettings } from '../../src/oci/fetchSettings.js';
import { settingsFromEnv } from '../../src/settings.js';
import { scratchFolders } from '../helpers/scratch.js';

const scratch = scratchFolders('bounds');

const options = fetchSettings(settingsFromEnv({}));

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An OCI layout whose one manifest is given as an object. */
function layoutWith(manifest: object): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-bounds-'));
  fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
  const bytes = Buffer.from(JSON.stringify(manifest));
  fs.writeFileSync(path.join(dir, 'blobs/sha256', sha(bytes).slice(7)), bytes);
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(bytes), size: bytes.length }] }));
  return dir;
}

const layer = (i: number) => ({ mediaType: 'application/wasm', digest: `sha256:${String(i).padStart(64, '0')}`, size: 10 });
const config = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(Buffer.from('{}')), size: 2 };

test('manifests over the size bound are refused before parsing', async (t) => {
  const dir = layoutWith({ schemaVersion: 2, config, layers: [layer(1)], annotations: { pad: 'x'.repeat(5 * 1024 * 1024) } });
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  await t.throwsAsync(fetchArtifact({ kind: 'oci-layout', dir }, scratch(), options), {
    instanceOf: UnsupportedArtifactError,
    message: /bytes, more than the limit of 4194304$/,
  });
});

test('more layers than the bound are refused before any blob is read', async (t) => {
  const dir = layoutWith({ schemaVersion: 2, config, layers: Array.from({ length: 17 }, (_, i) => layer(i)) });
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  await t.throwsAsync(fetchArtifact({ kind: 'oci-layout', dir }, scratch(), options), {
    instanceOf: UnsupportedArtifactError,
    message: /17 layers, more than the limit of 16$/,
  });
});

test('descriptors with bad digests or sizes are refused', async (t) => {
  const dir = layoutWith({ schemaVersion: 2, config, layers: [{ mediaType: 'application/wasm', digest: 'sha256:nothex', size: -1 }] });
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  await t.throwsAsync(fetchArtifact({ kind: 'oci-layout', dir }, scratch(), options), {
    instanceOf: UnsupportedArtifactError,
    message: /layers\[0\]: descriptor with an invalid digest$/,
  });
});

test('file:// sources: only a regular file is read, bounded by the bytes read (8.8)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-file-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const stage = () => fs.mkdtempSync(path.join(dir, 'stage-'));
  execFileSync('mkfifo', [path.join(dir, 'fifo.wasm')]);
  fs.symlinkSync('/dev/zero', path.join(dir, 'zero.wasm'));
  await t.throwsAsync(fetchArtifact({ kind: 'file', file: path.join(dir, 'fifo.wasm') }, stage(), options), {
    instanceOf: InvalidReferenceError, message: /fifo\.wasm: it is a FIFO, not a regular file$/,
  });
  await t.throwsAsync(fetchArtifact({ kind: 'file', file: path.join(dir, 'zero.wasm') }, stage(), options), {
    instanceOf: InvalidReferenceError, message: /zero\.wasm: it is a character device, not a regular file$/,
  });
  fs.writeFileSync(path.join(dir, 'big.wasm'), Buffer.alloc(2000));
  await t.throwsAsync(fetchArtifact({ kind: 'file', file: path.join(dir, 'big.wasm') }, stage(), { ...options, bounds: { ...options.bounds, maxBlobBytes: 1000 } }), {
    instanceOf: UnsupportedArtifactError, message: /big\.wasm is 2000 bytes, more than the limit of 1000$/,
  });
});
