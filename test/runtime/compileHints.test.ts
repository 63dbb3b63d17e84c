import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { addCompileHints, compiledFunctions, heapHasRoomToRead, HINTED_V8_FLAGS, hintsWork, markEager, READ_BUDGET_MS, READ_WALL_BUDGET_MS, ReadBudget, readHotFunctions, recordingForm, RECORDING_EXPORT, withHintsSection, type HintsPlace } from '../../src/runtime/compileHints.js';
import { ENTRY_FILES } from '../../src/store/entry.js';

/**
 * Compilation hints (runtime/compileHints.ts): the section pull writes, the eager marks a run
 * makes from the recorded functions, the recording form, and what V8 does with them. Real modules,
 * made from WAT by wasm-tools.
 */

async function wat(text: string): Promise<Uint8Array> {
  const { parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  return parse(text);
}

/** Two imported functions, then four defined ones returning 10, 11, 12, 13; two exported. */
const MODULE = `(module
  (import "host" "a" (func $a))
  (import "host" "b" (func $b (param i32)))
  (memory 1)
  (func $f0 (result i32) (i32.const 10))
  (func $f1 (result i32) (i32.const 11))
  (func $f2 (result i32) (i32.const 12))
  (func $f3 (result i32) (call $f2) (drop) (i32.const 13))
  (export "zero" (func $f0))
  (export "three" (func $f3))
  (data (i32.const 0) "data"))`;

const host = { host: { a: () => {}, b: () => {} } };
const moduleOf = (bytes: Uint8Array) => new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);

test('pull puts a hints section before the code section, a lazy byte per defined function, and the module runs as before', async (t) => {
  const bytes = await wat(MODULE);
  const hinted = withHintsSection(bytes);
  if (!hinted || hinted === 'refused') return t.fail('no hints section');
  t.deepEqual(hinted.place.count, 4);
  t.deepEqual([...hinted.bytes.subarray(hinted.place.offset, hinted.place.offset + 4)], [1, 1, 1, 1]);
  // The section's name just before its bytes; the code section (id 10) right after them.
  const name = Buffer.from('compilationHints');
  t.true(Buffer.from(hinted.bytes.subarray(hinted.place.offset - 1 - name.length, hinted.place.offset - 1)).equals(name));
  t.is(hinted.bytes[hinted.place.offset + 4], 10);
  t.is(hinted.bytes.length, bytes.length + 1 + 1 + 1 + name.length + 1 + 4);
  const instance = new WebAssembly.Instance(moduleOf(hinted.bytes), host);
  t.is((instance.exports.zero as () => number)(), 10);
  t.is((instance.exports.three as () => number)(), 13);
  t.is(withHintsSection(await wat('(module (import "host" "a" (func)))')), undefined, 'no function defined: nothing to hint');
});

test("a module with a compilationHints section of its own gets none, and then no module of the plugin does: V8 would read the plugin's own", async (t) => {
  const own = await wat(`(module (func) (@custom "compilationHints" (before code) "\\01\\02"))`);
  t.is(withHintsSection(own), 'refused');
  const plain = await wat(MODULE);
  const modules: [string, Uint8Array][] = [['a.core.wasm', plain], ['a.core2.wasm', own]];
  t.is(addCompileHints(modules, 0), undefined);
  t.is(modules[0]![1], plain, 'left as it was');
  // Not a big plugin: its modules are left alone.
  const small: [string, Uint8Array][] = [['a.core.wasm', plain]];
  t.is(addCompileHints(small, plain.length), undefined);
  t.is(small[0]![1], plain);
  const big: [string, Uint8Array][] = [['a.core.wasm', plain], ['a.core2.wasm', await wat('(module (memory 1))')]];
  const places = addCompileHints(big, plain.length - 1);
  t.deepEqual(Object.keys(places ?? {}), ['a.core.wasm'], 'a module without functions has no hints');
  t.not(big[0]![1], plain);
});

test('a run marks the recorded functions eager, and nothing outside the hints', async (t) => {
  const hinted = withHintsSection(await wat(MODULE));
  if (!hinted || hinted === 'refused') return t.fail('no hints section');
  const bytes = Uint8Array.from(hinted.bytes);
  const before = Uint8Array.from(bytes);
  markEager(bytes, hinted.place, [1, 3, 4, -1, 2.5, Number.NaN, 1e9]);
  const { offset } = hinted.place;
  t.deepEqual([...bytes.subarray(offset, offset + 4)], [1, 2, 1, 2]);
  bytes[offset + 1] = 1;
  bytes[offset + 3] = 1;
  t.deepEqual(bytes, before, 'no other byte changed');
});

test('the recording form holds every defined function in a table of its own, in index order; no index moves, and its exports and tables stay', async (t) => {
  const bytes = await wat(MODULE);
  const form = recordingForm(bytes);
  if (!form) return t.fail('no recording form');
  t.deepEqual(form.slots, [0, 1, 2, 3]);
  const { exports } = new WebAssembly.Instance(moduleOf(form.bytes), host);
  const table = exports[RECORDING_EXPORT] as WebAssembly.Table;
  t.is(table.length, 4);
  t.deepEqual([0, 1, 2, 3].map((i) => (table.get(i) as () => number)()), [10, 11, 12, 13]);
  t.is((exports.three as () => number)(), 13);
  // Tables and element segments of its own, imported and defined: its calls through them are unchanged.
  const own = recordingForm(await wat(`(module
    (import "host" "t" (table 1 funcref))
    (type $r (func (result i32)))
    (table $mine 2 funcref)
    (func $a (result i32) (i32.const 1)) (func $b (result i32) (i32.const 2))
    (elem (table $mine) (i32.const 0) func $b $a)
    (elem (table 0) (i32.const 0) func $a)
    (func (export "via") (param i32) (result i32) (call_indirect $mine (type $r) (local.get 0)))
    (func (export "via0") (result i32) (call_indirect 0 (type $r) (i32.const 0))))`));
  if (!own) return t.fail('no recording form');
  const imported = new WebAssembly.Table({ initial: 1, element: 'anyfunc' });
  const i = new WebAssembly.Instance(moduleOf(own.bytes), { host: { t: imported } }).exports;
  t.deepEqual([(i.via as (n: number) => number)(0), (i.via as (n: number) => number)(1), (i.via0 as () => number)()], [2, 1, 1]);
  t.deepEqual([0, 1].map((n) => ((i[RECORDING_EXPORT] as WebAssembly.Table).get(n) as () => number)()), [1, 2]);
  // A module without any of those sections gets them, each in its place (before data).
  const bare = recordingForm(await wat('(module (func (result i32) (i32.const 7)) (memory 1) (data (i32.const 0) "x"))'));
  if (!bare) return t.fail('no recording form');
  t.is(((new WebAssembly.Instance(moduleOf(bare.bytes)).exports[RECORDING_EXPORT] as WebAssembly.Table).get(0) as () => number)(), 7);
  // At V8's export limit already: not recorded, rather than a module V8 refuses.
  const full = await wat(`(module (func) ${Array.from({ length: 100_000 }, (_, i) => `(export "e${i}" (func 0))`).join(' ')})`);
  t.is(recordingForm(full), undefined);
  // Its name taken already: not recorded, rather than a module V8 refuses.
  t.is(recordingForm(await wat(`(module (func) (export "${RECORDING_EXPORT}" (func 0)))`)), undefined);
});

test('after a run of the recording form, V8 says which functions it compiled; natives syntax is off again', async (t) => {
  // A module of its own (V8 shares a compiled module between equal bytes within a process).
  const form = recordingForm(await wat(MODULE.replace('"data"', '"compiledFunctions"')));
  if (!form) return t.fail('no recording form');
  const instance = new WebAssembly.Instance(moduleOf(form.bytes), host);
  (instance.exports.three as () => number)(); // calls f3, which calls f2
  const flags: string[] = [];
  const compiled = compiledFunctions(instance.exports, form.slots, (f) => {
    flags.push(f);
    v8.setFlagsFromString(f);
  });
  t.deepEqual(compiled, [2, 3]);
  t.deepEqual(flags, ['--allow-natives-syntax', '--no-allow-natives-syntax']);
  t.throws(() => new Function('f', 'return %IsUncompiledWasmFunction(f)'), { instanceOf: SyntaxError });
});

test("only functions of simple types are recorded (V8's generic wrapper makes them function objects; others would each compile one)", async (t) => {
  const form = recordingForm(await wat(`(module
    (func (result i32) (i32.const 0))
    (func (param i64 f32 f64) (result f64) (f64.const 1))
    (func (result i32 i32) (i32.const 1) (i32.const 2))
    (func (param v128))
    (func (param externref))
    (func (param ${'i32 '.repeat(65)}))
    (func (param ${'i32 '.repeat(64)}) (result i64) (i64.const 3))
    (func))`));
  if (!form) return t.fail('no recording form');
  t.deepEqual(form.slots, [0, 1, 6, 7]);
  const table = new WebAssembly.Instance(moduleOf(form.bytes)).exports[RECORDING_EXPORT] as WebAssembly.Table;
  t.is(table.length, 4);
  t.is((table.get(2) as (...a: number[]) => bigint)(), 3n, 'slot 2 holds function 6');
  // Reading is bounded in time: the slots past READ_BUDGET_MS are not read, and count as not compiled.
  const wasmFunction = new WebAssembly.Instance(moduleOf(await wat('(module (func (export "f")))'))).exports.f;
  let reads = 0;
  const slow = Object.setPrototypeOf({ length: 4096, get: () => {
    reads++;
    const cpu = () => process.cpuUsage().user / 1000;
    const until = cpu() + READ_BUDGET_MS / 20; // each read a twentieth of the budget, in this thread's CPU time
    while (cpu() < until);
    return wasmFunction;
  } }, WebAssembly.Table.prototype) as WebAssembly.Table;
  const compiled = compiledFunctions({ [RECORDING_EXPORT]: slow }, Array.from({ length: 4096 }, (_, i) => i), (f) => v8.setFlagsFromString(f));
  t.true(reads > 0 && reads <= 64, `${reads} of 4096 read: the budget is checked every 16`);
  t.is(compiled.length, 0, 'never called: not compiled');
});

/** Runs `script` in a Node of its own with the hinted flags (V8's flags are the whole process's). */
function withHintedFlags(script: string): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, ['--allow-natives-syntax', ...HINTED_V8_FLAGS.split(' '), '--liftoff-only', '--wasm-lazy-validation', '-e', script], { encoding: 'utf8', timeout: 30_000 });
}

test("this Node's V8 compiles the functions marked eager before any call, and only those, as hintsWork says", async (t) => {
  const hinted = withHintsSection(await wat(MODULE));
  if (!hinted || hinted === 'refused') return t.fail('no hints section');
  markEager(hinted.bytes, hinted.place, [0, 2]);
  const form = recordingForm(hinted.bytes);
  if (!form) return t.fail('no recording form');
  const r = withHintedFlags(`
    WebAssembly.compile(Buffer.from('${Buffer.from(form.bytes).toString('base64')}', 'base64')).then((m) => {
      const { exports } = new WebAssembly.Instance(m, { host: { a() {}, b() {} } });
      const compiled = [0, 1, 2, 3].filter((i) => !%IsUncompiledWasmFunction(exports['${RECORDING_EXPORT}'].get(i)));
      console.log(JSON.stringify(compiled));
    });`);
  if (hintsWork()) {
    t.is(r.status, 0, String(r.stderr));
    t.is(String(r.stdout).trim(), '[0,2]');
  } else {
    // Node 24's V8 (13.6) never settles such a compile: nothing is printed, the process just ends.
    t.is(String(r.stdout).trim(), '', 'this V8 follows hints now: measure it, and let hintsWork say so');
  }
});

test('hints are used on V8 11.3 and 12.4 (Node 20 and 22) on x64, where they were measured, and not on others', (t) => {
  t.true(hintsWork('11.3.244.8-node.38', 'x64'));
  t.true(hintsWork('12.4.254.21-node.33', 'x64'));
  t.false(hintsWork('13.6.233.17-node.32', 'x64'));
  t.false(hintsWork('11.8.172.17-node.19', 'x64'), 'Node 21: not measured');
  t.false(hintsWork('12.9.202.28-node.12', 'x64'), 'Node 23: not measured');
  t.false(hintsWork('10.2.154.26-node.26', 'x64'));
  t.false(hintsWork('garbage', 'x64'));
  t.false(hintsWork('11.3.244.8-node.38', 'arm64'), 'measured on x64 only');
  t.false(hintsWork('11.3.244.8-node.38', 's390x'), 'no generic wrapper there on V8 11.3');
});

test("a run reads the recorded functions only as lists of each hinted module's indices", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-hints-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const places: Record<string, HintsPlace> = { 'plugin.core.wasm': { offset: 100, count: 10 }, 'plugin.core2.wasm': { offset: 50, count: 2 } };
  const write = (text: string) => fs.writeFileSync(path.join(dir, ENTRY_FILES.hotFunctions), text);
  t.is(readHotFunctions(dir, places), undefined, 'none recorded');
  write('{"plugin.core.wasm":[0,3,9],"plugin.core2.wasm":[]}');
  t.deepEqual(readHotFunctions(dir, places), { 'plugin.core.wasm': [0, 3, 9], 'plugin.core2.wasm': [] });
  for (const bad of ['{"plugin.core.wasm":[10]}', '{"plugin.core.wasm":[-1]}', '{"plugin.core.wasm":[1.5]}', '{"plugin.core.wasm":"0"}', '{"other.core.wasm":[0]}', '[1,2]', 'null', '{', '']) {
    write(bad);
    t.is(readHotFunctions(dir, places), undefined, bad);
  }
  // Only a regular file of the entry, read without waiting: not a FIFO (which blocked a run), not a link.
  const file = path.join(dir, ENTRY_FILES.hotFunctions);
  fs.rmSync(file);
  spawnSync('mkfifo', [file]);
  t.true(fs.statSync(file).isFIFO());
  t.is(readHotFunctions(dir, places), undefined, 'a FIFO');
  fs.rmSync(file);
  const elsewhere = path.join(dir, 'elsewhere.json');
  fs.writeFileSync(elsewhere, '{"plugin.core.wasm":[1]}');
  fs.symlinkSync(elsewhere, file);
  t.is(readHotFunctions(dir, places), undefined, 'a link');
  fs.rmSync(file);
  write(`{"plugin.core.wasm":[${'1,'.repeat(600_000)}1]}`);
  t.is(readHotFunctions(dir, places), undefined, 'over a megabyte');
});

test.serial('what reading the compiled functions may spend is counted in CPU time, which waiting does not spend, and bounded by the clock', (t) => {
  const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  const waited = new ReadBudget();
  sleep(READ_BUDGET_MS * 1.5);
  t.false(waited.spent(), 'waiting spends none of it, as a thread waiting for a core would not');
  const busy = new ReadBudget();
  const cpu = () => process.cpuUsage().user / 1000;
  const until = cpu() + READ_BUDGET_MS * 1.2; // by this thread's own work, however long the clock takes
  while (cpu() < until);
  t.true(busy.spent());
  const clock = new ReadBudget();
  sleep(READ_WALL_BUDGET_MS + 20);
  t.true(clock.spent(5));
});

test('the reading budget asks the clock at every read, and the CPU time at every 16th (a system call)', (t) => {
  const now = { cpu: 0, wall: 0 };
  const budget = new ReadBudget({ cpu: () => now.cpu, wall: () => now.wall });
  now.cpu = READ_BUDGET_MS + 1;
  t.false(budget.spent(5), 'CPU time is not asked at the 5th read');
  t.true(budget.spent(16));
  now.cpu = 0;
  now.wall = READ_WALL_BUDGET_MS + 1;
  t.true(budget.spent(5), 'the clock is, at every read: one read can wait ~1 s for the garbage collector');
});

test('a recording run reads what it compiled only with a quarter of the heap free (each function read is an object)', (t) => {
  t.true(heapHasRoomToRead(), 'this process');
  t.true(heapHasRoomToRead({ used_heap_size: 700, heap_size_limit: 1000 }));
  t.false(heapHasRoomToRead({ used_heap_size: 760, heap_size_limit: 1000 }));
});
