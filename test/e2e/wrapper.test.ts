import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, ended, FIXTURES, krewWasm, makeSandbox, runLink, runProcess, theError, type Sandbox } from '../helpers/cli.js';
import { writeLayout } from '../../testkit/artifacts.js';

let sb: Sandbox;
let layoutDir: string;

test.before(async () => {
  sb = makeSandbox();
  layoutDir = path.join(sb.home, 'layout');
  writeLayout(layoutDir, 'v1', fs.readFileSync(path.join(FIXTURES, 'exitcode.wasm')));
  writeLayout(layoutDir, 'echo', fs.readFileSync(path.join(FIXTURES, 'echo.wasm')));
  const pulls = [
    ['pull', `oci-layout://${layoutDir}:v1`, '--name', 'exitcode'],
    ['pull', `oci-layout://${layoutDir}:echo`, '--name', 'echo'],
    ['pull', `file://${path.join(FIXTURES, 'jsecho.wasm')}`],
    ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe'],
  ];
  for (const args of pulls) {
    const r = await krewWasm(sb, args);
    if (r.exitCode !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  }
});

test.after.always(() => sb?.cleanup());

const endings: { args: string[]; code: number; stdout: string; stderr?: RegExp }[] = [
  { args: [], code: 0, stdout: 'ran\n' },
  { args: ['err'], code: 1, stdout: '' },
  { args: ['exit-ok'], code: 0, stdout: '' },
  { args: ['exit-err'], code: 1, stdout: '' },
  { args: ['0'], code: 0, stdout: 'exiting\n' },
  { args: ['7'], code: 7, stdout: 'exiting\n' },
  { args: ['255'], code: 255, stdout: 'exiting\n' },
  { args: ['stderr'], code: 0, stdout: '', stderr: /^to stderr\n$/ },
  { args: ['trap'], code: 1, stdout: '', stderr: /^krew-wasm: error: plugin exitcode trapped: wasm trap: wasm `unreachable` instruction executed\n$/ },
];

for (const e of endings) {
  test(`exit code propagates: exitcode ${e.args.join(' ') || '(no args)'} -> ${e.code}`, async (t) => {
    const r = await runLink(sb, 'exitcode', e.args);
    t.is(r.exitCode, e.code);
    t.is(r.stdout, e.stdout);
    if (e.stderr) t.regex(r.stderr, e.stderr);
    else t.is(r.stderr, '');
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('every line reaches a pipe whose reader is slower than the plugin', async (t) => {
  const args = Array.from({ length: 20000 }, (_, i) => `line-${i}`);
  const child = spawn(path.join(sb.root, 'bin/kubectl-echo'), args, { env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  // Nothing is read for half a second, then a chunk at a time with pauses: ~190 KB of output cannot
  // fit the pipe (64 KiB) and Node's read buffer, so the plugin has to wait for this reader.
  await sleep(500);
  const chunks: Buffer[] = [];
  for await (const chunk of child.stdout) {
    chunks.push(chunk as Buffer);
    await sleep(10);
  }
  t.is(await exited, 0);
  t.true(chunks.length > 2, `${chunks.length} reads`);
  const lines = Buffer.concat(chunks).toString().split('--\n')[0].split('\n');
  t.is(lines[0], 'kubectl-echo');
  t.is(lines.length, 20002);
  t.is(lines[20000], 'line-19999');
});

test('endless output to a closed pipe ends quietly, like yes | head', async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  t.is((await krewWasm(side, ['pull', `file://${path.join(FIXTURES, 'spew.wasm')}`])).exitCode, 0);
  const link = path.join(side.root, 'bin/kubectl-spew');
  const r = await runProcess('sh', ['-c', `"${link}" 0 | head -c 1000 | wc -c; echo "status=\${PIPESTATUS:-}"`], { env: side.env, timeoutMs: 20_000 });
  t.is(r.stdout.split('\n')[0].trim(), '1000');
  t.is(r.stderr, '');
  const direct = await runProcess('bash', ['-c', `"${link}" 0 | head -c 10 > /dev/null; echo "\${PIPESTATUS[0]}"`], { env: side.env, timeoutMs: 20_000 });
  t.is(direct.stdout.trim(), '141');
});

/**
 * Starts a plugin, waits until it is busy (it said `ready` on stdout, or made the file `ready`
 * names, or 1.5 s passed), sends SIGINT, and returns how it ended.
 */
async function interrupt(link: string, args: string[], env: NodeJS.ProcessEnv, ready?: string | { file: string }) {
  // stdin is a pipe nobody writes to: a plugin reading it waits forever.
  const child = spawn(link, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = ended(child).then(({ code, signal }) => [code, signal] as const);
  if (typeof ready === 'string') await new Promise<void>((resolve) => child.stdout.on('data', (d) => (stdout += d).includes(ready) && resolve()));
  else child.stdout.resume();
  // A fixed wait was too short on a loaded machine: the signal came before the plugin's code ran.
  if (typeof ready === 'object') while (!fs.existsSync(ready.file) && child.exitCode === null) await sleep(20);
  await sleep(ready ? 200 : 1500);
  const runningBefore = child.exitCode === null;
  child.kill('SIGINT');
  const [code, signal] = await exited;
  child.stdin.destroy();
  return { code, signal, stderr, runningBefore };
}

// Exit 130 with no signal means krew-wasm itself caught SIGINT, stopped the guest and exited: a
// krew-wasm that ignored SIGINT would still be running (and be killed by the test), one that left
// it to Node's default action would die by the signal.
test('Ctrl-C (SIGINT) ends a plugin that spins forever, through krew-wasm (exit 130, as a shell reports it)', async (t) => {
  const r = await interrupt(path.join(sb.root, 'bin/kubectl-exitcode'), ['spin'], sb.env, 'spinning');
  t.true(r.runningBefore, 'still spinning before the signal');
  t.deepEqual([r.code, r.signal, r.stderr], [130, null, '']);
});

test('Ctrl-C (SIGINT) ends a plugin blocked reading stdin that never comes', async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  const pulled = await krewWasm(side, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const started = path.join(side.home, 'started');
  const r = await interrupt(path.join(side.root, 'bin/kubectl-fsprobe'), ['write', started, 'x', 'stdin'], side.env, { file: started });
  t.true(r.runningBefore, 'still waiting for input before the signal');
  t.deepEqual([r.code, r.signal, r.stderr], [130, null, '']);
});

test('Ctrl-C while a plugin is being instantiated (a second of table allocation, no start function) ends the run (exit 130)', async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  const pulled = await krewWasm(side, ['pull', `file://${path.join(FIXTURES, 'slowinstance.wasm')}`, '--name', 'slow']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  // KREW_WASM_TRACE says when instantiation starts; the signal comes during its second.
  const child = spawn(path.join(side.root, 'bin/kubectl-slow'), [], { env: { ...side.env, KREW_WASM_TRACE: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  let stderr = '';
  await new Promise<void>((resolve) => child.stderr.on('data', (d) => (stderr += d).includes('imports ready') && resolve()));
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.false(stderr.includes('instantiated'), 'still instantiating when the signal comes');
  child.kill('SIGINT');
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000); // a lost Ctrl-C: it would spin forever
  const [code, signal] = await exited;
  clearTimeout(killer);
  // 130 from krew-wasm while plugin code (instantiation included) runs; the signal's own end when it
  // came a moment before (a shell reports both as 130). Never a lost Ctrl-C and a killed process.
  t.true((code === 130 && signal === null) || (code === null && signal === 'SIGINT'), `${code} ${signal}: ${stderr}`);
});

test('a JS plugin (jco componentize) gets its args and env and maps exit(err) to 1', async (t) => {
  const r = await runLink(sb, 'jsecho', ['get', '--exit=1'], { env: { JSECHO_VAR: 'from-env' } });
  t.is(r.exitCode, 1);
  t.is(r.stdout, 'args: ["kubectl-jsecho","get","--exit=1"]\nJSECHO_VAR=from-env\n');
  const ok = await runLink(sb, 'jsecho', []);
  t.is(ok.exitCode, 0);
});

test("JCO_DEBUG turns on jco's own tracing of the glue for plugin authors; without it the glue prints nothing", async (t) => {
  const quiet = await runLink(sb, 'echo', ['a']);
  t.is(quiet.exitCode, 0, quiet.stderr);
  t.false(quiet.stdout.includes('[createNewCurrentTask()]'), quiet.stdout);
  const traced = await runLink(sb, 'echo', ['a'], { env: { JCO_DEBUG: '1' } });
  t.is(traced.exitCode, 0, traced.stderr);
  t.true(traced.stdout.includes('[createNewCurrentTask()] args'), traced.stdout.slice(0, 200));
  t.true(traced.stdout.includes(quiet.stdout.split('\n')[0]));
});

test('a component built against WASI 0.2.0 runs like one built against 0.2.12', async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  const pulled = await krewWasm(side, ['pull', `file://${path.join(FIXTURES, 'echo-wasi-0.2.0.wasm')}`, '--name', 'old-echo']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const info = await krewWasm(side, ['info', 'old-echo', '--wit']);
  t.regex(info.stdout, /import wasi:cli\/environment@0\.2\.0;/);
  const r = await runLink(side, 'old-echo', ['x y']);
  t.is(r.exitCode, 0, r.stderr);
  t.true(r.stdout.startsWith('kubectl-old_echo\nx y\n--\n'));
});

test('plugins that make no requests run without any kubeconfig', async (t) => {
  t.false(fs.existsSync(path.join(sb.home, '.kube')));
  const r = await runLink(sb, 'exitcode', [], { env: { KUBECONFIG: path.join(sb.home, 'missing/config') } });
  t.is(r.exitCode, 0);
  t.is(r.stderr, '');
});

test('krew-wasm started by absolute path is direct mode, not a plugin', async (t) => {
  const r = await runProcess(path.resolve(BIN), ['version'], { env: sb.env });
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /^krew-wasm \d+\.\d+\.\d+ \(node v\d+/);
});

test('a link without a receipt says how to install the plugin', async (t) => {
  const link = path.join(sb.root, 'bin/kubectl-ghost');
  fs.symlinkSync(fs.realpathSync(BIN), link);
  t.teardown(() => fs.rmSync(link, { force: true }));
  const r = await runProcess(link, ['x'], { env: sb.env });
  t.is(r.exitCode, 1);
  t.is(theError(r.stderr), 'krew-wasm: error: plugin "ghost" is not installed (see krew-wasm list, or install it with krew-wasm pull <reference> --name ghost)');
});

test('a damaged store entry says how to repair it', async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  t.is((await krewWasm(side, ['pull', `oci-layout://${layoutDir}:v1`, '--name', 'broken'])).exitCode, 0);
  const receipt = JSON.parse(fs.readFileSync(path.join(side.root, 'receipts/broken.json'), 'utf8'));
  const entry = path.join(side.root, 'store', receipt.layerDigest.slice(7));
  for (const glue of ['plugin.js', 'plugin.script.js']) fs.rmSync(path.join(entry, glue), { force: true });
  const r = await runLink(side, 'broken', []);
  t.is(r.exitCode, 1);
  t.regex(theError(r.stderr), new RegExp(`^krew-wasm: error: plugin broken is damaged: cannot load plugin(\\.script)?\\.js: .* \\(reinstall it: krew-wasm pull --force oci-layout://${layoutDir}:v1 --name broken\\)$`));
});

test('krew-wasm run executes a local file with the same sandbox, caching the transpile by digest', async (t) => {
  const file = path.join(FIXTURES, 'echo.wasm');
  const r = await krewWasm(sb, ['run', file, '--', 'a', '--flag']);
  t.is(r.exitCode, 0, r.stderr);
  t.true(r.stdout.startsWith('kubectl-echo\na\n--flag\n--\n'));
  t.is(fs.readdirSync(path.join(sb.root, 'cache')).length, 1);
  const installed = await krewWasm(sb, ['run', 'exitcode', '--', '5']);
  t.is(installed.exitCode, 5);
});

test('krew-wasm run makes a damaged cache entry again instead of running it', async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  const file = path.join(FIXTURES, 'hello.wasm');
  t.is((await krewWasm(side, ['run', file])).stdout, 'hello from wasm\n');
  const [entry] = fs.readdirSync(path.join(side.root, 'cache'));
  const glue = path.join(side.root, 'cache', entry, 'plugin.script.js');
  fs.writeFileSync(glue, 'throw new Error("tampered glue ran")');
  fs.writeFileSync(path.join(side.root, 'cache', entry, 'meta.json'), '{');
  const again = await krewWasm(side, ['run', file]);
  t.is(again.exitCode, 0, again.stderr);
  t.is(again.stdout, 'hello from wasm\n');
  t.false(fs.readFileSync(glue, 'utf8').includes('tampered'));
});
