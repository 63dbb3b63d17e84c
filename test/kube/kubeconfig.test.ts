import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeconfigError } from '../../src/errors.js';
import { kubeconfigFiles, loadKubeconfig, overridesFromArgs, selectCluster } from '../../src/kube/kubeconfig.js';

function dir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-kubeconfig-'));
}

const cfg = (o: { current?: string; clusters?: [string, string][]; users?: [string, Record<string, unknown>][]; contexts?: [string, string, string][] }) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': o.current ?? '',
    clusters: (o.clusters ?? []).map(([name, server]) => ({ name, cluster: { server, 'certificate-authority': 'ca.crt' } })),
    users: (o.users ?? []).map(([name, user]) => ({ name, user })),
    contexts: (o.contexts ?? []).map(([name, cluster, user]) => ({ name, context: { cluster, user } })),
  });

test('KUBECONFIG: missing files skipped, first file wins per name, first non-empty current-context', async (t) => {
  const d = dir();
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  fs.mkdirSync(path.join(d, 'a'));
  fs.mkdirSync(path.join(d, 'b'));
  fs.writeFileSync(path.join(d, 'a/config'), cfg({ clusters: [['c1', 'https://a:1']], users: [['u1', { token: 'from-a' }]], contexts: [['x', 'c1', 'u1']] }));
  fs.writeFileSync(path.join(d, 'b/config'), cfg({ current: 'x', clusters: [['c1', 'https://b:1'], ['c2', 'https://b:2']], users: [['u1', { token: 'from-b' }]], contexts: [['x', 'c2', 'u1']] }));
  const env = { KUBECONFIG: [path.join(d, 'missing'), path.join(d, 'a/config'), '', path.join(d, 'b/config')].join(':'), HOME: d };
  const merged = (await loadKubeconfig(env))!;
  t.deepEqual(merged.files, [path.join(d, 'a/config'), path.join(d, 'b/config')]);
  const sel = selectCluster(merged);
  t.is(sel.contextName, 'x');
  t.is(sel.clusterName, 'c1', 'context x from file a wins');
  t.is(sel.cluster.server, 'https://a:1');
  t.is(sel.cluster.certificateAuthority, path.join(d, 'a/ca.crt'), 'relative paths resolve against the file that names them');
  t.is(sel.user.token, 'from-a');
  t.is(merged.clusters.get('c2')?.certificateAuthority, path.join(d, 'b/ca.crt'));
});

test('--context, --cluster and --user override the current context; --kubeconfig replaces KUBECONFIG', async (t) => {
  const d = dir();
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  const file = path.join(d, 'only');
  fs.writeFileSync(file, cfg({ current: 'one', clusters: [['c1', 'https://one'], ['c2', 'https://two']], users: [['u1', { token: 't1' }], ['u2', { tokenFile: 'tok' }]], contexts: [['one', 'c1', 'u1'], ['two', 'c2', 'u2']] }));
  const overrides = overridesFromArgs(['get', '--kubeconfig', file, '--context=two']);
  t.deepEqual(overrides, { kubeconfig: file, context: 'two' });
  const env = { KUBECONFIG: path.join(d, 'nope'), HOME: d };
  const sel = selectCluster((await loadKubeconfig(env, overrides))!, overrides);
  t.is(sel.cluster.server, 'https://two');
  t.is(sel.user.tokenFile, path.join(d, 'tok'));
  const mixed = selectCluster((await loadKubeconfig(env, overrides))!, { ...overrides, user: 'u1', cluster: 'c1' });
  t.is(mixed.cluster.server, 'https://one');
  t.is(mixed.user.token, 't1');
});

test('flag parsing stops at -- and takes both spellings; an empty value is no override, as for kubectl', (t) => {
  t.deepEqual(overridesFromArgs(['--context', 'a', '--user=b', '--', '--cluster', 'c']), { context: 'a', user: 'b' });
  t.deepEqual(overridesFromArgs(['--user=', '--context', '', '--kubeconfig=', '--cluster=k']), { cluster: 'k' });
  t.deepEqual(overridesFromArgs(['--user=bob', '--user=', '--context', 'a', '--context=b']), { context: 'b' }, 'the last one given wins, an empty one included');
  t.deepEqual(overridesFromArgs(['-n', 'x', '--contextual', 'y']), {});
});

test('a KUBECONFIG path is opened as given, as client-go opens it: `..` after a symlink goes up from where it leads, a trailing slash names a folder', async (t) => {
  const d = dir();
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  fs.mkdirSync(path.join(d, 'other', 'sub'), { recursive: true });
  fs.symlinkSync(path.join(d, 'other', 'sub'), path.join(d, 'L'));
  fs.writeFileSync(path.join(d, 'kc'), cfg({ current: 'x', clusters: [['c', 'https://by-text']], contexts: [['x', 'c', 'u']], users: [['u', {}]] }));
  fs.writeFileSync(path.join(d, 'other', 'kc'), cfg({ current: 'x', clusters: [['c', 'https://by-the-kernel']], contexts: [['x', 'c', 'u']], users: [['u', {}]] }));
  const through = `${path.join(d, 'L')}/../kc`;
  const sel = selectCluster((await loadKubeconfig({ KUBECONFIG: through }))!);
  t.is(sel.cluster.server, 'https://by-the-kernel');
  const kubectl = spawnSync('kubectl', ['config', 'view', '-o', 'jsonpath={.clusters[0].cluster.server}'], { env: { ...process.env, KUBECONFIG: through }, encoding: 'utf8' });
  t.is(kubectl.error, undefined, 'kubectl runs');
  t.is(kubectl.stdout, 'https://by-the-kernel', 'as kubectl reads it');
  t.is(sel.cluster.certificateAuthority, path.join(d, 'ca.crt'), 'paths inside it resolve against its folder by text, as client-go resolves them');
  await t.throwsAsync(() => loadKubeconfig({ KUBECONFIG: `${path.join(d, 'kc')}/` }), { instanceOf: KubeconfigError, message: /cannot read kubeconfig .*kc\/: ENOTDIR/ });
});

test('~/.kube/config is the default; no file at all means no kubeconfig', async (t) => {
  const d = dir();
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  t.deepEqual(kubeconfigFiles({ HOME: d }, {}), [path.join(d, '.kube/config')]);
  t.is(await loadKubeconfig({ HOME: d }), undefined);
});

test('errors: a missing --kubeconfig, bad YAML, an unknown context are KubeconfigErrors', async (t) => {
  const d = dir();
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  await t.throwsAsync(() => loadKubeconfig({ HOME: d }, { kubeconfig: path.join(d, 'absent') }), { instanceOf: KubeconfigError, message: /cannot read kubeconfig .*absent: ENOENT/ });
  fs.writeFileSync(path.join(d, 'bad'), 'clusters: [unclosed');
  await t.throwsAsync(() => loadKubeconfig({ KUBECONFIG: path.join(d, 'bad') }), { instanceOf: KubeconfigError, message: /is not valid YAML/ });
  fs.writeFileSync(path.join(d, 'ok'), cfg({ current: 'ghost', clusters: [['c', 'https://c']] }));
  const ok = (await loadKubeconfig({ KUBECONFIG: path.join(d, 'ok') }))!;
  t.throws(() => selectCluster(ok), { instanceOf: KubeconfigError, message: /context "ghost" does not exist/ });
});

test('YAML: an empty kubeconfig or one of comments only is an empty one; two documents, a duplicate key or an unknown tag are not valid YAML', async (t) => {
  const d = dir();
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  const ok = path.join(d, 'ok');
  fs.writeFileSync(ok, cfg({ current: 'c', clusters: [['c', 'https://c']], users: [['u', { token: 't' }]], contexts: [['c', 'c', 'u']] }));
  for (const [name, text] of [['empty', ''], ['blank', '  \n\n'], ['comments', '# nothing here yet\n'], ['null', '---\n']]) {
    const file = path.join(d, name);
    fs.writeFileSync(file, text);
    // Merged first, it adds nothing: the next file's context and cluster are what is selected.
    const merged = (await loadKubeconfig({ KUBECONFIG: `${file}:${ok}` }))!;
    t.deepEqual(merged.files, [file, ok], name);
    t.is(selectCluster(merged).cluster.server, 'https://c', name);
  }
  for (const [name, text, why] of [
    ['two', 'kind: Config\n---\nkind: Config\n', /it holds 2 YAML documents, not one/],
    ['duplicate', 'clusters: []\nclusters: []\n', /duplicated mapping key/],
    ['tag', 'clusters: !custom []\n', /unknown/],
    ['scalar', 'just text\n', /./],
  ] as const) {
    const file = path.join(d, name);
    fs.writeFileSync(file, text);
    const error = await t.throwsAsync(() => loadKubeconfig({ KUBECONFIG: file }), { instanceOf: KubeconfigError });
    t.regex(error!.message, name === 'scalar' ? /is not a mapping/ : new RegExp(`^kubeconfig ${file} is not valid YAML: .*${why.source}`), name);
    t.false(error!.message.includes('\n'), 'one line');
  }
});

test('YAML a plugin may plant for the next run: an alias bomb is refused in one line, without expanding it; merge keys are read as kubectl reads them', async (t) => {
  const d = dir();
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  // 10^7 strings behind 70 aliases, as the exec args of a user no context selects.
  const levels = ['l0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let n = 1; n <= 7; n++) levels.push(`l${n}: &a${n} [${Array(10).fill(`*a${n - 1}`).join(', ')}]`);
  const bomb = path.join(d, 'bomb');
  fs.writeFileSync(bomb, [
    ...levels,
    'current-context: c',
    'clusters: [{name: c, cluster: {server: "https://c"}}]',
    'users: [{name: u, user: {token: t}}, {name: x, user: {exec: {command: /bin/true, args: [*a7]}}}]',
    'contexts: [{name: c, context: {cluster: c, user: u}}]',
  ].join('\n'));
  await t.throwsAsync(() => loadKubeconfig({ KUBECONFIG: bomb }), { instanceOf: KubeconfigError, message: `user "x" of kubeconfig ${bomb}: exec args must be a list of strings` });
  const many = path.join(d, 'many');
  fs.writeFileSync(many, `a: &x 1\nb: [${Array(101).fill('*x').join(', ')}]\n`);
  await t.throwsAsync(() => loadKubeconfig({ KUBECONFIG: many }), { instanceOf: KubeconfigError, message: /is not valid YAML: aliases exceeded maxAliases \(100\)/ });
  const env = path.join(d, 'env');
  fs.writeFileSync(env, 'users: [{name: x, user: {exec: {command: /bin/true, env: [{name: N, value: 1}]}}}]\n');
  await t.throwsAsync(() => loadKubeconfig({ KUBECONFIG: env }), { instanceOf: KubeconfigError, message: `user "x" of kubeconfig ${env}: exec env must be a list of name and value strings` });
  const merge = path.join(d, 'merge');
  fs.writeFileSync(merge, [
    'shared: &shared {server: "https://merged", insecure-skip-tls-verify: true}',
    'clusters: [{name: c, cluster: {<<: *shared, tls-server-name: api}}]',
    'users: [{name: u, user: {exec: {command: /bin/true, args: [a, b], env: [{name: N, value: v}, {name: EMPTY}]}}}]',
    'contexts: [{name: c, context: {cluster: c, user: u}}]',
    'current-context: c',
  ].join('\n'));
  const selected = selectCluster((await loadKubeconfig({ KUBECONFIG: merge }))!);
  t.like(selected.cluster, { server: 'https://merged', insecureSkipTlsVerify: true, tlsServerName: 'api' });
  t.deepEqual(selected.user.exec?.args, ['a', 'b']);
  t.deepEqual(selected.user.exec?.env, [{ name: 'N', value: 'v' }, { name: 'EMPTY', value: '' }]);
});

test('paths are resolved as client-go resolves them: relative to the kubeconfig\'s folder, with no ~ expansion', async (t) => {
  const d = dir();
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  const file = path.join(d, 'config');
  fs.writeFileSync(file, [
    'clusters: [{name: c, cluster: {server: "https://c", certificate-authority: ~/ca.crt}}]',
    'users: [{name: u, user: {tokenFile: ~/token, client-key: /abs/key, exec: {command: ~/bin/cred}}}]',
    'contexts: [{name: c, context: {cluster: c, user: u}}]',
    'current-context: c',
  ].join('\n'));
  const selected = selectCluster((await loadKubeconfig({ KUBECONFIG: file, HOME: '/home/nobody' }))!);
  t.is(selected.cluster.certificateAuthority, path.join(d, '~/ca.crt'));
  t.like(selected.user, { tokenFile: path.join(d, '~/token'), clientKey: '/abs/key' });
  t.is(selected.user.exec?.command, path.join(d, '~/bin/cred'));
});

test('property: merging any set of kubeconfig files follows first-wins per name, as client-go', async (t) => {
  const fc = (await import('fast-check')).default;
  const name = fc.constantFrom('a', 'b', 'c', 'd');
  const fileArb = fc.record({
    current: fc.option(name, { nil: undefined }),
    clusters: fc.uniqueArray(name, { maxLength: 4 }),
    users: fc.uniqueArray(name, { maxLength: 4 }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(fileArb, { minLength: 1, maxLength: 4 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), async (files, missing) => {
      const d = dir();
      try {
        const paths = files.map((f, i) => {
          const p = path.join(d, `f${i}`);
          if (missing[i] && i > 0) return p; // listed in KUBECONFIG but absent: skipped
          fs.writeFileSync(p, cfg({
            current: f.current,
            clusters: f.clusters.map((n) => [n, `https://f${i}-${n}`] as [string, string]),
            users: f.users.map((n) => [n, { token: `f${i}-${n}` }] as [string, Record<string, unknown>]),
          }));
          return p;
        });
        const merged = (await loadKubeconfig({ KUBECONFIG: paths.join(':'), HOME: d }))!;
        const present = files.map((f, i) => ({ f, i })).filter(({ i }) => !(missing[i] && i > 0));
        for (const n of ['a', 'b', 'c', 'd'] as const) {
          const firstCluster = present.find(({ f }) => f.clusters.includes(n));
          if (merged.clusters.get(n)?.server !== (firstCluster ? `https://f${firstCluster.i}-${n}` : undefined)) return false;
          const firstUser = present.find(({ f }) => f.users.includes(n));
          if (merged.users.get(n)?.token !== (firstUser ? `f${firstUser.i}-${n}` : undefined)) return false;
        }
        return merged.currentContext === present.map(({ f }) => f.current).find((c) => c);
      } finally {
        fs.rmSync(d, { recursive: true, force: true });
      }
    }),
    { numRuns: 150 },
  );
  t.pass();
});
