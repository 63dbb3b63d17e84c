import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { GrantError } from '../../src/errors.js';
import { DEFAULT_GRANTS } from '../../src/grants.js';
import { nodeManagerOf, nodeOnPath, prepareSandbox, receiptsVersion } from '../../src/services/sandbox.js';
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

/** A HOME with a folder `w` in it, the test process standing in `w` until teardown (ava runs each file in a process of its own). */
function standingIn(t: ExecutionContext): { home: string; w: string; cwd: string } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-cwd-'));
  const w = path.join(home, 'w');
  fs.mkdirSync(w);
  const before = process.cwd();
  t.teardown(() => {
    process.chdir(before);
    fs.rmSync(home, { recursive: true, force: true });
  });
  process.chdir(w);
  // What the wrapper takes at its start (wrapper.ts): getcwd's path of the folder.
  return { home, w, cwd: process.cwd() };
}

test.serial("`.` is the folder the process stands in, not what its path names when the sandbox opens it: another plugin's run may have made that path a link to / meanwhile (attack 105)", async (t) => {
  const { home, w, cwd } = standingIn(t);
  fs.renameSync(w, `${w}.real`);
  fs.symlinkSync('/', w);
  const { host, dirs } = hostAt(home);
  const prepared = await prepareSandbox('p', DEFAULT_GRANTS, 'kubectl-p', [], { ...host, cwd }, dirs);
  t.teardown(prepared.cleanup);
  t.is(prepared.sandbox.initialCwd, w);
  const dot = prepared.sandbox.fs!.context().preopens.find((p) => p.guestPath === '.');
  t.truthy(dot);
  t.is(fs.fstatSync(dot!.fd).ino, fs.statSync(`${w}.real`).ino, 'the folder the process stands in');
  t.not(fs.fstatSync(dot!.fd).ino, fs.statSync('/').ino);
});

test.serial('a working folder moved out of HOME between the start and the plugin\'s first use of its filesystem ends the run there', async (t) => {
  const { home, w, cwd } = standingIn(t);
  const { host, dirs } = hostAt(home);
  const prepared = await prepareSandbox('p', DEFAULT_GRANTS, 'kubectl-p', [], { ...host, cwd }, dirs);
  t.teardown(prepared.cleanup);
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-elsewhere-'));
  t.teardown(() => fs.rmSync(elsewhere, { recursive: true, force: true }));
  fs.renameSync(w, path.join(elsewhere, 'w'));
  const error = t.throws(() => prepared.sandbox.fs!.context());
  t.regex(error.message, /^the working folder .+ was moved out of .+ after the run started$/);
  t.true(error.message.includes(` ${w} `) && error.message.includes(` ${home} `));
  // Every later use says the same: the run ends there.
  t.is(t.throws(() => prepared.sandbox.fs!.context()).message, error.message);
});

test("the version manager that keeps the running Node is told by the path to it: all of its folder is Node's own installation, every version and every shim (attacks 105-108)", (t) => {
  const homes = ['/home/u'];
  const dirsOf = (prefix: string, env: NodeJS.ProcessEnv = {}) => nodeManagerOf(prefix, env, homes)?.dirs ?? [];
  t.deepEqual(dirsOf('/home/u/.nvm/versions/node/v20.11.0'), ['/home/u/.nvm', '/home/u/.nvm/versions']);
  t.deepEqual(dirsOf('/home/u/.config/nvm/versions/node/v20.11.0'), ['/home/u/.config/nvm/versions']);
  t.deepEqual(dirsOf('/home/u/.nodenv/versions/20.11.0'), ['/home/u/.nodenv', '/home/u/.nodenv/versions']);
  t.deepEqual(dirsOf('/home/u/.volta/tools/image/node/20.11.0'), ['/home/u/.volta', '/home/u/.volta/tools/image/node']);
  t.deepEqual(dirsOf('/home/u/.asdf/installs/nodejs/20.11.0'), ['/home/u/.asdf', '/home/u/.asdf/installs/nodejs']);
  t.deepEqual(dirsOf('/home/u/.local/share/mise/installs/node/20.11.0'), ['/home/u/.local/share/mise', '/home/u/.local/share/mise/installs/node']);
  t.deepEqual(dirsOf('/home/u/.local/share/fnm/node-versions/v20.11.0/installation', { FNM_MULTISHELL_PATH: '/home/u/.local/state/fnm_multishells/123_456' }), ['/home/u/.local/share/fnm', '/home/u/.local/share/fnm/node-versions', '/home/u/.local/state/fnm_multishells']);
  t.deepEqual(dirsOf('/home/u/.nvs/node/20.11.0/x64'), ['/home/u/.nvs', '/home/u/.nvs/node']);
  t.deepEqual(dirsOf('/home/u/.local/share/pnpm/nodejs/20.11.0'), ['/home/u/.local/share/pnpm', '/home/u/.local/share/pnpm/nodejs']);
  t.deepEqual(dirsOf('/home/u/.linuxbrew/Cellar/node@20/20.11.0'), ['/home/u/.linuxbrew', '/home/u/.linuxbrew/Cellar']);
  t.is(nodeManagerOf('/home/u/.local', {}, homes), undefined, 'a prefix of its own: that installation alone');
  t.is(nodeManagerOf('/home/u/node-v20.11.0-linux-x64', {}, homes), undefined);
  // A manager's folder outside HOME is no grant's by default: nothing to keep.
  t.is(nodeManagerOf('/opt/volta/tools/image/node/20.11.0', {}, homes), undefined);
  // Its folder is HOME itself (attacks 107, 108): the run keeps what it keeps there, not all of HOME.
  t.deepEqual(nodeManagerOf('/home/u/tools/image/node/20.11.0', {}, homes), { dirs: ['/home/u/bin', '/home/u/tools', '/home/u/tools/image/node'], pinned: [] });
  t.deepEqual(dirsOf('/home/u/installs/nodejs/20.11.0'), ['/home/u/shims', '/home/u/installs', '/home/u/plugins', '/home/u/installs/nodejs']);
  t.deepEqual(nodeManagerOf('/home/u/Cellar/node/20.11.0', {}, homes), {
    dirs: ['/home/u/lib', '/home/u/include', '/home/u/opt', '/home/u/etc', '/home/u/Cellar'],
    pinned: ['/home/u/bin/node', '/home/u/bin/npm', '/home/u/bin/npx', '/home/u/bin/corepack'],
  });
});

test('the Node the next start takes is found as `env node` finds it: the first executable file named node in an absolute folder of PATH', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-path-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const at = (name: string) => path.join(dir, name);
  for (const name of ['plain', 'folder', 'exec', 'later']) fs.mkdirSync(at(name));
  fs.writeFileSync(at('plain/node'), 'not executable', { mode: 0o644 });
  fs.mkdirSync(at('folder/node'));
  fs.writeFileSync(at('exec/node'), '#!/bin/sh\n', { mode: 0o755 });
  fs.writeFileSync(at('later/node'), '#!/bin/sh\n', { mode: 0o755 });
  const searched = (...dirs: string[]) => nodeOnPath(dirs.join(path.delimiter)).found;
  t.is(searched(at('missing'), at('plain'), at('folder'), at('exec'), at('later')), at('exec/node'));
  t.deepEqual(nodeOnPath([at('missing'), 'rel', at('plain'), at('exec'), at('later')].join(path.delimiter)).before, [at('missing'), at('plain')], 'the folders searched before it, where a node must not be made');
  t.is(searched('exec', at('later')), at('later/node'), 'a relative entry is skipped');
  t.is(searched(at('plain')), undefined);
  t.is(nodeOnPath(undefined).found, undefined);
  fs.mkdirSync(at('vialink'));
  fs.symlinkSync(at('exec/node'), at('vialink/node'));
  t.is(searched(at('vialink')), at('vialink/node'), 'a link is the name PATH finds it by');
});

test.serial("a working folder in krew-wasm's store that its path does not show (the store named through a link) ends the run at its first use of a file, saying to run the plugin from elsewhere", async (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-cwd-'));
  const before = process.cwd();
  t.teardown(() => {
    process.chdir(before);
    fs.rmSync(home, { recursive: true, force: true });
  });
  const real = path.join(home, '.krew-wasm');
  fs.mkdirSync(path.join(real, 'receipts'), { recursive: true });
  fs.symlinkSync(real, path.join(home, 'store-link'));
  const env = { HOME: home, KREW_WASM_ROOT: path.join(home, 'store-link') };
  process.chdir(path.join(real, 'receipts'));
  const cwd = process.cwd();
  const prepared = await prepareSandbox('p', DEFAULT_GRANTS, 'kubectl-p', [], { env, cwd, settings: settingsFromEnv(env) }, { dataDir: path.join(home, 'data'), tmpDir: path.join(home, 'tmp') });
  t.teardown(prepared.cleanup);
  t.is(prepared.sandbox.initialCwd, cwd, 'its path told nothing');
  const error = t.throws<GrantError>(() => prepared.sandbox.fs!.context());
  t.is(error.message, `the working folder ${cwd} is inside krew-wasm's own files (its store or its code), which no plugin may reach`);
  t.is(error.hint, 'run the plugin from another folder');
});
