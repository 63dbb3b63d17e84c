import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildImage, writeLayout } from '../../testkit/artifacts.js';
import { BIN, FIXTURES, makeSandbox, runProcess, storeSnapshot, theError } from '../helpers/cli.js';

// Issue 8.8: local inputs are bounded by the bytes read, not by stat. Only regular files are read
// from OCI layouts and file:// sources: a name that leads to /dev/zero (size 0 for stat, endless
// to read) or a FIFO (whose open blocks until a writer comes) is refused in one line, at once.
const hello = fs.readFileSync(path.join(FIXTURES, 'hello.wasm'));
const layerHex = buildImage('cncf', hello).layerDigest.slice(7);

type Plant = (layout: string) => void;
const replaceWith = (kind: 'dev-zero' | 'fifo' | 'dir') => (file: string) => {
  fs.rmSync(file, { force: true });
  if (kind === 'dev-zero') fs.symlinkSync('/dev/zero', file);
  else if (kind === 'fifo') execFileSync('mkfifo', [file]);
  else fs.mkdirSync(file);
};

function manifestHex(layout: string): string {
  return JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')).manifests[0].digest.slice(7);
}

const layoutCases: { title: string; plant: Plant; message: RegExp }[] = [
  { title: 'index.json is a symlink to /dev/zero', plant: (l) => replaceWith('dev-zero')(path.join(l, 'index.json')), message: /: index\.json is a character device, not a regular file; refused$/ },
  { title: 'index.json is a FIFO', plant: (l) => replaceWith('fifo')(path.join(l, 'index.json')), message: /: index\.json is a FIFO, not a regular file; refused$/ },
  { title: 'the oci-layout marker is a FIFO', plant: (l) => replaceWith('fifo')(path.join(l, 'oci-layout')), message: /is not an OCI image layout \(no readable oci-layout file: .*oci-layout is a FIFO, not a regular file\)$/ },
  { title: 'the manifest blob is a symlink to /dev/zero', plant: (l) => replaceWith('dev-zero')(path.join(l, 'blobs/sha256', manifestHex(l))), message: /: blobs\/sha256\/[0-9a-f]{64} is a character device, not a regular file; refused$/ },
  { title: 'the wasm layer blob is a symlink to /dev/zero', plant: (l) => replaceWith('dev-zero')(path.join(l, 'blobs/sha256', layerHex)), message: /: blobs\/sha256\/[0-9a-f]{64} is a character device, not a regular file; refused$/ },
  { title: 'the wasm layer blob is a FIFO', plant: (l) => replaceWith('fifo')(path.join(l, 'blobs/sha256', layerHex)), message: /: blobs\/sha256\/[0-9a-f]{64} is a FIFO, not a regular file; refused$/ },
  { title: 'the wasm layer blob is a directory', plant: (l) => replaceWith('dir')(path.join(l, 'blobs/sha256', layerHex)), message: /: blobs\/sha256\/[0-9a-f]{64} is a directory, not a regular file; refused$/ },
];

/** A pull that must end by itself: the guard kills it (and the test fails) if it hangs. */
async function pull(source: string, home: ReturnType<typeof makeSandbox>) {
  return runProcess(process.execPath, [BIN, 'pull', source, '--name', 'x'], { env: home.env, cwd: home.home, timeoutMs: 30_000 });
}

for (const c of layoutCases) {
  test(`OCI layout: ${c.title}: one line, no hang, nothing installed`, async (t) => {
    const sb = makeSandbox();
    t.teardown(sb.cleanup);
    const layout = path.join(sb.home, 'layout');
    writeLayout(layout, 'v1', hello);
    c.plant(layout);
    const r = await pull(`oci-layout://${layout}:v1`, sb);
    t.is(r.signal, null, 'ended by itself');
    t.is(r.exitCode, 1);
    t.regex(theError(r.stderr), c.message);
    t.deepEqual(storeSnapshot(sb.root).filter((e) => !e.endsWith('/')), []);
  });
}

// pull checks a named file before anything else (src/cli/pullChecks.ts); the fetch reads only a
// regular file with a byte bound whatever happens in between (test/oci/bounds.test.ts).
const fileCases: { title: string; kind: 'dev-zero' | 'fifo' | 'dir'; message: RegExp }[] = [
  { title: 'a symlink to /dev/zero', kind: 'dev-zero', message: /^krew-wasm: error: file .*plugin\.wasm is not a regular file \(check the path\)$/ },
  { title: 'a FIFO', kind: 'fifo', message: /^krew-wasm: error: file .*plugin\.wasm is not a regular file \(check the path\)$/ },
  { title: 'a directory', kind: 'dir', message: /^krew-wasm: error: file .*plugin\.wasm is a folder, not a wasm file \(check the path\)$/ },
];

for (const c of fileCases) {
  test(`file:// source that is ${c.title}: one line, no hang`, async (t) => {
    const sb = makeSandbox();
    t.teardown(sb.cleanup);
    const file = path.join(sb.home, 'plugin.wasm');
    replaceWith(c.kind)(file);
    const r = await pull(`file://${file}`, sb);
    t.is(r.signal, null, 'ended by itself');
    t.is(r.exitCode, 1);
    t.regex(theError(r.stderr), c.message);
  });
}

test('file:// source bigger than KREW_WASM_MAX_BLOB_BYTES: refused by the bytes read', async (t) => {
  const sb = makeSandbox({ KREW_WASM_MAX_BLOB_BYTES: '1000' });
  t.teardown(sb.cleanup);
  const file = path.join(sb.home, 'big.wasm');
  fs.writeFileSync(file, hello);
  const r = await pull(`file://${file}`, sb);
  t.is(r.exitCode, 1);
  t.regex(theError(r.stderr), /big\.wasm is 2289 bytes, more than the limit of 1000 \(set KREW_WASM_MAX_BLOB_BYTES to raise it\)$/);
});
