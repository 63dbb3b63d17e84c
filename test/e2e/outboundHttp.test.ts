import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES, krewWasm, makeSandbox, runLink, type Sandbox } from '../helpers/cli.js';
import type { FakeApiServer } from '../../testkit/kubeApiServer.js';
import { bypasses, CREDENTIAL_KINDS, startKubeWorld, type KubeWorld } from '../../testkit/kubeWorld.js';
import type { TestPki } from '../../testkit/pki.js';

let pki: TestPki;
let api: FakeApiServer;
let other: FakeApiServer;
let bystanderUrl: string;
let sb: Sandbox;
let bob: { cert: string; key: string };
let dave: { cert: string; key: string };

let world: KubeWorld;

test.before(async () => {
  sb = makeSandbox();
  const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'httpprobe.wasm')}`, '--name', 'probe']);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  world = await startKubeWorld(sb.home);
  ({ pki, api, other, bob, dave, bystanderUrl } = world);
});

test.after.always(async () => {
  await world?.stop();
  sb?.cleanup();
});

/** Runs the probe plugin and returns its report lines. */
async function probe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ lines: string[]; stderr: string }> {
  const r = await runLink(sb, 'probe', args, { env });
  if (r.exitCode !== 0) throw new Error(`probe failed (${r.exitCode}): ${r.stderr}`);
  return { lines: r.stdout.trim().split('\n'), stderr: r.stderr };
}

const userOf = (line: string) => /"user":"([^"]*)"/.exec(line)?.[1];


for (const [context, user] of CREDENTIAL_KINDS) {
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
    'delete', '/api/v1/echo', '{"kind":"DeleteOptions","dryRun":["All"]}',
  ]);
  t.is(lines[0], 'get-badcfg /version -> err invalid-cfg');
  t.regex(lines[1], /^params .* -> 200 .*"name":"web-1"/);
  t.false(lines[1].includes('db-1'));
  t.regex(lines[2], /"method":"POST".*"body":"hello body"/);
  // A DELETE's body (its DeleteOptions) is framed, as kubectl's: Node gives it no length of its own (attack 69).
  t.regex(lines[3], /"method":"DELETE".*"body":"\{\\"kind\\":\\"DeleteOptions\\",\\"dryRun\\":\[\\"All\\"\]\}"/);
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
  t.is(world.bystanderHits(), 0);
});

test.serial('unparseable URIs, protocol-relative ones included, are invalid-url', async (t) => {
  const { lines } = await probe(['get', 'not a url', 'get', 'https://127.0.0.1:1/a b', 'get', '//example.com/api']);
  t.deepEqual(lines, ['get not a url -> err invalid-url', 'get https://127.0.0.1:1/a b -> err invalid-url', 'get //example.com/api -> err invalid-url']);
});

test.serial('redirects are not followed: the plugin sees the 302, the other origin sees nothing', async (t) => {
  const { lines } = await probe(['get', `/api/v1/redirect-elsewhere?to=${encodeURIComponent(bystanderUrl + '/stolen')}`]);
  t.regex(lines[0], /-> 302\s*$/);
  t.is(world.bystanderHits(), 0);
});

test.serial('a reply that comes after its request timed out is dropped: the next request gets its own answer', async (t) => {
  // The host gives up on the slow request after 2 s; its reply (late, or the cancellation) is
  // still posted by the worker, and must not become the answer of the request after it. (2 s, so
  // that the other requests, on a loaded machine, stay well within the limit.)
  const { lines } = await probe(['get', '/api/v1/slow?ms=4000&body=late', 'wait', '2500', 'get', '/api/v1/echo', 'get', '/api/v1/slow?ms=0&body=third'], { KREW_WASM_HTTP_TIMEOUT_MS: '2000' });
  t.is(lines[0], 'get /api/v1/slow?ms=4000&body=late -> err request-error');
  t.is(lines[1], 'wait 2500');
  t.regex(lines[2], /^get \/api\/v1\/echo -> 200 \{"method":"GET".*"user":"alice"\}$/);
  t.regex(lines[3], /^get \/api\/v1\/slow\?ms=0&body=third -> 200 \{"slow":"third"\}$/);
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
