import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES, krewWasm, kubectl, makeSandbox, storeSnapshot, theError, type Sandbox } from '../helpers/cli.js';

/** A sandbox with hello.wasm copied into $HOME/build, the folder the commands run in. */
function sandboxWithBuild(): { sb: Sandbox; build: string } {
  const sb = makeSandbox();
  const build = path.join(sb.home, 'build');
  fs.mkdirSync(build);
  fs.copyFileSync(path.join(FIXTURES, 'hello.wasm'), path.join(build, 'hello.wasm'));
  return { sb, build };
}

test('pull ./x.wasm and pull /abs/x.wasm install a local file as file:// does, recorded by its absolute path', async (t) => {
  const { sb, build } = sandboxWithBuild();
  t.teardown(sb.cleanup);
  const relative = await krewWasm(sb, ['pull', './hello.wasm'], { cwd: build });
  t.is(relative.exitCode, 0, relative.stderr);
  const receipt = JSON.parse(fs.readFileSync(path.join(sb.root, 'receipts/hello.json'), 'utf8'));
  t.is(receipt.source, `file://${build}/hello.wasm`);
  const up = await krewWasm(sb, ['pull', '../build/hello.wasm', '--name', 'up'], { cwd: path.join(sb.home, 'build') });
  t.is(up.exitCode, 0, up.stderr);
  const absolute = await krewWasm(sb, ['pull', path.join(build, 'hello.wasm'), '--name', 'abs']);
  t.is(absolute.exitCode, 0, absolute.stderr);
  for (const name of ['hello', 'up', 'abs']) t.is((await kubectl(sb, [name])).stdout, 'hello from wasm\n', name);
});

const fileErrors: { title: string; args: (build: string) => string[]; line: (build: string) => string }[] = [
  { title: 'a relative path that does not exist', args: () => ['pull', './missing.wasm'], line: (b) => `krew-wasm: error: file ./missing.wasm (${b}/missing.wasm) does not exist (check the path)` },
  { title: 'an absolute path that does not exist', args: (b) => ['pull', `${b}/missing.wasm`], line: (b) => `krew-wasm: error: file ${b}/missing.wasm does not exist (check the path)` },
  { title: 'a file:// URL that does not exist', args: () => ['pull', 'file:///no/such/plugin.wasm'], line: () => 'krew-wasm: error: file /no/such/plugin.wasm does not exist (check the path)' },
  { title: 'a folder', args: () => ['pull', './'], line: (b) => `krew-wasm: error: file ./ (${b}) is a folder, not a wasm file (check the path)` },
  { title: 'a path through a file', args: () => ['pull', './hello.wasm/x.wasm'], line: (b) => `krew-wasm: error: file ./hello.wasm/x.wasm (${b}/hello.wasm/x.wasm) is not a folder (check the path)` },
];

for (const bad of fileErrors) {
  test(`pull of ${bad.title}: one line in words, exit 1, nothing installed`, async (t) => {
    const { sb, build } = sandboxWithBuild();
    t.teardown(sb.cleanup);
    const r = await krewWasm(sb, bad.args(build), { cwd: build });
    t.is(r.exitCode, 1);
    t.is(theError(r.stderr), bad.line(build));
    t.deepEqual(storeSnapshot(sb.root).filter((e) => !e.endsWith('/')), []);
  });
}

test('pull refuses a name kubectl would never run (asking the real kubectl); the hint works; --force overrides', async (t) => {
  const { sb, build } = sandboxWithBuild();
  t.teardown(sb.cleanup);
  for (const name of ['get', 'logs', 'version', 'port-forward']) {
    const r = await krewWasm(sb, ['pull', './hello.wasm', '--name', name], { cwd: build });
    t.is(r.exitCode, 1);
    t.is(theError(r.stderr), `krew-wasm: error: kubectl would never run a plugin named "${name}": kubectl ${name} is one of kubectl's own commands (choose another name with --name, e.g. --name ${name}-wasm, or pass --force to install it anyway)`);
  }
  t.deepEqual(storeSnapshot(sb.root).filter((e) => !e.endsWith('/')), []);
  const renamed = await krewWasm(sb, ['pull', './hello.wasm', '--name', 'get-wasm'], { cwd: build });
  t.is(renamed.exitCode, 0, renamed.stderr);
  t.is((await kubectl(sb, ['get-wasm'])).stdout, 'hello from wasm\n');
  const forced = await krewWasm(sb, ['pull', './hello.wasm', '--name', 'get', '--force'], { cwd: build });
  t.is(forced.exitCode, 0, forced.stderr);
  t.is((await krewWasm(sb, ['run', 'get'])).stdout, 'hello from wasm\n');
  // The default name, the file's stem, is checked the same way.
  fs.copyFileSync(path.join(build, 'hello.wasm'), path.join(build, 'describe.wasm'));
  t.regex(theError((await krewWasm(sb, ['pull', './describe.wasm'], { cwd: build })).stderr), /kubectl would never run a plugin named "describe"/);
});

test('without kubectl on PATH, pull refuses the names of its built-in list', async (t) => {
  const { sb, build } = sandboxWithBuild();
  t.teardown(sb.cleanup);
  const env = { PATH: path.join(sb.home, 'empty-path') };
  const r = await krewWasm(sb, ['pull', './hello.wasm', '--name', 'apply'], { cwd: build, env });
  t.is(r.exitCode, 1);
  t.regex(theError(r.stderr), /kubectl would never run a plugin named "apply"/);
  t.is((await krewWasm(sb, ['pull', './hello.wasm', '--name', 'apply-it'], { cwd: build, env })).exitCode, 0);
});

test('the kubectl on PATH is what decides, not the built-in list', async (t) => {
  const { sb, build } = sandboxWithBuild();
  t.teardown(sb.cleanup);
  const bin = path.join(sb.home, 'fake-bin');
  fs.mkdirSync(bin);
  // A kubectl with one extra command of its own, frobnicate (a newer kubectl, or a distribution's).
  fs.writeFileSync(path.join(bin, 'kubectl'), '#!/bin/sh\n[ "$1" = frobnicate ] && [ "$2" = --help ] && exit 0\nexit 1\n', { mode: 0o755 });
  const env = { PATH: `${bin}:${process.env.PATH}` };
  const r = await krewWasm(sb, ['pull', './hello.wasm', '--name', 'frobnicate'], { cwd: build, env });
  t.is(r.exitCode, 1);
  t.regex(theError(r.stderr), /kubectl would never run a plugin named "frobnicate"/);
});

test('the name krew-wasm is krew-wasm\'s own, even with --force', async (t) => {
  const { sb, build } = sandboxWithBuild();
  t.teardown(sb.cleanup);
  const r = await krewWasm(sb, ['pull', './hello.wasm', '--name', 'krew-wasm', '--force'], { cwd: build });
  t.is(r.exitCode, 1);
  t.is(theError(r.stderr), 'krew-wasm: error: plugin name "krew-wasm" is taken by krew-wasm itself (kubectl krew-wasm runs krew-wasm) (choose another name with --name)');
});

test('run of a local file that is not there says so in words', async (t) => {
  const { sb, build } = sandboxWithBuild();
  t.teardown(sb.cleanup);
  const r = await krewWasm(sb, ['run', './nope.wasm'], { cwd: build });
  t.is(r.exitCode, 1);
  t.is(theError(r.stderr), `krew-wasm: error: file ./nope.wasm (${build}/nope.wasm) does not exist (check the path)`);
  t.is((await krewWasm(sb, ['run', './hello.wasm'], { cwd: build })).stdout, 'hello from wasm\n');
});
