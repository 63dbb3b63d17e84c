import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES, makeSandbox, ROOT, runProcess, type Sandbox } from '../helpers/cli.js';

/**
 * bin/krew-wasm.js compiles the CLI bundle with a V8 code cache beside it, named by the bundle's
 * build (its last line), its mtime and V8's version. Each test works on its own copy of krew-wasm's built files, as an installation.
 */
function installCopy(t: { teardown(fn: () => void): void }): { sb: Sandbox; bin: string; bundle: string; cacheFiles(): string[]; cacheFile(): string } {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  const install = path.join(path.dirname(sb.home), 'install');
  for (const part of ['bin', 'package.json', 'dist/wrapper', 'dist/bundle']) fs.cpSync(path.join(ROOT, part), path.join(install, part), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(install, 'node_modules'));
  const dir = path.join(install, 'dist/bundle');
  for (const d of [dir, path.join(install, 'dist/wrapper')]) for (const f of fs.readdirSync(d)) if (f.endsWith('.cache')) fs.rmSync(path.join(d, f));
  const bundle = path.join(dir, 'main.js');
  return {
    sb,
    bin: path.join(install, 'bin/krew-wasm.js'),
    bundle,
    cacheFiles: () => fs.readdirSync(dir).filter((f) => f.endsWith('.cache')),
    cacheFile: () => {
      const build = /\/\/ krew-wasm build ([0-9a-f]{16})\n$/.exec(fs.readFileSync(bundle, 'utf8'))![1];
      return path.join(dir, `main.js.${build}-${Math.trunc(fs.statSync(bundle).mtimeMs)}-v8-${process.versions.v8}.cache`);
    },
  };
}

const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
/** How the (minified) bundle sets src/version.ts's VERSION. */
const versionStatement = (v: string) => `VERSION="${v}"`;

test('a first command writes the code cache; the next ones use it, jco imported from cached code included', async (t) => {
  const c = installCopy(t);
  const run = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  const first = await run(['version']);
  t.is(first.exitCode, 0, first.stderr);
  t.true(first.stdout.includes(version));
  t.deepEqual(c.cacheFiles(), [path.basename(c.cacheFile())]);
  const written = fs.statSync(c.cacheFile()).mtimeMs;
  // pull of a preview1 module: the transpiler's ES modules are imported by code restored from the cache.
  const pulled = await run(['pull', `file://${path.join(FIXTURES, 'chello.core.wasm')}`, '--name', 'chello']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const info = await run(['info', 'chello', '-o', 'json']);
  t.is(info.exitCode, 0, info.stderr);
  t.is(JSON.parse(info.stdout).name, 'chello');
  // Accepted, hence not written again.
  t.is(fs.statSync(c.cacheFile()).mtimeMs, written);
});

test('a damaged code cache is rejected and replaced, never run', async (t) => {
  const c = installCopy(t);
  const run = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  t.is((await run(['version'])).exitCode, 0);
  const size = fs.statSync(c.cacheFile()).size;
  const garbage = Buffer.alloc(size, 0x5a);
  fs.writeFileSync(c.cacheFile(), garbage);
  const again = await run(['version']);
  t.is(again.exitCode, 0, again.stderr);
  t.true(again.stdout.includes(version));
  t.false(fs.readFileSync(c.cacheFile()).equals(garbage));
});

test('a rebuilt bundle never meets the cache of the old one', async (t) => {
  const c = installCopy(t);
  const run = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  t.is((await run(['version'])).exitCode, 0);
  const old = c.cacheFile();
  // Same length, other text: V8 alone would take the old cache for it (it checks the source's length).
  const source = fs.readFileSync(c.bundle, 'utf8');
  t.true(source.includes(versionStatement(version)));
  fs.writeFileSync(c.bundle, source.replace(versionStatement(version), versionStatement(version.replace(/./g, '9'))));
  fs.utimesSync(c.bundle, new Date(), new Date(Date.now() + 5000));
  t.is(fs.statSync(c.bundle).size, Buffer.byteLength(source));
  t.not(c.cacheFile(), old);
  t.is((await run(['version'])).exitCode, 0);
  t.true(fs.existsSync(c.cacheFile()));
});

test('a run that changed V8 flags (a big plugin) writes the cache made before it did as partial; the next start takes it and writes the whole one', async (t) => {
  const c = installCopy(t);
  const run = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  const big = await run(['run', path.join(FIXTURES, 'jsecho.wasm'), '--', 'hi']);
  t.is(big.exitCode, 0, big.stderr);
  t.true(big.stdout.includes('"hi"'), big.stdout);
  const partial = c.cacheFile().replace(/-v8-/, '-partial-v8-');
  t.deepEqual(c.cacheFiles(), [path.basename(partial)]);
  // Made with V8's default flags, so the next start (defaults again) accepts it, and then writes
  // the whole cache (what the run compiled) in its place.
  const version1 = await run(['version']);
  t.is(version1.exitCode, 0, version1.stderr);
  t.deepEqual(c.cacheFiles(), [path.basename(c.cacheFile())]);
  t.true(fs.statSync(c.cacheFile()).size > 0);
  const written = fs.statSync(c.cacheFile()).mtimeMs;
  t.is((await run(['version'])).exitCode, 0);
  t.is(fs.statSync(c.cacheFile()).mtimeMs, written, 'the whole cache is accepted, not written again');
  // Another big run keeps the whole cache and writes no partial one.
  t.is((await run(['run', path.join(FIXTURES, 'jsecho.wasm'), '--', 'hi'])).exitCode, 0);
  t.deepEqual(c.cacheFiles(), [path.basename(c.cacheFile())]);
  t.is(fs.statSync(c.cacheFile()).mtimeMs, written);
});

test('the wrapper loads its kubeconfig loader with a code cache, one per set of V8 flags', async (t) => {
  const c = installCopy(t);
  const kube = path.join(c.sb.home, '.kube');
  fs.mkdirSync(kube, { recursive: true });
  fs.writeFileSync(path.join(kube, 'config'), 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\ncurrent-context: c\n');
  const wrapperDir = path.join(path.dirname(path.dirname(c.bundle)), 'wrapper');
  const loaderCaches = () => fs.readdirSync(wrapperDir).filter((f) => f.startsWith('kubeconfig.js.') && f.endsWith('.cache')).sort();
  const pull = (file: string, name: string) => runProcess(process.execPath, [c.bin, 'pull', `file://${path.join(FIXTURES, file)}`, '--name', name], { cwd: c.sb.home, env: c.sb.env });
  t.is((await pull('httpraw.wasm', 'small')).exitCode, 0);
  t.is((await pull('fetchprobe.wasm', 'big')).exitCode, 0);
  const run = (name: string) => runProcess(path.join(c.sb.root, 'bin', `kubectl-${name}`), ['none'], { cwd: c.sb.home, env: c.sb.env });
  t.deepEqual(loaderCaches(), []);
  await run('small');
  const small = loaderCaches();
  t.is(small.length, 1);
  t.regex(small[0], /^kubeconfig\.js\.[0-9a-f]{16}-\d+-v8-/, 'no flags set: no variant');
  await run('big');
  const both = loaderCaches();
  t.is(both.length, 2);
  const big = both.find((f) => f !== small[0])!;
  t.regex(big, /^kubeconfig\.js\.[0-9a-f]{16}-\d+-[0-9a-f]{8}-v8-/, 'the big plugin\'s flags name their own cache');
  const mtimes = () => both.map((f) => fs.statSync(path.join(wrapperDir, f)).mtimeMs);
  const before = mtimes();
  await run('small');
  await run('big');
  t.deepEqual(mtimes(), before, 'each run accepts its own cache');
});

test('plugin runs write and then use the wrapper bundle\'s cache', async (t) => {
  const c = installCopy(t);
  const pulled = await runProcess(process.execPath, [c.bin, 'pull', `file://${path.join(FIXTURES, 'hello.wasm')}`, '--name', 'hello'], { cwd: c.sb.home, env: c.sb.env });
  t.is(pulled.exitCode, 0, pulled.stderr);
  const wrapperDir = path.join(path.dirname(path.dirname(c.bundle)), 'wrapper');
  const caches = () => fs.readdirSync(wrapperDir).filter((f) => f.endsWith('.cache'));
  t.deepEqual(caches(), []);
  const link = path.join(c.sb.root, 'bin', 'kubectl-hello');
  const first = await runProcess(link, [], { cwd: c.sb.home, env: c.sb.env });
  t.is(first.exitCode, 0, first.stderr);
  t.is(first.stdout, 'hello from wasm\n');
  t.is(caches().length, 1);
  const cache = path.join(wrapperDir, caches()[0]);
  const written = fs.statSync(cache).mtimeMs;
  const second = await runProcess(link, [], { cwd: c.sb.home, env: c.sb.env });
  t.is(second.stdout, 'hello from wasm\n');
  t.is(fs.statSync(cache).mtimeMs, written);
});

test('a big plugin run first leaves the wrapper a partial cache, which the next small one replaces with the whole', async (t) => {
  const c = installCopy(t);
  const pull = (file: string, name: string) => runProcess(process.execPath, [c.bin, 'pull', `file://${path.join(FIXTURES, file)}`, '--name', name], { cwd: c.sb.home, env: c.sb.env });
  t.is((await pull('jsecho.wasm', 'jsecho')).exitCode, 0);
  t.is((await pull('hello.wasm', 'hello')).exitCode, 0);
  const wrapperDir = path.join(path.dirname(path.dirname(c.bundle)), 'wrapper');
  const caches = () => fs.readdirSync(wrapperDir).filter((f) => f.startsWith('wrapper.js.') && f.endsWith('.cache'));
  const run = (name: string) => runProcess(path.join(c.sb.root, 'bin', `kubectl-${name}`), [], { cwd: c.sb.home, env: c.sb.env });
  t.is((await run('jsecho')).exitCode, 0);
  t.is(caches().length, 1);
  t.regex(caches()[0], /-partial-v8-/);
  const partialSize = fs.statSync(path.join(wrapperDir, caches()[0])).size;
  const hello = await run('hello');
  t.is(hello.stdout, 'hello from wasm\n');
  t.is(caches().length, 1);
  t.notRegex(caches()[0], /-partial-/);
  t.true(fs.statSync(path.join(wrapperDir, caches()[0])).size > partialSize, 'the whole cache holds what the run compiled');
});

test("an upgrade to a bundle of the same size and mtime (npm gives every file one mtime) never runs the old one's cache", async (t) => {
  const c = installCopy(t);
  const run = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  t.is((await run(['version'])).exitCode, 0);
  const old = c.cacheFile();
  const { mtime } = fs.statSync(c.bundle);
  // The next release, as scripts/bundle.mjs would build it: other code of the same length, another build line.
  const source = fs.readFileSync(c.bundle, 'utf8');
  const next = version.replace(/\d$/, (d) => String((Number(d) + 1) % 10));
  t.true(source.includes(versionStatement(version)));
  const upgraded = source.replace(versionStatement(version), versionStatement(next)).replace(/build [0-9a-f]{16}\n$/, 'build 0123456789abcdef\n');
  t.is(upgraded.length, source.length);
  fs.writeFileSync(c.bundle, upgraded);
  fs.utimesSync(c.bundle, mtime, mtime);
  t.not(c.cacheFile(), old);
  const after = await run(['version']);
  t.is(after.exitCode, 0, after.stderr);
  t.true(after.stdout.includes(next), after.stdout);
  // The old build's cache is removed once the new one's is written.
  t.deepEqual(c.cacheFiles(), [path.basename(c.cacheFile())]);
});

test('a cache that is a FIFO is not read (nothing to block on), and the command runs', async (t) => {
  const c = installCopy(t);
  const made = await runProcess('mkfifo', [c.cacheFile()]);
  t.is(made.exitCode, 0, made.stderr);
  const r = await runProcess(process.execPath, [c.bin, 'version'], { cwd: c.sb.home, env: c.sb.env, timeoutMs: 20_000 });
  t.is(r.exitCode, 0, r.stderr);
  t.true(r.stdout.includes(version));
});
