import test from 'ava';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { FIXTURES, krewWasm, makeSandbox, runLink, runProcess, type Sandbox } from '../helpers/cli.js';
import { startFakeApiServer, type FakeApiServer } from '../../testkit/kubeApiServer.js';
import { createPki, type TestPki } from '../../testkit/pki.js';
import { startConnectProxy, startSocks5Proxy, type TestProxy } from '../helpers/proxies.js';

// The API server is named kube.example.test, a name only the proxies resolve: a request that
// does not go through the cluster's proxy-url cannot reach it.
const NAME = 'kube.example.test';

let pki: TestPki;

let api: FakeApiServer;
let connect: TestProxy;
let socks: TestProxy;
let httpsProxy: TestProxy;
let authConnect: TestProxy;
let authSocks: TestProxy;
let sb: Sandbox;
let server: string;
let plain: http.Server;
let plainPort: number;
const plainSeen: string[] = [];

test.before(async () => {
  sb = makeSandbox();
  const kube = path.join(sb.home, '.kube');
  fs.mkdirSync(kube, { recursive: true });
  pki = createPki();
  api = await startFakeApiServer({ tls: { ...pki.server('apiserver', [`DNS:${NAME}`]), ca: pki.caCert }, tokens: { 'tok-alice': 'alice' } });
  const hosts = { [NAME]: '127.0.0.1' };
  connect = await startConnectProxy({ hosts });
  socks = await startSocks5Proxy({ hosts });
  httpsProxy = await startConnectProxy({ hosts, tls: pki.server('proxy') });
  authConnect = await startConnectProxy({ hosts, auth: 'puser:p@ss' });
  authSocks = await startSocks5Proxy({ hosts, auth: 'suser:secret' });
  server = `https://${NAME}:${api.port}`;
  // A plain-http API server (rare, but kubectl proxies it too: as a forward request, or through SOCKS5).
  plain = http.createServer((req, res) => {
    plainSeen.push(`${req.method} ${req.url} host=${req.headers.host} auth=${req.headers.authorization} proxy-auth=${req.headers['proxy-authorization']}`);
    res.end(JSON.stringify({ plain: true }));
  });
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  plainPort = (plain.address() as AddressInfo).port;
  const otherCa = createPki('other');
  fs.copyFileSync(otherCa.caCert, path.join(kube, 'other-ca.crt'));
  fs.rmSync(otherCa.dir, { recursive: true, force: true });
  const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'httpprobe.wasm')}`, '--name', 'probe']);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  fs.copyFileSync(pki.caCert, path.join(kube, 'ca.crt'));
  const cluster = (name: string, proxyUrl?: string, url = server, ca = 'ca.crt') =>
    `- name: ${name}\n  cluster: {server: '${url}', certificate-authority: ${ca}${proxyUrl ? `, proxy-url: '${proxyUrl}'` : ''}}`;
  const contexts = ['connect', 'socks', 'https-proxy', 'auth-connect', 'auth-socks', 'direct', 'bad-scheme', 'wrong-ca', 'plain-connect', 'plain-socks'];
  fs.writeFileSync(path.join(kube, 'config'), `apiVersion: v1
kind: Config
current-context: connect
clusters:
${cluster('connect', connect.url)}
${cluster('socks', socks.url)}
${cluster('https-proxy', httpsProxy.url)}
${cluster('auth-connect', `http://puser:p%40ss@127.0.0.1:${authConnect.port}`)}
${cluster('auth-socks', `socks5://suser:secret@127.0.0.1:${authSocks.port}`)}
${cluster('direct')}
${cluster('bad-scheme', 'ftp://127.0.0.1:21')}
${cluster('wrong-ca', connect.url, server, 'other-ca.crt')}
${cluster('plain-connect', `http://puser:p%40ss@127.0.0.1:${authConnect.port}`, `http://${NAME}:${plainPort}`)}
${cluster('plain-socks', socks.url, `http://${NAME}:${plainPort}`)}
users:
- {name: alice, user: {token: tok-alice}}
contexts:
${contexts.map((c) => `- {name: ${c}, context: {cluster: ${c}, user: alice}}`).join('\n')}
`);
});

test.after.always(async () => {
  await Promise.all([api, connect, socks, httpsProxy, authConnect, authSocks].map((s) => s?.stop()));
  plain?.close();
  sb?.cleanup();
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

/** Real kubectl: its own commands, or `kubectl probe ...` (the plugin through its link on PATH). */
function kubectl(args: string[]) {
  return runProcess('kubectl', args, { env: { ...sb.env, PATH: `${path.join(sb.root, 'bin')}:${process.env.PATH}` }, cwd: sb.home, timeoutMs: 60_000 });
}

const userOf = (line: string) => /"user":"([^"]*)"/.exec(line)?.[1];

for (const [context, proxy] of [['connect', () => connect], ['socks', () => socks]] as const) {
  test.serial(`proxy-url ${context}: kubectl itself and kubectl probe both reach the API server through the proxy`, async (t) => {
    // kubectl's own request first: the proxy helper is a real proxy for a real client.
    const own = await kubectl(['--context', context, 'get', '--raw', '/api/v1/echo']);
    t.is(own.exitCode, 0, own.stderr);
    t.is(JSON.parse(own.stdout).user, 'alice');
    const seenBefore = proxy().seen.length;
    const requestsBefore = api.requests.length;
    const r = await kubectl(['probe', 'get', '/api/v1/echo', '--context', context]);
    t.is(r.exitCode, 0, r.stderr);
    t.regex(r.stdout, /^get \/api\/v1\/echo -> 200 /);
    t.is(userOf(r.stdout), 'alice');
    t.deepEqual(proxy().seen.slice(seenBefore), [`${NAME}:${api.port}`]);
    t.is(api.requests.length, requestsBefore + 1);
  });
}

test.serial('without proxy-url the same server is unreachable (the name resolves only inside the proxies)', async (t) => {
  const r = await runLink(sb, 'probe', ['get', '/api/v1/echo', '--context', 'direct']);
  t.is(r.stdout, 'get /api/v1/echo -> err request-error\n');
});

test.serial('an https proxy is spoken to over TLS, verified with the cluster CA', async (t) => {
  const before = httpsProxy.seen.length;
  const r = await runLink(sb, 'probe', ['get', '/api/v1/echo', '--context', 'https-proxy'], { env: { KREW_WASM_VERBOSE: '1' } });
  t.is(userOf(r.stdout), 'alice', r.stdout + r.stderr);
  t.deepEqual(httpsProxy.seen.slice(before), [`${NAME}:${api.port}`]);
});

test.serial('credentials in proxy-url go to the proxy (Basic, SOCKS5 username/password), never to the API server', async (t) => {
  const viaConnect = await runLink(sb, 'probe', ['get', '/api/v1/echo', '--context', 'auth-connect']);
  t.is(userOf(viaConnect.stdout), 'alice', viaConnect.stdout + viaConnect.stderr);
  t.deepEqual(authConnect.credentials, ['puser:p@ss']);
  const viaSocks = await runLink(sb, 'probe', ['get', '/api/v1/echo', '--context', 'auth-socks']);
  t.is(userOf(viaSocks.stdout), 'alice', viaSocks.stdout + viaSocks.stderr);
  t.deepEqual(authSocks.credentials, ['suser:secret']);
  t.is(api.requests.at(-1)?.authorization, 'Bearer tok-alice');
});

test.serial('the destination policy applies to the API server, never to the proxy: the proxy itself is refused', async (t) => {
  const before = connect.seen.length;
  const r = await runLink(sb, 'probe', ['get', `${connect.url}/`, 'get', `https://127.0.0.1:${api.port}/api/v1/echo`]);
  t.is(r.stdout, `get ${connect.url}/ -> err destination-not-allowed\nget https://127.0.0.1:${api.port}/api/v1/echo -> err destination-not-allowed\n`);
  t.is(connect.seen.length, before);
});

test.serial('through the tunnel, the API server is still verified against the cluster CA', async (t) => {
  const before = connect.seen.length;
  const r = await runLink(sb, 'probe', ['get', '/api/v1/echo', '--context', 'wrong-ca'], { env: { KREW_WASM_VERBOSE: '1' } });
  t.is(r.stdout, 'get /api/v1/echo -> err request-error\n');
  t.regex(r.stderr, new RegExp(`^krew-wasm: request to https://${NAME.replace(/\./g, '\\.')}:${api.port} failed: .*certificate`));
  t.deepEqual(connect.seen.slice(before), [`${NAME}:${api.port}`], 'the tunnel was made; TLS to the API server refused it');
});

test.serial('a plain-http API server through an HTTP proxy (forward request, with proxy credentials) and through SOCKS5', async (t) => {
  const viaConnect = await runLink(sb, 'probe', ['get', '/api/v1/x?y=1', '--context', 'plain-connect']);
  t.is(viaConnect.stdout, 'get /api/v1/x?y=1 -> 200 {"plain":true}\n', viaConnect.stderr);
  t.is(plainSeen.at(-1), `GET /api/v1/x?y=1 host=${NAME}:${plainPort} auth=Bearer tok-alice proxy-auth=undefined`, 'the proxy took its credentials off');
  t.is(authConnect.seen.at(-1), `${NAME}:${plainPort}`);
  const viaSocks = await runLink(sb, 'probe', ['get', '/api/v1/z', '--context', 'plain-socks']);
  t.is(viaSocks.stdout, 'get /api/v1/z -> 200 {"plain":true}\n', viaSocks.stderr);
  t.is(plainSeen.at(-1), `GET /api/v1/z host=${NAME}:${plainPort} auth=Bearer tok-alice proxy-auth=undefined`);
  t.is(socks.seen.at(-1), `${NAME}:${plainPort}`);
});

test.serial('a proxy-url scheme kubectl does not support is one note, and nothing is sent', async (t) => {
  const r = await runLink(sb, 'probe', ['get', '/api/v1/echo', 'get', '/version', '--context', 'bad-scheme']);
  t.is(r.stdout, 'get /api/v1/echo -> err destination-not-allowed\nget /version -> err destination-not-allowed\n');
  t.is(r.stderr, 'krew-wasm: proxy-url of cluster "bad-scheme" has scheme ftp: (supported: http, https, socks5): requests of plugin probe are refused\n');
});
