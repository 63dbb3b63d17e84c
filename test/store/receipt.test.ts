import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DamagedReceiptError } from '../../src/errors.js';
import { digestHex, readReceipt, reinstallCommand } from '../../src/store/receipt.js';
import { Paths } from '../../src/store/paths.js';
import { scratchFolders } from '../helpers/scratch.js';

const scratch = scratchFolders('receipt');

const HEX = 'a'.repeat(64);
const good = {
  apiVersion: 'krew-wasm/v1',
  name: 'foo',
  source: 'r.io/org/foo:1.0',
  manifestDigest: `sha256:${'b'.repeat(64)}`,
  layerDigest: `sha256:${HEX}`,
  mediaTypes: { manifest: 'application/vnd.oci.image.manifest.v1+json', layer: 'application/wasm' },
  size: 10,
  pulledAt: '2026-01-01T00:00:00.000Z',
  grants: { filesystem: 'none', dirs: [{ path: '/data', readOnly: true }], dataDir: false, env: { mode: 'all-except', names: ['AWS_SECRET'] }, network: 'none', timeoutSeconds: 5 },
  annotations: { 'org.opencontainers.image.version': '1.0' },
  transport: { plainHttp: true },
};

function receiptFile(content: unknown, name = 'foo'): string {
  const dir = scratch();
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

test('a valid receipt reads back, grants normalized', (t) => {
  const r = readReceipt(receiptFile(good));
  t.is(r?.layerDigest, good.layerDigest);
  t.deepEqual(r?.grants.dirs, [{ path: '/data', readOnly: true }]);
  t.is(readReceipt(path.join(os.tmpdir(), 'no-such-receipt.json')), undefined);
});

// Issue 8.10: every field that could widen grants or point the store elsewhere is checked on read.
const damaged: { name: string; change: (r: Record<string, unknown>) => unknown; why: RegExp }[] = [
  { name: 'layerDigest that climbs out of the store', change: (r) => ({ ...r, layerDigest: 'sha256:../../../../tmp/x' }), why: /layerDigest "sha256:\.\.\/\.\.\/\.\.\/\.\.\/tmp\/x" is not sha256:<64 hex digits>$/ },
  { name: 'layerDigest with upper-case hex', change: (r) => ({ ...r, layerDigest: `sha256:${'A'.repeat(64)}` }), why: /layerDigest .* is not sha256/ },
  { name: 'layerDigest of another algorithm', change: (r) => ({ ...r, layerDigest: `sha512:${'a'.repeat(128)}` }), why: /layerDigest .* is not sha256/ },
  { name: 'manifestDigest that is not a digest', change: (r) => ({ ...r, manifestDigest: 'latest' }), why: /manifestDigest "latest" is not a digest$/ },
  { name: 'an unknown field', change: (r) => ({ ...r, postInstall: 'rm -rf ~' }), why: /unknown field "postInstall"$/ },
  { name: 'a name that is not its file name', change: (r) => ({ ...r, name: 'bar' }), why: /its name "bar" is not its file name$/ },
  { name: 'another apiVersion', change: (r) => ({ ...r, apiVersion: 'v2' }), why: /apiVersion is not krew-wasm\/v1$/ },
  { name: 'a grant outside the schema (filesystem)', change: (r) => ({ ...r, grants: { ...(r.grants as object), filesystem: 'root' } }), why: /grants: filesystem "root" is not home, kubeconfig or none$/ },
  { name: 'an unknown grant', change: (r) => ({ ...r, grants: { ...(r.grants as object), sudo: true } }), why: /grants: unknown grant "sudo"$/ },
  { name: 'a relative folder grant', change: (r) => ({ ...r, grants: { ...(r.grants as object), dirs: [{ path: 'etc', readOnly: false }] } }), why: /grants: a folder grant is not/ },
  { name: 'a read-only flag that is not a boolean', change: (r) => ({ ...r, grants: { ...(r.grants as object), dirs: [{ path: '/etc', readOnly: 'no' }] } }), why: /grants: a folder grant is not/ },
  { name: 'an env grant that is neither all nor names', change: (r) => ({ ...r, grants: { ...(r.grants as object), env: 'everything' } }), why: /grants: env is not all, only some variables or all except some$/ },
  { name: 'an env grant of an unknown mode', change: (r) => ({ ...r, grants: { ...(r.grants as object), env: { mode: 'any', names: [] } } }), why: /grants: env is not all/ },
  { name: 'an env grant with a name holding =', change: (r) => ({ ...r, grants: { ...(r.grants as object), env: { mode: 'only', names: ['A=B'] } } }), why: /grants: env is not all/ },
  { name: 'a negative time limit', change: (r) => ({ ...r, grants: { ...(r.grants as object), timeoutSeconds: -1 } }), why: /grants: timeoutSeconds is not a positive number$/ },
  { name: 'a network grant outside the schema', change: (r) => ({ ...r, grants: { ...(r.grants as object), network: 'all' } }), why: /grants: network "all" is not api-server or none$/ },
  { name: 'a relative CA file', change: (r) => ({ ...r, transport: { caFile: 'ca.pem' } }), why: /transport caFile is not an absolute path$/ },
  { name: 'a size that is not a byte count', change: (r) => ({ ...r, size: '10' }), why: /size is not a byte count$/ },
  { name: 'a source with control characters', change: (r) => ({ ...r, source: 'r.io/x\u001b[2J' }), why: /source is not a reference$/ },
  { name: 'not JSON', change: () => '{"apiVersion":', why: /it is not JSON$/ },
  { name: 'not an object', change: () => '[]', why: /it is not a JSON object$/ },
];

for (const c of damaged) {
  test(`a damaged receipt is refused, saying what is wrong: ${c.name}`, (t) => {
    const error = t.throws(() => readReceipt(receiptFile(c.change(good as Record<string, unknown>))), { instanceOf: DamagedReceiptError });
    t.regex(error!.message, /^the receipt of plugin foo is damaged: /);
    t.regex(error!.message, c.why);
    t.regex(error!.hint ?? '', /^remove it with krew-wasm rm foo, then reinstall: krew-wasm pull --force .* --name foo/);
  });
}

test('the repair hint names the source and the registry options it was pulled with', (t) => {
  const error = t.throws(() => readReceipt(receiptFile({ ...good, grants: 'x' })), { instanceOf: DamagedReceiptError });
  t.is(error!.hint, 'remove it with krew-wasm rm foo, then reinstall: krew-wasm pull --force r.io/org/foo:1.0 --name foo --plain-http');
  t.is(reinstallCommand('foo', 'r.io/x:1', { caFile: '/ca.pem', insecure: true }), 'krew-wasm pull --force r.io/x:1 --name foo --ca-file /ca.pem --insecure');
});

test('a receipt that is a FIFO or /dev/zero is damaged, not a hang', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const dir = scratch();
  execFileSync('mkfifo', [path.join(dir, 'fifo.json')]);
  fs.symlinkSync('/dev/zero', path.join(dir, 'zero.json'));
  t.throws(() => readReceipt(path.join(dir, 'fifo.json')), { instanceOf: DamagedReceiptError, message: /is a FIFO, not a regular file$/ });
  t.throws(() => readReceipt(path.join(dir, 'zero.json')), { instanceOf: DamagedReceiptError, message: /is a character device, not a regular file$/ });
});

test('nothing but the hex of a sha256 digest reaches a store path', (t) => {
  t.is(digestHex(`sha256:${HEX}`), HEX);
  t.throws(() => digestHex('sha256:../../x'));
  const paths = new Paths('/root');
  t.is(paths.storeEntry(HEX), `/root/store/${HEX}`);
  t.throws(() => paths.storeEntry('../../tmp/x'));
  t.throws(() => paths.cacheEntry(''));
});
