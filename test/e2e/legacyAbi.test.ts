// A plugin written for the ORIGINAL krew-wasm (a preview1 core module importing `wasi-outbound-http` with
// wit-bindgen 0.1's ABI; test/fixtures/src/legacyprobe.c) is pulled unmodified and run through real
// kubectl against the loopback API server. The probe checks on its side that everything the host returns
// sits in memory it allocated through its canonical_abi_realloc (exit 70 otherwise), so each case below
// also proves the adapter's memory handoff.
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES, hasCommand, krewWasm, makeSandbox, runProcess, storeSnapshot, theError, type Outcome, type Sandbox } from '../helpers/cli.js';
import { startFakeApiServer, type FakeApiServer } from '../../testkit/kubeApiServer.js';
import { createPki, type TestPki } from '../../testkit/pki.js';

let pki: TestPki;
let api: FakeApiServer;
let sb: Sandbox;
let kube: string;

test.before(async () => {
  if (!hasCommand('kubectl')) throw new Error('kubectl is not installed (scripts/install-system-deps.sh installs it)');
  pki = createPki();
  api = await startFakeApiServer({
    tls: { ...pki.server('apiserver'), ca: pki.caCert },
    tokens: { 'tok-alice': 'alice', 'tok-guest': 'guest-user' },
    pods: [{ namespace: 'default', name: 'web-1', labels: { app: 'web' } }, { namespace: 'default', name: 'db-1', labels: { app: 'db' } }],
  });
  sb = makeSandbox();
  const pulled = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'legacyprobe.core.wasm')}`, '--name', 'legacy']);
  if (pulled.exitCode !== 0) throw new Error(pulled.stderr);
  kube = path.join(sb.home, '.kube');
  fs.mkdirSync(kube, { recursive: true });
  const bob = pki.client('bob', ['devs']);
  fs.copyFileSync(pki.caCert, path.join(kube, 'ca.crt'));
  fs.writeFileSync(path.join(kube, 'ca.der'), new X509Certificate(fs.readFileSync(pki.caCert)).raw);
  fs.copyFileSync(bob.cert, path.join(kube, 'bob.crt'));
  fs.copyFileSync(bob.key, path.join(kube, 'bob.key'));
  fs.writeFileSync(path.join(kube, 'garbage.pem'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
  fs.writeFileSync(path.join(kube, 'config'), `apiVersion: v1
kind: Config
current-context: token
clusters:
- {name: fake, cluster: {server: '${api.url}', certificate-authority: ca.crt}}
users:
- {name: alice, user: {token: tok-alice}}
- {name: broken, user: {tokenFile: no-such-token-file}}
contexts:
- {name: token, context: {cluster: fake, user: alice}}
- {name: broken, context: {cluster: fake, user: broken}}
`);
});

test.after.always(async () => {
  await api?.stop();
  sb?.cleanup();
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

/** `kubectl legacy ARGS` through real kubectl, which finds the plugin's link on PATH. */
function kubectlLegacy(args: string[]): Promise<Outcome> {
  return runProcess('kubectl', ['legacy', ...args], { env: { ...sb.env, PATH: `${path.join(sb.root, 'bin')}:${process.env.PATH}` }, cwd: sb.home });
}

/** Runs the probe, which must succeed (no ABI violation), and returns its report lines. */
async function probe(args: string[]): Promise<{ lines: string[]; stderr: string }> {
  const r = await kubectlLegacy(args);
  if (r.exitCode !== 0) throw new Error(`legacy probe failed (${r.exitCode}): ${r.stderr}`);
  return { lines: r.stdout.replace(/\n$/, '').split('\n'), stderr: r.stderr };
}

const file = (name: string) => path.join(kube, name);

test.serial('pull wraps the core module with the legacy adapter: the component imports krew-wasm:outbound-http', async (t) => {
  const r = await krewWasm(sb, ['info', 'legacy']);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /^\s+krew-wasm:outbound-http\/outbound-http$/m);
});

test.serial('a GET returns status, headers and body, with the kubeconfig credentials applied', async (t) => {
  const { lines } = await probe(['get', '/api/v1/namespaces/default/pods']);
  t.is(lines.length, 1);
  const m = /^get \/api\/v1\/namespaces\/default\/pods -> 200 (\d+) application\/json (\{.*\})$/.exec(lines[0]);
  t.truthy(m, lines[0]);
  t.true(Number(m![1]) >= 2, 'content-type and audit-id headers at least');
  t.deepEqual(JSON.parse(m![2]).items.map((p: { metadata: { name: string } }) => p.metadata.name), ['web-1', 'db-1']);
  t.is(api.requests.at(-1)?.user, 'alice');
});

test.serial('a request with headers and a body: both headers (16-byte tuples) and the body reach the server', async (t) => {
  const { lines } = await probe(['send', '/api/v1/echo', 'tok-guest', 'hello from 2022']);
  const seen = api.requests.at(-1)!;
  t.is(seen.method, 'POST');
  t.is(seen.body, 'hello from 2022');
  // The Authorization header is the SECOND tuple: the server only sees it when the stride is right.
  t.is(seen.authorization, 'Bearer tok-guest');
  t.is(seen.user, 'guest-user');
  t.regex(lines[0], /^send \/api\/v1\/echo -> 200 \d+ application\/json \{"method":"POST","query":"","body":"hello from 2022","user":"guest-user"\}$/);
});

test.serial('methods keep the original enum numbering; an empty body comes back as a list at pointer 1', async (t) => {
  const { lines } = await probe(['method', 'put', '/api/v1/echo', 'method', 'delete', '/api/v1/echo', 'method', 'patch', '/api/v1/echo', 'method', 'options', '/api/v1/echo', 'method', 'head', '/api/v1/echo']);
  t.regex(lines[0], /^put .* -> 200 .*"method":"PUT"/);
  t.regex(lines[1], /^delete .* -> 200 .*"method":"DELETE"/);
  t.regex(lines[2], /^patch .* -> 200 .*"method":"PATCH"/);
  t.regex(lines[3], /^options .* -> 200 .*"method":"OPTIONS"/);
  // HEAD: headers but an empty body, which the probe accepts only at pointer `align` (1).
  t.regex(lines[4], /^head \/api\/v1\/echo -> 200 \d+ application\/json $/);
  t.is(api.requests.at(-1)?.method, 'HEAD');
});

test.serial('params are ignored, as the original host ignored them', async (t) => {
  const { lines } = await probe(['params', '/api/v1/echo', 'labelSelector', 'app=web']);
  t.regex(lines[0], /"query":""/);
  t.is(api.requests.at(-1)?.query, '');
});

test.serial('register-request-config with a CA and a client identity; the returned id selects it', async (t) => {
  const before = api.requests.length;
  const { lines } = await probe(['register', 'pem', file('ca.crt'), file('bob.crt'), file('bob.key'), '-', 'get-cfg', '/api/v1/echo']);
  t.regex(lines[0], /^register - -> ok [0-9a-f-]{36}$/);
  t.regex(lines[1], /^get-cfg \/api\/v1\/echo -> 200 .*"user":"bob"/);
  t.is(api.requests[before].user, 'bob');
  t.is(api.requests[before].authorization, undefined, 'a plugin with its own request config gets no kubeconfig token');
});

test.serial('register-request-config with a DER CA under an id of the plugin\'s choosing', async (t) => {
  const { lines } = await probe(['register', 'der', file('ca.der'), '-', '-', 'my-config', 'get-id', '/version', 'my-config']);
  t.deepEqual(lines[0], 'register - -> ok my-config');
  t.regex(lines[1], /^get-id \/version -> 200 \d+ application\/json .*"gitVersion":"v1\.32\.0-krew-wasm-fake"/);
});

test.serial('destination-not-allowed (1): another host, another port, another scheme reach nobody', async (t) => {
  const before = api.requests.length;
  const uris = ['https://example.com/api', `https://127.0.0.1:${api.port + 1}/api`, `http://127.0.0.1:${api.port}/api`];
  const { lines } = await probe(uris.flatMap((u) => ['get', u]));
  t.deepEqual(lines, uris.map((u) => `get ${u} -> err destination-not-allowed(1)`));
  t.is(api.requests.length, before);
});

test.serial('invalid-url (3)', async (t) => {
  const { lines } = await probe(['get', 'not a url', 'get', '//example.com/api']);
  t.deepEqual(lines, ['get not a url -> err invalid-url(3)', 'get //example.com/api -> err invalid-url(3)']);
});

test.serial('invalid-cfg (2): a key that does not parse; more configs than a run may hold (64) are refused, with one note', async (t) => {
  fs.writeFileSync(file('garbage.key'), `-----BEGIN PRIVATE KEY-----\n${'A'.repeat(64)}\n-----END PRIVATE KEY-----\n`);
  const bad = await probe(['register', 'pem', file('ca.crt'), file('bob.crt'), file('garbage.key'), '-']);
  t.deepEqual(bad.lines, ['register - -> err invalid-cfg(2)']);
  // Each config is kept for the run: registering in a loop must not grow the host without end.
  const many = await probe(Array.from({ length: 65 }, () => ['register', 'pem', file('ca.crt'), '-', '-', '-']).flat());
  t.is(many.lines.length, 65);
  t.true(many.lines.slice(0, 64).every((l) => /^register - -> ok [0-9a-f-]{36}$/.test(l)), many.lines.slice(0, 64).join('\n'));
  t.is(many.lines[64], 'register - -> err invalid-cfg(2)');
  t.regex(many.stderr, /^krew-wasm: plugin legacy registered more request configs than a run may hold \(64, 4 MiB of certificates and keys\)$/m);
});

test.serial('register-request-config is refused without the network grant', async (t) => {
  const pulled = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'legacyprobe.core.wasm')}`, '--name', 'legacy-offline', '--network', 'none']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const r = await runProcess('kubectl', ['legacy-offline', 'register', 'pem', file('ca.crt'), '-', '-', '-'], { env: { ...sb.env, PATH: `${path.join(sb.root, 'bin')}:${process.env.PATH}` }, cwd: sb.home });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'register - -> err destination-not-allowed(1)\n');
});

test.serial('invalid-cfg (2): a certificate that does not parse, and an unknown config id', async (t) => {
  const { lines } = await probe(['register', 'pem', file('garbage.pem'), '-', '-', '-', 'get-id', '/version', 'no-such-config']);
  t.deepEqual(lines, ['register - -> err invalid-cfg(2)', 'get-id /version -> err invalid-cfg(2)']);
});

test.serial('request-error (4): a request config whose CA does not sign the server certificate', async (t) => {
  const { lines } = await probe(['register', 'pem', file('bob.crt'), '-', '-', 'wrong-ca', 'get-id', '/version', 'wrong-ca']);
  t.deepEqual(lines, ['register - -> ok wrong-ca', 'get-id /version -> err request-error(4)']);
});

test.serial('runtime-error (5): credentials the host cannot read, with one note on stderr', async (t) => {
  const { lines, stderr } = await probe(['get', '/version', '--context', 'broken']);
  t.deepEqual(lines, ['get /version -> err runtime-error(5)']);
  t.regex(stderr, /^krew-wasm: cannot read tokenFile .*no-such-token-file: ENOENT: requests of plugin legacy fail\n$/);
});

test.serial('the network grant applies to legacy plugins: revoked, every request is destination-not-allowed', async (t) => {
  t.is((await krewWasm(sb, ['revoke', 'legacy', '--network'])).exitCode, 0);
  try {
    const before = api.requests.length;
    const { lines } = await probe(['get', '/version']);
    t.deepEqual(lines, ['get /version -> err destination-not-allowed(1)']);
    t.is(api.requests.length, before);
  } finally {
    t.is((await krewWasm(sb, ['grant', 'legacy', '--network', 'api-server'])).exitCode, 0);
  }
});

test.serial('a module of the original ABI without canonical_abi_realloc is refused at pull, and nothing is installed', async (t) => {
  const { parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  const bad = path.join(sb.home, 'no-realloc.wasm');
  fs.writeFileSync(bad, await parse(`(module
    (import "wasi-outbound-http" "request" (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
    (memory (export "memory") 1) (func (export "_start")))`));
  const before = storeSnapshot(sb.root);
  const r = await krewWasm(sb, ['pull', `file://${bad}`, '--name', 'no-realloc']);
  t.is(r.exitCode, 1);
  t.is(theError(r.stderr), 'krew-wasm: error: the core module imports wasi-outbound-http but does not export canonical_abi_realloc, which the host needs to hand it responses');
  t.deepEqual(storeSnapshot(sb.root), before);
});
