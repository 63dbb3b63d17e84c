import test from 'ava';
import { ALL_ENV, applyGrantChanges, DEFAULT_GRANTS, describeGrants, envAllows, normalizeGrants, parseEnvGrant } from '../src/grants.js';
import { CliUsageError } from '../src/errors.js';

const env = (g: ReturnType<typeof applyGrantChanges>) => g.env;

test('revoke --env A on an all grant hides A only; on a list it takes A out', (t) => {
  const all = applyGrantChanges(DEFAULT_GRANTS, { removeEnv: ['AWS_PROFILE'] });
  t.deepEqual(env(all), { mode: 'all-except', names: ['AWS_PROFILE'] });
  t.false(envAllows(all.env, 'AWS_PROFILE'));
  t.true(envAllows(all.env, 'HOME'));
  const twice = applyGrantChanges(all, { removeEnv: ['AWS_PROFILE', 'TOKEN'] });
  t.deepEqual(env(twice), { mode: 'all-except', names: ['AWS_PROFILE', 'TOKEN'] });
  const list = applyGrantChanges(DEFAULT_GRANTS, { env: parseEnvGrant('A,B') });
  t.deepEqual(env(applyGrantChanges(list, { removeEnv: ['A'] })), { mode: 'only', names: ['B'] });
  t.is(describeGrants(twice).find((l) => l.startsWith('environment')), 'environment: all variables except AWS_PROFILE, TOKEN');
});

test('grant --env: all, none, or a list; names with = or spaces are refused', (t) => {
  t.deepEqual(parseEnvGrant('all'), ALL_ENV);
  t.deepEqual(parseEnvGrant('none'), { mode: 'only', names: [] });
  t.deepEqual(parseEnvGrant(' A, B ,A'), { mode: 'only', names: ['A', 'B'] });
  t.throws(() => parseEnvGrant('A=1'), { instanceOf: CliUsageError, message: 'invalid environment variable name "A=1"' });
  t.is(describeGrants({ ...DEFAULT_GRANTS, env: parseEnvGrant('none') }).find((l) => l.startsWith('environment')), 'environment: none');
});

test('receipts written before: env "all" and env lists migrate on read', (t) => {
  t.deepEqual(normalizeGrants({ env: 'all' }).env, ALL_ENV);
  t.deepEqual(normalizeGrants({ env: ['A', 'B', 3] }).env, { mode: 'only', names: ['A', 'B'] });
  t.deepEqual(normalizeGrants({ env: [] }).env, { mode: 'only', names: [] });
  t.deepEqual(normalizeGrants({}).env, ALL_ENV);
  t.deepEqual(normalizeGrants({ env: { mode: 'all-except', names: ['X'] } }).env, { mode: 'all-except', names: ['X'] });
  t.deepEqual(normalizeGrants({ env: { mode: 'only', names: ['Y'] } }).env, { mode: 'only', names: ['Y'] });
});

test('a read-write folder is said to change the kubeconfig it holds, unless a read-only grant inside keeps it', (t) => {
  const g = { ...DEFAULT_GRANTS, filesystem: 'none' as const, dirs: [{ path: '/h/work', readOnly: false }, { path: '/h/work/kube', readOnly: true }] };
  t.deepEqual(describeGrants(g, ['/h/work/kube/config']).filter((l) => l.startsWith('files: /h/work')), ['files: /h/work (read-write)', 'files: /h/work/kube (read-only)']);
  t.is(describeGrants(g, ['/h/work/config'])[1], 'files: /h/work (read-write: it can change your kubeconfig /h/work/config, whose exec credentials kubectl and krew-wasm run; add :ro to restrict)');
});
