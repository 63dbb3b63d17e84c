import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeconfigError, PluginTimeoutError } from '../../src/errors.js';
import { MAX_CREDENTIAL_FILE_BYTES, readRegularFile } from '../../src/kube/boundedRead.js';
import { prepareNetworkContext, type NetworkContext, type NetworkContextOptions, type PreparedRequest } from '../../src/kube/networkContext.js';
import { createOutboundHttpImports } from '../../src/runtime/hosts/outboundHttp.js';
import { startFakeApiServer, type FakeApiServer } from '../../testkit/kubeApiServer.js';
import { createPki, type TestPki } from '../../testkit/pki.js';

let dir: string;
let pki: TestPki;
let api: FakeApiServer;
const contexts: NetworkContext[] = [];

test.before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-netctx-'));
  pki = createPki();
  api = await startFakeApiServer({ tls: { ...pki.server('apiserver'), ca: pki.caCert }, tokens: { 'tok-a': 'alice', 'tok-b': 'bob' } });
  fs.writeFileSync(path.join(dir, 'token'), 'tok-a\n');
  fs.copyFileSync(pki.caCert, path.join(dir, 'ca.crt'));
  fs.writeFileSync(path.join(dir, 'sleep.sh'), `#!/bin/sh\necho $$ > "${dir}/sleep.pid"\nexec sleep 60\n`, { mode: 0o755 });
});

test.after.always(async () => {
  for (const c of contexts) c.close();
  await api?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

function writeConfig(name: string, server: string, user: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `apiVersion: v1
kind: Config
current-context: c
clusters: [{name: c, cluster: {server: '${server}', certificate-authority: ca.crt}}]
users: [{name: u, user: ${user}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
`);
  return file;
}

async function context(file: string, extra: Partial<NetworkContextOptions> = {}): Promise<NetworkContext> {
  const ctx = await prepareNetworkContext({
    args: [], env: { KUBECONFIG: file, PATH: process.env.PATH }, pluginName: 'unit',
    credentialTimeoutMs: 10_000, requestTimeoutMs: 10_000, maxResponseBytes: 1 << 20, ...extra,
  });
  contexts.push(ctx);
  return ctx;
}

test.serial('settled: changing the kubeconfig or the token file after prepareNetworkContext changes nothing', async (t) => {
  const file = writeConfig('settled', api.url, '{tokenFile: token}');
  const ctx = await context(file);
  writeConfig('settled', 'https://elsewhere.example:1', '{tokenFile: /etc/hostname}');
  fs.writeFileSync(path.join(dir, 'token'), 'tok-b\n');
  const prepared = ctx.prepare({ uri: '/api/v1/echo', headers: [] }) as PreparedRequest;
  t.true(prepared.ok);
  t.is(prepared.url.origin, api.url);
  t.deepEqual(prepared.headers, [['authorization', 'Bearer tok-a']]);
  fs.writeFileSync(path.join(dir, 'token'), 'tok-a\n');
});

test.serial('the server URL a plugin is told (KREW_WASM_API_SERVER) carries no user and password written in it', async (t) => {
  // kubectl sends them as Basic credentials: a plugin under --env none read them there (attack 69).
  const ctx = await context(writeConfig('userinfo', api.url.replace('https://', 'https://admin:S3cret@'), '{token: tok-a}'));
  t.is(ctx.server, api.url);
  t.is((await context(writeConfig('plain', `${api.url}/k8s/c1`, '{token: tok-a}'))).server, `${api.url}/k8s/c1`);
  // Written without a scheme, as kubectl also takes it (attack 70).
  t.is((await context(writeConfig('bare', api.url.replace('https://', 'admin:S3cret@'), '{token: tok-a}'))).server, api.url.replace('https://', ''));
});

test.serial('prepare: host-owned headers are dropped; a plugin Authorization header keeps the user\'s credentials out', (t) => {
  return context(writeConfig('headers', api.url, '{token: tok-a}')).then((ctx) => {
    const own = ctx.prepare({ uri: '/x', headers: [['Host', 'evil'], ['Proxy-Authorization', 'x'], ['Authorization', 'Bearer mine'], ['X-A', '1']] }) as PreparedRequest;
    t.deepEqual(own.headers, [['Authorization', 'Bearer mine'], ['X-A', '1']]);
    const refused = ctx.prepare({ uri: 'https://127.0.0.1:1/x', headers: [] });
    t.deepEqual(refused.ok ? undefined : refused.error, 'destination-not-allowed');
  });
});

test.serial('the deadline bounds an exec plugin: PluginTimeoutError, and its process is ended', async (t) => {
  fs.rmSync(path.join(dir, 'sleep.pid'), { force: true });
  const file = writeConfig('deadline', api.url, `{exec: {apiVersion: client.authentication.k8s.io/v1, command: ${path.join(dir, 'sleep.sh')}}}`);
  const ctx = await context(file, { deadline: performance.now() + 3000 });
  const error = t.throws(() => ctx.prepare({ uri: '/x', headers: [] }), { instanceOf: PluginTimeoutError, message: /plugin unit exceeded its time limit while waiting for exec credential plugin .*sleep\.sh/ });
  t.is(error?.hint, 'krew-wasm grant unit --timeout <seconds>');
  const pid = Number(fs.readFileSync(path.join(dir, 'sleep.pid'), 'utf8'));
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  t.false(alive(pid));
});

// (The fake API server lives on this thread, which the request blocks: it answers nobody here; the
// deadline is what ends the wait. Sending for real is tested end to end, in test/e2e.)
test.serial('the deadline bounds a request: PluginTimeoutError, which the outbound-http imports let through', async (t) => {
  const ctx = await context(writeConfig('slow', api.url, '{token: tok-a}'), { deadline: performance.now() + 3000 });
  const imports = createOutboundHttpImports(ctx, { pluginName: 'unit', verbose: false, note: () => {} });
  const api_ = imports['krew-wasm:outbound-http/outbound-http'] as { request: (r: unknown, id?: string) => unknown };
  t.throws(() => api_.request({ method: 'get', uri: '/api/v1/slow?ms=5000', headers: [], params: [], body: undefined }, undefined), { instanceOf: PluginTimeoutError });
});

test.serial('a deadline already past: prepareNetworkContext itself fails with PluginTimeoutError', async (t) => {
  await t.throwsAsync(() => context(writeConfig('past', api.url, '{token: tok-a}'), { deadline: performance.now() - 1 }), { instanceOf: PluginTimeoutError });
});

test.serial('credential failures are KubeconfigErrors at the request that needs them, not before', async (t) => {
  const ctx = await context(writeConfig('missing', api.url, '{tokenFile: no-such-token}'));
  t.is(ctx.unavailable, undefined);
  t.throws(() => ctx.prepare({ uri: '/x', headers: [] }), { instanceOf: KubeconfigError, message: /cannot read tokenFile .*no-such-token: ENOENT/ });
  t.true(ctx.prepare({ uri: '/x', headers: [['authorization', 'Bearer mine']] }).ok, 'a plugin with its own credentials is not affected');
});

test.serial('a CA file that cannot be read fails every request but those that bring their own TLS configuration', async (t) => {
  const file = writeConfig('bad-ca', api.url, '{token: tok-a}');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('certificate-authority: ca.crt', 'certificate-authority: /dev/zero'));
  const ctx = await context(file);
  t.throws(() => ctx.prepare({ uri: '/x', headers: [['authorization', 'Bearer mine']] }), { instanceOf: KubeconfigError, message: 'certificate-authority /dev/zero is not a regular file (a character device)' });
  t.true(ctx.prepare({ uri: '/x', headers: [], pluginTls: true }).ok);
});

test.serial('a CA with insecure-skip-tls-verify is refused for every request, the plugin\'s own TLS settings included, as kubectl refuses it; the flag alone skips verification', async (t) => {
  const file = writeConfig('insecure-ca', api.url, '{token: tok-a}');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('certificate-authority: ca.crt', 'certificate-authority: ca.crt, insecure-skip-tls-verify: true'));
  const ctx = await context(file);
  for (const shape of [{ uri: '/x', headers: [] }, { uri: '/x', headers: [], pluginTls: true }]) {
    const refused = ctx.prepare(shape);
    t.like(refused, { ok: false, error: 'destination-not-allowed' });
    t.regex((refused as { note?: string }).note ?? '', /^cluster "c" has both a certificate authority and insecure-skip-tls-verify: true, which kubectl refuses too .*: requests of plugin unit are refused$/);
  }
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('certificate-authority: ca.crt, ', ''));
  const insecure = (await context(file)).prepare({ uri: '/x', headers: [] }) as PreparedRequest;
  t.like(insecure, { ok: true, tls: { rejectUnauthorized: false } });
  t.is(insecure.tls.ca, undefined);
});

test.serial('token and tokenFile both set: the file wins when it can be read, the token otherwise, as in client-go', async (t) => {
  const authorization = async (user: string) => {
    const prepared = (await context(writeConfig('both-tokens', api.url, user))).prepare({ uri: '/x', headers: [] }) as PreparedRequest;
    return prepared.headers.find(([name]) => name === 'authorization')?.[1];
  };
  fs.writeFileSync(path.join(dir, 'file-token'), 'from-file\n');
  t.is(await authorization('{token: inline, tokenFile: file-token}'), 'Bearer from-file');
  t.is(await authorization('{token: inline, tokenFile: no-such-token}'), 'Bearer inline');
  t.is(await authorization('{token: inline}'), 'Bearer inline');
});

function alive(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

const bounded: [string, () => string, RegExp][] = [
  ['a FIFO', () => { const f = path.join(dir, 'fifo'); if (!fs.existsSync(f)) execFileSync('mkfifo', [f]); return f; }, /is not a regular file \(a FIFO\)$/],
  ['/dev/zero', () => '/dev/zero', /is not a regular file \(a character device\)$/],
  ['a symlink to /dev/zero', () => { const f = path.join(dir, 'zero-link'); fs.rmSync(f, { force: true }); fs.symlinkSync('/dev/zero', f); return f; }, /is not a regular file \(a character device\)$/],
  ['a directory', () => dir, /is not a regular file \(a directory\)$/],
  ['one byte over the bound', () => { const f = path.join(dir, 'big'); fs.writeFileSync(f, Buffer.alloc(MAX_CREDENTIAL_FILE_BYTES + 1)); return f; }, /is larger than 1048576 bytes$/],
];

for (const [title, make, message] of bounded) {
  test.serial(`readRegularFile refuses ${title} at once, naming the file`, async (t) => {
    const file = make();
    const error = await t.throwsAsync(() => readRegularFile(file, 'tokenFile', MAX_CREDENTIAL_FILE_BYTES), { instanceOf: KubeconfigError, message });
    t.true(error!.message.startsWith(`tokenFile ${file} `));
  });
}

test.serial('readRegularFile reads a file of exactly the bound', async (t) => {
  const f = path.join(dir, 'exact');
  fs.writeFileSync(f, Buffer.alloc(MAX_CREDENTIAL_FILE_BYTES, 1));
  t.is((await readRegularFile(f, 'tokenFile', MAX_CREDENTIAL_FILE_BYTES)).length, MAX_CREDENTIAL_FILE_BYTES);
});
