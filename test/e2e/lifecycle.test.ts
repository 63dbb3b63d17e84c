import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { pushArtifact } from '../../testkit/artifacts.js';
import { FIXTURES, krewWasm, kubectl, makeSandbox, runLink, storeSnapshot, type Sandbox } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../../testkit/registry.js';

let registry: TestRegistry;
let sb: Sandbox;

test.before(async () => {
  registry = await startRegistry();
  sb = makeSandbox();
  const target = (repo: string) => ({ url: registry.url, repo, tag: '1.0', });
  await pushArtifact(target('plugins/echo'), 'cncf', fs.readFileSync(path.join(FIXTURES, 'echo.wasm')));
  await pushArtifact(target('plugins/exit-code'), 'cncf', fs.readFileSync(path.join(FIXTURES, 'exitcode.wasm')));
});

test.after.always(async () => {
  await registry?.stop();
  sb?.cleanup();
});

test.serial('pull installs the plugin: receipt, store entry and kubectl-<name> link', async (t) => {
  const r = await krewWasm(sb, ['pull', '--plain-http', `${registry.host}/plugins/echo:1.0`]);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, '');
  t.regex(r.stderr, /Installed plugin "echo" \(sha256:[0-9a-f]{12}\) as kubectl-echo/);
  t.regex(r.stderr, /export PATH=".*\/\.krew-wasm\/bin:\$PATH"/);
  const link = path.join(sb.root, 'bin/kubectl-echo');
  t.true(fs.lstatSync(link).isSymbolicLink());
  t.is(fs.realpathSync(link), fs.realpathSync(path.resolve('bin/krew-wasm.js')));
  const receipt = JSON.parse(fs.readFileSync(path.join(sb.root, 'receipts/echo.json'), 'utf8'));
  t.is(receipt.source, `${registry.host}/plugins/echo:1.0`);
  t.regex(receipt.manifestDigest, /^sha256:[0-9a-f]{64}$/);
  t.is(receipt.mediaTypes.layer, 'application/wasm');
  t.true(fs.existsSync(path.join(sb.root, 'store', receipt.layerDigest.slice(7), 'plugin.js')));
});

test.serial('a name with dashes is exposed the way kubectl expects (foo-bar -> kubectl-foo_bar)', async (t) => {
  const r = await krewWasm(sb, ['pull', '--plain-http', `${registry.host}/plugins/exit-code:1.0`]);
  t.is(r.exitCode, 0, r.stderr);
  t.true(fs.lstatSync(path.join(sb.root, 'bin/kubectl-exit_code')).isSymbolicLink());
  const run = await runLink(sb, 'exit-code', ['42']);
  t.is(run.exitCode, 42);
  t.is(run.stdout, 'exiting\n');
});

test.serial('list prints bare names when piped, a table with -o table, receipts with -o json', async (t) => {
  const names = await krewWasm(sb, ['list']);
  t.is(names.exitCode, 0);
  t.is(names.stdout, 'echo\nexit-code\n');
  const table = await krewWasm(sb, ['list', '-o', 'table']);
  t.regex(table.stdout, /^NAME\s+REFERENCE\s+DIGEST\s+SIZE\s+PULLED\n/);
  t.regex(table.stdout, new RegExp(`echo\\s+${registry.host}/plugins/echo:1.0\\s+sha256:[0-9a-f]{12}\\s+[0-9.]+ KiB\\s+\\d{4}-`));
  const json = JSON.parse((await krewWasm(sb, ['list', '-o', 'json'])).stdout);
  t.deepEqual(json.map((p: { name: string }) => p.name), ['echo', 'exit-code']);
  t.is(json[0].size, fs.statSync(path.join(FIXTURES, 'echo.wasm')).size);
  t.truthy(Date.parse(json[0].pulledAt));
});

test.serial('wrapper mode passes argv[0]=kubectl-<name>, the arguments verbatim and the environment', async (t) => {
  const r = await runLink(sb, 'echo', ['get', 'pods', '--x=1', 'with space', ''], { env: { MY_VAR: 'hello=world' } });
  t.is(r.exitCode, 0, r.stderr);
  const [args, env] = r.stdout.split('--\n');
  t.is(args, 'kubectl-echo\nget\npods\n--x=1\nwith space\n\n');
  t.true(env.split('\n').includes('MY_VAR=hello=world'));
  t.true(env.split('\n').includes(`HOME=${sb.home}`));
});

test.serial('real kubectl finds the plugin on PATH and runs it', async (t) => {
  const list = await kubectl(sb, ['plugin', 'list']);
  t.is(list.exitCode, 0, list.stderr);
  t.true(list.stdout.includes(path.join(sb.root, 'bin/kubectl-echo')));
  const echo = await kubectl(sb, ['echo', 'a', '--b=c']);
  t.is(echo.exitCode, 0, echo.stderr);
  t.true(echo.stdout.startsWith('kubectl-echo\na\n--b=c\n--\n'));
  const dashed = await kubectl(sb, ['exit-code', '3']);
  t.is(dashed.exitCode, 3);
});

test.serial('rm removes the link, the receipt and the unreferenced store entry', async (t) => {
  const r = await krewWasm(sb, ['rm', 'echo']);
  t.is(r.exitCode, 0, r.stderr);
  t.false(fs.existsSync(path.join(sb.root, 'bin/kubectl-echo')));
  t.false(fs.existsSync(path.join(sb.root, 'receipts/echo.json')));
  const left = storeSnapshot(sb.root).filter((e) => e.startsWith('store/') && e.split('/').length === 3 && e.endsWith('/'));
  t.is(left.length, 1, left.join('\n'));
  const again = await runLink(sb, 'exit-code', ['0']);
  t.is(again.exitCode, 0);
  const uninstall = await krewWasm(sb, ['uninstall', 'exit-code']);
  t.is(uninstall.exitCode, 0);
  t.is((await krewWasm(sb, ['list'])).stdout, '');
  t.deepEqual(storeSnapshot(sb.root).filter((e) => !e.endsWith('/')), []);
});
