import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addCompileHints, calledFunctions, heapHasRoomToRead, HINTED_V8_FLAGS, hintsWork, markEager, readHotFunctions, recordingForm, RECORDING_EXPORT, withHintsSection, writeHotFunctions, type HintsPlace } from '../../src/runtime/compileHints.js';
import { leb128 } from '../../src/runtime/wasmReader.js';
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

test('the recording form: each defined function sets its bit when it is called, and the host reads the bits as the functions called, in index order', async (t) => {
  const bytes = await wat(MODULE);
  const form = recordingForm(bytes);
  if (!form) return t.fail('no recording form');
  t.is(form.functions, 4);
  const { exports } = new WebAssembly.Instance(moduleOf(form.bytes), host);
  t.deepEqual(calledFunctions(exports, form.functions), [], 'nothing called yet');
  t.is((exports.three as () => number)(), 13); // f3, which calls f2
  t.deepEqual(calledFunctions(exports, form.functions), [2, 3]);
  t.is((exports.zero as () => number)(), 10);
  t.is((exports.three as () => number)(), 13);
  t.deepEqual(calledFunctions(exports, form.functions), [0, 2, 3]);
  t.deepEqual(calledFunctions({}, form.functions), [], 'no bitmap: nothing recorded');
});

test('the recording form keeps every index and what the guest sees: its globals, tables, element segments, locals and exports', async (t) => {
  const form = recordingForm(await wat(`(module
    (import "host" "t" (table 1 funcref))
    (import "host" "g" (global $imported (mut i32)))
    (type $r (func (result i32)))
    (table $mine 2 funcref)
    (global $own (mut i64) (i64.const 5))
    (global $fixed f32 (f32.const 1.5))
    (func $a (result i32) (i32.const 1)) (func $b (result i32) (i32.const 2))
    (elem (table $mine) (i32.const 0) func $b $a)
    (elem (table 0) (i32.const 0) func $a)
    (func (export "via") (param i32) (result i32) (call_indirect $mine (type $r) (local.get 0)))
    (func (export "via0") (result i32) (call_indirect 0 (type $r) (i32.const 0)))
    (func (export "locals") (param i32) (result i64) (local i64 i64) (local f32) (local $x i32)
      (local.set $x (i32.add (local.get 0) (i32.const 1)))
      (global.set $imported (local.get $x))
      (global.set $own (i64.add (global.get $own) (i64.extend_i32_u (local.get $x))))
      (global.get $own))
    (export "own" (global $own)) (export "fixed" (global $fixed)))`));
  if (!form) return t.fail('no recording form');
  const imported = new WebAssembly.Global({ value: 'i32', mutable: true }, 0);
  const i = new WebAssembly.Instance(moduleOf(form.bytes), { host: { t: new WebAssembly.Table({ initial: 1, element: 'anyfunc' }), g: imported } }).exports;
  t.deepEqual([(i.via as (n: number) => number)(0), (i.via as (n: number) => number)(1), (i.via0 as () => number)()], [2, 1, 1]);
  t.is((i.locals as (n: number) => bigint)(9), 15n);
  t.is(imported.value, 10);
  t.is((i.own as WebAssembly.Global).value, 15n);
  t.is((i.fixed as WebAssembly.Global).value, 1.5);
  t.deepEqual(calledFunctions(i, form.functions), [0, 1, 2, 3, 4]);
  // A module without globals or exports gets them, each section in its place (before data).
  const bare = recordingForm(await wat('(module (func) (memory 1) (data (i32.const 0) "x") (start 0))'));
  if (!bare) return t.fail('no recording form');
  t.deepEqual(calledFunctions(new WebAssembly.Instance(moduleOf(bare.bytes)).exports, bare.functions), [0], 'called by the start function');
  t.is(recordingForm(await wat('(module (import "host" "a" (func)))')), undefined, 'no function defined: nothing to record');
});

test('the recording form records every function, whatever its type, across many words of its bitmap (the top bit too)', async (t) => {
  const types = ['(result i32 i32) (i32.const 1) (i32.const 2)', '(param v128)', '(param externref)', `(param ${'i32 '.repeat(65)})`];
  const bodies = Array.from({ length: 70 }, (_, n) => `(func $f${n} ${types[n % types.length]})`).join('\n');
  const calls = [0, 5, 31, 32, 63, 64, 69];
  const callOf = (n: number) => {
    const type = n % types.length;
    const args = type === 1 ? '(v128.const i32x4 0 0 0 0)' : type === 2 ? '(ref.null extern)' : type === 3 ? '(i32.const 0) '.repeat(65) : '';
    return `(call $f${n} ${args})${type === 0 ? ' (drop) (drop)' : ''}`;
  };
  const form = recordingForm(await wat(`(module ${bodies} (func (export "run") ${calls.map(callOf).join(' ')}))`));
  if (!form) return t.fail('no recording form');
  t.is(form.functions, 71);
  const { exports } = new WebAssembly.Instance(moduleOf(form.bytes));
  (exports.run as () => void)();
  t.deepEqual(calledFunctions(exports, form.functions), [...calls, 70]);
});

test("the recording form stays inside V8's limits: not made past its exports or globals, and a function that would grow past its size left as it is", async (t) => {
  // At V8's export limit already, or the form's names taken: not recorded, rather than a module V8 refuses.
  t.is(recordingForm(await wat(`(module (func) ${Array.from({ length: 100_000 }, (_, i) => `(export "e${i}" (func 0))`).join(' ')})`)), undefined);
  t.is(recordingForm(await wat(`(module (func) (export "${RECORDING_EXPORT}" (func 0)))`)), undefined);
  t.is(recordingForm(await wat(`(module (func) (export "${RECORDING_EXPORT}/0" (func 0)))`)), undefined);
  // Globals: a word more than V8's 1,000,000 is refused; up to them, the form compiles.
  const withGlobals = (count: number) => rawModule([[1, [1, 0x60, 0, 0]], [3, [1, 0]], [6, [...leb128(count), ...Buffer.alloc(count * 5, Uint8Array.of(0x7f, 0x00, 0x41, 0x00, 0x0b))]], [10, [1, 2, 0, 0x0b]]]);
  t.is(recordingForm(withGlobals(1_000_000)), undefined);
  const fits = recordingForm(withGlobals(999_999));
  t.true(fits !== undefined && WebAssembly.validate(fits.bytes as Uint8Array<ArrayBuffer>));
  // A body V8's limit leaves no room in keeps its bytes: its function is never recorded; the next one is.
  const limit = 7_654_321;
  const big = [0, ...Buffer.alloc(limit - 3, 0x01), 0x0b]; // no locals, nops, end: 3 bytes under the limit
  const small = [0, 0x41, 42, 0x0b];
  const module = rawModule([
    [1, [2, 0x60, 0, 0, 0x60, 0, 1, 0x7f]],
    [3, [2, 0, 1]],
    [7, [2, 3, ...Buffer.from('big'), 0, 0, 5, ...Buffer.from('small'), 0, 1]],
    [10, [2, ...leb128(big.length), ...big, small.length, ...small]],
  ]);
  t.true(WebAssembly.validate(module as Uint8Array<ArrayBuffer>));
  const form = recordingForm(module);
  if (!form) return t.fail('no recording form');
  t.true(WebAssembly.validate(form.bytes as Uint8Array<ArrayBuffer>), 'V8 takes the form');
  const { exports } = new WebAssembly.Instance(moduleOf(form.bytes));
  (exports.big as () => void)();
  t.is((exports.small as () => number)(), 42);
  t.deepEqual(calledFunctions(exports, form.functions), [1]);
});

/** A core module of these sections, each an id and its content. */
function rawModule(sections: [number, number[] | Uint8Array][]): Uint8Array {
  return Buffer.concat([Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]), ...sections.flatMap(([id, content]) => [Uint8Array.of(id), leb128(content.length), Uint8Array.from(content)])]);
}

/** Runs `script` in a Node of its own with the hinted flags (V8's flags are the whole process's). */
function withHintedFlags(script: string): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, ['--allow-natives-syntax', ...HINTED_V8_FLAGS.split(' '), '--liftoff-only', '--wasm-lazy-validation', '-e', script], { encoding: 'utf8', timeout: 30_000 });
}

/** MODULE with each of its four functions exported. */
const ALL_EXPORTED = MODULE.replace('(export "zero" (func $f0))', '(export "zero" (func $f0)) (export "one" (func $f1)) (export "two" (func $f2))');

test("this Node's V8 compiles the functions marked eager before any call, and only those, as hintsWork says", async (t) => {
  const hinted = withHintsSection(await wat(ALL_EXPORTED));
  if (!hinted || hinted === 'refused') return t.fail('no hints section');
  markEager(hinted.bytes, hinted.place, [0, 2]);
  const r = withHintedFlags(`
    WebAssembly.compile(Buffer.from('${Buffer.from(hinted.bytes).toString('base64')}', 'base64')).then((m) => {
      const { exports } = new WebAssembly.Instance(m, { host: { a() {}, b() {} } });
      const compiled = ['zero', 'one', 'two', 'three'].map((name, i) => (%IsUncompiledWasmFunction(exports[name]) ? -1 : i)).filter((i) => i >= 0);
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

test('under the flags of a recording run, the functions the recording form says were called are the ones V8 compiled', async (t) => {
  const hinted = withHintsSection(await wat(ALL_EXPORTED));
  if (!hinted || hinted === 'refused') return t.fail('no hints section');
  const form = recordingForm(hinted.bytes);
  if (!form) return t.fail('no recording form');
  const compileHints = new URL('../../src/runtime/compileHints.js', import.meta.url).href;
  const r = withHintedFlags(`
    import(${JSON.stringify(compileHints)}).then(({ calledFunctions }) => WebAssembly.compile(Buffer.from('${Buffer.from(form.bytes).toString('base64')}', 'base64')).then((m) => {
      const { exports } = new WebAssembly.Instance(m, { host: { a() {}, b() {} } });
      exports.three();
      const compiled = ['zero', 'one', 'two', 'three'].map((name, i) => (%IsUncompiledWasmFunction(exports[name]) ? -1 : i)).filter((i) => i >= 0);
      console.log(JSON.stringify([calledFunctions(exports, ${form.functions}), compiled]));
    }));`);
  if (!hintsWork()) return t.pass('no recording where V8 does not follow hints');
  t.is(r.status, 0, String(r.stderr));
  t.deepEqual(JSON.parse(String(r.stdout)), [[2, 3], [2, 3]]);
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

test('a recording run reads what it compiled only with a quarter of the heap free (its list and the list\'s text take up to a megabyte)', (t) => {
  t.true(heapHasRoomToRead(), 'this process');
  t.true(heapHasRoomToRead({ used_heap_size: 700, heap_size_limit: 1000 }));
  t.false(heapHasRoomToRead({ used_heap_size: 760, heap_size_limit: 1000 }));
});

test('the first readable list kept stays: a second recording run does not replace it, but it does replace a damaged one (attack 92)', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-hints-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const places: Record<string, HintsPlace> = { 'plugin.core.wasm': { offset: 100, count: 10 } };
  t.true(writeHotFunctions(dir, { 'plugin.core.wasm': [1, 2] }, places));
  t.deepEqual(readHotFunctions(dir, places), { 'plugin.core.wasm': [1, 2] });
  // A compiled form made from [1, 2] names it by a 32-bit hash: a later list sharing it must not take its place.
  t.true(writeHotFunctions(dir, { 'plugin.core.wasm': [3, 4] }, places), 'kept, as far as the run is concerned');
  t.deepEqual(readHotFunctions(dir, places), { 'plugin.core.wasm': [1, 2] }, 'the first list stays');
  fs.writeFileSync(path.join(dir, ENTRY_FILES.hotFunctions), '{"plugin.core.wasm":[99]}');
  t.true(writeHotFunctions(dir, { 'plugin.core.wasm': [3, 4] }, places));
  t.deepEqual(readHotFunctions(dir, places), { 'plugin.core.wasm': [3, 4] }, 'a list no run can read is replaced');
  t.deepEqual(fs.readdirSync(dir), [ENTRY_FILES.hotFunctions], 'no temporary file left');
});
