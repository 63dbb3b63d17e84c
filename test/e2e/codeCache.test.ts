import test from 'ava';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import { FIXTURES, makeSandbox, ROOT, runProcess, type Sandbox } from '../helpers/cli.js';
import { startKubeWorld } from '../../testkit/kubeWorld.js';

/**
 * bin/krew-wasm.js compiles the CLI bundle with a V8 code cache beside it, named by the bundle's
 * build (its last line), its mtime, the command it serves and V8's version. Each test works on its own copy of krew-wasm's built files, as an installation.
 */
function installCopy(t: { teardown(fn: () => void): void }): { sb: Sandbox; bin: string; bundle: string; cacheFiles(): string[]; cacheFile(command?: string): string } {
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
    cacheFile: (command = 'version') => {
      // The bundle the bin loads for the command: its own (`list`, scripts/bundle.mjs), or main.js.
      const own = path.join(dir, `command-${command}.js`);
      const file = fs.existsSync(own) ? own : bundle;
      const build = /\/\/ krew-wasm build ([0-9a-f]{16})\n$/.exec(fs.readFileSync(file, 'utf8'))![1];
      return path.join(dir, `${path.basename(file)}.${build}-${Math.trunc(fs.statSync(file).mtimeMs)}-for-${command}-v8-${process.versions.v8}.cache`);
    },
  };
}

/** The wrapper code cache an installation copy keeps for a plugin. */
function cacheFileFor(c: { bundle: string }, name: string): string {
  const wrapperDir = path.join(path.dirname(path.dirname(c.bundle)), 'wrapper');
  return path.join(wrapperDir, fs.readdirSync(wrapperDir).find((f) => f.startsWith('wrapper.js.') && f.includes(`-for-${name}-v8-`))!);
}

const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
/** How the (minified) bundle sets src/version.ts's VERSION. */
const versionStatement = (v: string) => `VERSION="${v}"`;

/** The code paths a cache file says it was made from (its first line), sorted. */
function cachePaths(file: string): string[] {
  const header = /^krew-wasm code cache: ([\w,-]*) *\n/.exec(fs.readFileSync(file, 'latin1').slice(0, 4096));
  if (!header) throw new Error(`${file} has no header line`);
  return header[1] ? header[1].split(',').sort() : [];
}

test('each command writes a code cache of its own at its first run, and its next runs use it, jco imported from cached code included', async (t) => {
  const c = installCopy(t);
  const run = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  const first = await run(['version']);
  t.is(first.exitCode, 0, first.stderr);
  t.true(first.stdout.includes(version));
  t.deepEqual(c.cacheFiles(), [path.basename(c.cacheFile())]);
  t.deepEqual(cachePaths(c.cacheFile()), ['version']);
  // pull of a preview1 module: the transpiler's ES modules are imported by code restored from the cache.
  const pulled = await run(['pull', `file://${path.join(FIXTURES, 'chello.core.wasm')}`, '--name', 'chello']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  t.is((await run(['info', 'chello', '-o', 'json'])).exitCode, 0);
  t.deepEqual(c.cacheFiles().sort(), ['info', 'pull', 'version'].map((command) => path.basename(c.cacheFile(command))).sort());
  t.deepEqual(cachePaths(c.cacheFile('pull')), ['pull']);
  const written = c.cacheFiles().map((f) => fs.statSync(path.join(path.dirname(c.bundle), f)).mtimeMs);
  const info = await run(['info', 'chello', '-o', 'json']);
  t.is(info.exitCode, 0, info.stderr);
  t.is(JSON.parse(info.stdout).name, 'chello');
  t.is((await run(['version'])).exitCode, 0);
  // Accepted, hence not written again.
  t.deepEqual(c.cacheFiles().map((f) => fs.statSync(path.join(path.dirname(c.bundle), f)).mtimeMs), written);
  // A word that is no command runs nothing and leaves no cache named for it.
  const typo = await run(['lsit']);
  t.is(typo.exitCode, 2, typo.stderr);
  t.is(c.cacheFiles().length, 3);
});

test('a first list of an empty store leaves list a cache that the first list of plugins makes again, with the code that reads receipts', async (t) => {
  const c = installCopy(t);
  const run = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  t.is((await run(['list'])).stdout, '');
  t.deepEqual(cachePaths(c.cacheFile('list')), ['list', 'output-name']);
  t.is((await run(['pull', `file://${path.join(FIXTURES, 'hello.wasm')}`, '--name', 'hello'])).exitCode, 0);
  t.is((await run(['list'])).stdout, 'hello\n');
  t.deepEqual(cachePaths(c.cacheFile('list')), ['list', 'output-name', 'receipts']);
  const written = fs.statSync(c.cacheFile('list')).mtimeMs;
  t.is((await run(['list'])).stdout, 'hello\n');
  t.is(fs.statSync(c.cacheFile('list')).mtimeMs, written);
});

test('list and ls run from a bundle of their own, without the other commands, and answer as the whole CLI does', async (t) => {
  const c = installCopy(t);
  const dir = path.dirname(c.bundle);
  const run = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  t.is((await run(['pull', `file://${path.join(FIXTURES, 'hello.wasm')}`, '--name', 'hello'])).exitCode, 0);
  const own = fs.readFileSync(path.join(dir, 'command-list.js'), 'utf8');
  t.true(own.length < fs.statSync(c.bundle).size / 2, 'a fraction of main.js');
  t.true(own.includes('./commands/pull.js is left out of the list bundle'));
  const cases = [['list'], ['ls'], ['list', '-o', 'json'], ['ls', '-o', 'yaml'], ['list', '--help'], ['list', '--bogus'], ['ls', 'extra'], ['list', '-o', 'xml']];
  const answers = [];
  for (const args of cases) answers.push(await run(args));
  for (const word of ['list', 'ls']) t.true(fs.existsSync(c.cacheFile(word)), `${word} ran from command-${word}.js`);
  t.regex(answers[0].stdout, /^hello\n$/);
  // The same words with the command bundles gone: main.js answers.
  for (const f of fs.readdirSync(dir)) if (f.startsWith('command-')) fs.rmSync(path.join(dir, f));
  for (const [i, args] of cases.entries()) {
    const whole = await run(args);
    t.deepEqual([answers[i].exitCode, answers[i].stdout, answers[i].stderr], [whole.exitCode, whole.stdout, whole.stderr], args.join(' '));
  }
  t.deepEqual(c.cacheFiles().filter((f) => f.startsWith('main.js.')).map((f) => /-for-(\w+)-v8-/.exec(f)?.[1]).sort(), ['list', 'ls', 'pull']);
});

test('a command refused for its usage writes no cache; kubectl\'s completion keeps one whatever is typed', async (t) => {
  const c = installCopy(t);
  const run = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  // A first pull with no reference: the pull command never ran, and its cache would lack its code for good.
  const refused = await run(['pull']);
  t.is(refused.exitCode, 2, refused.stderr);
  t.deepEqual(c.cacheFiles(), []);
  t.is((await run(['pull', `file://${path.join(FIXTURES, 'hello.wasm')}`, '--name', 'hello'])).exitCode, 0);
  t.deepEqual(c.cacheFiles(), [path.basename(c.cacheFile('pull'))]);
  t.deepEqual(cachePaths(c.cacheFile('pull')), ['pull']);
  // kubectl runs kubectl_complete-krew_wasm with the words being typed: one cache, not one per word.
  const link = path.join(path.dirname(c.sb.home), 'kubectl_complete-krew_wasm');
  fs.symlinkSync(c.bin, link);
  for (const word of ['p', 'pu', 'pul', 'lsit']) t.is((await runProcess(link, [word], { cwd: c.sb.home, env: c.sb.env })).exitCode, 0);
  t.deepEqual(c.cacheFiles().sort(), [path.basename(c.cacheFile('__complete')), path.basename(c.cacheFile('pull'))].sort());
  t.deepEqual(cachePaths(c.cacheFile('__complete')), ['complete']);
});

test('a temporary cache file left by a run that ended while writing it is removed by the next write', async (t) => {
  const c = installCopy(t);
  const ended = await runProcess(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const leftover = `${c.cacheFile('list')}.${ended.stdout}.tmp`;
  const writing = `${c.cacheFile('list')}.${process.pid}.tmp`;
  fs.writeFileSync(leftover, '');
  fs.writeFileSync(writing, '');
  t.is((await runProcess(process.execPath, [c.bin, 'list'], { cwd: c.sb.home, env: c.sb.env })).exitCode, 0);
  t.false(fs.existsSync(leftover));
  t.true(fs.existsSync(writing), 'a live process\'s file is its own');
  t.true(fs.existsSync(c.cacheFile('list')));
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

test('a bundle whose time was set (through a hard link of it, by a plugin) leaves one cache per command, not one per time', async (t) => {
  const c = installCopy(t);
  const run = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  t.is((await run(['version'])).exitCode, 0);
  t.is((await run(['pull', `file://${path.join(FIXTURES, 'hello.wasm')}`, '--name', 'hello'])).exitCode, 0);
  t.is(c.cacheFiles().filter((f) => f.startsWith('main.js.')).length, 2);
  for (const seconds of [1_000_000_000, 1_000_000_001, 1_000_000_002]) {
    fs.utimesSync(c.bundle, seconds, seconds);
    const again = await run(['version']);
    t.is(again.exitCode, 0, again.stderr);
    t.true(again.stdout.includes(version));
  }
  // The cache of the bundle's present time, and none of its earlier ones (pull's included: its next run makes it again).
  t.deepEqual(c.cacheFiles().filter((f) => f.startsWith('main.js.')), [path.basename(c.cacheFile())]);
  t.regex(c.cacheFile(), /-1000000002000-for-version-v8-/);
});

test('a run that changed V8 flags (a big plugin) writes the whole cache, under V8\'s defaults put back, and its next runs take it', async (t) => {
  const c = installCopy(t);
  const run = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  const big = await run(['run', path.join(FIXTURES, 'jsecho.wasm'), '--', 'hi']);
  t.is(big.exitCode, 0, big.stderr);
  t.true(big.stdout.includes('"hi"'), big.stdout);
  t.deepEqual(c.cacheFiles(), [path.basename(c.cacheFile('run'))]);
  t.deepEqual(cachePaths(c.cacheFile('run')), ['component', 'filesystem-home', 'run']);
  const written = fs.statSync(c.cacheFile('run')).mtimeMs;
  // The next big run starts with V8's defaults again, and accepts it.
  t.is((await run(['run', path.join(FIXTURES, 'jsecho.wasm'), '--', 'hi'])).exitCode, 0);
  t.deepEqual(c.cacheFiles(), [path.basename(c.cacheFile('run'))]);
  t.is(fs.statSync(c.cacheFile('run')).mtimeMs, written);
});

test('a run with V8 flags krew-wasm cannot put back (KREW_WASM_V8_FLAGS) writes no cache V8 would refuse, and runs', async (t) => {
  const c = installCopy(t);
  const env = { ...c.sb.env, KREW_WASM_V8_FLAGS: '--liftoff-only --stack-size=900' };
  const r = await runProcess(process.execPath, [c.bin, 'run', path.join(FIXTURES, 'hello.wasm')], { cwd: c.sb.home, env });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'hello from wasm\n');
  t.deepEqual(c.cacheFiles(), []);
  // Known flags only: put back, and the cache written.
  const known = await runProcess(process.execPath, [c.bin, 'run', path.join(FIXTURES, 'hello.wasm')], { cwd: c.sb.home, env: { ...c.sb.env, KREW_WASM_V8_FLAGS: '--liftoff-only --wasm-lazy-validation' } });
  t.is(known.exitCode, 0, known.stderr);
  t.deepEqual(c.cacheFiles(), [path.basename(c.cacheFile('run'))]);
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

test('each plugin keeps a wrapper cache of its own; a run that takes a new code path makes it again with both', async (t) => {
  const c = installCopy(t);
  const krew = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  for (const [file, name] of [['hello.wasm', 'hello'], ['chello.core.wasm', 'chello']]) t.is((await krew(['pull', `file://${path.join(FIXTURES, file)}`, '--name', name])).exitCode, 0);
  const wrapperDir = path.join(path.dirname(path.dirname(c.bundle)), 'wrapper');
  const caches = () => fs.readdirSync(wrapperDir).filter((f) => f.startsWith('wrapper.js.') && f.endsWith('.cache')).sort();
  const cacheOf = (name: string) => cacheFileFor(c, name);
  const mtimes = () => caches().map((f) => fs.statSync(path.join(wrapperDir, f)).mtimeMs);
  const run = (name: string) => runProcess(path.join(c.sb.root, 'bin', `kubectl-${name}`), [], { cwd: c.sb.home, env: c.sb.env });
  t.deepEqual(caches(), []);
  const first = await run('hello');
  t.is(first.exitCode, 0, first.stderr);
  t.is(first.stdout, 'hello from wasm\n');
  t.deepEqual(cachePaths(cacheOf('hello')), ['component']);
  t.is((await run('chello')).stdout, 'hello from C\n');
  t.is(caches().length, 2);
  t.deepEqual(cachePaths(cacheOf('chello')), ['filesystem-home', 'preview1']);
  // Each run accepts its own cache.
  const before = mtimes();
  t.is((await run('hello')).stdout, 'hello from wasm\n');
  t.is((await run('chello')).stdout, 'hello from C\n');
  t.deepEqual(mtimes(), before);
  // A grant that takes the plugin down another path of the host: its cache is made again, once.
  t.is((await krew(['grant', 'chello', '--fs', 'none'])).exitCode, 0);
  t.is((await run('chello')).stdout, 'hello from C\n');
  t.deepEqual(cachePaths(cacheOf('chello')), ['filesystem-home', 'filesystem-none', 'preview1']);
  const remade = mtimes();
  t.not(remade[0], before[0]);
  t.is((await run('chello')).stdout, 'hello from C\n');
  t.deepEqual(mtimes(), remade);
});

test('a network plugin starts its HTTP worker early unless its runs made no request; its first request then starts it, and its next runs start it early', async (t) => {
  const c = installCopy(t);
  const world = await startKubeWorld(c.sb.home);
  t.teardown(() => world.stop());
  const krew = (args: string[]) => runProcess(process.execPath, [c.bin, ...args], { cwd: c.sb.home, env: c.sb.env });
  for (const [file, name] of [['fetchprobe.wasm', 'fetch'], ['httpprobe.wasm', 'probe']]) t.is((await krew(['pull', `file://${path.join(FIXTURES, file)}`, '--name', name])).exitCode, 0);
  const cacheOf = (name: string) => cacheFileFor(c, name);
  /** The run's outcome and what KREW_WASM_TRACE says of its HTTP worker, before the sandbox is ready. */
  const run = async (name: string, args: string[]) => {
    const r = await runProcess(path.join(c.sb.root, 'bin', `kubectl-${name}`), args, { cwd: c.sb.home, env: { ...c.sb.env, KREW_WASM_TRACE: '1' } });
    const phases = [...r.stderr.matchAll(/^krew-wasm trace: [\d.]+ ms (.+) \(cpu /gm)].map((m) => m[1]);
    const worker = phases.filter((p) => p.startsWith('http worker'));
    t.is(worker.length, 1, r.stderr);
    // Before the plugin's modules are read and compiled: a big plugin keeps the main thread busy as long as the worker boots.
    const compiling = phases.findIndex((p) => p.startsWith('compiling'));
    t.true(compiling > phases.indexOf(worker[0]!) && compiling < phases.indexOf('sandbox ready'), r.stderr);
    return { ...r, worker: worker[0] };
  };
  // No cache says yet: started early, as a plugin's first request would wait for it.
  const first = await run('fetch', ['none']);
  t.is(first.exitCode, 2, first.stderr);
  t.is(first.worker, 'http worker starting');
  t.false(cachePaths(cacheOf('fetch')).includes('http-worker'));
  const quiet = await run('fetch', ['none']);
  t.is(quiet.exitCode, 2, quiet.stderr);
  t.is(quiet.worker, 'http worker at the first request');
  // Its first request starts it, streamed (wasi:http) and over TLS with the kubeconfig's credentials.
  const request = await run('fetch', ['get', '/api/v1/namespaces/default/pods']);
  t.is(request.exitCode, 0, request.stderr);
  t.is(request.worker, 'http worker at the first request');
  t.is(request.stdout.split('\n')[0], 'status 200');
  t.is(JSON.parse(request.stdout.split('\n')[1]!).kind, 'PodList');
  t.true(cachePaths(cacheOf('fetch')).includes('http-worker'));
  const after = await run('fetch', ['none']);
  t.is(after.exitCode, 2, after.stderr);
  t.is(after.worker, 'http worker starting');
  // The original ABI (one blocking call), with an exec credential plugin run in the worker at the first request.
  t.is((await run('probe', [])).worker, 'http worker starting');
  t.is((await run('probe', [])).worker, 'http worker at the first request');
  const exec = await run('probe', ['get', '/api/v1/echo', '--context', 'exec']);
  t.is(exec.exitCode, 0, exec.stderr);
  t.is(exec.worker, 'http worker at the first request');
  t.regex(exec.stdout, /^get \/api\/v1\/echo -> 200 .*"user":"exec-user"/);
  t.is((await run('probe', [])).worker, 'http worker starting');
});

test("the HTTP worker loads none of the user's Node preloads, started early or at the first request: a plugin may have rewritten them by then", async (t) => {
  const c = installCopy(t);
  const world = await startKubeWorld(c.sb.home);
  t.teardown(() => world.stop());
  t.is((await runProcess(process.execPath, [c.bin, 'pull', `file://${path.join(FIXTURES, 'httpprobe.wasm')}`, '--name', 'probe'], { cwd: c.sb.home, env: c.sb.env })).exitCode, 0);
  // A preload in HOME, which the plugin can write (--fs home): each thread that loads it says so.
  const log = path.join(c.sb.home, 'preload.log');
  const preload = path.join(c.sb.home, 'preload.cjs');
  const says = (what: string) => `require('fs').appendFileSync(${JSON.stringify(log)}, (${what}) + '\\n');`;
  const original = says("require('worker_threads').isMainThread ? 'main' : 'worker'");
  fs.writeFileSync(preload, original);
  const run = async (args: string[]) => {
    const r = await runProcess(path.join(c.sb.root, 'bin', 'kubectl-probe'), args, { cwd: c.sb.home, env: { ...c.sb.env, NODE_OPTIONS: `--require ${preload}`, KREW_WASM_TRACE: '1' } });
    t.is(r.exitCode, 0, r.stderr);
    return { ...r, worker: /ms (http worker [^(]+?) \(/.exec(r.stderr)?.[1] };
  };
  const early = await run(['get', '/api/v1/echo']);
  t.is(early.worker, 'http worker starting');
  t.regex(early.stdout, /^get \/api\/v1\/echo -> 200 /);
  t.is(fs.readFileSync(log, 'utf8'), 'main\n');
  // A run without a request, then one that rewrites the preload before its first request starts the worker.
  fs.rmSync(cacheFileFor(c, 'probe'));
  t.is((await run([])).worker, 'http worker starting');
  const late = await run(['write', preload, says("'plugin code'"), 'get', '/api/v1/echo']);
  t.is(late.worker, 'http worker at the first request');
  t.is(late.stdout.split('\n')[0], `write ${preload}: OK`);
  t.regex(late.stdout.split('\n')[1]!, /^get \/api\/v1\/echo -> 200 /);
  t.is(fs.readFileSync(log, 'utf8'), 'main\nmain\nmain\n', 'loaded by the main thread at start, before any guest code, and by no worker');
});

test('a big plugin keeps a whole wrapper cache of its own, made under V8\'s defaults put back at exit, and its next runs take it', async (t) => {
  const c = installCopy(t);
  t.is((await runProcess(process.execPath, [c.bin, 'pull', `file://${path.join(FIXTURES, 'jsecho.wasm')}`, '--name', 'jsecho'], { cwd: c.sb.home, env: c.sb.env })).exitCode, 0);
  const wrapperDir = path.join(path.dirname(path.dirname(c.bundle)), 'wrapper');
  const caches = () => fs.readdirSync(wrapperDir).filter((f) => f.startsWith('wrapper.js.') && f.endsWith('.cache'));
  const run = () => runProcess(path.join(c.sb.root, 'bin', 'kubectl-jsecho'), ['hi'], { cwd: c.sb.home, env: c.sb.env });
  const first = await run();
  t.is(first.exitCode, 0, first.stderr);
  t.is(caches().length, 1);
  t.regex(caches()[0], /-for-jsecho-v8-/);
  const cache = path.join(wrapperDir, caches()[0]);
  t.deepEqual(cachePaths(cache), ['component', 'filesystem-home']);
  // Made at exit, it holds what the run compiled: more than loading the bundle compiles.
  const bundle = path.join(wrapperDir, 'wrapper.js');
  // The bundle is the module's function (scripts/bundle.mjs), loaded as bin/krew-wasm.js loads it.
  const script = new vm.Script(fs.readFileSync(bundle, 'utf8'), { filename: bundle });
  const mod = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void)(mod.exports, createRequire(bundle), mod, bundle, wrapperDir);
  t.true(fs.statSync(cache).size > script.createCachedData().length + 32 * 1024, 'more than the cache made at load');
  const written = fs.statSync(cache).mtimeMs;
  const second = await run();
  t.is(second.exitCode, 0, second.stderr);
  t.true(second.stdout.includes('"hi"'), second.stdout);
  t.is(fs.statSync(cache).mtimeMs, written, 'accepted, not written again');
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
