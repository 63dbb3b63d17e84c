import test from 'ava';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { FIXTURES, krewWasm, makeSandbox, runLink, type Sandbox } from '../helpers/cli.js';
import { startFakeApiServer, type FakeApiServer } from '../../testkit/kubeApiServer.js';
import { createPki, type TestPki } from '../../testkit/pki.js';

let pki: TestPki;
let api: FakeApiServer;
let other: FakeApiServer;
let bystander: http.Server;
let bystanderHits = 0;
let bystanderUrl: string;
let sb: Sandbox;
let bob: { cert: string; key: string };
let dave: { cert: string; key: string };

test.before(async () => {
  pki = createPki();
  const tls = { ...pki.server('apiserver'), ca: pki.caCert };
  const opts = {
    tls,
    tokens: { 'tok-alice': 'alice', 'tok-file': 'file-user', 'tok-exec': 'exec-user', 'tok-guest': 'guest-user', 'tok-other': 'other-user' },
    basic: { 'carol:pw': 'carol' },
    forbidden: ['nobody'],
    pods: [{ namespace: 'default', name: 'web-1', labels: { app: 'web' } }, { namespace: 'default', name: 'db-1', labels: { app: 'db' } }, { namespace: 'kube-system', name: 'dns-1' }],
  };
  api = await startFakeApiServer(opts);
  other = await startFakeApiServer(opts);
  bystander = http.createServer((_req, res) => { bystanderHits++; res.end('bystander'); });
  await new Promise<void>((resolve) => bystander.listen(0, '127.0.0.1', resolve));
  bystanderUrl = `http://127.0.0.1:${(bystander.address() as AddressInfo).port}`;
  bob = pki.client('bob', ['devs']);
  dave = pki.client('dave');
  sb = makeSandbox();
  const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'httpprobe.wasm')}`, '--name', 'probe']);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  // The kubeconfig lives in HOME, refers to files by relative path, and has one context per credential kind.
  const kube = path.join(sb.home, '.kube');
  fs.mkdirSync(kube, { recursive: true });
  fs.copyFileSync(pki.caCert, path.join(kube, 'ca.crt'));
  fs.writeFileSync(path.join(kube, 'token'), 'tok-file\n');
  fs.copyFileSync(bob.cert, path.join(kube, 'bob.crt'));
  fs.copyFileSync(bob.key, path.join(kube, 'bob.key'));
  const execScript = path.join(kube, 'exec-cred.sh');
  fs.writeFileSync(execScript, `#!/bin/sh\necho run >> "${path.join(kube, 'exec-runs')}"\nprintf '%s' "$KUBERNETES_EXEC_INFO" > "${path.join(kube, 'exec-info')}"\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-exec","expirationTimestamp":"2099-01-01T00:00:00Z"}}'\n`, { mode: 0o755 });
  const b64 = (f: string) => fs.readFileSync(f).toString('base64');
  fs.writeFileSync(path.join(kube, 'config'), `apiVersion: v1
kind: Config
current-context: token
clusters:
- name: fake
  cluster: {server: '${api.url}', certificate-authority: ca.crt}
- name: fake-data
  cluster: {server: '${api.url}', certificate-authority-data: ${b64(pki.caCert)}}
- name: other
  cluster: {server: '${other.url}', certificate-authority: ca.crt}
- name: insecure
  cluster: {server: '${api.url}', insecure-skip-tls-verify: true}
users:
- {name: alice, user: {token: tok-alice}}
- {name: file-user, user: {tokenFile: token}}
- {name: bob, user: {client-certificate: bob.crt, client-key: bob.key}}
- {name: dave, user: {client-certificate-data: ${b64(dave.cert)}, client-key-data: ${b64(dave.key)}}}
- {name: carol, user: {username: carol, password: pw}}
- name: exec-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./exec-cred.sh
      env: [{name: EXTRA, value: '1'}]
      provideClusterInfo: true
- {name: other-user, user: {token: tok-other}}
contexts:
- {name: token, context: {cluster: fake, user: alice}}
- {name: token-file, context: {cluster: fake-data, user: file-user}}
- {name: cert-file, context: {cluster: fake, user: bob}}
- {name: cert-data, context: {cluster: fake, user: dave}}
- {name: basic, context: {cluster: fake, user: carol}}
- {name: exec, context: {cluster: fake, user: exec-user}}
- {name: other, context: {cluster: other, user: other-user}}
- {name: insecure, context: {cluster: insecure, user: alice}}
`);
});

test.after.always(async () => {
  await api?.stop();
  await other?.stop();
  bystander?.close();
  sb?.cleanup();
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

/** Runs the probe plugin and returns its report lines. */
async function probe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ lines: string[]; stderr: string }> {
  const r = await runLink(sb, 'probe', args, { env });
  if (r.exitCode !== 0) throw new Error(`probe failed (${r.exitCode}): ${r.stderr}`);
  return { lines: r.stdout.trim().split('\n'), stderr: r.stderr };
}

const userOf = (line: string) => /"user":"([^"]*)"/.exec(line)?.[1];

const credentialKinds: [string, string][] = [
  ['token', 'alice'],
  ['token-file', 'file-user'],
  ['cert-file', 'bob'],
  ['cert-data', 'dave'],
  ['basic', 'carol'],
  ['exec', 'exec-user'],
];

for (const [context, user] of credentialKinds) {
  test.serial(`host-applied credentials: context ${context} authenticates as ${user}`, async (t) => {
    const { lines } = await probe(['get', '/api/v1/echo', '--context', context]);
    t.regex(lines[0], /^get \/api\/v1\/echo -> 200 /);
    t.is(userOf(lines[0]), user);
  });
}

test.serial('insecure-skip-tls-verify in the cluster entry skips verification (and only then)', async (t) => {
  const { lines } = await probe(['get', '/api/v1/echo', '--context', 'insecure']);
  t.is(userOf(lines[0]), 'alice');
});

test.serial('exec credentials: KUBERNETES_EXEC_INFO is set, and one run execs the plugin once', async (t) => {
  const runs = path.join(sb.home, '.kube/exec-runs');
  fs.rmSync(runs, { force: true });
  const { lines } = await probe(['get', '/api/v1/echo', 'get', '/version', '--context=exec']);
  t.is(lines.length, 2);
  t.is(fs.readFileSync(runs, 'utf8'), 'run\n');
  const info = JSON.parse(fs.readFileSync(path.join(sb.home, '.kube/exec-info'), 'utf8'));
  t.is(info.kind, 'ExecCredential');
  t.is(info.spec.cluster.server, api.url);
});

test.serial('the current context is used by default; KUBECONFIG and --kubeconfig pick other files', async (t) => {
  t.is(userOf((await probe(['get', `${api.url}/api/v1/echo`])).lines[0]), 'alice');
  const single = path.join(sb.home, 'single-config');
  fs.writeFileSync(single, fs.readFileSync(path.join(sb.home, '.kube/config'), 'utf8').replace('current-context: token', 'current-context: other').replace(/certificate-authority: ca.crt/g, 'certificate-authority: .kube/ca.crt'));
  const viaEnv = await probe(['get', '/api/v1/echo'], { KUBECONFIG: `${path.join(sb.home, 'missing')}:${single}` });
  t.is(userOf(viaEnv.lines[0]), 'other-user');
  t.is(other.requests.at(-1)?.user, 'other-user');
  const viaFlag = await probe(['get', '/api/v1/echo', `--kubeconfig=${single}`]);
  t.is(userOf(viaFlag.lines[0]), 'other-user');
});

test.serial('a plugin that brings its own request config keeps full control (its CA and client certificate)', async (t) => {
  const before = api.requests.length;
  const { lines } = await probe(['get-cfg', `${api.url}/api/v1/echo`], {
    PROBE_CA: fs.readFileSync(pki.caCert, 'utf8'),
    PROBE_CERT: fs.readFileSync(bob.cert, 'utf8'),
    PROBE_KEY: fs.readFileSync(bob.key, 'utf8'),
  });
  t.is(userOf(lines[0]), 'bob');
  t.is(api.requests[before].authorization, undefined, 'no kubeconfig token added');
});

test.serial('a request config without the cluster CA fails TLS verification (request-error)', async (t) => {
  const { lines } = await probe(['get-cfg', `${api.url}/version`], { PROBE_CA: fs.readFileSync(bob.cert, 'utf8') });
  t.is(lines[0], `get-cfg ${api.url}/version -> err request-error`);
});

test.serial('a plugin Authorization header is sent as is, with no kubeconfig credential added', async (t) => {
  const { lines } = await probe(['get-auth', '/api/v1/echo', 'tok-guest']);
  t.is(userOf(lines[0]), 'guest-user');
  t.is(api.requests.at(-1)?.authorization, 'Bearer tok-guest');
});

test.serial('unknown request config id -> invalid-cfg; query params are appended; bodies are sent', async (t) => {
  const { lines } = await probe([
    'get-badcfg', '/version',
    'params', '/api/v1/namespaces/default/pods', 'labelSelector=app=web',
    'post', '/api/v1/echo', 'hello body',
  ]);
  t.is(lines[0], 'get-badcfg /version -> err invalid-cfg');
  t.regex(lines[1], /^params .* -> 200 .*"name":"web-1"/);
  t.false(lines[1].includes('db-1'));
  t.regex(lines[2], /"method":"POST".*"body":"hello body"/);
});

test.serial('API errors arrive as Status objects with their codes', async (t) => {
  const { lines } = await probe(['get', '/api/v1/namespaces/default/pods/nope', 'get-auth', '/api/v1/pods', 'bad-token']);
  t.regex(lines[0], /-> 404 .*"kind":"Status".*"reason":"NotFound"/);
  t.regex(lines[1], /-> 401 .*"reason":"Unauthorized"/);
});

test.serial('watch streams arrive whole', async (t) => {
  const { lines } = await probe(['get', '/api/v1/namespaces/default/pods?watch=1']);
  t.regex(lines[0], /-> 200 \{"type":"ADDED","object":\{"kind":"Pod".*\\n\{"type":"ADDED"/);
});

const bypasses = (port: number): [string, string][] => [
  ['another host', 'https://example.com/api'],
  ['localhost instead of 127.0.0.1', `https://localhost:${port}/api`],
  ['another port on the same host', `https://127.0.0.1:${port + 1}/api`],
  ['another scheme', `http://127.0.0.1:${port}/api`],
  ['a bystander server', '__BYSTANDER__/'],
  ['userinfo', `https://alice:pw@127.0.0.1:${port}/api`],
  ['userinfo smuggling the host', `https://127.0.0.1:${port}@example.com/api`],
  ['decimal IP', `https://2130706433:${port}/api`],
  ['hex IP', `https://0x7f000001:${port}/api`],
  ['short IP', `https://127.1:${port}/api`],
  ['IPv6 loopback', `https://[::1]:${port}/api`],
  ['IPv4-mapped IPv6', `https://[::ffff:127.0.0.1]:${port}/api`],
  ['percent-encoded host', `https://%31%32%37.0.0.1:${port}/api`],
  ['encoded dot segments', `https://127.0.0.1:${port}/api/%2e%2e/x`],
  ['file scheme', 'file:///etc/passwd'],
];

test.serial('every bypass is refused with destination-not-allowed and reaches nobody', async (t) => {
  const cases = bypasses(api.port).map(([title, uri]) => [title, uri.replace('__BYSTANDER__', bystanderUrl)] as const);
  const args = cases.flatMap(([, uri]) => ['get', uri]);
  const before = api.requests.length;
  const { lines } = await probe(args);
  t.is(lines.length, cases.length);
  t.log(`\n${cases.map(([title], i) => `${title.padEnd(36)} ${lines[i].replace(/^get /, '')}`).join('\n')}`);
  cases.forEach(([title, uri], i) => {
    t.is(lines[i], `get ${uri} -> err destination-not-allowed`, title);
  });
  t.is(api.requests.length, before);
  t.is(bystanderHits, 0);
});

test.serial('unparseable URIs, protocol-relative ones included, are invalid-url', async (t) => {
  const { lines } = await probe(['get', 'not a url', 'get', 'https://127.0.0.1:1/a b', 'get', '//example.com/api']);
  t.deepEqual(lines, ['get not a url -> err invalid-url', 'get https://127.0.0.1:1/a b -> err invalid-url', 'get //example.com/api -> err invalid-url']);
});

test.serial('redirects are not followed: the plugin sees the 302, the other origin sees nothing', async (t) => {
  const { lines } = await probe(['get', `/api/v1/redirect-elsewhere?to=${encodeURIComponent(bystanderUrl + '/stolen')}`]);
  t.regex(lines[0], /-> 302\s*$/);
  t.is(bystanderHits, 0);
});

test.serial('response bodies over the bound are a request-error', async (t) => {
  const { lines } = await probe(['get', '/api/v1/pods'], { KREW_WASM_MAX_RESPONSE_BYTES: '100' });
  t.is(lines[0], 'get /api/v1/pods -> err request-error');
});

test.serial('request bodies over 64 MiB are a request-error and never sent', async (t) => {
  const before = api.requests.length;
  const { lines } = await probe(['big', '/api/v1/echo', '65']);
  t.is(lines[0], 'big /api/v1/echo -> err request-error');
  t.is(api.requests.length, before);
});

test.serial('without any kubeconfig, requests are refused with one note on stderr', async (t) => {
  const { lines, stderr } = await probe(['get', '/version', 'get', '/api'], { KUBECONFIG: path.join(sb.home, 'nothing-here') });
  t.deepEqual(lines, ['get /version -> err destination-not-allowed', 'get /api -> err destination-not-allowed']);
  t.is(stderr, 'krew-wasm: no kubeconfig found (KUBECONFIG or ~/.kube/config): requests of plugin probe are refused\n');
});

test.serial('an unknown --context is refused with one note', async (t) => {
  const { lines, stderr } = await probe(['get', '/version', '--context', 'ghost']);
  t.is(lines[0], 'get /version -> err destination-not-allowed');
  t.regex(stderr, /^krew-wasm: context "ghost" does not exist in .*: requests of plugin probe are refused\n$/);
});
