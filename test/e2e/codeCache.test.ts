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

test('a run that changed V8 flags (a big plugin) writes the cache made before it did, which the next start takes', async (t) => {
  const c = installCopy(t);
  const run = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  const big = await run(['run', path.join(FIXTURES, 'jsecho.wasm'), '--', 'hi']);
  t.is(big.exitCode, 0, big.stderr);
  t.true(big.stdout.includes('"hi"'), big.stdout);
  t.deepEqual(c.cacheFiles(), [path.basename(c.cacheFile())]);
  const written = fs.statSync(c.cacheFile()).mtimeMs;
  // Made with V8's default flags, so the next start (defaults again) accepts it: not written again.
  t.is((await run(['version'])).exitCode, 0);
  t.is(fs.statSync(c.cacheFile()).mtimeMs, written);
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
