import test from 'ava';
import { checkNoGcTypes, exposeCoreState, GcTypesError, readCoreState } from '../../src/runtime/coreState.js';
import { MemoryBudget, OverBudget, waterLevel } from '../../src/runtime/limits.js';

/**
 * --max-memory's accounting, on real modules in this process: the water level V8's growth limits
 * are set to, what pull exports so that every memory and table is measured, and the budget against
 * start functions that grow what the host cannot see.
 */

async function wat(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const { parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  return (await parse(text)) as Uint8Array<ArrayBuffer>;
}

/** What pull writes, as V8 takes it. */
const exposed = (bytes: Uint8Array<ArrayBuffer>) => exposeCoreState(bytes) as Uint8Array<ArrayBuffer>;

const PAGE = 64 * 1024;

test('the water level is the highest limit at which everything growing to it stays within the growth', (t) => {
  t.is(waterLevel([0, 0, 0, 0], 400), 100);
  t.is(waterLevel([10, 90], 100), 100, 'the small one fills up to the big one, then both share');
  t.is(waterLevel([10, 1000], 100), 110, 'a big one above the level takes nothing');
  t.is(waterLevel([5], 0), 5, 'no growth: the limit is the size itself');
  t.is(waterLevel([3, 4], 0), 3);
  t.is(waterLevel([], 10), Infinity);
  for (const [sizes, growth] of [[[1, 7, 7, 20], 33], [[0, 100, 3], 50], [[17, 17], 1]] as [number[], number][]) {
    const level = waterLevel(sizes, growth);
    const grown = (l: number) => sizes.reduce((s, size) => s + Math.max(0, l - size), 0);
    t.true(grown(level) <= growth && grown(level + 1) > growth, `${sizes} + ${growth}: ${level}`);
  }
});

test('pull exports every memory and table a core module defines and keeps to itself, and nothing else changes', async (t) => {
  // (Node 20 has one memory per module; tables show the index spaces: imported ones come first.)
  const bytes = await wat(`(module
    (import "env" "t" (table 1 funcref))
    (memory 2) (table 4 funcref) (table $own 3 funcref)
    (export "krew-wasm:memory0" (func $f)) (export "mine" (table $own))
    (func $f) (start $f) (data (i32.const 0) "x"))`);
  t.deepEqual(readCoreState(bytes), { memories: [{ initial: 2 }], tables: [{ initial: 4 }, { initial: 3, exportName: 'mine' }] });
  const module = new WebAssembly.Module(exposed(bytes));
  t.deepEqual(WebAssembly.Module.exports(module), [
    { name: 'krew-wasm:memory0', kind: 'function' },
    { name: 'mine', kind: 'table' },
    { name: 'krew-wasm:memory0_', kind: 'memory' },
    { name: 'krew-wasm:table0', kind: 'table' },
  ]);
  t.deepEqual(readCoreState(exposed(bytes)), {
    memories: [{ initial: 2, exportName: 'krew-wasm:memory0_' }],
    tables: [{ initial: 4, exportName: 'krew-wasm:table0' }, { initial: 3, exportName: 'mine' }],
  });
  const instance = new WebAssembly.Instance(module, { env: { t: new WebAssembly.Table({ initial: 1, element: 'anyfunc' }) } });
  t.is((instance.exports['krew-wasm:memory0_'] as WebAssembly.Memory).buffer.byteLength, 2 * PAGE);
  t.is((instance.exports['krew-wasm:table0'] as WebAssembly.Table).length, 4, 'the defined table, not the imported one');
  t.is(new Uint8Array((instance.exports['krew-wasm:memory0_'] as WebAssembly.Memory).buffer)[0], 'x'.charCodeAt(0), 'data still lands');
});

test('a module with no export section gets one in its place (before start, code and data), and one exporting all is left as it is', async (t) => {
  const bytes = await wat('(module (memory 1) (func $f) (start $f) (data (i32.const 0) "x"))');
  t.deepEqual(WebAssembly.Module.exports(new WebAssembly.Module(exposed(bytes))), [{ name: 'krew-wasm:memory0', kind: 'memory' }]);
  const exporting = await wat('(module (memory (export "memory") 1) (table (export "t") 1 funcref))');
  t.is(exposeCoreState(exporting), exporting);
});

test('the budget refuses what start functions grow out of sight: an unexported memory counts as grown to its limit', async (t) => {
  // A start function that grows its own, unexported memory by 20 pages.
  const hidden = await wat('(module (memory 1) (func $s (drop (memory.grow (i32.const 20)))) (start $s))');
  const cap = 128 * PAGE;
  const budget = new MemoryBudget(cap);
  budget.admit(readCoreState(hidden));
  budget.track(new WebAssembly.Instance(new WebAssembly.Module(hidden), {}));
  // Its growth cannot be seen, so it is taken to have used all it could: a second is refused.
  t.throws(() => budget.admit(readCoreState(hidden)), { instanceOf: OverBudget });

  // Exposed, the same memories are measured: six grow, two more fit at 1 page, a ninth is refused.
  const visible = exposed(hidden);
  const measured = new MemoryBudget(cap);
  const pages: number[] = [];
  for (let i = 0; i < 8; i++) {
    measured.admit(readCoreState(visible));
    const instance = new WebAssembly.Instance(new WebAssembly.Module(visible), {});
    measured.track(instance);
    pages.push((instance.exports['krew-wasm:memory0'] as WebAssembly.Memory).buffer.byteLength / PAGE);
  }
  t.deepEqual(pages, [21, 21, 21, 21, 21, 21, 1, 1]);
  t.throws(() => measured.admit(readCoreState(visible)), { instanceOf: OverBudget });
});

test('the budget shares growth between tables and memories, in start functions too', async (t) => {
  // Each start function grows its memory a page at a time and its table 1,000 entries at a time, until refused.
  const greedy = await wat(`(module (memory (export "m") 0) (table (export "t") 0 funcref)
    (func $s
      (loop $more (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
      (loop $more (br_if $more (i32.ne (table.grow (ref.null func) (i32.const 1000)) (i32.const -1)))))
    (start $s))`);
  const cap = 16 * 1024 * 1024;
  const budget = new MemoryBudget(cap);
  const sizes: [number, number][] = [];
  for (let i = 0; i < 3; i++) {
    budget.admit(readCoreState(greedy));
    const instance = new WebAssembly.Instance(new WebAssembly.Module(greedy), {});
    budget.track(instance);
    sizes.push([(instance.exports.m as WebAssembly.Memory).buffer.byteLength, (instance.exports.t as WebAssembly.Table).length * 32]);
  }
  budget.seal();
  const total = sizes.reduce((sum, [m, t]) => sum + m + t, 0);
  t.true(total <= cap, `${total} bytes`);
  t.true(sizes[0]![0] >= cap * 0.8 && sizes[0]![1] >= cap * 0.1, `the first took its shares: ${sizes[0]}`);
  t.deepEqual(sizes.slice(1), [[0, 0], [0, 0]], 'the others found nothing left');
});

test('a module that defines garbage-collected types is refused, one of function types alone is not', async (t) => {
  const functions = await wat('(module (type (func (param i32 funcref externref) (result i64))) (func (type 0) (i64.const 0)) (func (param (ref null func))))');
  t.notThrows(() => checkNoGcTypes(functions));
  for (const types of ['(type (array i8))', '(type (struct (field i32)))', '(rec (type (func)) (type (func)))', '(type (sub (func)))']) {
    const bytes = await wat(`(module ${types})`);
    t.throws(() => checkNoGcTypes(bytes), { instanceOf: GcTypesError }, types);
  }
});
