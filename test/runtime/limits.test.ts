import test from 'ava';
import { importDefinedState, MAX_GLOBALS, readCoreState, STATE_MODULE, UncountableModuleError, type CoreState } from '../../src/runtime/coreState.js';
import { makeState, MemoryBudget, OverBudget } from '../../src/runtime/limits.js';
import { classifyFailure } from '../../src/runtime/failure.js';
import { PluginMemoryError, PluginRuntimeError } from '../../src/errors.js';

/**
 * --max-memory's accounting, on real modules in this process: what pull makes of a core module
 * (every memory and table it defines an import the host makes), and the budget that gives each a
 * maximum of its own and refuses an instance that would pass the cap.
 */

async function wat(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const { parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  return (await parse(text)) as Uint8Array<ArrayBuffer>;
}

/** What pull stores, as V8 takes it. */
const prepared = (bytes: Uint8Array<ArrayBuffer>) => importDefinedState(bytes) as Uint8Array<ArrayBuffer>;

const PAGE = 64 * 1024;
const MiB = 1024 * 1024;

/** Each module's state, read once: the budget's plan knows a module by its state, as a run does. */
const states = new WeakMap<Uint8Array, CoreState>();
function stateOf(bytes: Uint8Array): CoreState {
  if (!states.has(bytes)) states.set(bytes, readCoreState(bytes));
  return states.get(bytes)!;
}

/** Instantiates a stored module as a run does: its memories and tables made by the budget (or with their declared limits). */
function instantiate(bytes: Uint8Array<ArrayBuffer>, budget?: MemoryBudget, imports: WebAssembly.Imports = {}): WebAssembly.Instance {
  const state = stateOf(bytes);
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), { ...imports, [STATE_MODULE]: budget ? budget.admit(state, imports) : makeState(state) });
}

test('pull makes every memory and table a module defines an import, after its own imports: every index stays, data and elements land', async (t) => {
  // (Node 20 has one memory per module; tables show the index spaces: imported ones come first.)
  const bytes = await wat(`(module
    (import "env" "t" (table 1 funcref))
    (memory 2 5) (table 4 funcref) (table $own 3 externref)
    (export "mem" (memory 0)) (export "mine" (table $own)) (export "first" (table 1))
    (func $f) (start $f) (elem (table 1) (i32.const 0) func $f) (data (i32.const 0) "x"))`);
  const stored = prepared(bytes);
  t.deepEqual(WebAssembly.Module.imports(new WebAssembly.Module(stored)), [
    { module: 'env', name: 't', kind: 'table' },
    { module: STATE_MODULE, name: 'table0', kind: 'table' },
    { module: STATE_MODULE, name: 'table1', kind: 'table' },
    { module: STATE_MODULE, name: 'memory0', kind: 'memory' },
  ]);
  t.deepEqual(readCoreState(stored), {
    memories: [{ name: 'memory0', initial: 2, maximum: 5, shared: false }],
    tables: [{ name: 'table0', initial: 4, maximum: undefined, element: 'anyfunc' }, { name: 'table1', initial: 3, maximum: undefined, element: 'externref' }],
    tableImports: [{ module: 'env', name: 't' }],
    instanceBytes: 4 * 96 + 8 + 3 * 400 + 400 + 16, // four imports, a function, three exports, one element, a data segment
  });
  const state = makeState(readCoreState(stored));
  const instance = new WebAssembly.Instance(new WebAssembly.Module(stored), { env: { t: new WebAssembly.Table({ initial: 1, element: 'anyfunc' }) }, [STATE_MODULE]: state });
  t.is(instance.exports.mem, state.memory0, 'the exported memory is the one the host made');
  t.is(instance.exports.mine, state.table1);
  t.is(instance.exports.first, state.table0, 'the first defined table, not the imported one');
  t.is(typeof (state.table0 as WebAssembly.Table).get(0), 'function', 'the element segment landed');
  t.is(new Uint8Array((state.memory0 as WebAssembly.Memory).buffer)[0], 'x'.charCodeAt(0), 'the data segment landed');
});

test('a module with no import section gets one in its place (before functions, start, code and data); one defining nothing is left as it is', async (t) => {
  const bytes = await wat('(module (memory 1) (func $f) (start $f) (data (i32.const 0) "x"))');
  t.deepEqual(WebAssembly.Module.imports(new WebAssembly.Module(prepared(bytes))), [{ module: STATE_MODULE, name: 'memory0', kind: 'memory' }]);
  const nothing = await wat('(module (import "env" "m" (memory 1)) (func (export "f")))');
  t.is(importDefinedState(nothing), nothing);
});

test('pull refuses what no limit can count: garbage-collected types, too many globals, 64-bit memories and tables, its own import name', async (t) => {
  const refused = async (text: string, message: RegExp) => {
    const bytes = await wat(text);
    t.throws(() => importDefinedState(bytes), { instanceOf: UncountableModuleError, message }, text.slice(0, 60));
  };
  await refused('(module (type (array i8)))', /garbage-collected types/);
  await refused('(module (type (struct (field i32))))', /garbage-collected types/);
  await refused('(module (rec (type (func)) (type (func))))', /garbage-collected types/);
  await refused(`(module ${'(global i32 (i32.const 0)) '.repeat(MAX_GLOBALS + 1)})`, /more than 10000 globals/);
  await refused('(module (memory i64 1))', /64-bit memory/);
  await refused('(module (table i64 1 funcref))', /it defines a 64-bit table$/);
  await refused(`(module (import "${STATE_MODULE}" "memory0" (memory 1)))`, /krew-wasm's own name/);
  const functions = await wat(`(module (type (func (param i32 funcref externref) (result i64))) (func (type 0) (i64.const 0)) ${'(global i32 (i32.const 0)) '.repeat(MAX_GLOBALS)})`);
  t.notThrows(() => importDefinedState(functions));
});

/** A prepared module with one memory of `initial` pages and an exported `grow`; `extra` adds fields (a start function). */
async function growable(initial: number, extra = ''): Promise<Uint8Array<ArrayBuffer>> {
  return prepared(await wat(`(module (memory ${initial}) ${extra} (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`));
}

test("each planned memory gets its share of the room above everything's initial size as its own maximum", async (t) => {
  const grower = await growable(1);
  const other = await growable(0);
  const budget = new MemoryBudget(10 * MiB, [{ state: stateOf(grower), instances: 1 }, { state: stateOf(other), instances: 1 }]);
  const a = instantiate(grower, budget).exports.grow as (pages: number) => number;
  const b = instantiate(other, budget).exports.grow as (pages: number) => number;
  // 160 pages, less 1 page and 2 x 32 bytes of imports: 79 pages of room each.
  t.is(a(79), 1);
  t.is(a(1), -1, 'past its maximum');
  t.is(b(79), 0);
  t.is(b(1), -1);
});

test('growth in start functions stays within each maximum, and a memory that grew first never crashes the host when a smaller one comes', async (t) => {
  // The attack: a memory grown to 900 pages in a start function, then one of 0 pages, then the big one grows again.
  const big = await growable(0, '(func $s (drop (memory.grow (i32.const 900)))) (start $s)');
  const small = await growable(0);
  const budget = new MemoryBudget(64 * MiB, [{ state: stateOf(big), instances: 1 }, { state: stateOf(small), instances: 1 }]);
  const grow = instantiate(big, budget).exports.grow as (pages: number) => number;
  const own = instantiate(small, budget).exports.grow as (pages: number) => number;
  t.is(grow(0), 0, 'its start function was refused: 900 pages are more than its 511');
  t.is(grow(511), 0);
  t.is(grow(1), -1);
  t.is(own(511), 0);
  t.is(own(1), -1);
});

test('the plan counts each instance jco makes; an instance beyond it keeps its initial sizes, and one that would pass the cap is refused before it is made', async (t) => {
  const module = await growable(16);
  // 4 MiB is 64 pages: two planned instances of 16 pages get 15 pages of room each.
  const budget = new MemoryBudget(4 * MiB, [{ state: stateOf(module), instances: 2 }]);
  for (let i = 0; i < 2; i++) {
    const grow = instantiate(module, budget).exports.grow as (pages: number) => number;
    t.is(grow(15), 16);
    t.is(grow(1), -1);
  }
  t.throws(() => instantiate(module, budget), { instanceOf: OverBudget }, 'a third does not fit in the 2 pages left');

  const zero = await growable(0);
  const once = new MemoryBudget(4 * MiB, [{ state: stateOf(zero), instances: 1 }]);
  const first = instantiate(zero, once).exports.grow as (pages: number) => number;
  const second = instantiate(zero, once).exports.grow as (pages: number) => number;
  t.is(second(1), -1, 'unplanned: its initial 0 pages, no room');
  t.is(first(63), 0, 'planned: the room (64 pages less its import)');
  t.is(first(1), -1);
});

test('each import of a table is charged as V8 holds it (a dispatch table per import), and what an instance holds besides (element segments, exports)', async (t) => {
  const definer = prepared(await wat('(module (table (export "t") 100000 funcref))'));
  const importer = prepared(await wat(`(module ${Array.from({ length: 50 }, (_, i) => `(import "a" "t" (table $t${i} 0 funcref))`).join(' ')})`));
  const budget = new MemoryBudget(16 * MiB, [{ state: stateOf(definer), instances: 1 }, { state: stateOf(importer), instances: 1 }]);
  const table = instantiate(definer, budget).exports.t as WebAssembly.Table;
  t.is(table.length, 100000);
  t.throws(() => table.grow(1), { instanceOf: RangeError }, 'tables keep their initial size under a cap');
  // 50 imports x 100,000 entries x 20 bytes: 100 MB, past 16 MiB.
  t.throws(() => instantiate(importer, budget, { a: { t: table } }), { instanceOf: OverBudget });

  // Each function a segment names may become a JavaScript function object (~380 bytes) in each instance.
  const elements = prepared(await wat(`(module (table 1 funcref) (func $f) (elem $e func ${'$f '.repeat(2000)}))`));
  t.is(stateOf(elements).instanceBytes, 96 + 8 + 400 * 2000, 'its table (an import now), a function and 2,000 elements');
  const segments = new MemoryBudget(4 * MiB, [{ state: stateOf(elements), instances: 1 }]);
  for (let i = 0; i < 4; i++) instantiate(elements, segments);
  t.throws(() => { for (let i = 0; i < 4; i++) instantiate(elements, segments); }, { instanceOf: OverBudget }, 'four instances of 800 KB fit 4 MiB, not eight');

  // V8 makes each exported function's object for each instance: 10,000 exports are charged 4 MB.
  const exports = prepared(await wat(`(module (func $f) ${Array.from({ length: 10000 }, (_, i) => `(export "f${i}" (func $f))`).join(' ')})`));
  t.is(stateOf(exports).instanceBytes, 8 + 400 * 10000);
  const exported = new MemoryBudget(16 * MiB, [{ state: stateOf(exports), instances: 1 }]);
  for (let i = 0; i < 4; i++) instantiate(exports, exported);
  t.throws(() => instantiate(exports, exported), { instanceOf: OverBudget });
});

test('a module V8 will not compile for a declared size beyond its limit is refused by the cap when there is one (Node 24 checks tables against the cap when it compiles)', async (t) => {
  // The engine's own words: Node 24 says them of a table past the cap's --wasm-max-table-size
  // (eight ten-million-entry tables under --max-memory 16: e2e/limits), every Node of a memory past 4 GiB.
  const error = await WebAssembly.compile(await wat('(module (memory 70000))')).then(() => undefined, (e: unknown) => e);
  t.true(error instanceof WebAssembly.CompileError);
  t.regex((error as Error).message, /initial memory size \(70000 pages\) is larger than implementation limit/);
  const outcome = (maxMemoryMiB?: number) => classifyFailure(error, { pluginName: 'big', limits: { maxMemoryMiB }, nearMemoryCap: () => false });
  const capped = outcome(16);
  t.true('error' in capped && capped.error instanceof PluginMemoryError);
  t.is('error' in capped ? capped.error.message : '', 'plugin big exceeded its memory limit of 16 MiB');
  const uncapped = outcome(undefined);
  t.true('error' in uncapped && uncapped.error instanceof PluginRuntimeError);
  t.regex('error' in uncapped ? uncapped.error.message : '', /^plugin big failed to start: .*initial memory size \(70000 pages\) is larger than implementation limit/);
});
