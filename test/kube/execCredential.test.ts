import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { settleCredentials, type FrozenExec } from '../../src/kube/credentials.js';
import { runExecCredential } from '../../src/kube/execCredential.js';
import { loadKubeconfig, selectCluster, type ExecConfig, type Selection } from '../../src/kube/kubeconfig.js';
import { prepareNetworkContext } from '../../src/kube/networkContext.js';
import { createOutboundHttpImports } from '../../src/runtime/hosts/outboundHttp.js';

let dir: string;
const hooks = { spawned: () => {}, ended: () => {} };

test.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-exec-'));
});
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

const selection = (exec?: ExecConfig, user: Selection['user'] = {}): Selection => ({
  clusterName: 'c', cluster: { server: 'https://127.0.0.1:1' }, user: { ...user, exec }, files: [],
});

async function frozen(name: string, body: string, extra: Partial<ExecConfig> = {}): Promise<FrozenExec> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  const settled = await settleCredentials(selection({ command: file, apiVersion: 'client.authentication.k8s.io/v1', ...extra }), { PATH: process.env.PATH });
  return settled.exec!;
}

const credential = (status: string, apiVersion = 'client.authentication.k8s.io/v1') =>
  `echo '{"apiVersion":"${apiVersion}","kind":"ExecCredential","status":${status}}'`;

const failures: [string, string, Partial<ExecConfig>, (file: string) => string][] = [
  ['a non-zero exit', 'exit 3', {}, (f) => `exec credential plugin ${f} exited with status 3`],
  ['output that is not JSON', 'echo hello', {}, (f) => `exec credential plugin ${f} printed something that is not an ExecCredential`],
  ['JSON without a status', `echo '{"kind":"ExecCredential"}'`, {}, (f) => `exec credential plugin ${f} returned no ExecCredential status`],
  ['another apiVersion', credential('{"token":"t"}', 'client.authentication.k8s.io/v1beta1'), {}, (f) => `exec credential plugin ${f} returned apiVersion client.authentication.k8s.io/v1beta1, expected client.authentication.k8s.io/v1`],
  ['neither a token nor a certificate', credential('{}'), {}, (f) => `exec credential plugin ${f} returned neither a token nor a client certificate and key`],
  ['interactiveMode Always', credential('{"token":"t"}'), { interactiveMode: 'Always' }, (f) => `exec credential plugin ${f} needs a terminal (interactiveMode: Always), which krew-wasm does not give credential plugins`],
];

for (const [title, body, extra, message] of failures) {
  test(`exec plugin: ${title} is one message naming the command`, async (t) => {
    const exec = await frozen(title.replace(/\W+/g, '-'), body, extra);
    t.deepEqual(await runExecCredential(exec, 10_000, hooks), { ok: false, message: message(exec.command) });
  });
}

test('exec plugin: found on PATH when the run starts; not found is one message', async (t) => {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, 'kube-cred'), `#!/bin/sh\n${credential('{"token":"from-path"}')}\n`, { mode: 0o755 });
  const env = { PATH: `${path.join(dir, 'empty')}:${bin}:/usr/bin:/bin` };
  const found = (await settleCredentials(selection({ command: 'kube-cred' }), env)).exec!;
  t.is(found.path, path.join(bin, 'kube-cred'));
  t.deepEqual(await runExecCredential(found, 10_000, hooks), { ok: true, status: { token: 'from-path', clientCertificateData: undefined, clientKeyData: undefined, expirationTimestamp: undefined } });
  const missing = (await settleCredentials(selection({ command: 'no-such-cred' }), env)).exec!;
  t.deepEqual(await runExecCredential(missing, 10_000, hooks), { ok: false, message: 'exec credential plugin no-such-cred was not found when the plugin started' });
});

test('exec plugin: found through a relative PATH entry, it is run by its absolute path, never looked up again', async (t) => {
  // A `.` entry after a folder the plugin may write: looked up again when run, the plugin's program
  // placed there meanwhile ran instead (found by an attack).
  const bin = path.join(dir, 'relbin');
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, 'rel-cred'), `#!/bin/sh\n${credential('{"token":"from-rel"}')}\n`, { mode: 0o755 });
  const found = (await settleCredentials(selection({ command: 'rel-cred' }), { PATH: `${path.relative(process.cwd(), bin)}:/usr/bin:/bin` })).exec!;
  t.is(found.path, path.join(bin, 'rel-cred'));
  t.true(path.isAbsolute(found.path!));
  t.deepEqual(await runExecCredential(found, 10_000, hooks), { ok: true, status: { token: 'from-rel', clientCertificateData: undefined, clientKeyData: undefined, expirationTimestamp: undefined } });
});

test('the kubeconfig files that pick the user, and the cluster: each at or before the first that defines an entry picking them', async (t) => {
  const files = ['a', 'b', 'c', 'd'].map((n) => path.join(dir, `decide-${n}.yaml`));
  fs.writeFileSync(files[0], 'apiVersion: v1\nkind: Config\n');
  fs.writeFileSync(files[1], 'apiVersion: v1\nkind: Config\ncurrent-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n');
  fs.writeFileSync(files[2], "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n");
  fs.writeFileSync(files[3], "apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: other}}, {name: v, user: {token: v}}]\n");
  const merged = (await loadKubeconfig({ KUBECONFIG: files.join(':') }, {}))!;
  // c defines the cluster alone: it cannot pick the user (found by an attack); d defines nothing used first.
  t.deepEqual(selectCluster(merged).decidingFiles, { user: files.slice(0, 2), cluster: files.slice(0, 3) });
  t.deepEqual(selectCluster(merged, { context: 'x', user: 'v' }).decidingFiles, { user: files, cluster: files.slice(0, 3) }, 'the user comes from d; --user picks it');
  t.deepEqual(selectCluster(merged, { user: 'u', cluster: 'c' }).decidingFiles, { user: files.slice(0, 2), cluster: files.slice(0, 3) }, 'no context picks them');
});

test('exec plugin: the environment is the host\'s, plus exec.env and KUBERNETES_EXEC_INFO (with the cluster when asked)', async (t) => {
  const exec = await frozen('env', `printf '%s' "$EXTRA|$KUBERNETES_EXEC_INFO" > "${dir}/env.out"\n${credential('{"token":"t"}')}`, { env: [{ name: 'EXTRA', value: 'x' }], provideClusterInfo: true });
  t.true((await runExecCredential(exec, 10_000, hooks)).ok);
  const [extra, info] = fs.readFileSync(path.join(dir, 'env.out'), 'utf8').split('|');
  t.is(extra, 'x');
  t.like(JSON.parse(info), { kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1', spec: { interactive: false, cluster: { server: 'https://127.0.0.1:1' } } });
});

/** The selection of a kubeconfig whose cluster has `extensions` (YAML) and whose user runs an exec plugin. */
async function withExtensions(name: string, extensions: string, script: string): Promise<Selection> {
  const file = path.join(dir, `${name}.kubeconfig`);
  fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  fs.writeFileSync(file, `current-context: x
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:1
    disable-compression: true
    extensions:
${extensions.replace(/^/gm, '    ')}
contexts: [{name: x, context: {cluster: c, user: u}}]
users: [{name: u, user: {exec: {command: ${path.join(dir, name)}, apiVersion: client.authentication.k8s.io/v1, provideClusterInfo: true}}}]
`);
  return selectCluster((await loadKubeconfig({ KUBECONFIG: file }))!);
}

test('exec plugin with provideClusterInfo: the cluster\'s client.authentication.k8s.io/exec extension is its spec.cluster.config, as client-go gives it', async (t) => {
  const selection = await withExtensions('ext', `- name: other.example.com/x
  extension: {not: this}
- name: client.authentication.k8s.io/exec
  extension: {audience: sts.example.com, scopes: [a, b], nested: {n: 1}}`, `printf '%s' "$KUBERNETES_EXEC_INFO" > "${dir}/ext.out"\n${credential('{"token":"t"}')}`);
  const settled = await settleCredentials(selection, { PATH: process.env.PATH });
  t.true((await runExecCredential(settled.exec!, 10_000, hooks)).ok);
  const cluster = JSON.parse(fs.readFileSync(path.join(dir, 'ext.out'), 'utf8')).spec.cluster;
  t.deepEqual(cluster.config, { audience: 'sts.example.com', scopes: ['a', 'b'], nested: { n: 1 } });
  t.is(cluster['disable-compression'], true);
});

test('exec plugin with provideClusterInfo: an extension that is an alias bomb, a long string many times, nested thousands deep or refers to itself is one note, and no plugin runs', async (t) => {
  const bomb = ['a0: &a0 [x, x]', ...Array.from({ length: 40 }, (_, i) => `a${i + 1}: &a${i + 1} [*a${i}, *a${i}]`)].join('\n  ');
  const cases: [string, string, string][] = [
    ['bomb', `- name: client.authentication.k8s.io/exec\n  extension:\n    ${bomb.replace(/\n {2}/g, '\n    ')}`, 'the client.authentication.k8s.io/exec extension of cluster "c" cannot be given to its exec credential plugin: it is larger than 131050 bytes, more than an environment variable may hold: requests of plugin unit fail'],
    ['loop', `- name: client.authentication.k8s.io/exec\n  extension: &self {me: *self}`, 'the client.authentication.k8s.io/exec extension of cluster "c" cannot be given to its exec credential plugin: it refers to itself (a recursive YAML alias): requests of plugin unit fail'],
    // One 100,000-character string, 90 times: 9 MB, more than an environment variable holds (128 KiB).
    ['long', `- name: client.authentication.k8s.io/exec\n  extension:\n    s: &s ${'ā'.repeat(100_000)}\n    all: [${Array(90).fill('*s').join(', ')}]`, 'the client.authentication.k8s.io/exec extension of cluster "c" cannot be given to its exec credential plugin: it is larger than 131050 bytes, more than an environment variable may hold: requests of plugin unit fail'],
    // 98 aliases, each 90 lists deep around the one before: 8,820 levels.
    ['deep', `- name: client.authentication.k8s.io/exec\n  extension:\n${Array.from({ length: 99 }, (_, i) => `    d${i}: &d${i} ${'['.repeat(90)}${i === 0 ? 'x' : `*d${i - 1}`}${']'.repeat(90)}`).join('\n')}`, 'the client.authentication.k8s.io/exec extension of cluster "c" cannot be given to its exec credential plugin: it is nested too deeply: requests of plugin unit fail'],
  ];
  for (const [name, extensions, note] of cases) {
    await withExtensions(name, extensions, `touch "${dir}/${name}.ran"\n${credential('{"token":"t"}')}`);
    const ctx = await prepareNetworkContext({ args: [], env: { KUBECONFIG: path.join(dir, `${name}.kubeconfig`), PATH: process.env.PATH }, pluginName: 'unit', credentialTimeoutMs: 10_000, requestTimeoutMs: 10_000, maxResponseBytes: 1 });
    t.teardown(() => ctx.close());
    const notes: string[] = [];
    const imports = createOutboundHttpImports(ctx, { pluginName: 'unit', verbose: false, note: (line) => notes.push(line) });
    const api = imports['krew-wasm:outbound-http/outbound-http'] as { request: (r: unknown, id?: string) => unknown };
    let thrown: unknown;
    try {
      api.request({ method: 'get', uri: '/api', headers: [], params: [], body: undefined }, undefined);
    } catch (error) {
      thrown = error; // the WIT error the plugin sees: a string
    }
    t.is(thrown, 'runtime-error', name);
    t.deepEqual(notes, [note]);
    t.false(fs.existsSync(path.join(dir, `${name}.ran`)));
  }
});

test('inline credential data that is not PEM is one message', async (t) => {
  const certificate = Buffer.from('-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n').toString('base64');
  const settled = await settleCredentials(selection(undefined, { clientCertificateData: certificate, clientKeyData: Buffer.from('not pem').toString('base64') }), {});
  t.is(settled.userError?.message, 'client-key-data is not base64-encoded PEM');
});

test('a client key without its certificate is not read, as client-go (HasCertAuth)', async (t) => {
  const settled = await settleCredentials(selection(undefined, { clientKeyData: Buffer.from('not pem').toString('base64') }), {});
  t.is(settled.userError, undefined);
  t.is(settled.key, undefined);
});

const contextNotes: [string, (file: string) => string, (file: string) => string][] = [
  ['a proxy-url that is not a URL', (f) => { fs.writeFileSync(f, config("proxy-url: '::'")); return f; }, () => 'proxy-url "::" of cluster "c" is not a URL: requests of plugin unit are refused'],
  ['a kubeconfig over 16 MiB', (f) => { fs.writeFileSync(f, Buffer.alloc(16 * 1024 * 1024 + 1, 0x20)); return f; }, (f) => `kubeconfig ${f} is larger than 16777216 bytes: requests of plugin unit are refused`],
];

function config(clusterExtra: string): string {
  return `apiVersion: v1
kind: Config
current-context: c
clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', ${clusterExtra}}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
`;
}

for (const [title, make, note] of contextNotes) {
  test(`${title}: the context is unavailable, with one note naming it`, async (t) => {
    const file = make(path.join(dir, title.replace(/\W+/g, '-')));
    const ctx = await prepareNetworkContext({ args: [], env: { KUBECONFIG: file }, pluginName: 'unit', credentialTimeoutMs: 10_000, requestTimeoutMs: 10_000, maxResponseBytes: 1 });
    t.teardown(() => ctx.close());
    t.is(ctx.unavailable, note(file));
    t.like(ctx.prepare({ uri: '/x', headers: [] }), { ok: false, error: 'destination-not-allowed', note: note(file) });
  });
}
