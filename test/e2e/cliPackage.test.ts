import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIXTURES, makeSandbox, ROOT, runProcess, type Outcome } from '../helpers/cli.js';

/**
 * The installable package, as a user gets it: `npm pack` in the source folder, then
 * `npm install -g` of the tarball into a fresh prefix, then krew-wasm from that prefix with a PATH
 * that holds only the prefix's bin folder, Node and kubectl: nothing of the source folder, no build.
 */
let work: string;
let tarball: string;
let prefix: string;

const npm = (args: string[], cwd: string): Promise<Outcome> =>
  runProcess('sh', [path.join(ROOT, 'scripts/npm.sh'), ...args], { cwd, env: { ...process.env, npm_config_update_notifier: 'false' }, timeoutMs: 600_000 });

test.before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-package-'));
  // --ignore-scripts: prepack (make build) already ran as part of make test; rebuilding dist/ here
  // would pull it from under the tests running beside this one.
  const pack = await npm(['pack', '--ignore-scripts', '--pack-destination', work], ROOT);
  if (pack.exitCode !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  tarball = path.join(work, pack.stdout.trim().split('\n').pop()!);
  prefix = path.join(work, 'prefix');
  // --prefer-offline: the tarballs come from npm's cache (npm ci filled it); only metadata npm has
  // never seen is asked of the registry.
  const install = await npm(['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], work);
  if (install.exitCode !== 0) throw new Error(`npm install -g failed: ${install.stderr}`);
});

test.after.always(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const installed = () => path.join(prefix, 'lib/node_modules/krew-wasm');

test('the tarball holds the built bundles, the bin entries and the WIT, and no sources, tests or maps', async (t) => {
  const list = await runProcess('tar', ['tzf', tarball]);
  const files = list.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  for (const f of ['bin/krew-wasm.js', 'bin/kubectl-krew_wasm.js', 'dist/bundle/main.js', 'dist/bundle/command-list.js', 'dist/bundle/command-ls.js', 'dist/bundle/httpWorker.js', 'dist/wrapper/wrapper.js', 'dist/wrapper/httpWorker.js', 'wit/outbound-http.wit', 'package.json', 'README.md', 'docs/errors.md']) {
    t.true(files.includes(f), f);
  }
  t.deepEqual(files.filter((f) => /^(src|test|scripts|examples|bench|node_modules|dist\/src|dist\/test)\//.test(f) || f.endsWith('.map') || f.endsWith('.ts') || f.endsWith('.cache')), []);
  t.regex(path.basename(tarball), /^krew-wasm-\d+\.\d+\.\d+\.tgz$/);
});

test('npm install -g puts krew-wasm and the kubectl links on the prefix PATH, with runtime dependencies only', (t) => {
  for (const bin of ['krew-wasm', 'kubectl-krew_wasm', 'kubectl_complete-krew_wasm']) t.true(fs.existsSync(path.join(prefix, 'bin', bin)), bin);
  const modules = path.join(installed(), 'node_modules');
  for (const pkg of ['@bytecodealliance/jco-transpile', 'oxc-minify', 'acorn', 'acorn-walk']) t.true(fs.existsSync(path.join(modules, pkg)), pkg);
  // jco itself (its CLI, componentize-js, wizer: hundreds of MB) is a development tool only.
  for (const dev of ['ava', 'esbuild', 'fast-check', '@types/node', '@bytecodealliance/jco', '@bytecodealliance/componentize-js']) t.false(fs.existsSync(path.join(modules, dev)), dev);
  t.true(fs.existsSync(path.join(installed(), 'dist/bundle/wasi-snapshot-preview1.adapter.wasm')));
  t.false(fs.existsSync(path.join(installed(), 'src')));
  t.false(fs.existsSync(path.join(installed(), 'tsconfig.json')));
});

test('the installed krew-wasm pulls and runs plugins, a preview1 module included, without jco', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  t.false(fs.existsSync(path.join(installed(), 'node_modules/@bytecodealliance/jco')));
  const kubectlDir = path.dirname(fs.realpathSync((await runProcess('sh', ['-c', 'command -v kubectl'])).stdout.trim()));
  const PATH = [path.join(sb.root, 'bin'), path.join(prefix, 'bin'), path.dirname(process.execPath), kubectlDir].join(path.delimiter);
  const env = { ...sb.env, PATH };
  const run = (file: string, args: string[]) => runProcess(file, args, { env, cwd: sb.home });
  t.is((await run('krew-wasm', ['pull', `file://${path.join(FIXTURES, 'hello.wasm')}`])).exitCode, 0);
  const probe = await run('krew-wasm', ['pull', path.join(FIXTURES, 'fsprobe.core.wasm'), '--name', 'probe']);
  t.is(probe.exitCode, 0, probe.stderr);
  t.is(fs.realpathSync(path.join(sb.root, 'bin/kubectl-hello')), fs.realpathSync(path.join(installed(), 'bin/krew-wasm.js')));
  t.is((await run('kubectl', ['hello'])).stdout, 'hello from wasm\n');
  fs.writeFileSync(path.join(sb.home, 'note.txt'), 'from home');
  t.is((await run('kubectl', ['probe', 'read', path.join(sb.home, 'note.txt')])).stdout, `read ${path.join(sb.home, 'note.txt')}: OK from home\n`);
  const list = await run('kubectl', ['krew-wasm', 'list', '-o', 'name']);
  t.is(list.exitCode, 0, list.stderr);
  t.is(list.stdout, 'hello\nprobe\n');
  t.regex((await run('krew-wasm', ['version'])).stdout, /^krew-wasm \d+\.\d+\.\d+ /);
});
