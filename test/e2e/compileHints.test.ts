import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { hintsWork, MAX_RECORDED_FUNCTIONS } from '../../src/runtime/compileHints.js';
import { ENTRY_FILES, readEntryMeta } from '../../src/store/entry.js';
import { FIXTURES, krewWasm, makeSandbox, runLink, type Sandbox } from '../helpers/cli.js';

/**
 * A big plugin's compilation hints (runtime/compileHints.ts), with the 12.5 MB componentized JS
 * plugin: its first run records the functions V8 compiled, its next runs have V8 compile those
 * before the run. KREW_WASM_TRACE says which a run does. On a V8 that does not follow hints
 * (hintsWork), runs compile as before and record nothing.
 */

/** A fixture pulled into a sandbox of its own, and its store entry. */
async function pulled(t: { teardown(fn: () => void): void }, fixture = 'jsecho.wasm', name = 'jsecho'): Promise<{ sb: Sandbox; entry: string }> {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  const pull = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, fixture)}`, '--name', name]);
  if (pull.exitCode !== 0) throw new Error(pull.stderr);
  const digest = JSON.parse(fs.readFileSync(path.join(sb.root, `receipts/${name}.json`), 'utf8')).layerDigest as string;
  return { sb, entry: path.join(sb.root, 'store', digest.slice('sha256:'.length)) };
}

/** A traced run of a plugin, with what its trace says of its compile. */
async function traced(sb: Sandbox, name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ exitCode: number | null; stdout: string; stderr: string; compiling: string | undefined }> {
  const r = await runLink(sb, name, args, { env: { KREW_WASM_TRACE: '1', ...env } });
  return { ...r, compiling: /^krew-wasm trace: [\d.]+ ms (compiling[^(]*?) \(cpu /m.exec(r.stderr)?.[1] };
}

const run = (sb: Sandbox, env: NodeJS.ProcessEnv = {}) => traced(sb, 'jsecho', ['hi'], env);

const hotFile = (entry: string) => path.join(entry, ENTRY_FILES.hotFunctions);

test("a big plugin's first run records the functions V8 compiled, and its next runs have V8 compile those first, with the same output", async (t) => {
  const { sb, entry } = await pulled(t);
  const place = readEntryMeta(entry).compileHints?.['plugin.core.wasm'];
  t.true((place?.count ?? 0) > 10_000, 'every core module of a big plugin has hints');
  const forms = () => fs.readdirSync(entry).filter((f) => f.endsWith('.recording')).sort();
  t.deepEqual(forms(), hintsWork() ? ['plugin.core.wasm.recording', 'plugin.core2.wasm.recording', 'plugin.core3.wasm.recording'] : [], 'pull made a recording form for each recorded module, where this Node records');
  const first = await run(sb);
  t.is(first.exitCode, 0, first.stderr);
  t.regex(first.stdout, /^args: \["kubectl-jsecho","hi"\]$/m);
  if (!hintsWork()) {
    t.is(first.compiling, 'compiling');
    t.false(fs.existsSync(hotFile(entry)), 'nothing recorded where V8 does not follow hints');
    return;
  }
  t.is(first.compiling, 'compiling, to record what it compiles');
  t.notRegex(first.stderr, /recording form made/, 'pull made the recording forms: the run reads them');
  const recorded = JSON.parse(fs.readFileSync(hotFile(entry), 'utf8')) as Record<string, number[]>;
  const hot = recorded['plugin.core.wasm'] ?? [];
  // StarlingMonkey calls a few hundred of its ~12,600 functions to run a small plugin.
  t.true(hot.length > 50 && hot.length < place!.count / 10, `${hot.length} functions`);
  t.true(hot.every((i, n) => Number.isSafeInteger(i) && i >= 0 && i < place!.count && (n === 0 || i > hot[n - 1]!)));
  const recordedAt = fs.statSync(hotFile(entry)).mtimeMs;
  const second = await run(sb);
  t.is(second.exitCode, 0, second.stderr);
  t.is(second.compiling, 'compiling, recorded functions ahead');
  t.is(second.stdout, first.stdout);
  t.is(fs.statSync(hotFile(entry)).mtimeMs, recordedAt, 'recorded once');
  t.deepEqual(forms(), [], 'the recording forms are removed once the list is kept');
  // Its list gone, a run records again, making the forms itself: the same functions.
  fs.rmSync(hotFile(entry));
  const again = await run(sb);
  t.is(again.exitCode, 0, again.stderr);
  t.is(again.compiling, 'compiling, to record what it compiles');
  t.regex(again.stderr, /plugin\.core\.wasm: its recording form made/);
  t.deepEqual(JSON.parse(fs.readFileSync(hotFile(entry), 'utf8')), recorded);
  // KREW_WASM_V8_FLAGS replaces krew-wasm's choice of flags, the hints' own included.
  const chosen = await run(sb, { KREW_WASM_V8_FLAGS: '--liftoff-only --wasm-lazy-validation' });
  t.is(chosen.exitCode, 0, chosen.stderr);
  t.is(chosen.compiling, 'compiling');
  t.is(chosen.stdout, first.stdout);
});

/** What a run's trace says of its compile where V8 follows hints, and what it says where it does not. */
const says = (label: string) => (hintsWork() ? label : 'compiling');

test('a run under --max-memory records nothing (its budget does not count the recording form), and follows what a run without one recorded', async (t) => {
  const { sb, entry } = await pulled(t);
  t.is((await krewWasm(sb, ['grant', 'jsecho', '--max-memory', '512'])).exitCode, 0);
  const capped = await run(sb);
  t.is(capped.exitCode, 0, capped.stderr);
  t.is(capped.compiling, 'compiling');
  t.false(fs.existsSync(hotFile(entry)));
  t.is((await krewWasm(sb, ['grant', 'jsecho', '--max-memory', 'none'])).exitCode, 0);
  t.is((await run(sb)).compiling, says('compiling, to record what it compiles'));
  t.is(fs.existsSync(hotFile(entry)), hintsWork());
  t.is((await krewWasm(sb, ['grant', 'jsecho', '--max-memory', '512'])).exitCode, 0);
  const ahead = await run(sb);
  t.is(ahead.exitCode, 0, ahead.stderr);
  t.is(ahead.compiling, says('compiling, recorded functions ahead'));
  t.is(ahead.stdout, capped.stdout);
});

test('a recorded list that does not read is ignored: the run records again', async (t) => {
  const { sb, entry } = await pulled(t);
  fs.writeFileSync(hotFile(entry), '{"plugin.core.wasm":[99999999]}');
  const r = await run(sb);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.compiling, says('compiling, to record what it compiles'));
  t.is(JSON.parse(fs.readFileSync(hotFile(entry), 'utf8'))['plugin.core.wasm'][0] === 99999999, !hintsWork());
});

test('a run records at most MAX_RECORDED_FUNCTIONS functions, all modules together: a module beyond them stays lazy, and the plugin runs as before', async (t) => {
  const { sb, entry } = await pulled(t, 'manyfunctions.wasm', 'many');
  const places = readEntryMeta(entry).compileHints ?? {};
  t.true((places['plugin.core.wasm']?.count ?? 0) > MAX_RECORDED_FUNCTIONS);
  const runMany = () => traced(sb, 'many', []);
  const first = await runMany();
  t.is(first.exitCode, 0, first.stderr);
  t.is(first.stdout, 'hello from wasm\n');
  if (!hintsWork()) return t.is(first.compiling, 'compiling');
  // Its other modules (jco's shims) are recorded; the big one is not.
  t.is(first.compiling, 'compiling, to record what it compiles');
  const recorded = JSON.parse(fs.readFileSync(hotFile(entry), 'utf8')) as Record<string, number[]>;
  t.false('plugin.core.wasm' in recorded);
  t.notRegex(first.stderr, /recording form made/, 'pull made the forms of the modules recorded, and of no other');
  t.true(Object.keys(recorded).length > 0);
  const second = await runMany();
  t.is(second.exitCode, 0, second.stderr);
  t.is(second.compiling, 'compiling, recorded functions ahead');
  t.is(second.stdout, first.stdout);
});

test('a run that cannot write its entry does not record (it would pay for it every run), and runs as before', async (t) => {
  const { sb, entry } = await pulled(t);
  // Immutable (chattr, as a read-only installation would be even to root, who runs the tests).
  const chattr = (flag: string) => spawnSync('chattr', [flag, entry], { encoding: 'utf8' });
  const set = chattr('+i');
  t.is(set.status, 0, `chattr +i: ${set.stderr}`);
  t.teardown(() => chattr('-i'));
  const r = await run(sb);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.compiling, 'compiling');
  t.regex(r.stdout, /^args: \["kubectl-jsecho","hi"\]$/m);
  t.false(fs.existsSync(hotFile(entry)));
  chattr('-i');
  t.is((await run(sb)).compiling, says('compiling, to record what it compiles'));
});

test("a big plugin whose module cannot take its recording form keeps an empty list after its first run, and does not try again", async (t) => {
  const { sb, entry } = await pulled(t, 'exportscompiled.wasm', 'expc');
  t.deepEqual(readEntryMeta(entry).coreModules, ['plugin.core.wasm'], 'one module, which exports krew-wasm:compiled itself');
  const runExpc = () => traced(sb, 'expc', []);
  const first = await runExpc();
  t.is(first.exitCode, 0, first.stderr);
  if (!hintsWork()) {
    t.is(first.compiling, 'compiling');
    return t.false(fs.existsSync(hotFile(entry)));
  }
  t.is(first.compiling, 'compiling, to record what it compiles');
  t.false(fs.existsSync(path.join(entry, 'plugin.core.wasm.recording')), 'pull could make none');
  t.regex(first.stderr, /plugin\.core\.wasm: no recording form/);
  t.deepEqual(JSON.parse(fs.readFileSync(hotFile(entry), 'utf8')), {});
  const second = await runExpc();
  t.is(second.exitCode, 0, second.stderr);
  t.is(second.compiling, 'compiling, recorded functions ahead');
});

test("a big plugin's run sets V8's flags without loading node:v8 where Node gives out its binding, and says nothing of that binding's deprecation", async (t) => {
  const { sb } = await pulled(t);
  t.is((await run(sb)).exitCode, 0, 'the first run, which records (and reads the heap with node:v8)');
  // Whether the run loaded node:v8 (which loads node:stream; the test's stdio, sockets, load that anyway), printed at its exit by a module Node loads first.
  const preload = path.join(sb.home, 'loaded.cjs');
  fs.writeFileSync(preload, `const atStart = new Set(process.moduleLoadList);
process.on('exit', () => require('node:fs').writeSync(2, \`loaded: \${process.moduleLoadList.filter((m) => !atStart.has(m) && m === 'NativeModule v8').join(',')}\\n\`));
`);
  const r = await runLink(sb, 'jsecho', ['hi'], { env: { NODE_OPTIONS: `--require ${preload} --pending-deprecation --throw-deprecation` } });
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /^args: \["kubectl-jsecho","hi"\]$/m);
  t.notRegex(r.stderr, /Deprecation|DEP0/);
  const loaded = /^loaded: (.*)$/m.exec(r.stderr)?.[1];
  t.is(loaded, bindingGivenOut() ? '' : 'NativeModule v8', r.stderr);
});

/** Whether this Node gives V8's binding to process.binding (Node 20 and 22; not Node 24). */
function bindingGivenOut(): boolean {
  const warns = process.noDeprecation;
  process.noDeprecation = true;
  try {
    return typeof (process as unknown as { binding(name: string): { setFlagsFromString?: unknown } }).binding('v8').setFlagsFromString === 'function';
  } catch {
    return false;
  } finally {
    process.noDeprecation = warns;
  }
}

test("a big plugin's run that ends in `err` records all the same: its runs do not record again, and pull's recording forms are removed", async (t) => {
  const { sb, entry } = await pulled(t, 'bigrunerr.wasm', 'bigerr');
  const runErr = () => traced(sb, 'bigerr', []);
  const first = await runErr();
  t.is(first.exitCode, 1, first.stderr);
  if (!hintsWork()) return t.is(first.compiling, 'compiling');
  t.is(first.compiling, 'compiling, to record what it compiles');
  t.deepEqual(Object.keys(JSON.parse(fs.readFileSync(hotFile(entry), 'utf8'))), ['plugin.core.wasm']);
  t.deepEqual(fs.readdirSync(entry).filter((f) => f.endsWith('.recording')), []);
  const second = await runErr();
  t.is(second.exitCode, 1, second.stderr);
  t.is(second.compiling, 'compiling, recorded functions ahead');
});

test('a recording form that is not a regular file of the entry is not read: the run makes the form from the module, and records', async (t) => {
  if (!hintsWork()) return t.pass('no recording where V8 does not follow hints');
  const { sb, entry } = await pulled(t);
  const form = path.join(entry, 'plugin.core.wasm.recording');
  const saved = path.join(entry, '..', 'saved.recording');
  fs.renameSync(form, saved);
  fs.symlinkSync(saved, form);
  const linked = await run(sb);
  t.is(linked.exitCode, 0, linked.stderr);
  t.regex(linked.stderr, /plugin\.core\.wasm: its recording form made/);
  t.true(fs.existsSync(hotFile(entry)));
  fs.rmSync(hotFile(entry));
  t.is(spawnSync('mkfifo', [form]).status, 0);
  const fifo = await run(sb);
  t.is(fifo.exitCode, 0, fifo.stderr);
  t.regex(fifo.stderr, /plugin\.core\.wasm: its recording form made/);
});

test("concurrent first runs of a big plugin all run: one that finds its recording forms removed by another makes them itself", async (t) => {
  const { sb } = await pulled(t);
  const runs = await Promise.all(Array.from({ length: 4 }, () => run(sb)));
  for (const r of runs) {
    t.is(r.exitCode, 0, r.stderr);
    t.regex(r.stdout, /^args: \["kubectl-jsecho","hi"\]$/m);
  }
});

test('a first run cut short by --timeout records nothing (its list would stay short for good), and keeps the recording forms', async (t) => {
  const { sb, entry } = await pulled(t, 'bigloop.wasm', 'bigloop');
  t.is((await krewWasm(sb, ['grant', 'bigloop', '--timeout', '1'])).exitCode, 0);
  const forms = fs.readdirSync(entry).filter((f) => f.endsWith('.recording'));
  const r = await traced(sb, 'bigloop', []);
  t.is(r.exitCode, 124, r.stderr);
  t.is(r.compiling, says('compiling, to record what it compiles'));
  t.false(fs.existsSync(hotFile(entry)));
  t.deepEqual(fs.readdirSync(entry).filter((f) => f.endsWith('.recording')), forms);
});
