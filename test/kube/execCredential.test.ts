import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { settleCredentials, type FrozenExec } from '../../src/kube/credentials.js';
import { runExecCredential } from '../../src/kube/execCredential.js';
import type { ExecConfig, Selection } from '../../src/kube/kubeconfig.js';
import { prepareNetworkContext } from '../../src/kube/networkContext.js';

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

test('exec plugin: the environment is the host\'s, plus exec.env and KUBERNETES_EXEC_INFO (with the cluster when asked)', async (t) => {
  const exec = await frozen('env', `printf '%s' "$EXTRA|$KUBERNETES_EXEC_INFO" > "${dir}/env.out"\n${credential('{"token":"t"}')}`, { env: [{ name: 'EXTRA', value: 'x' }], provideClusterInfo: true });
  t.true((await runExecCredential(exec, 10_000, hooks)).ok);
  const [extra, info] = fs.readFileSync(path.join(dir, 'env.out'), 'utf8').split('|');
  t.is(extra, 'x');
  t.like(JSON.parse(info), { kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1', spec: { interactive: false, cluster: { server: 'https://127.0.0.1:1' } } });
});

test('inline credential data that is not PEM is one message', async (t) => {
  const settled = await settleCredentials(selection(undefined, { clientKeyData: Buffer.from('not pem').toString('base64') }), {});
  t.is(settled.userError?.message, 'client-key-data is not base64-encoded PEM');
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
