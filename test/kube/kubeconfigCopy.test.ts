import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CopyTooLarge, kubeconfigCopies, loadKubeconfig, selectCluster, type MergedKubeconfig } from '../../src/kube/kubeconfig.js';

// `--fs kubeconfig` shows a plugin the kubeconfig files as krew-wasm reads them, with every user's
// credentials hidden but those of the user its run talks as (src/kube/kubeconfigCopy.ts).

function dir(t: { teardown(f: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-copy-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

async function merged(files: Record<string, string>, d: string): Promise<MergedKubeconfig> {
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(d, name), text);
  return (await loadKubeconfig({ KUBECONFIG: Object.keys(files).map((f) => path.join(d, f)).join(':') }))!;
}

/** The copies, keeping the selected context's user (or none), as text. */
function copies(m: MergedKubeconfig, keep: 'selected' | 'none' = 'selected'): string[] {
  return kubeconfigCopies(m, keep === 'selected' ? selectCluster(m).userName : undefined).map((c) => c.bytes.toString());
}

const SECRETS = ['tok-other', 'KEYDATA', 'CERTDATA', 'pw-other', 'oidc-secret', 'oidc-id-token', 'arg-token', 'env-secret', 'tok-shadowed', 'COMMENTED', 'X-SECRET', 'MERGED'];

const A = `# file A
apiVersion: v1
kind: Config
current-context: main
x-secrets: {other: &t tok-other}
clusters:
- {name: c, cluster: {server: 'https://127.0.0.1:6443', certificate-authority: ca.crt, insecure-skip-tls-verify: false, extensions: [{name: e, extension: {k: X-SECRET}}]}}
contexts:
- {name: main, context: {cluster: c, user: me, namespace: ns1}}
- {name: theirs, context: {cluster: c, user: other}}
users:
- name: me
  user: {token: tok-me, exec: {command: get-token, apiVersion: client.authentication.k8s.io/v1, args: [--mine], env: [{name: K, value: mine}]}}
# - name: old
#   user: {token: COMMENTED}
- name: other
  user:
    token: *t
    client-key-data: KEYDATA
    client-certificate-data: CERTDATA
    client-key: /keys/other.key
    username: admin
    password: pw-other
    as: someone
    as-groups: [g1]
    auth-provider: {name: oidc, config: {client-secret: oidc-secret, id-token: oidc-id-token}}
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /usr/local/bin/get-token
      args: [--token, arg-token]
      env: [{name: TOKEN_KEY, value: env-secret}]
- name: merged
  user: {token: null, <<: {token: MERGED}}
`;
const B = `# file B: its "me" is shadowed by A's, so the run never talks as it
users:
- {name: me, user: {token: tok-shadowed}}
`;

test('the selected user as written; every other user, and a shadowed entry of the same name, as kubectl config view shows them; nothing else of the files', async (t) => {
  const d = dir(t);
  const m = await merged({ a: A, b: B }, d);
  const [a, b] = copies(m);
  for (const secret of SECRETS) t.false(a.includes(secret) || b.includes(secret), secret);
  const copy = JSON.parse(a);
  t.deepEqual(copy, {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority': 'ca.crt' } }],
    contexts: [{ name: 'main', context: { cluster: 'c', user: 'me', namespace: 'ns1' } }, { name: 'theirs', context: { cluster: 'c', user: 'other' } }],
    users: [
      { name: 'me', user: { token: 'tok-me', exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'get-token', args: ['--mine'], env: [{ name: 'K', value: 'mine' }] } } },
      {
        name: 'other',
        user: {
          token: 'REDACTED',
          'client-key-data': 'DATA+OMITTED',
          'client-certificate-data': 'DATA+OMITTED',
          'client-key': '/keys/other.key',
          username: 'admin',
          password: 'REDACTED',
          as: 'someone',
          'as-groups': ['g1'],
          'auth-provider': { name: 'oidc', config: { 'client-secret': 'REDACTED', 'id-token': 'REDACTED' } },
          exec: { apiVersion: 'client.authentication.k8s.io/v1', command: '/usr/local/bin/get-token', args: ['REDACTED', 'REDACTED'], env: [{ name: 'TOKEN_KEY', value: 'REDACTED' }] },
        },
      },
      { name: 'merged', user: {} },
    ],
    'current-context': 'main',
  });
  t.deepEqual(JSON.parse(b).users, [{ name: 'me', user: { token: 'REDACTED' } }]);
  // Read again, the copy selects the same context, cluster and user.
  const again = await merged({ a2: a }, d);
  const copied = [path.join(d, 'a2')];
  t.deepEqual(selectCluster(again), { ...selectCluster(m), files: copied, decidingFiles: { user: copied, cluster: copied }, cluster: { ...selectCluster(m).cluster, certificateAuthority: path.join(d, 'ca.crt'), execExtension: undefined } });
});

test('no user selected: every user\'s credentials are hidden', async (t) => {
  const d = dir(t);
  const [a] = copies(await merged({ a: A }, d), 'none');
  t.false(a.includes('tok-me'));
  t.true(a.includes('"token": "REDACTED"'));
});

test('an empty entry is the first of its name, as kubectl reads it: a later entry of that name is hidden and not used', async (t) => {
  const d = dir(t);
  const m = await merged({
    a: 'current-context: c\nclusters: [{name: k, cluster: {server: "https://x"}}]\ncontexts: [{name: c, context: {cluster: k, user: alice}}]\nusers:\n- name: alice\n  user:\n',
    b: 'users: [{name: alice, user: {token: SECOND-ALICE}}]\n',
  }, d);
  t.deepEqual(selectCluster(m).user, { token: undefined, tokenFile: undefined, clientCertificate: undefined, clientCertificateData: undefined, clientKey: undefined, clientKeyData: undefined, username: undefined, password: undefined, exec: undefined });
  const [a, b] = copies(m);
  t.deepEqual(JSON.parse(a).users, [{ name: 'alice', user: {} }]);
  t.deepEqual(JSON.parse(b).users, [{ name: 'alice', user: { token: 'REDACTED' } }]);
});

test('a value shared through an alias stays as written for the selected user only; an aliased long string cannot make the copies larger than a kubeconfig', async (t) => {
  const d = dir(t);
  const m = await merged({
    a: 'current-context: c\nclusters: [{name: k, cluster: {server: "https://x"}}]\ncontexts: [{name: c, context: {cluster: k, user: me}}]\nusers:\n- {name: me, user: &shared {token: tok-shared}}\n- {name: twin, user: *shared}\n',
  }, d);
  t.deepEqual(JSON.parse(copies(m)[0]).users, [{ name: 'me', user: { token: 'tok-shared' } }, { name: 'twin', user: { token: 'REDACTED' } }]);
  // 90 users whose username is one aliased 200 KB string: 18 MB written out, more than a kubeconfig.
  const long = 'a'.repeat(200_000);
  const users = Array.from({ length: 90 }, (_, i) => `- {name: u${i}, user: {username: ${i === 0 ? `&s ${long}` : '*s'}}}`).join('\n');
  const big = await merged({ big: `users:\n${users}\n` }, d);
  t.throws(() => kubeconfigCopies(big, undefined), { instanceOf: CopyTooLarge });
});

test('kubectl reads a copy as the same kubeconfig: characters YAML 1.1 refuses or takes for line breaks, and characters outside the BMP, included', async (t) => {
  const d = dir(t);
  const m = await merged({ a: A.replace('namespace: ns1', 'namespace: "ns\\u2028\\u0085\\u007fé😁"').replace(/main/g, 'main 😁'), b: B }, d);
  const copy = copies(m)[0];
  fs.writeFileSync(path.join(d, 'copy'), copy);
  const r = spawnSync('kubectl', ['config', 'view', '--raw', '-o', 'jsonpath={.current-context}|{.users[?(@.name=="me")].user.token}|{.users[?(@.name=="other")].user.token}|{.contexts[0].context.namespace}', '--kubeconfig', path.join(d, 'copy')], { encoding: 'utf8' });
  t.is(r.error, undefined, 'kubectl runs');
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'main 😁|tok-me|REDACTED|ns\u2028\u0085\u007fé😁');
  t.false(/[\u007f-\u009f\u2028\u2029]/.test(copy), 'those characters are escaped');
  t.true(copy.includes('😁'), 'one outside the BMP is itself');
});

test('the copies are counted in the bytes they are written in: a long string of characters written escaped or in UTF-8, aliased many times, is refused before it is written', async (t) => {
  const d = dir(t);
  // 5,000 CJK characters, 50 times a user, 12 users: 3 M characters, written as ~9 MB of UTF-8 (18 MB counted).
  const text = `groups: &g [${Array(50).fill('*s').join(', ')}]
s: &s ${'漢'.repeat(5000)}
users:
${Array.from({ length: 12 }, (_, i) => `- {name: u${i}, user: {as-groups: *g}}`).join('\n')}
`.replace(/^groups: &g (.*)\ns: &s (.*)$/m, 's: &s $2\ngroups: &g $1');
  const m = await merged({ text }, d);
  t.throws(() => kubeconfigCopies(m, undefined), { instanceOf: CopyTooLarge });
  const fewer = await merged({ fewer: text.replace(/- \{name: u([2-9]|1\d).*\n/g, '') }, d);
  t.is(kubeconfigCopies(fewer, undefined).length, 1, 'two such users are within the bound');
});

test('entry names are counted too: one long name aliased many times is refused before it is written', async (t) => {
  const d = dir(t);
  const m = await merged({ names: `clusters:\n- &e {name: ${'n'.repeat(200_000)}, cluster: {server: 'https://x'}}\n${Array(99).fill('- *e').join('\n')}\n` }, d);
  t.throws(() => kubeconfigCopies(m, undefined), { instanceOf: CopyTooLarge });
});
