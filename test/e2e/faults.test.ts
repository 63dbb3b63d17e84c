import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pushArtifact } from '../../testkit/artifacts.js';
import { BIN, FIXTURES, krewWasm, makeSandbox, runLink, runProcess, storeSnapshot, theError } from '../helpers/cli.js';
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

const RETRY_LINE = /^retrying \((\d)\/3\) after (.+)$/;

for (const { fault, match } of transient) {
  const where = match === BLOB ? 'blob' : 'manifest';
  test.serial(`a transient ${fault} on the ${where} is retried and the pull succeeds`, async (t) => {
    const { sb, r } = await pullThroughProxy(t, [{ match, fault, times: 2 }]);
    t.is(r.exitCode, 0, r.stderr);
    t.is(proxy.hits[0], 2);
    const retries = r.stderr.split('\n').filter((l) => RETRY_LINE.test(l));
    t.deepEqual(retries.map((l) => RETRY_LINE.exec(l)![1]), ['2', '3'], 'each retry is said on one line');
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
  { fault: 'reset', match: BLOB, message: /^krew-wasm: error: GET http:\/\/127\.0\.0\.1:\d+\/v2\/faults\/hello\/blobs\/sha256:[0-9a-f]{64}: connection reset \(socket hang up\)$/ },
  { fault: 'truncate', match: BLOB, message: /^krew-wasm: error: blob sha256:[0-9a-f]{64}: connection closed before the whole blob arrived$/ },
  { fault: 'stall', match: BLOB, message: /^krew-wasm: error: GET http:\/\/.*: transfer stalled for 1\.5 s$/ },
  { fault: 'wrong-length', match: BLOB, message: /^krew-wasm: error: blob sha256:[0-9a-f]{64}: registry sends \d+ bytes but the manifest declares \d+$/ },
  { fault: 'flip-byte', match: BLOB, message: /^krew-wasm: error: blob sha256:[0-9a-f]{64}: digest mismatch, expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}$/ },
  { fault: 'html', match: MANIFEST, message: /^krew-wasm: error: 127\.0\.0\.1:\d+\/faults\/hello:v1: the manifest is not JSON \(content type text\/html\)$/ },
];

// One retry policy: a retryable failure is tried 3 times in all (not 3 x 3 by nested layers), the others once.
const attempts: Partial<Record<Fault, number>> = { 'status-503': 3, reset: 3, truncate: 3, stall: 3, 'wrong-length': 3, 'flip-byte': 1, html: 1 };

for (const { fault, match, message } of persistent) {
  test.serial(`a persistent ${fault} ends in one clear line, bounded retries, nothing installed`, async (t) => {
    const { sb, r } = await pullThroughProxy(t, [{ match, fault, times: Infinity }]);
    t.is(r.exitCode, 1);
    t.regex(theError(r.stderr), message);
    t.is(proxy.hits[0], attempts[fault] ?? 0, `attempts of a persistent ${fault}`);
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

test.serial('a missing manifest (404) is asked for once, not retried', async (t) => {
  proxy.rules = [];
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const before = proxy.requests.length;
  const r = await krewWasm(sb, ['pull', '--plain-http', `${proxy.host}/faults/nothing-here:v1`], { env });
  t.is(r.exitCode, 1);
  t.regex(theError(r.stderr), /^krew-wasm: error: manifest 127\.0\.0\.1:\d+\/faults\/nothing-here:v1: not found on .* \((NAME|MANIFEST)_UNKNOWN/);
  t.is(proxy.requests.slice(before).filter((l) => MANIFEST.test(l)).length, 1);
  t.false(/retrying/.test(r.stderr));
});

test.serial('a refused connection is tried three times, each retry said on one line', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const r = await krewWasm(sb, ['pull', '--plain-http', '127.0.0.1:1/x:1'], { env });
  t.is(r.exitCode, 1);
  t.deepEqual(r.stderr.split('\n').filter((l) => l.startsWith('retrying')), [
    'retrying (2/3) after connection refused',
    'retrying (3/3) after connection refused',
  ]);
  t.is(theError(r.stderr), 'krew-wasm: error: cannot connect to http://127.0.0.1:1: connection refused');
});

test.serial('a registry that accepts connections but never answers fails after the idle timeout, saying how long it waited', async (t) => {
  const silent = net.createServer(() => {}); // accepts, reads nothing, says nothing
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { silent.close(); });
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const port = (silent.address() as net.AddressInfo).port;
  const r = await krewWasm(sb, ['pull', '--plain-http', `127.0.0.1:${port}/x:1`], { env: { KREW_WASM_REGISTRY_IDLE_TIMEOUT_MS: '800' } });
  t.is(r.exitCode, 1);
  const line = /^krew-wasm: error: GET http:\/\/127\.0\.0\.1:\d+\/v2\/x\/manifests\/1: no response within 800 ms \(waited (\d+ ms|\d+(?:\.\d)? s)\) \(check that the registry is up; KREW_WASM_REGISTRY_IDLE_TIMEOUT_MS sets how long to wait\)$/.exec(theError(r.stderr));
  t.truthy(line, r.stderr);
  // `850 ms`, or `1 s` when a busy machine ran the timer late: never less than the idle timeout.
  const waitedMs = line![1]!.endsWith(' ms') ? Number.parseInt(line![1]!, 10) : Number.parseFloat(line![1]!) * 1000;
  t.true(waitedMs >= 800, line![1]);
  t.false(/retrying/.test(r.stderr), 'a registry that does not answer is not asked again: the user waited the stated time already');
});

test.serial('a registry that drips one byte every 0.7 s is cut off by the overall deadline (issue 13.4)', async (t) => {
  proxy.rules = [{ match: MANIFEST, fault: 'trickle', times: Infinity }];
  proxy.hits = [];
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  // Never idle (a byte every 0.7 s beats the 30 s idle timeout), never done (4 KiB would take 50 min):
  // only a deadline on the whole request ends it. The guard kills the process if it does not end by itself.
  const r = await runProcess(process.execPath, [BIN, 'pull', '--plain-http', `${proxy.host}/faults/hello:v1`], {
    env: { ...sb.env, KREW_WASM_REGISTRY_DEADLINE_MS: '3000' }, cwd: sb.home, timeoutMs: 60_000,
  });
  t.is(r.signal, null, 'krew-wasm ended by itself');
  t.is(r.exitCode, 1);
  t.regex(theError(r.stderr), /^krew-wasm: error: GET http:\/\/127\.0\.0\.1:\d+\/v2\/faults\/hello\/manifests\/v1: not finished within the deadline of 3 s \(raise KREW_WASM_REGISTRY_DEADLINE_MS for very slow registries\)$/);
  t.is(proxy.hits[0], 1, 'the deadline is not retried');
  t.deepEqual(storeSnapshot(sb.root).filter((e) => !e.endsWith('/')), []);
});
