import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_GRANTS } from '../../src/grants.js';
import { prepareSandbox, receiptsVersion } from '../../src/services/sandbox.js';
import { settingsFromEnv } from '../../src/settings.js';

function hostAt(home: string) {
  const env = { HOME: home, KREW_WASM_ROOT: path.join(home, '.krew-wasm'), PLUGIN_TOKEN: 'secret' };
  return { host: { env, cwd: home, settings: settingsFromEnv(env) }, dirs: { dataDir: path.join(home, 'data'), tmpDir: path.join(home, 'tmp') } };
}

test('a plugin that imports no environment interface has no variable selected for it, whatever its grant; one that does has what its grant allows', async (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-sandbox-'));
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  const { host, dirs } = hostAt(home);
  const grants = { ...DEFAULT_GRANTS, dataDir: true };
  const without = await prepareSandbox('p', grants, 'kubectl-p', ['get'], host, dirs, { filesystem: false, environment: false });
  t.deepEqual(without.sandbox.env, {});
  t.is(without.sandbox.initialCwd, undefined);
  t.deepEqual(without.sandbox.args, ['kubectl-p', 'get']);
  const withEnv = await prepareSandbox('p', grants, 'kubectl-p', ['get'], host, dirs, { filesystem: false, environment: true });
  t.is(withEnv.sandbox.env.PLUGIN_TOKEN, 'secret');
  t.is(withEnv.sandbox.env.KREW_WASM_DATA_DIR, dirs.dataDir);
  t.is(withEnv.sandbox.initialCwd, home);
  // The grant still decides what a plugin that reads variables sees.
  const allowList = await prepareSandbox('p', { ...grants, env: { mode: 'only', names: ['HOME'] } }, 'kubectl-p', [], host, dirs, { filesystem: false, environment: true });
  t.false('PLUGIN_TOKEN' in allowList.sandbox.env);
  t.is(allowList.sandbox.env.HOME, home);
});

test("the receipts' version is not kept while their folder's last change is recent: a second change within its times' granularity would not show", async (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-receipts-'));
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  const { host } = hostAt(home);
  const receipts = path.join(host.settings.root, 'receipts');
  fs.mkdirSync(receipts, { recursive: true });
  fs.writeFileSync(path.join(receipts, 'q.json'), '{}');
  t.not(receiptsVersion(host), receiptsVersion(host), 'just changed: read again each time');
  const changed = fs.statSync(receipts).ctimeMs;
  while (Date.now() < changed + 150) await new Promise((resolve) => setTimeout(resolve, 20));
  const settled = receiptsVersion(host);
  t.is(receiptsVersion(host), settled, 'settled: the same until the next change');
  fs.renameSync(path.join(receipts, 'q.json'), path.join(receipts, 'r.json'));
  t.not(receiptsVersion(host), settled);
});
