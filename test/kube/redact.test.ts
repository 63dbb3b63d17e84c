import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load } from 'js-yaml';
import { loadKubeconfig, redactedSources, selectCluster, type MergedKubeconfig } from '../../src/kube/kubeconfig.js';

// `--fs kubeconfig` shows the kubeconfig files to a plugin with every user's credentials hidden but
// those of the user its run talks as (src/kube/redact.ts).

function dir(t: { teardown(f: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-redact-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

async function merged(files: Record<string, string>, d: string): Promise<MergedKubeconfig> {
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(d, name), text);
  return (await loadKubeconfig({ KUBECONFIG: Object.keys(files).map((f) => path.join(d, f)).join(':') }))!;
}

const SECRETS = ['tok-other', 'KEYDATA', 'CERTDATA', 'pw-other', 'oidc-secret', 'oidc-id-token', 'arg-token', 'env-secret', 'tok-shadowed'];

const A = `# file A
apiVersion: v1
kind: Config
current-context: main
clusters:
- {name: c, cluster: {server: 'https://127.0.0.1:6443'}}
contexts:
- {name: main, context: {cluster: c, user: me}}
- {name: theirs, context: {cluster: c, user: other}}
users:
- name: me
  user: {token: tok-me}
- name: other
  user:
    token: tok-other
    client-key-data: KEYDATA
    client-certificate-data: CERTDATA
    client-key: /keys/other.key
    username: admin
    password: pw-other
    as: someone
    auth-provider: {name: oidc, config: {client-secret: oidc-secret, id-token: oidc-id-token}}
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /usr/local/bin/get-token
      args: [--token, arg-token]
      env: [{name: TOKEN_KEY, value: env-secret}]
`;
const B = `# file B: its "me" is shadowed by A's, so the run never talks as it
users:
- {name: me, user: {token: tok-shadowed}}
`;

test('the selected user as written; every other user, and a shadowed entry of the same name, as kubectl config view shows them', async (t) => {
  const d = dir(t);
  const m = await merged({ a: A, b: B }, d);
  const [a, b] = redactedSources(m, selectCluster(m).userName);
  const text = a.bytes.toString() + b.bytes.toString();
  for (const secret of SECRETS) t.false(text.includes(secret), secret);
  const users = (load(a.bytes.toString()) as { users: { name: string; user: unknown }[] }).users;
  t.deepEqual(users[0], { name: 'me', user: { token: 'tok-me' } });
  t.deepEqual(users[1].user, {
    token: 'REDACTED',
    'client-key-data': 'DATA+OMITTED',
    'client-certificate-data': 'DATA+OMITTED',
    'client-key': '/keys/other.key',
    username: 'admin',
    password: 'REDACTED',
    as: 'someone',
    'auth-provider': { name: 'oidc', config: { 'client-secret': 'REDACTED', 'id-token': 'REDACTED' } },
    exec: { apiVersion: 'client.authentication.k8s.io/v1', command: '/usr/local/bin/get-token', args: ['REDACTED', 'REDACTED'], env: [{ name: 'TOKEN_KEY', value: 'REDACTED' }] },
  });
  t.deepEqual(load(b.bytes.toString()), { users: [{ name: 'me', user: { token: 'REDACTED' } }] });
  // The rest of the file is the same data, and reads as the same kubeconfig.
  const again = await merged({ a2: a.bytes.toString() }, d);
  t.deepEqual(selectCluster(again).user, { ...selectCluster(m).user });
  t.deepEqual([...again.contexts.keys()], ['main', 'theirs']);
});

test('a file with nothing to hide is shown as its bytes, comments and all', async (t) => {
  const d = dir(t);
  const only = `# mine\ncurrent-context: main\nclusters: [{name: c, cluster: {server: 'https://x'}}]\ncontexts: [{name: main, context: {cluster: c, user: me}}]\nusers: [{name: me, user: {token: tok-me}}]  # inline\n`;
  const m = await merged({ only }, d);
  t.is(redactedSources(m, 'me')[0].bytes.toString(), only);
});

test('no user selected: every user\'s credentials are hidden', async (t) => {
  const d = dir(t);
  const m = await merged({ a: A }, d);
  const text = redactedSources(m, undefined)[0].bytes.toString();
  t.false(text.includes('tok-me'));
  t.true(text.includes('token: REDACTED'));
});

test('a value shared through an alias stays as written for the selected user; a recursive alias and an alias bomb are copied by their size', async (t) => {
  const d = dir(t);
  const bomb = ['b0: &b0 [bomb-secret, bomb-secret]', ...Array.from({ length: 45 }, (_, i) => `  b${i + 1}: &b${i + 1} [*b${i}, *b${i}]`)].join('\n');
  const text = `current-context: main
clusters: [{name: c, cluster: {server: 'https://x'}}]
contexts: [{name: main, context: {cluster: c, user: me}}]
users:
- name: me
  user: &shared {token: tok-shared}
- name: twin
  user: *shared
- name: loop
  user: {extensions: &loop [loop-secret, *loop]}
- name: bomb
  user:
    extensions:
      ${bomb.replace(/\n/g, '\n    ')}
`;
  const m = await merged({ text }, d);
  const out = redactedSources(m, 'me')[0].bytes.toString();
  t.true(out.length < 20_000, `${out.length} bytes`);
  for (const secret of ['bomb-secret', 'loop-secret']) t.false(out.includes(secret), secret);
  const users = (await merged({ out }, d)).users;
  t.is(users.get('me')?.token, 'tok-shared');
  t.is(users.get('twin')?.token, 'REDACTED');
  const loop = (load(out) as { users: { user: { extensions: unknown[] } }[] }).users[2].user.extensions;
  t.deepEqual(loop[0], 'REDACTED');
  t.is(loop[1], loop, 'the cycle is kept');
});

test('kubectl reads a redacted copy as a kubeconfig', async (t) => {
  const d = dir(t);
  const m = await merged({ a: A, b: B }, d);
  const [a] = redactedSources(m, 'me');
  fs.writeFileSync(path.join(d, 'copy'), a.bytes);
  const r = spawnSync('kubectl', ['config', 'view', '--raw', '-o', 'jsonpath={.users[*].name} {.users[0].user.token} {.users[1].user.token}', '--kubeconfig', path.join(d, 'copy')], { encoding: 'utf8' });
  t.is(r.error, undefined, 'kubectl runs');
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'me other tok-me REDACTED');
});
