import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, FIXTURES, krewWasm, kubectl, makeSandbox, runProcess, storeSnapshot, theError, type Sandbox } from '../helpers/cli.js';
import { writeLayout } from '../../testkit/artifacts.js';

let sb: Sandbox;

test.before(async () => {
  sb = makeSandbox();
  const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'hello.wasm')}`]);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  const setup = await krewWasm(sb, ['setup']);
  if (setup.exitCode !== 0) throw new Error(setup.stderr);
});

test.after.always(() => sb?.cleanup());

test.serial('setup links kubectl-krew_wasm and kubectl_complete-krew_wasm into the bin folder and says how to use them', async (t) => {
  const again = await krewWasm(sb, ['setup']);
  t.is(again.exitCode, 0, again.stderr);
  const bin = path.join(sb.root, 'bin');
  t.regex(again.stderr, new RegExp(`^Linked ${bin}/kubectl-krew_wasm and ${bin}/kubectl_complete-krew_wasm to .*/bin/kubectl-krew_wasm\\.js\\n`));
  t.true(again.stderr.includes(`  export PATH="${bin}:$PATH"\n`));
  t.true(again.stderr.endsWith('Try it: kubectl krew-wasm list\n'));
  for (const link of ['kubectl-krew_wasm', 'kubectl_complete-krew_wasm']) t.true(fs.lstatSync(path.join(bin, link)).isSymbolicLink());
});

test.serial('kubectl krew-wasm runs krew-wasm itself through real kubectl, as kubectl krew runs krew', async (t) => {
  const list = await kubectl(sb, ['krew-wasm', 'list', '-o', 'name']);
  t.is(list.exitCode, 0, list.stderr);
  t.is(list.stdout, 'hello\n');
  const help = await kubectl(sb, ['krew-wasm', '--help']);
  t.is(help.exitCode, 0);
  t.regex(help.stdout, /^Usage:\n {2}kubectl krew-wasm <command> \[options\]$/m);
  const typo = await kubectl(sb, ['krew-wasm', 'pul']);
  t.is(typo.exitCode, 2);
  t.is(theError(typo.stderr), 'krew-wasm: error: unknown command "pul" (did you mean pull?)');
  const missing = await kubectl(sb, ['krew-wasm', 'info']);
  t.is(missing.exitCode, 2);
  t.is(theError(missing.stderr), 'krew-wasm: error: info needs <name> (e.g. kubectl krew-wasm info foo)');
  t.is((await kubectl(sb, ['hello'])).stdout, 'hello from wasm\n', 'plugins still run as before');
  const plugins = await kubectl(sb, ['plugin', 'list']);
  t.is(plugins.exitCode, 0, plugins.stderr);
  t.true(plugins.stdout.includes(path.join(sb.root, 'bin/kubectl-krew_wasm')));
});

test.serial('the links survive store mutations and repairs (they are not plugin links)', async (t) => {
  t.is((await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'echo.wasm')}`])).exitCode, 0);
  t.is((await krewWasm(sb, ['rm', 'echo'])).exitCode, 0);
  fs.mkdirSync(path.join(sb.root, 'lock')); // as a killed command leaves it: the next list repairs the store
  fs.writeFileSync(path.join(sb.root, 'lock/owner'), '999999');
  t.is((await krewWasm(sb, ['list'])).exitCode, 0);
  for (const link of ['kubectl-krew_wasm', 'kubectl_complete-krew_wasm']) t.true(fs.existsSync(path.join(sb.root, 'bin', link)), link);
  t.is((await kubectl(sb, ['krew-wasm', 'version'])).exitCode, 0);
});

test.serial('kubectl_complete-krew_wasm answers the way kubectl plugin completion expects (cobra __complete output)', async (t) => {
  const link = path.join(sb.root, 'bin/kubectl_complete-krew_wasm');
  const commands = await runProcess(link, ['gr'], { env: sb.env });
  t.is(commands.stdout, 'grant\tChange what an installed plugin may touch\n:4\n');
  const names = await runProcess(link, ['info', ''], { env: sb.env });
  t.is(names.stdout, 'hello\tinstalled plugin\n:4\n');
  // list has a bundle of its own (scripts/bundle.mjs); completion, which needs every command, is main.js's.
  const options = await runProcess(link, ['list', '-'], { env: sb.env });
  t.is(options.exitCode, 0, options.stderr);
  t.regex(options.stdout, /^--output\tOutput format/m);
});

test('a kubectl-krew_wasm link made by hand to krew-wasm itself is direct mode too', async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  const dir = path.join(side.home, 'bin');
  fs.mkdirSync(dir);
  fs.symlinkSync(BIN, path.join(dir, 'kubectl-krew_wasm'));
  const r = await kubectl(side, ['krew-wasm', 'version'], { pathPrefix: [dir] });
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /^krew-wasm \d+\.\d+\.\d+ /);
});

test('setup --dir links elsewhere and never overwrites a file it did not create', async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  const dir = path.join(side.home, '.local/bin');
  const ok = await krewWasm(side, ['setup', '--dir', dir]);
  t.is(ok.exitCode, 0, ok.stderr);
  t.true(fs.lstatSync(path.join(dir, 'kubectl-krew_wasm')).isSymbolicLink());
  fs.rmSync(path.join(dir, 'kubectl-krew_wasm'));
  fs.writeFileSync(path.join(dir, 'kubectl-krew_wasm'), '#!/bin/sh\necho mine\n', { mode: 0o755 });
  const refused = await krewWasm(side, ['setup', '--dir', dir]);
  t.is(refused.exitCode, 1);
  t.is(theError(refused.stderr), `krew-wasm: error: ${dir}/kubectl-krew_wasm exists and was not created by krew-wasm; refusing to overwrite it (remove it, or pick another folder with --dir)`);
  t.is(fs.readFileSync(path.join(dir, 'kubectl-krew_wasm'), 'utf8'), '#!/bin/sh\necho mine\n');
});

test("a name another kubectl plugin on PATH has is refused, a layout's title too: kubectl would run only one of the two; --name gives another, --force installs it anyway (attack 87)", async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  const krewBin = path.join(side.home, '.krew/bin');
  fs.mkdirSync(krewBin, { recursive: true });
  fs.writeFileSync(path.join(krewBin, 'kubectl-ctx'), '#!/bin/sh\necho the ctx krew installed\n', { mode: 0o755 });
  const env = { PATH: [krewBin, side.env.PATH].join(path.delimiter) };
  const hello = path.join(FIXTURES, 'hello.wasm');
  const layout = path.join(side.home, 'layout');
  writeLayout(layout, 'v1', fs.readFileSync(hello), { manifest: { 'org.opencontainers.image.title': 'ctx' } });
  const before = storeSnapshot(side.root);
  const cases = [[['pull', hello, '--name', 'ctx'], 'pass --force to install it anyway'], [['pull', `oci-layout://${layout}:v1`], 'give this one yourself to install it anyway: --force --name ctx']] as const;
  for (const [args, anyway] of cases) {
    const refused = await krewWasm(side, [...args], { env });
    t.is(refused.exitCode, 1, refused.stderr);
    t.is(theError(refused.stderr), `krew-wasm: error: another kubectl plugin is named "ctx": ${krewBin}/kubectl-ctx (kubectl runs the first kubectl-ctx on PATH, and would hide one of the two) (choose another name with --name, e.g. --name ctx-wasm, or ${anyway})`);
    t.deepEqual(storeSnapshot(side.root), before, 'nothing installed');
  }
  t.is((await kubectl(side, ['ctx'], { env })).stdout, 'the ctx krew installed\n');
  // Following the hint: another name, then --force.
  t.is((await krewWasm(side, ['pull', hello, '--name', 'ctx-wasm'], { env })).exitCode, 0);
  t.is((await kubectl(side, ['ctx-wasm'], { env })).stdout, 'hello from wasm\n');
  t.is((await kubectl(side, ['ctx'], { env })).stdout, 'the ctx krew installed\n');
  // The layout's title is the artifact's choice, not the user's: --force alone does not stretch to it (attack 88).
  const layoutForced = await krewWasm(side, ['pull', '--force', `oci-layout://${layout}:v1`], { env });
  t.is(layoutForced.exitCode, 1);
  t.is(theError(layoutForced.stderr), `krew-wasm: error: another kubectl plugin is named "ctx": ${krewBin}/kubectl-ctx (kubectl runs the first kubectl-ctx on PATH, and would hide one of the two) (choose another name with --name, e.g. --name ctx-wasm, or give this one yourself to install it anyway: --force --name ctx)`);
  const forced = await krewWasm(side, ['pull', '--force', '--name', 'ctx', `oci-layout://${layout}:v1`], { env });
  t.is(forced.exitCode, 0, forced.stderr);
  t.is((await kubectl(side, ['ctx'], { env })).stdout, 'hello from wasm\n', "krew-wasm's bin first on PATH, as pull advises");
  // An empty PATH entry is the current folder, to kubectl as to a shell (attack 88).
  const project = path.join(side.home, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'kubectl-proj'), '#!/bin/sh\necho the project one\n', { mode: 0o755 });
  const here = await krewWasm(side, ['pull', hello, '--name', 'proj'], { env: { PATH: `${side.env.PATH}${path.delimiter}` }, cwd: project });
  t.is(theError(here.stderr), `krew-wasm: error: another kubectl plugin is named "proj": kubectl-proj (kubectl runs the first kubectl-proj on PATH, and would hide one of the two) (choose another name with --name, e.g. --name proj-wasm, or pass --force to install it anyway)`);
});

test("a layout's title that names an installed plugin from elsewhere does not replace it with --force alone: its grants would go to the layout's code (attack 88)", async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  const hello = path.join(FIXTURES, 'hello.wasm');
  fs.mkdirSync(path.join(side.home, '.kube'), { recursive: true });
  const granted = await krewWasm(side, ['pull', hello, '--name', 'secrets', '--allow-dir', `${side.home}/.kube`]);
  t.is(granted.exitCode, 0, granted.stderr);
  const installed = fs.readFileSync(path.join(side.root, 'receipts/secrets.json'), 'utf8');
  const layout = path.join(side.home, 'layout');
  writeLayout(layout, 'v1', fs.readFileSync(path.join(FIXTURES, 'echo.wasm')), { manifest: { 'org.opencontainers.image.title': 'secrets' } });
  const before = storeSnapshot(side.root);
  const refused = await krewWasm(side, ['pull', '--force', `oci-layout://${layout}:v1`]);
  t.is(refused.exitCode, 1);
  t.is(theError(refused.stderr), `krew-wasm: error: the artifact names itself "secrets", and plugin "secrets" is installed from file://${hello}: --force replaces a plugin of that name only when you give the name (to replace it: krew-wasm pull --force --name secrets oci-layout://${layout}:v1; or install this one under another --name)`);
  t.deepEqual(storeSnapshot(side.root), before);
  t.is(fs.readFileSync(path.join(side.root, 'receipts/secrets.json'), 'utf8'), installed);
  // Following the hint: the name given, the plugin replaced, its grants kept.
  const replaced = await krewWasm(side, ['pull', '--force', '--name', 'secrets', `oci-layout://${layout}:v1`]);
  t.is(replaced.exitCode, 0, replaced.stderr);
  const receipt = JSON.parse(fs.readFileSync(path.join(side.root, 'receipts/secrets.json'), 'utf8'));
  t.is(receipt.source, `oci-layout://${layout}:v1`);
  t.deepEqual(receipt.grants.dirs, JSON.parse(installed).grants.dirs);
  // A reinstall from the same layout is what --force is for.
  t.is((await krewWasm(side, ['pull', '--force', `oci-layout://${layout}:v1`])).exitCode, 0);
});
