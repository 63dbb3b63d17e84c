import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { pushArtifact } from '../../testkit/artifacts.js';
import { FIXTURES, krewWasm, makeSandbox, runLink, storeSnapshot, theError } from '../helpers/cli.js';
import { startFaultProxy, type Fault, type FaultProxy } from '../helpers/faultProxy.js';
import { startRegistry, type TestRegistry } from '../../testkit/registry.js';

let registry: TestRegistry;
let proxy: FaultProxy;

test.before(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.url);
  await pushArtifact({ url: registry.url, repo: 'faults/hello', tag: 'v1' }, 'cncf', fs.readFileSync(path.join(FIXTURES, 'hello.wasm')));
});

test.after.always(async () => {
  await proxy?.stop();
  await registry?.stop();
});

const BLOB = /\/blobs\/sha256:/;
const MANIFEST = /\/manifests\//;
// A short idle timeout keeps the stall cases fast; KREW_WASM_REGISTRY_IDLE_TIMEOUT_MS is the user's knob too.
const env = { KREW_WASM_REGISTRY_IDLE_TIMEOUT_MS: '1500' };

async function pullThroughProxy(t: import('ava').ExecutionContext, rules: { match: RegExp; fault: Fault; times: number }[]) {
  proxy.rules = rules;
  proxy.hits = [];
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const r = await krewWasm(sb, ['pull', '--plain-http', `${proxy.host}/faults/hello:v1`, '--name', 'hello'], { env });
  return { sb, r };
}

const transient: { fault: Fault; match: RegExp }[] = [
  { fault: 'status-503', match: MANIFEST },
  { fault: 'status-503', match: BLOB },
  { fault: 'reset', match: MANIFEST },
  { fault: 'reset', match: BLOB },
  { fault: 'truncate', match: BLOB },
  { fault: 'wrong-length', match: BLOB },
  { fault: 'stall', match: BLOB },
];

for (const { fault, match } of transient) {
  const where = match === BLOB ? 'blob' : 'manifest';
  test.serial(`a transient ${fault} on the ${where} is retried and the pull succeeds`, async (t) => {
    const { sb, r } = await pullThroughProxy(t, [{ match, fault, times: 2 }]);
    t.is(r.exitCode, 0, r.stderr);
    t.is(proxy.hits[0], 2);
    t.is((await runLink(sb, 'hello', [])).stdout, 'hello from wasm\n');
  });
}

test.serial('a slow drip still completes', async (t) => {
  const { sb, r } = await pullThroughProxy(t, [{ match: BLOB, fault: 'drip', times: Infinity }]);
  t.is(r.exitCode, 0, r.stderr);
  t.is((await runLink(sb, 'hello', [])).stdout, 'hello from wasm\n');
});

const persistent: { fault: Fault; match: RegExp; message: RegExp }[] = [
  { fault: 'status-503', match: MANIFEST, message: /^krew-wasm: error: manifest 127\.0\.0\.1:\d+\/faults\/hello:v1: registry 127\.0\.0\.1:\d+ answered status 503 \(UNAVAILABLE: service unavailable\)$/ },
  { fault: 'reset', match: BLOB, message: /^krew-wasm: error: GET http:\/\/127\.0\.0\.1:\d+\/v2\/faults\/hello\/blobs\/sha256:[0-9a-f]{64} failed: socket hang up$/ },
  { fault: 'truncate', match: BLOB, message: /^krew-wasm: error: blob sha256:[0-9a-f]{64}: connection closed before the whole blob arrived$/ },
  { fault: 'stall', match: BLOB, message: /^krew-wasm: error: GET http:\/\/.*: transfer stalled for 1500 ms$/ },
  { fault: 'wrong-length', match: BLOB, message: /^krew-wasm: error: blob sha256:[0-9a-f]{64}: registry sends \d+ bytes but the manifest declares \d+$/ },
  { fault: 'flip-byte', match: BLOB, message: /^krew-wasm: error: blob sha256:[0-9a-f]{64}: digest mismatch, expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}$/ },
  { fault: 'html', match: MANIFEST, message: /^krew-wasm: error: 127\.0\.0\.1:\d+\/faults\/hello:v1: the manifest is not JSON \(content type text\/html\)$/ },
];

for (const { fault, match, message } of persistent) {
  test.serial(`a persistent ${fault} ends in one clear line, bounded retries, nothing installed`, async (t) => {
    const { sb, r } = await pullThroughProxy(t, [{ match, fault, times: Infinity }]);
    t.is(r.exitCode, 1);
    t.regex(theError(r.stderr), message);
    t.true(proxy.hits[0] <= 9, `retries are bounded (${proxy.hits[0]} attempts)`);
    t.deepEqual(storeSnapshot(sb.root).filter((e) => !e.endsWith('/')), []);
    t.deepEqual(fs.readdirSync(path.join(sb.root, 'tmp')), []);
  });
}

test.serial('blob size bound: a layer bigger than KREW_WASM_MAX_BLOB_BYTES is refused before downloading', async (t) => {
  proxy.rules = [];
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const before = proxy.requests.length;
  const r = await krewWasm(sb, ['pull', '--plain-http', `${proxy.host}/faults/hello:v1`], { env: { KREW_WASM_MAX_BLOB_BYTES: '100' } });
  t.is(r.exitCode, 1);
  t.regex(theError(r.stderr), /wasm layer is \d+ bytes, more than the limit of 100 \(set KREW_WASM_MAX_BLOB_BYTES to raise it\)$/);
  t.false(proxy.requests.slice(before).some((l) => BLOB.test(l)), 'no blob request was made');
});
