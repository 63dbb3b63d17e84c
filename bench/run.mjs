#!/usr/bin/env node
// make bench: krew-wasm's start-up, throughput and latency, each scenario against a baseline
// measured in the same run, interleaved (baseline, scenario, baseline, scenario, ...), medians with
// min-max, and as ratio the median of each round's ratio. Reports; never fails on a number. Every
// process runs with NODE_EXTRA_CA_CERTS unset: it adds ~60 ms to each Node 20 start on machines
// that set it, which users rarely do and which would hide our own overhead.
//
//   node bench/run.mjs                 the whole table (bench/out/results.md)
//   node bench/run.mjs --ab <git-ref>  start-up scenarios (and the first run after a pull) of this tree against <git-ref>, interleaved;
//                                      then wasi:http streaming (10, 11), each tree in turn
//   node bench/run.mjs --node <path>   start-up scenarios under this Node and another (e.g. Node 22)
//   BENCH_RUNS=N                       runs per scenario (default 15)
//   BENCH_ONLY=<text>                  --ab and --node: only the scenarios whose title contains it (--ab: `stream` for 10 and 11)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { readCoreState } = await import(path.join(root, 'dist/src/runtime/coreState.js'));
const { HINTED_V8_FLAGS, hintsWork } = await import(path.join(root, 'dist/src/runtime/compileHints.js'));
const { BIG_MODULE_V8_FLAGS } = await import(path.join(root, 'dist/src/runtime/compile.js'));
const { compiledCacheWorks } = await import(path.join(root, 'dist/src/runtime/compiledCache.js'));
const { awaitBackgroundCompiles } = await import(path.join(root, 'dist/testkit/backgroundCompiles.js'));
const fixtures = path.join(root, 'test/fixtures/build');
const RUNS = Number(process.env.BENCH_RUNS) || 15;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-bench-'));
const home = path.join(work, 'home');
fs.mkdirSync(path.join(home, '.kube'), { recursive: true });
const baseEnv = { ...process.env, HOME: home };
delete baseEnv.NODE_EXTRA_CA_CERTS;
delete baseEnv.KUBECONFIG;
const NODE0 = [process.execPath, '-e', '0'];
/** The size of the componentized JS plugin (jsecho), as the tables name it. */
const JS_PLUGIN_MB = (fs.statSync(path.join(fixtures, 'jsecho.wasm')).size / 1e6).toFixed(1);

/** One krew-wasm installation under test: its bin script and its own store. */
function install(label, checkout) {
  const krewRoot = path.join(work, `store-${label}`);
  const bin = path.join(krewRoot, 'bin');
  const env = { ...baseEnv, KREW_WASM_ROOT: krewRoot, PATH: `${bin}:${process.env.PATH}` };
  const krew = path.join(checkout, 'bin/krew-wasm.js');
  const run = (file, args, opts = {}) => {
    const r = spawnSync(file, args, { env, cwd: home, stdio: ['ignore', 'ignore', 'pipe'], ...opts });
    if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r;
  };
  return {
    label, env, krew, krewRoot, bin, run,
    link: (name) => path.join(bin, `kubectl-${name.replace(/-/g, '_')}`),
    pull: (source, name, ...grants) => run(process.execPath, [krew, 'pull', '--force', source, '--name', name, ...grants]),
  };
}

const timeOnce = (cmd, env) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd[0], cmd.slice(1), { env, cwd: home, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} exited ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
};
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1], p99: s[Math.min(s.length - 1, Math.floor(s.length * 0.99))], samples: xs };
};
/**
 * `a` against `b` run in the same rounds: the median of each round's ratio. This machine's speed
 * drifts within minutes, and two runs of one round are seconds apart at most, so the ratio of
 * each round holds up where the ratio of the two medians swings with the drift.
 */
const ratio = (a, b) => (a.samples.length === b.samples.length ? stats(a.samples.map((x, i) => x / b.samples[i])).median : a.median / b.median);
/**
 * Runs each command in turn, `runs` rounds, after two warm-up rounds; returns one distribution per
 * command. A command is an argv, or { cmd, env } when it needs its own environment (A/B).
 */
function interleave(cmds, env, runs = RUNS) {
  const jobs = cmds.map((c) => (Array.isArray(c) ? { cmd: c, env } : c));
  for (let i = 0; i < 2; i++) for (const j of jobs) timeOnce(j.cmd, j.env);
  // A big plugin's second run starts compiling its hot functions in a process of its own
  // (src/runtime/compiledCache.ts): the runs measured are the ones after, not beside it.
  for (const root of new Set(jobs.map((j) => j.env.KREW_WASM_ROOT).filter(Boolean))) awaitBackgroundCompiles(root);
  for (const j of jobs) timeOnce(j.cmd, j.env);
  const times = jobs.map(() => []);
  for (let i = 0; i < runs; i++) jobs.forEach((j, n) => times[n].push(timeOnce(j.cmd, j.env)));
  return times.map(stats);
}
const ms = (s) => `${s.median.toFixed(1)} ms (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;

/**
 * The plugin's own run: from "instantiated" to "run returned" of KREW_WASM_TRACE (the guest's
 * `wasi:cli/run` and the host calls it makes), median of `runs` runs. What a floor that runs no
 * guest code leaves out.
 */
function guestRun(cmd, env, runs = 9) {
  const phases = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(cmd[0], cmd.slice(1), { env: { ...env, KREW_WASM_TRACE: '1' }, cwd: home, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    const at = (phase) => Number(new RegExp(`trace: ([\\d.]+) ms ${phase} \\(`).exec(r.stderr)?.[1]);
    const ran = at('run returned') - at('instantiated');
    if (Number.isFinite(ran)) phases.push(ran);
  }
  return phases.length ? stats(phases) : undefined;
}

const rows = [];
const row = (scenario, measured, baseline, ratio, target, ...notes) => rows.push({ scenario, measured, baseline, ratio, target, notes });

function writeKubeconfig(apiInfo) {
  fs.writeFileSync(path.join(home, '.kube/config'), `apiVersion: v1
kind: Config
current-context: bench
clusters: [{name: bench, cluster: {server: '${apiInfo.url}', certificate-authority: '${apiInfo.ca}'}}]
users: [{name: bench, user: {token: bench-token}}]
contexts: [{name: bench, context: {cluster: bench, user: bench}}]
`);
}

/** A loopback API server in its own process: the timing loop blocks this process's event loop. */
async function startApiProcess() {
  const proc = spawn(process.execPath, [path.join(root, 'bench/apiserver.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const info = await new Promise((resolve) => proc.stdout.once('data', (d) => resolve(JSON.parse(d.toString()))));
  return { proc, info };
}

/**
 * A GET through fetchprobe (wasi:http) by a plugin whose earlier runs made requests (its HTTP worker
 * starts while it compiles) and by one whose runs made none (the worker starts at the request):
 * before each of the latter, its wrapper code cache is made again by a run without a request.
 */
function firstRequests(k, runs) {
  const get = (name) => [k.link(name), 'get', '/api/v1/namespaces/default/pods'];
  const forgetRuns = (name) => {
    forgetWrapperCache(k, name);
    spawnSync('sh', ['-c', `${k.link(name)} none >/dev/null`], { env: k.env, cwd: home });
  };
  k.pull(`file://${fixtures}/fetchprobe.wasm`, 'fetch-early');
  k.pull(`file://${fixtures}/fetchprobe.wasm`, 'fetch-late');
  for (let i = 0; i < 2; i++) timeOnce(get('fetch-early'), k.env);
  const early = [];
  const late = [];
  for (let i = 0; i < runs; i++) {
    forgetRuns('fetch-late');
    late.push(timeOnce(get('fetch-late'), k.env));
    early.push(timeOnce(get('fetch-early'), k.env));
  }
  return [stats(early), stats(late)];
}

/**
 * Removes the wrapper code cache an installation keeps for a plugin (by its link's name), so that
 * what the plugin's runs did before this benchmark (or in an earlier one) says nothing of its next
 * runs: which code it holds, whether the HTTP worker starts early.
 */
function forgetWrapperCache(k, name) {
  const wrapperDir = path.join(path.dirname(k.krew), '../dist/wrapper');
  for (const f of fs.readdirSync(wrapperDir)) if (f.startsWith('wrapper.js.') && f.includes(`-for-${name.replace(/-/g, '_')}-v8-`)) fs.rmSync(path.join(wrapperDir, f));
}

/** Start-up of the smallest plugins, the JS plugin, list: the scenarios --ab compares. */
function startupScenarios(k) {
  k.pull(`file://${fixtures}/hello.wasm`, 'hello');
  k.pull(`file://${fixtures}/chello.core.wasm`, 'chello');
  k.pull(`file://${fixtures}/jsecho.wasm`, 'jsecho');
  k.pull(`file://${root}/examples/build/pods.wasm`, 'pods');
  k.pull(`file://${fixtures}/fetchprobe.wasm`, 'fetch');
  k.pull(`file://${fixtures}/hostcalls.wasm`, 'hostcalls');
  for (const name of ['hello', 'chello', 'jsecho', 'pods', 'fetch', 'hostcalls']) forgetWrapperCache(k, name);
  return {
    hello: [k.link('hello')],
    hostcalls: [k.link('hostcalls')],
    chello: [k.link('chello')],
    jsecho: [k.link('jsecho')],
    pods: [k.link('pods')],
    // A network plugin that makes no request (fetchprobe's `none` exits 2): the kubeconfig is settled all the same.
    fetchNone: ['sh', '-c', `${k.link('fetch')} none >/dev/null; test $? = 2`],
  };
}

/** 100 installed plugins for `list`, as receipts and links (their entries are the hello plugin's). */
function hundredPlugins(k) {
  const receipt = JSON.parse(fs.readFileSync(path.join(k.krewRoot, 'receipts/hello.json'), 'utf8'));
  for (let i = 0; i < 100; i++) {
    const name = `p${i}`;
    fs.writeFileSync(path.join(k.krewRoot, `receipts/${name}.json`), JSON.stringify({ ...receipt, name }));
    fs.symlinkSync(fs.realpathSync(k.krew), k.link(name));
  }
  return [process.execPath, k.krew, 'list'];
}

/** The store entry an installed plugin runs from (its receipt names the layer). */
function entryDirOf(k, name) {
  return path.join(k.krewRoot, 'store', JSON.parse(fs.readFileSync(path.join(k.krewRoot, `receipts/${name}.json`), 'utf8')).layerDigest.slice(7));
}

/**
 * The floor of a plugin: Node starting, reading and compiling its core modules (with Liftoff only
 * for the big JS plugin, as krew-wasm does), instantiating the largest with stub imports (and the
 * memories and tables its entry has the host make, as krew-wasm makes them). What no Node host can
 * go below without a compiled-code cache; the smallest plugins' floor is mostly Node.
 */
function floorCommand(k, name, liftoff = true, ahead = false, form = false) {
  const entry = entryDirOf(k, name);
  const meta = JSON.parse(fs.readFileSync(path.join(entry, 'meta.json'), 'utf8'));
  const preview1 = meta.sourceKind === 'core-module' && !meta.imports.some((i) => i.startsWith('krew-wasm:'));
  const files = preview1 ? [fs.existsSync(path.join(entry, 'preview1.wasm')) ? 'preview1.wasm' : 'source.wasm'] : meta.coreModules;
  const states = Object.fromEntries(files.map((f) => {
    try {
      return [f, readCoreState(fs.readFileSync(path.join(entry, f)))];
    } catch {
      return [f, { memories: [], tables: [] }]; // an entry of a build that lets modules define them
    }
  }).map(([f, state]) => [f, { ...state, ...(meta.coreStates?.[f]?.dataImage ? { dataImage: meta.coreStates[f].dataImage } : {}) }]));
  // CommonJS, as krew-wasm's bundles: an ES module entry would add Node's ESM loader to the floor.
  // A file per variant: one script of a name for all had every floor of the JS plugin run the last one made.
  const script = path.join(work, `floor-${name}${liftoff ? '' : '-turbofan'}${ahead ? '-ahead' : ''}${form ? '-form' : ''}.cjs`);
  fs.writeFileSync(script, `const fs = require('node:fs');
module.exports = (async () => {
const dir = ${JSON.stringify(entry)};
// A plain preview1 module runs as itself (runtime/preview1), a component as its core modules.
const files = ${JSON.stringify(files)};
const states = ${JSON.stringify(states)};
// With \`ahead\`: the functions the plugin's first run compiled marked eager, as its runs mark them (runtime/compileHints.ts).
const ahead = ${JSON.stringify(ahead ? aheadMarks(entry, meta) : {})};
// With \`form\`: a module with a compiled form (runtime/compiledCache.ts) deserialized from it, its hot functions marked as when it was made.
const form = ${JSON.stringify(form)};
let deserialize;
if (form) {
  process.noDeprecation = true;
  const v8 = process.binding('v8');
  process.noDeprecation = false;
  v8.setFlagsFromString('--allow-natives-syntax');
  deserialize = new Function('data', 'wire', 'return %DeserializeWasmModule(data, wire);');
  v8.setFlagsFromString('--no-allow-natives-syntax');
}
// A module of 1 MiB or more is read as krew-wasm's runs read it: in two pieces at once on Node's thread pool (runtime/compile.ts).
const whole = (f) => new Promise((resolve, reject) => {
  const fd = fs.openSync(dir + '/' + f, 'r');
  const size = fs.fstatSync(fd).size;
  if (size < 1048576) { const b = fs.readFileSync(fd); fs.closeSync(fd); return resolve(b); }
  const b = Buffer.allocUnsafeSlow(size);
  const half = Math.ceil(size / 2);
  let left = 2;
  const next = (at, end) => at >= end ? --left === 0 && (fs.closeSync(fd), resolve(b)) : fs.read(fd, b, at, end - at, at, (error, n) => (error || n === 0 ? reject(error ?? new Error(f + ' changed')) : next(at + n, end)));
  next(0, half);
  next(half, size);
});
const formOf = (f) => { try { const d = fs.readFileSync(dir + '/' + f + '.compiled'); return d.buffer.slice(d.byteOffset + 1024, d.byteOffset + d.length); } catch { return undefined; } };
const compileOne = async (f) => {
  const data = form && ahead[f] ? formOf(f) : undefined;
  const b = await whole(f);
  for (const i of ahead[f]?.hot ?? []) b[ahead[f].offset + i] = data ? 0x2a : 2;
  return (data && deserialize(data, b)) || WebAssembly.compile(b);
};
const modules = await Promise.all(files.map(compileOne));
const big = modules.reduce((a, b, i) => (fs.statSync(dir + '/' + files[i]).size > fs.statSync(dir + '/' + files[modules.indexOf(a)]).size ? b : a));
const imports = {};
for (const i of WebAssembly.Module.imports(big)) {
  imports[i.module] ??= {};
  imports[i.module][i.name] = i.kind === 'function' ? () => 0 : i.kind === 'memory' ? new WebAssembly.Memory({ initial: 1 }) : i.kind === 'table' ? new WebAssembly.Table({ initial: 1, element: 'anyfunc' }) : new WebAssembly.Global({ value: 'i32', mutable: true }, 0);
}
const state = states[files[modules.indexOf(big)]];
for (const m of state.memories) (imports['krew-wasm:state'] ??= {})[m.name] = new WebAssembly.Memory({ initial: m.initial, maximum: m.maximum, shared: m.shared });
for (const t of state.tables) (imports['krew-wasm:state'] ??= {})[t.name] = new WebAssembly.Table({ initial: t.initial, maximum: t.maximum, element: t.element });
// Its data, when its entry keeps it as an image beside it, read into its memory as krew-wasm's runs read it (runtime/dataImage.ts).
if (state.dataImage) {
  const fd = fs.openSync(dir + '/' + files[modules.indexOf(big)].replace(/\.wasm$/, '.data'), 'r');
  let at = 0;
  for (const [to, length] of state.dataImage) { fs.readSync(fd, new Uint8Array(imports['krew-wasm:state'][state.memories[0].name].buffer, to, length), 0, length, at); at += length; }
  fs.closeSync(fd);
}
try { new WebAssembly.Instance(big, imports); } catch {}
})();
`);
  const flags = [...(liftoff ? BIG_MODULE_V8_FLAGS.split(' ') : []), ...(ahead ? HINTED_V8_FLAGS.split(' ') : [])];
  return [process.execPath, ...flags, script];
}

/** Where each hinted module's hints are, and the functions the entry's first run compiled (ENTRY_FILES.hotFunctions). */
function aheadMarks(entry, meta) {
  const hot = JSON.parse(fs.readFileSync(path.join(entry, 'plugin.hot.json'), 'utf8'));
  return Object.fromEntries(Object.entries(meta.compileHints ?? {}).map(([file, place]) => [file, { offset: place.offset, hot: hot[file] ?? [] }]));
}

/**
 * A floor started as kubectl starts a plugin: an executable `kubectl-<name>` link to a script that
 * begins `#!/usr/bin/env node` (Node resolving its main script through the link, as for
 * krew-wasm's links). What any Node-hosted kubectl plugin pays before its own work.
 */
function asKubectlPlugin(name, [, script]) {
  const file = path.join(work, `floor-plugin-${name}.js`);
  fs.writeFileSync(file, `#!/usr/bin/env node\n${fs.readFileSync(script, 'utf8')}`, { mode: 0o755 });
  const link = path.join(work, `kubectl-floor_${name}`);
  fs.rmSync(link, { force: true });
  fs.symlinkSync(file, link);
  return [link];
}

/**
 * The floor of a component on jco's glue, started as a kubectl plugin (asKubectlPlugin): its
 * entry's glue with its V8 code cache, its core modules compiled, instantiated through the glue
 * and run, with a host of two functions (stdout's stream and its write) and nothing else: no
 * receipt or entry check, no sandbox, no guard. For the smallest component (it imports stdout
 * alone), what any Node host built on jco pays; krew-wasm above it is its own work.
 */
function glueFloorCommand(k, name) {
  const entry = entryDirOf(k, name);
  const script = path.join(work, `floor-glue-${name}.cjs`);
  fs.writeFileSync(script, `const fs = require('node:fs');
const vm = require('node:vm');
const dir = ${JSON.stringify(entry)};
const meta = JSON.parse(fs.readFileSync(dir + '/meta.json', 'utf8'));
const compiling = meta.coreModules.map((f) => WebAssembly.compile(fs.readFileSync(dir + '/' + f)));
let cachedData;
try { cachedData = fs.readFileSync(dir + '/plugin.cache'); } catch {}
const script = new vm.Script(fs.readFileSync(dir + '/plugin.script.js', 'utf8'), { filename: dir + '/plugin.script.js', cachedData });
// The script form's hooks (src/runtime/glue.ts), doing nothing.
const hooks = { enter() {}, handleCreated() {}, handleRemoved() {}, slice: (b, s, e) => b.slice(s, e), elements() {} };
const instantiate = script.runInThisContext()('file:///', TextDecoder, hooks, console, false);
class OutputStream { blockingWriteAndFlush(bytes) { fs.writeSync(1, bytes); } }
const stdout = new OutputStream();
const imports = { 'wasi:cli/stdout': { getStdout: () => stdout }, 'wasi:io/streams': { OutputStream }, 'wasi:io/error': { Error: class {} } };
Promise.all(compiling).then((modules) => {
  const byName = new Map(meta.coreModules.map((f, i) => [f, modules[i]]));
  const states = new Map(meta.coreModules.map((f, i) => [modules[i], meta.coreStates[f]]));
  const instantiateCore = (module, coreImports) => {
    const made = {};
    for (const m of states.get(module).memories) made[m.name] = new WebAssembly.Memory({ initial: m.initial, maximum: m.maximum });
    for (const t of states.get(module).tables) made[t.name] = new WebAssembly.Table({ initial: t.initial, maximum: t.maximum, element: t.element });
    return new WebAssembly.Instance(module, { ...coreImports, 'krew-wasm:state': made });
  };
  instantiate((file) => byName.get(file), imports, instantiateCore).run.run();
  process.exit(0);
});
`);
  return asKubectlPlugin(`glue_${name}`, [process.execPath, script]);
}

/**
 * Node started from a start-up snapshot of its own (`--snapshot-blob`, built with Node 20's
 * `--build-snapshot`) whose main function does nothing: the least a snapshot of the wrapper bundle
 * would cost, before any code of krew-wasm's ran (a lever issue 12 names). Node's own start uses
 * the snapshot built into the binary, which is smaller.
 */
function emptySnapshotCommand() {
  const script = path.join(work, 'empty-snapshot.cjs');
  const blob = path.join(work, 'empty-snapshot.blob');
  fs.writeFileSync(script, "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {});\n");
  const built = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', script], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error('node --build-snapshot failed');
  return [process.execPath, '--snapshot-blob', blob];
}

/**
 * The floor of a plugin that makes one request: floorCommand's work while a worker thread (as
 * krew-wasm's HTTP worker, since a wasm import cannot await on Node 20) makes the same HTTPS GET
 * to the API server; the process ends when both are done.
 */
function requestFloorCommand(k, name, apiInfo) {
  const [node, ...flagsAndScript] = floorCommand(k, name);
  const compileScript = flagsAndScript.at(-1);
  const script = path.join(work, `floor-request-${name}.cjs`);
  fs.writeFileSync(script, `const { Worker } = require('node:worker_threads');
const worker = new Worker(\`
const https = require('node:https');
const fs = require('node:fs');
https.get(${JSON.stringify(`${apiInfo.url}/api/v1/namespaces/default/pods`)}, { ca: fs.readFileSync(${JSON.stringify(apiInfo.ca)}), headers: { authorization: 'Bearer bench-token' } }, (res) => { res.resume(); res.on('end', () => process.exit(0)); });
\`, { eval: true });
const done = new Promise((resolve) => worker.on('exit', resolve));
Promise.all([require(${JSON.stringify(compileScript)}), done]);
`);
  return [node, ...flagsAndScript.slice(0, -1), script];
}

/**
 * requestFloorCommand with the request made on the main thread instead of a worker: what a host
 * could do where a wasm import can wait for a promise (JSPI: WebAssembly.Suspending, on by default
 * from Node 24; Node 20 and 22 have none), which would leave out booting a worker. What a newer
 * Node would give scenario 4, measured on this one.
 */
function mainThreadRequestFloorCommand(k, name, apiInfo) {
  const [node, ...flagsAndScript] = floorCommand(k, name);
  const compileScript = flagsAndScript.at(-1);
  const script = path.join(work, `floor-request-main-${name}.cjs`);
  fs.writeFileSync(script, `const https = require('node:https');
const fs = require('node:fs');
const done = new Promise((resolve) => https.get(${JSON.stringify(`${apiInfo.url}/api/v1/namespaces/default/pods`)}, { ca: fs.readFileSync(${JSON.stringify(apiInfo.ca)}), headers: { authorization: 'Bearer bench-token' } }, (res) => { res.resume(); res.on('end', resolve); }));
Promise.all([require(${JSON.stringify(compileScript)}), done]).then(() => process.exit(0));
`);
  return [node, ...flagsAndScript.slice(0, -1), script];
}

async function fullRun() {
  const k = install('this', root);
  console.error(`krew-wasm bench: ${RUNS} interleaved runs per scenario, NODE_EXTRA_CA_CERTS unset`);
  const api = await startApiProcess();
  try {
    writeKubeconfig(api.info);
    const s = startupScenarios(k);

    const [n1, t1, f1, p1, j1, e1] = interleave([NODE0, s.hello, floorCommand(k, 'hello', false), asKubectlPlugin('hello', floorCommand(k, 'hello', false)), glueFloorCommand(k, 'hello'), emptySnapshotCommand()], k.env);
    row('1. smallest component (WAT, stdout only)', ms(t1), `node -e 0: ${ms(n1)}`, ratio(t1, n1), '≤ 1.3x',
      `floor (Node + compile + instantiate its core modules, alone): ${ms(f1)} = ${ratio(f1, n1).toFixed(2)}x; krew-wasm is +${(t1.median - f1.median).toFixed(0)} ms above it`,
      `the same floor started as kubectl starts a plugin (#!/usr/bin/env node, through a kubectl-* link): ${ms(p1)} = ${ratio(p1, n1).toFixed(2)}x`,
      `floor on the entry's glue (jco's, on krew-wasm's synchronous task runtime), as a kubectl plugin (the glue from its code cache, instantiated and run with a two-function stdout host; no checks, no sandbox, no guard): ${ms(j1)} = ${ratio(j1, n1).toFixed(2)}x; krew-wasm is +${(t1.median - j1.median).toFixed(1)} ms (${ratio(t1, j1).toFixed(2)}x) above it`,
      `Node started from an empty start-up snapshot of its own (--snapshot-blob, the least a snapshot of the wrapper bundle would cost): ${ms(e1)} = ${ratio(e1, n1).toFixed(2)}x, +${(e1.median - n1.median).toFixed(1)} ms before any code runs`);
    const [n2, t2, f2, p2] = interleave([NODE0, s.chello, floorCommand(k, 'chello', false), asKubectlPlugin('chello', floorCommand(k, 'chello', false))], k.env);
    row('2. C "hello" (wasi-libc, preview1)', ms(t2), `node -e 0: ${ms(n2)}`, ratio(t2, n2), '≤ 1.5x',
      `floor (Node + compile + instantiate the module, alone): ${ms(f2)} = ${ratio(f2, n2).toFixed(2)}x; krew-wasm is +${(t2.median - f2.median).toFixed(0)} ms above it`,
      `the same floor started as kubectl starts a plugin (#!/usr/bin/env node, through a kubectl-* link): ${ms(p2)} = ${ratio(p2, n2).toFixed(2)}x; krew-wasm is +${(t2.median - p2.median).toFixed(0)} ms above it`);
    const floor = floorCommand(k, 'jsecho');
    // Its first run records the functions it compiled (runtime/compileHints.ts); the floor that compiles those ahead reads them.
    timeOnce(s.jsecho, k.env);
    const ahead = hintsWork() ? [floorCommand(k, 'jsecho', true, true)] : [];
    const fromForm = hintsWork() && compiledCacheWorks() ? [floorCommand(k, 'jsecho', true, true, true)] : [];
    const [n3, t3, f3, a3, d3] = interleave([NODE0, s.jsecho, floor, ...ahead, ...fromForm], k.env);
    const g3 = guestRun(s.jsecho, k.env);
    row(`3. ${JS_PLUGIN_MB} MB componentized JS plugin, no request`, ms(t3), `node -e 0: ${ms(n3)}`, ratio(t3, n3), '≤ 3x',
      `floor (Node + compile with Liftoff + instantiate, alone): ${ms(f3)} = ${ratio(f3, n3).toFixed(2)}x; krew-wasm is +${(t3.median - f3.median).toFixed(0)} ms above it, of which the plugin's own run (its JS engine and its JS, in Liftoff code, from instantiated to returned; KREW_WASM_TRACE) is ${g3 ? ms(g3) : 'not traced'}`,
      ...(a3 ? [`the same floor with the functions its first run compiled compiled ahead with Liftoff (compilation hints), as its second run compiles them: ${ms(a3)} = ${ratio(a3, n3).toFixed(2)}x`] : []),
      ...(d3 ? [`the same floor with those functions deserialized from their compiled form (V8's serialized module, TurboFan code), as its runs after take them: ${ms(d3)} = ${ratio(d3, n3).toFixed(2)}x; krew-wasm is +${(t3.median - d3.median).toFixed(0)} ms above it`] : []));
    const [n4, t4, f4, m4] = interleave([NODE0, s.pods, requestFloorCommand(k, 'pods', api.info), mainThreadRequestFloorCommand(k, 'pods', api.info)], k.env, Math.max(7, Math.floor(RUNS / 2)));
    const g4 = guestRun(s.pods, k.env);
    row('4. JS example, one API request (request included)', ms(t4), `node -e 0: ${ms(n4)}`, ratio(t4, n4), '≤ 3.5x',
      `floor (Node + compile with Liftoff + instantiate, while a worker thread makes the same HTTPS request): ${ms(f4)} = ${ratio(f4, n4).toFixed(2)}x; krew-wasm is +${(t4.median - f4.median).toFixed(0)} ms above it; the plugin's own run, its request included, is ${g4 ? ms(g4) : 'not traced'}`,
      `the same floor with the request made on the main thread, no worker (what JSPI would allow a host: on by default from Node 24, absent from Node 20 and 22): ${ms(m4)} = ${ratio(m4, n4).toFixed(2)}x`);

    // Cold: the first run after a pull, when V8's code cache of the glue is written and the hot
    // functions recorded; then the second, which compiles them ahead and starts their compile with
    // TurboFan in a process of its own (src/runtime/compiledCache.ts); warm: a run after that one.
    const cold = [];
    const second = [];
    const warm = [];
    for (let i = 0; i < Math.max(5, Math.floor(RUNS / 3)); i++) {
      awaitBackgroundCompiles(k.krewRoot);
      k.pull(`file://${fixtures}/jsecho.wasm`, 'jsecho');
      cold.push(timeOnce(s.jsecho, k.env));
      second.push(timeOnce(s.jsecho, k.env));
      awaitBackgroundCompiles(k.krewRoot);
      warm.push(timeOnce(s.jsecho, k.env));
    }
    const c5 = stats(cold);
    const w5 = stats(warm);
    row('5. first run after pull (cold) of the JS plugin', ms(c5), `warm run: ${ms(w5)}`, ratio(c5, w5), '< 2x warm',
      `the second run after pull (it compiles the recorded functions ahead, and starts their compile with TurboFan in a process of its own, for the runs after): ${ms(stats(second))} = ${ratio(stats(second), w5).toFixed(2)}x warm`);

    const list = hundredPlugins(k);
    const [n6, t6] = interleave([NODE0, list], k.env);
    row('6. krew-wasm list, 100 plugins', ms(t6), `node -e 0: ${ms(n6)}`, ratio(t6, n6), '≤ 1.5x');

    // Network plugin start-up: settling the kubeconfig overlaps with compilation (fetchprobe makes no request here).
    k.pull(`file://${fixtures}/fetchprobe.wasm`, 'fetch-offline', '--network', 'none');
    const offline = ['sh', '-c', `${k.link('fetch-offline')} none >/dev/null; test $? = 2`];
    const [off, on] = interleave([offline, s.fetchNone], k.env, Math.max(7, Math.floor(RUNS / 2)));
    const [early, late] = firstRequests(k, Math.max(7, Math.floor(RUNS / 2)));
    row('7. JS network plugin, no request: kubeconfig settled vs --network none', ms(on), `--network none: ${ms(off)}`, ratio(on, off), '≈ 1x (overlaps)',
      'its runs make no request, so the HTTP worker starts at a first request (KREW_WASM_TRACE: "http worker at the first request")',
      `the request that starts it (the plugin's earlier runs made none; once, as its next runs start the worker early): ${ms(late)} against ${ms(early)} with the worker started early, +${(late.median - early.median).toFixed(0)} ms`);

    // stdout throughput, 64 MiB to a pipe, against cat of a 64 MiB file.
    k.pull(`file://${fixtures}/spew.wasm`, 'spew');
    const big = path.join(work, 'big');
    fs.writeFileSync(big, Buffer.alloc(64 * 1024 * 1024, 'y\n'));
    const [cat, spew] = interleave([['sh', '-c', `cat ${big} | cat > /dev/null`], ['sh', '-c', `${k.link('spew')} 64 | cat > /dev/null`]], k.env, 5);
    const mbps = (t) => (64 * 1.048576) / (t / 1000);
    row('8. stdout throughput, 64 MiB to a pipe', `${mbps(spew.median).toFixed(0)} MB/s`, `cat: ${mbps(cat.median).toFixed(0)} MB/s`, mbps(spew.median) / mbps(cat.median), '(info)');

    // What one host call costs (glue and host): a million calls of a function that does no work, against the smallest plugin's run.
    const [small, calls] = interleave([s.hello, s.hostcalls], k.env, 7);
    row('13. host calls: 1,000,000 calls of wasi:cli/environment initial-cwd', `${((calls.median - small.median) / 1000).toFixed(2)} µs a call`, `smallest plugin: ${ms(small)}`, undefined, '(info)',
      `the run: ${ms(calls)}`);

    await pullPhases(k);
    await streaming(k);

    const rss = (cmd) => stats([1, 2, 3].map(() => Number(spawnSync('/usr/bin/time', ['-f', '%M', ...cmd], { env: k.env, cwd: home, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] }).stderr.trim().split('\n').pop()))).median / 1024;
    row('12. peak RSS: smallest / C hello / JS example', `${rss(s.hello).toFixed(0)} / ${rss(s.chello).toFixed(0)} / ${rss(s.pods).toFixed(0)} MiB`, `node -e 0: ${rss(NODE0).toFixed(0)} MiB`, undefined, '(info)');
  } finally {
    api.proc.kill('SIGTERM');
  }
}

/** Pull of the JS example from a local registry, split into its phases. */
async function pullPhases(k) {
  const { startRegistry } = await import('../dist/testkit/registry.js');
  const { pushArtifact } = await import('../dist/testkit/artifacts.js');
  const registry = await startRegistry();
  try {
    const wasm = fs.readFileSync(path.join(root, 'examples/build/pods.wasm'));
    await pushArtifact({ url: registry.url, repo: 'bench/pods', tag: '1.0' }, 'cncf', wasm);
    const phases = [];
    for (let i = 0; i < 3; i++) {
      // --force with a fresh name each time: a pull never reuses an entry, so every phase runs.
      const r = k.run(process.execPath, [k.krew, 'pull', '--force', '--plain-http', `${registry.host}/bench/pods:1.0`, '--name', `pulled${i}`], { env: { ...k.env, KREW_WASM_TIMINGS: '1' }, encoding: 'utf8' });
      phases.push(JSON.parse(/timings: (\{.*\})/.exec(r.stderr)[1]));
      k.run(process.execPath, [k.krew, 'rm', `pulled${i}`]);
    }
    const t0 = process.hrtime.bigint();
    createHash('sha256').update(wasm).digest('hex');
    const hashMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const med = (key) => stats(phases.map((p) => p[key])).median;
    row(`9. pull of the JS example (${(wasm.length / 1048576).toFixed(1)} MiB), local registry`,
      `download+verify ${med('downloadMs').toFixed(0)} ms, transpile ${med('transpileMs').toFixed(0)} ms, commit ${med('commitMs').toFixed(0)} ms`,
      `sha256 alone ${hashMs.toFixed(0)} ms`, undefined, '(info)');
  } finally {
    await registry.stop();
  }
}

/** wasi:http: watch event latency, and streamed throughput against Node reading the same response; rows titled after `label`. */
async function streaming(k, label = '') {
  const { startFakeApiServer } = await import('../dist/testkit/kubeApiServer.js');
  const { createPki } = await import('../dist/testkit/pki.js');
  const pki = createPki('krew-wasm-bench-stream');
  const api = await startFakeApiServer({ tls: { ...pki.server('apiserver'), ca: pki.caCert }, tokens: { 'bench-token': 'bench' }, pods: [] });
  writeKubeconfig({ url: api.url, ca: pki.caCert });
  try {
    // Latency: the server writes an event; the time until the plugin has printed it.
    const child = spawn(k.link('fetch'), ['watch', '/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=300', '1000000'], { env: k.env, cwd: home });
    const seen = [];
    let pending;
    child.stdout.on('data', (d) => {
      for (const line of d.toString().split('\n')) if (line.startsWith('event ') && pending) {
        seen.push(Number(process.hrtime.bigint() - pending) / 1e6);
        pending = undefined;
      }
    });
    for (let waited = 0; api.openWatches() === 0 && waited < 60_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 200; i++) {
      pending = process.hrtime.bigint();
      api.emit('ADDED', { namespace: 'default', name: `pod-${i}` });
      for (let waited = 0; pending && waited < 5000; waited += 1) await new Promise((r) => setTimeout(r, 1));
    }
    child.kill('SIGINT');
    const lat = stats(seen);
    row(`${label}10. watch event latency: server write to plugin stdout (JS fetch)`, `median ${lat.median.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms`, `${seen.length} events`, undefined, '(info)');

    // Throughput: 256 MiB streamed through httpraw (wasi:http) vs Node reading it with https.
    k.pull(`file://${fixtures}/httpraw.wasm`, 'raw');
    const direct = path.join(work, 'direct.mjs');
    fs.writeFileSync(direct, `import https from 'node:https'; import fs from 'node:fs';
const [url, ca, bytes] = process.argv.slice(2);
https.get(url + '/api/v1/large?bytes=' + bytes, { ca: fs.readFileSync(ca), headers: { authorization: 'Bearer bench-token' } }, (res) => { let n = 0; res.on('data', (c) => (n += c.length)); res.on('end', () => process.exit(n === Number(bytes) ? 0 : 1)); });
`);
    const timeAsync = (cmd) => new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      spawn(cmd[0], cmd.slice(1), { env: k.env, cwd: home, stdio: 'ignore' }).on('exit', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
    });
    const size = 256 * 1024 * 1024;
    const plugin = (bytes) => [k.link('raw'), 'none', '-', `/api/v1/large?bytes=${bytes}`, '0', 'count'];
    const node = (bytes) => [process.execPath, direct, api.url, pki.caCert, String(bytes)];
    const samples = { plugin: [], pluginSmall: [], node: [], nodeSmall: [] };
    for (let i = 0; i < 5; i++) {
      samples.nodeSmall.push(await timeAsync(node(1024)));
      samples.node.push(await timeAsync(node(size)));
      samples.pluginSmall.push(await timeAsync(plugin(1024)));
      samples.plugin.push(await timeAsync(plugin(size)));
    }
    const rate = (big, small) => (size / 1e6) / ((stats(big).median - stats(small).median) / 1000);
    const pluginRate = rate(samples.plugin, samples.pluginSmall);
    const nodeRate = rate(samples.node, samples.nodeSmall);
    row(`${label}11. streamed response, 256 MiB through wasi:http (start-up excluded)`, `${pluginRate.toFixed(0)} MB/s`, `Node https alone: ${nodeRate.toFixed(0)} MB/s`, pluginRate / nodeRate, '(info)');
  } finally {
    await api.stop();
    fs.rmSync(pki.dir, { recursive: true, force: true });
  }
}

/**
 * The start-up scenarios --ab and --node compare, of two installations side by side:
 * [title, command of a, command of b]; `listOfB` adapts b's `list` command (another Node).
 */
function startupPairs(a, b, listOfB = (list) => list) {
  const sa = startupScenarios(a);
  const sb = startupScenarios(b);
  return [
    ['smallest component', sa.hello, sb.hello],
    ['C hello', sa.chello, sb.chello],
    [`${JS_PLUGIN_MB} MB JS plugin`, sa.jsecho, sb.jsecho],
    ['JS example + request', sa.pods, sb.pods],
    ['network plugin, no request', sa.fetchNone, sb.fetchNone],
    ['1,000,000 host calls', sa.hostcalls, sb.hostcalls],
    ['list, 100 plugins', hundredPlugins(a), listOfB(hundredPlugins(b))],
  ].filter(([title]) => title.includes(process.env.BENCH_ONLY ?? ''));
}

/**
 * The first run after a pull of the JS plugin (scenario 5's cold run) of each installation: each
 * round pulls it again into every one, then runs each once, in an order that alternates by round.
 */
function firstRunsAfterPull(installs, rounds) {
  const times = installs.map(() => []);
  for (let i = 0; i < rounds; i++) {
    for (const k of installs) {
      awaitBackgroundCompiles(k.krewRoot);
      k.pull(`file://${fixtures}/jsecho.wasm`, 'jsecho');
    }
    const order = installs.map((k, n) => n);
    if (i % 2) order.reverse();
    for (const n of order) times[n].push(timeOnce([installs[n].link('jsecho')], installs[n].env));
  }
  return times.map(stats);
}

/** --ab <ref>: the start-up scenarios of this tree and of <ref>, and the first run after a pull, interleaved in one run. */
async function abRun(ref) {
  const other = path.join(work, 'ab');
  execFileSync('git', ['worktree', 'add', '--detach', other, ref], { cwd: root, stdio: 'ignore' });
  try {
    const lock = (dir) => fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8');
    if (lock(other) === lock(root)) {
      fs.symlinkSync(path.join(root, 'node_modules'), path.join(other, 'node_modules'));
      // -o: never reinstall dependencies there: the checkout's package.json is newer than the shared
      // node_modules' marker, and npm ci through the symlink would empty this tree's node_modules.
      execFileSync('make', ['-o', 'node_modules/.installed', 'build'], { cwd: other, stdio: 'ignore' });
    } else {
      // Other dependencies (a library replaced since): its own node_modules, from its own lock file.
      execFileSync('make', ['build'], { cwd: other, stdio: 'ignore' });
    }
    const a = install('this', root);
    const b = install(ref, other);
    const api = await startApiProcess();
    try {
      writeKubeconfig(api.info);
      for (const [title, ca, cb] of startupPairs(a, b)) {
        const [n, ta, tb] = interleave([NODE0, { cmd: ca, env: a.env }, { cmd: cb, env: b.env }], a.env);
        row(`A/B ${title}`, `this: ${ms(ta)}`, `${ref}: ${ms(tb)}; node -e 0: ${ms(n)}`, ratio(ta, tb), '(this / ref)');
      }
      const cold = `first run after pull of the ${JS_PLUGIN_MB} MB JS plugin`;
      if (cold.includes(process.env.BENCH_ONLY ?? '')) {
        const [ta, tb] = firstRunsAfterPull([a, b], Math.max(7, Math.floor(RUNS / 2)));
        row(`A/B ${cold}`, `this: ${ms(ta)}`, `${ref}: ${ms(tb)}`, ratio(ta, tb), '(this / ref)');
      }
      // wasi:http streaming (scenarios 10 and 11): each is a whole sequence of its own, so the two
      // installations take turns, twice, in an order that alternates (BENCH_ONLY=stream: these alone).
      if ('streaming'.includes(process.env.BENCH_ONLY ?? '')) {
        for (const [k, label] of [[a, 'this'], [b, ref], [b, ref], [a, 'this']]) await streaming(k, `A/B ${label}: `);
      }
    } finally {
      api.proc.kill('SIGTERM');
    }
  } finally {
    execFileSync('git', ['worktree', 'remove', '--force', other], { cwd: root, stdio: 'ignore' });
  }
}

/**
 * --node <path>: the start-up scenarios of this tree under this process's Node and under another
 * (a newer one: what it would give, without requiring it), and under the other with
 * NODE_COMPILE_CACHE (Node >= 22.1 keeps compiled JavaScript on disk). Each Node has its own
 * store, so that neither rejects and rewrites the other's code caches.
 */
async function nodeRun(otherNode) {
  const version = execFileSync(otherNode, ['--version']).toString().trim();
  const here = install('node-here', root);
  const there = install('node-other', root);
  const otherEnv = { ...there.env, PATH: `${path.dirname(otherNode)}:${there.env.PATH}` };
  const cachedEnv = { ...otherEnv, NODE_COMPILE_CACHE: path.join(work, 'node-compile-cache') };
  const api = await startApiProcess();
  try {
    writeKubeconfig(api.info);
    for (const [title, ch, ct] of startupPairs(here, there, (list) => [otherNode, ...list.slice(1)])) {
      const [n, th, no, to, tc] = interleave([NODE0, { cmd: ch, env: here.env }, { cmd: [otherNode, '-e', '0'], env: otherEnv }, { cmd: ct, env: otherEnv }, { cmd: ct, env: cachedEnv }], here.env);
      row(`${title}: Node ${version} / ${process.version}`, `${version}: ${ms(to)}, ${ratio(to, no).toFixed(2)}x its node -e 0 (${ms(no)}); with NODE_COMPILE_CACHE: ${ms(tc)}`,
        `${process.version}: ${ms(th)}, ${ratio(th, n).toFixed(2)}x its node -e 0 (${ms(n)})`, ratio(to, th), '(other / this)');
    }
  } finally {
    api.proc.kill('SIGTERM');
  }
}

/**
 * What a minor page fault costs this machine now, in µs: the median of 5 processes that each touch
 * 64 MiB of fresh memory. This machine's slow phases are phases of costly page faults (14-20 µs
 * each, against ~1,900 of them in `node -e 0`), which slow Node's own start more than the rest of a
 * run and so move every ratio to it: each report names the phase it ran in.
 */
function pageFaultMicros() {
  const script = "const f=()=>process.resourceUsage().minorPageFault,f0=f(),t0=process.hrtime.bigint(),b=Buffer.allocUnsafeSlow(64*2**20);for(let i=0;i<b.length;i+=4096)b[i]=1;process.stdout.write(String(Number(process.hrtime.bigint()-t0)/1000/(f()-f0)))";
  const costs = Array.from({ length: 5 }, () => Number(execFileSync(process.execPath, ['-e', script], { env: baseEnv, encoding: 'utf8' })));
  return costs.sort((a, b) => a - b)[2].toFixed(1);
}

const faultsBefore = pageFaultMicros();
const abIndex = process.argv.indexOf('--ab');
const nodeIndex = process.argv.indexOf('--node');
try {
  if (abIndex >= 0) await abRun(process.argv[abIndex + 1]);
  else if (nodeIndex >= 0) await nodeRun(path.resolve(process.argv[nodeIndex + 1]));
  else await fullRun();
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const load = os.loadavg()[0].toFixed(1);
const header = [
  `krew-wasm benchmarks, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${load} at the end`,
  `Median (min–max) of ${RUNS} whole-process runs interleaved with the baseline; ratio: the median of each round's ratio to it (the machine's speed drifts); NODE_EXTRA_CA_CERTS unset for every process.`,
  `The machine's phase: a page fault cost ${faultsBefore} µs at the start and ${pageFaultMicros()} µs at the end (a process touching 64 MiB of fresh memory).`,
  '',
  '| scenario | measured | baseline | ratio | target |',
  '|---|---|---|---|---|',
];
const table = rows.map((r) => `| ${r.scenario} | ${r.measured} | ${r.baseline} | ${r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`} | ${r.target} |`);
const notes = rows.flatMap((r) => r.notes.map((note) => `- ${r.scenario.replace(/^\d+\. /, '')}: ${note}`));
const text = [...header, ...table, '', ...notes].join('\n') + '\n';
fs.mkdirSync(path.join(root, 'bench/out'), { recursive: true });
fs.writeFileSync(path.join(root, abIndex >= 0 ? 'bench/out/ab.md' : nodeIndex >= 0 ? 'bench/out/node.md' : 'bench/out/results.md'), text);
process.stdout.write(text);
