import fs from 'node:fs';
import path from 'node:path';
import { builtin, legacyBinding } from '../builtin.js';
import { ENTRY_FILES } from '../store/entry.js';
import { atomicWriteCache, readRegularText } from '../store/fsutil.js';
import { FUNCTION_TYPE, leb128, MODULE_PREAMBLE, Reader, SECTION, SECTION_ORDER } from './wasmReader.js';

/**
 * Which functions of a big plugin V8 compiles before its run starts, on its background threads,
 * instead of one by one on the main thread at their first call.
 *
 * A big plugin's functions are compiled lazily (runtime/run.ts): a 12.5 MB componentized JS
 * plugin calls ~400 of its ~12,600 functions in a run, and compiling those on their first call was
 * ~23 of the ~31 ms its run took (bench/RESULTS.md, round eleven); compiling all of them before
 * the run costs ~180 ms more. V8 compiles a chosen set ahead when the module carries a
 * `compilationHints` section (a byte per defined function: lazy or eager) and
 * --experimental-wasm-compilation-hints is on, with lazy compilation off so that the hints decide.
 *
 * So at pull every core module of a big plugin gets such a section, all lazy: run as today. The
 * first run records which functions V8 compiled: it runs each hinted module in a recording form,
 * which also holds every defined function in a table it exports, and asks V8 after the run which
 * it compiled (%IsUncompiledWasmFunction). The entry keeps that list (ENTRY_FILES.hotFunctions), and each later
 * run marks those functions eager in the bytes it compiles. A function the list lacks is compiled
 * lazily, as before; a list holding every function compiles what pull's compile check measured.
 *
 * Only the section krew-wasm writes reaches V8's decoder of it: a module that has one of its own
 * gets none, and then no module of the entry does (the flag is the whole process's).
 */
export const HINTS_SECTION = 'compilationHints';
const LAZY = 0x01;
const EAGER = 0x02;
const { custom: CUSTOM_SECTION, type: TYPE_SECTION, import: IMPORT_SECTION, function: FUNCTION_SECTION, table: TABLE_SECTION, export: EXPORT_SECTION, element: ELEMENT_SECTION, code: CODE_SECTION } = SECTION;

/** Where a module's hints are: the offset of its first hint byte in the module's bytes, and how many there are. */
export interface HintsPlace {
  offset: number;
  count: number;
}

/** The flags that make V8 follow the hints (with a big plugin's own, runtime/run.ts). */
export const HINTED_V8_FLAGS = '--experimental-wasm-compilation-hints --no-wasm-lazy-compilation';

/**
 * Whether this V8 follows compilation hints as measured: V8 11.3 and 12.4, Node 20's and 22's. Node
 * 24's V8 13.6 never settles the compile of a module with a hints section (its promise stays
 * pending), and the V8s of Node 21 and 23 were not measured: they run without hints.
 */
export function hintsWork(v8Version = process.versions.v8, arch = process.arch): boolean {
  // x64 only: where it was measured, and where V8 11.3 has the generic JS-to-wasm wrapper the
  // recording relies on (elsewhere each function read after the run compiles one: an attack).
  return arch === 'x64' && /^(11\.3|12\.4)\./.test(v8Version);
}

/**
 * At pull: the module with a hints section placed right before its code section, every function
 * lazy. Undefined for a module that defines no function; 'refused' for one that has a hints
 * section of its own.
 */
export function withHintsSection(bytes: Uint8Array): { bytes: Uint8Array; place: HintsPlace } | 'refused' | undefined {
  const r = new Reader(bytes);
  r.expect(MODULE_PREAMBLE, 'a core module');
  let codeAt: number | undefined;
  let defined = 0;
  while (!r.done()) {
    const start = r.position;
    const id = r.byte();
    const body = r.sub(r.u32());
    if (id === CUSTOM_SECTION && isHintsName(body)) return 'refused';
    if (id === FUNCTION_SECTION) defined = body.u32();
    if (id === CODE_SECTION) codeAt ??= start;
  }
  if (codeAt === undefined || defined === 0) return undefined;
  const name = new TextEncoder().encode(HINTS_SECTION);
  const head = Buffer.concat([leb128(name.length), name, leb128(defined)]);
  const size = leb128(head.length + defined);
  const section = Buffer.concat([Uint8Array.of(CUSTOM_SECTION), size, head, Buffer.alloc(defined, LAZY)]);
  return {
    bytes: Buffer.concat([bytes.subarray(0, codeAt), section, bytes.subarray(codeAt)]),
    place: { offset: codeAt + 1 + size.length + head.length, count: defined },
  };
}

/** A custom section's name, as V8 compares it: its bytes (a name that does not decode is no hints section). */
function isHintsName(body: Reader): boolean {
  const name = body.nameBytes();
  return Buffer.from(name).equals(Buffer.from(HINTS_SECTION));
}

/**
 * At pull: a big plugin's core modules, each with a hints section, replaced in `modules`; where
 * each one's hints are. None when the modules are `bigOver` bytes or fewer together (their runs
 * compile as V8 chooses), or when any of them has a hints section of its own: the flag that makes
 * V8 read them is the whole process's, and V8 would read the plugin's own.
 */
export function addCompileHints(modules: [string, Uint8Array][], bigOver: number): Record<string, HintsPlace> | undefined {
  if (modules.reduce((sum, [, bytes]) => sum + bytes.length, 0) <= bigOver) return undefined;
  const hinted = modules.map(([, bytes]) => withHintsSection(bytes));
  if (hinted.includes('refused')) return undefined;
  const places: Record<string, HintsPlace> = {};
  hinted.forEach((h, i) => {
    if (!h || h === 'refused') return; // a module without functions: nothing to compile
    places[modules[i]![0]] = h.place;
    modules[i] = [modules[i]![0], h.bytes];
  });
  return places;
}

/** At a run: marks the listed functions (indices among the defined ones) eager, in the bytes this run compiles. */
export function markEager(bytes: Uint8Array, place: HintsPlace, functions: readonly number[], hint = EAGER): void {
  for (const index of functions) {
    if (Number.isSafeInteger(index) && index >= 0 && index < place.count) bytes[place.offset + index] = hint;
  }
}

/**
 * The recording form of a hinted module: the same module with one more table, holding every
 * defined function in index order, exported as RECORDING_EXPORT, so that after the run V8 can be
 * asked which it compiled. A table rather than an export per function: V8 makes a function object
 * for each export at instantiation (~17 ms for 12,600), and for a table entry only when it is read.
 * Nothing else changes: no index moves (the table comes after every other), no code runs differently.
 */
export const RECORDING_EXPORT = 'krew-wasm:compiled';

export function recordingForm(bytes: Uint8Array): { bytes: Uint8Array; slots: number[] } | undefined {
  const r = new Reader(bytes);
  r.expect(MODULE_PREAMBLE, 'a core module');
  const sections: Section[] = [];
  while (!r.done()) {
    const start = r.position;
    const id = r.byte();
    const size = r.u32();
    const bodyStart = r.position;
    r.sub(size);
    sections.push({ id, start, end: r.position, body: bytes.subarray(bodyStart, r.position) });
  }
  let importedFunctions = 0;
  let importedTables = 0;
  let simpleTypes: boolean[] = [];
  const slots: number[] = [];
  for (const { id, body } of sections) {
    const b = new Reader(body);
    if (id === TYPE_SECTION) simpleTypes = readSimpleTypes(b);
    if (id === IMPORT_SECTION) {
      for (let n = b.u32(); n > 0; n--) {
        const kind = b.coreImport().kind;
        if (kind === 0) importedFunctions++;
        else if (kind === 1) importedTables++;
      }
    }
    if (id === FUNCTION_SECTION) for (let i = 0, n = b.u32(); i < n; i++) if (simpleTypes[b.u32()]) slots.push(i);
  }
  const exports = vectorOf(sections, EXPORT_SECTION);
  // A module exporting this name already cannot be recorded (two exports of one name).
  const names = new Reader(exports.entries);
  for (let n = exports.count; n > 0; n--) {
    const name = names.name();
    names.byte();
    names.u32();
    if (name === RECORDING_EXPORT) return undefined;
  }
  const table = importedTables + vectorOf(sections, TABLE_SECTION).count;
  // One more export and one more table than the module has: not past V8's limits (a module at its
  // export limit failed every run, found by an attack).
  if (exports.count + 1 > V8_MAX_EXPORTS || table + 1 > V8_MAX_TABLES) return undefined;
  const made = new Map<number, Uint8Array>([
    [TABLE_SECTION, withEntry(TABLE_SECTION, vectorOf(sections, TABLE_SECTION), Uint8Array.of(0x70, 0x00, ...leb128(slots.length)))],
    [EXPORT_SECTION, withEntry(EXPORT_SECTION, exports, Buffer.concat([leb128(RECORDING_EXPORT.length), Buffer.from(RECORDING_EXPORT, 'latin1'), Uint8Array.of(0x01), leb128(table)]))],
    [ELEMENT_SECTION, withEntry(ELEMENT_SECTION, vectorOf(sections, ELEMENT_SECTION), functionsAt(table, importedFunctions, slots))],
  ]);
  const parts: Uint8Array[] = [bytes.subarray(0, MODULE_PREAMBLE.length)];
  // Each made section takes the place of the one it replaces, or goes before the first that follows it.
  const placeBefore = (rank: number) => {
    for (const [id, section] of made) {
      if (SECTION_ORDER.indexOf(id) >= rank) continue;
      parts.push(section);
      made.delete(id);
    }
  };
  for (const s of sections) {
    if (s.id !== CUSTOM_SECTION) placeBefore(SECTION_ORDER.indexOf(s.id) + (made.has(s.id) ? 1 : 0));
    if (s.id !== TABLE_SECTION && s.id !== EXPORT_SECTION && s.id !== ELEMENT_SECTION) parts.push(bytes.subarray(s.start, s.end));
  }
  placeBefore(Infinity);
  return { bytes: Buffer.concat(parts), slots };
}

/**
 * Which of a module's function types are simple: at most one result, and parameters and result
 * of the four number types, at most 64 parameters. V8 gives a function of a simple type the
 * generic JS-to-wasm wrapper when it becomes a function object; any other type, on Node 20, gets
 * a wrapper compiled for it there and then (an attack's 1,100 functions of distinct types with two
 * results took 148 s to read after the run). Only functions of simple types are recorded.
 */
function readSimpleTypes(r: Reader): boolean[] {
  const types: boolean[] = [];
  for (let n = r.u32(); n > 0; n--) {
    if (r.byte() !== FUNCTION_TYPE) return types; // pull refuses other composite types (coreState.ts)
    const numbers = (count: number) => {
      let all = true;
      for (let i = 0; i < count; i++) {
        const b = r.peek();
        r.valueType();
        if (!NUMBER_TYPES.has(b)) all = false;
      }
      return all;
    };
    const paramCount = r.u32();
    const params = numbers(paramCount);
    const resultCount = r.u32();
    const results = numbers(resultCount);
    types.push(params && results && paramCount <= 64 && resultCount <= 1);
  }
  return types;
}

/** i32, i64, f32, f64. */
const NUMBER_TYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c]);

/** V8's limits on a module's exports and tables (wasm-limits.h, kV8MaxWasmExports and kV8MaxWasmTables). */
const V8_MAX_EXPORTS = 100_000;
const V8_MAX_TABLES = 100_000;

interface Section {
  id: number;
  start: number;
  end: number;
  body: Uint8Array;
}


/** A vector section's count and entries (none when the module has no such section). */
function vectorOf(sections: Section[], id: number): { count: number; entries: Uint8Array } {
  const section = sections.find((s) => s.id === id);
  if (!section) return { count: 0, entries: new Uint8Array() };
  const r = new Reader(section.body);
  return { count: r.u32(), entries: r.rest() };
}

/** A vector section made again with one more entry. */
function withEntry(id: number, vector: { count: number; entries: Uint8Array }, entry: Uint8Array): Uint8Array {
  const content = Buffer.concat([leb128(vector.count + 1), vector.entries, entry]);
  return Buffer.concat([Uint8Array.of(id), leb128(content.length), content]);
}

/** An active element segment putting the defined functions at `slots`, in order, at the start of `table`. */
function functionsAt(table: number, imported: number, slots: number[]): Uint8Array {
  const out = Buffer.alloc(16 + slots.length * 5);
  let at = 0;
  const writeLeb = (value: number) => {
    do {
      let byte = value & 0x7f;
      value >>>= 7;
      if (value !== 0) byte |= 0x80;
      out[at++] = byte;
    } while (value !== 0);
  };
  // Flags 2: active, with a table index and an element kind; offset (i32.const 0); kind 0: funcref.
  out[at++] = 0x02;
  writeLeb(table);
  out[at++] = 0x41;
  out[at++] = 0x00;
  out[at++] = 0x0b;
  out[at++] = 0x00;
  writeLeb(slots.length);
  for (const i of slots) writeLeb(imported + i);
  return out.subarray(0, at);
}

/**
 * The most functions a run records, all its modules together: each one is read as a function
 * object after the run, outside --timeout (~35 ms for 50,000 here). The modules beyond it are not
 * recorded: their functions stay lazy.
 */
export const MAX_RECORDED_FUNCTIONS = 50_000;

/** The functions each hinted module compiled in its recording run, as the entry keeps them (ENTRY_FILES.hotFunctions). */
export type HotFunctions = Record<string, number[]>;

/** What the list may weigh: MAX_RECORDED_FUNCTIONS indices of at most six digits, and their commas, with room to spare. */
const MAX_HOT_FUNCTIONS_BYTES = 1024 * 1024;

/**
 * The entry's recorded functions, or undefined when none are (or the file does not read as a list
 * of each module's indices). Read as a regular file only, never through a link, and bounded: a
 * FIFO in its place blocked a run before its --timeout started (found by an attack).
 */
export function readHotFunctions(entryDir: string, places: Record<string, HintsPlace>): HotFunctions | undefined {
  let text: string;
  try {
    text = readRegularText(path.join(entryDir, ENTRY_FILES.hotFunctions), MAX_HOT_FUNCTIONS_BYTES, { followLinks: false });
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null) return undefined;
    const hot: HotFunctions = {};
    for (const [name, list] of Object.entries(value)) {
      const place = places[name];
      if (!place || !Array.isArray(list) || !list.every((i) => Number.isSafeInteger(i) && i >= 0 && i < place.count)) return undefined;
      hot[name] = list as number[];
    }
    return hot;
  } catch {
    return undefined;
  }
}

/** Whether a run may write the entry's list: a run that could not would record, and pay for it, every time. */
export function canRecord(entryDir: string): boolean {
  try {
    fs.accessSync(entryDir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Keeps what a recording run compiled. Best effort, as the code cache: a failed write only means the next run records again. */
export function writeHotFunctions(entryDir: string, hot: HotFunctions): void {
  try {
    atomicWriteCache(path.join(entryDir, ENTRY_FILES.hotFunctions), `${JSON.stringify(hot)}\n`, { durable: false });
  } catch {
    // see above
  }
}

/**
 * After a run of a module's recording form: the defined functions V8 compiled, in index order.
 * Asked through V8's own test function %IsUncompiledWasmFunction, compiled with natives syntax on
 * for this one function and off again before anything else is compiled (no guest code runs
 * after the run; a worker thread's own code has no `%` call).
 */
export function compiledFunctions(exports: WebAssembly.Exports, slots: readonly number[], setFlags: (flags: string) => void, budget = new ReadBudget()): number[] {
  const table = exports[RECORDING_EXPORT];
  if (!(table instanceof WebAssembly.Table)) return [];
  const uncompiled = nativesFunction<(f: unknown) => boolean>(setFlags, ['f'], 'return %IsUncompiledWasmFunction(f)');
  const compiled: number[] = [];
  for (let slot = 0; slot < Math.min(slots.length, table.length); slot++) {
    // Past the run's budget (shared by its modules), the rest count as not compiled: they stay lazy.
    if (budget.spent(slot)) break;
    const f = table.get(slot);
    if (typeof f === 'function' && !uncompiled(f)) compiled.push(slots[slot]!);
  }
  return compiled;
}

/**
 * A function calling V8's test functions (`%Name(...)`), compiled with natives syntax on, which is
 * off again before anything else is compiled: no other code, the guest's glue included, can use it.
 */
export function nativesFunction<T>(setFlags: (flags: string) => void, params: string[], body: string): T {
  setFlags('--allow-natives-syntax');
  try {
    return new Function(...params, body) as T;
  } finally {
    setFlags('--no-allow-natives-syntax');
  }
}

/** The CPU time a recording run may spend reading what it compiled, all its modules together, after the run and outside --timeout. */
export const READ_BUDGET_MS = 100;
/** And the time by the clock: the most that reading may add to a run. */
export const READ_WALL_BUDGET_MS = 1000;

/**
 * What a recording run may spend reading what it compiled (compiledFunctions). Counted in the
 * process's CPU time, which is the main thread's then (the compile is over, the guest has
 * returned): a first run on a busy machine, its thread waiting for a core meanwhile, had read
 * nothing when the clock's 100 ms were gone, and the list it kept was empty for good (found by the
 * suite, run beside other work). The clock still bounds it, at READ_WALL_BUDGET_MS.
 */
export class ReadBudget {
  private readonly cpuEnd: number;
  private readonly wallEnd: number;

  /** `clocks` in milliseconds: the process's CPU time and the clock's (tests give their own). */
  constructor(private readonly clocks = { cpu: cpuMs, wall: () => performance.now() }) {
    this.cpuEnd = clocks.cpu() + READ_BUDGET_MS;
    this.wallEnd = clocks.wall() + READ_WALL_BUDGET_MS;
  }

  /**
   * Before the read-th read: the clock at every one (one read waited ~1 s for V8's garbage
   * collector, found by an attack), the CPU time at every 16th (a system call).
   */
  spent(read = 0): boolean {
    return this.clocks.wall() > this.wallEnd || ((read & 15) === 0 && this.clocks.cpu() > this.cpuEnd);
  }
}

/**
 * Whether V8's heap has room to read what a recording run compiled: each function read becomes a
 * function object. A plugin that left the heap near its limit (its tables hold it) had a run that
 * returned 0 end in V8's fatal out-of-memory while it was read, every run (found by an attack):
 * with less than a quarter of the heap free, nothing is read, and the next run records again.
 */
export function heapHasRoomToRead(heap: { used_heap_size: number; heap_size_limit: number } = heapStatistics()): boolean {
  return heap.used_heap_size < heap.heap_size_limit * 0.75;
}

/** The binding's heap statistics, as v8.getHeapStatistics reads them. */
interface HeapStatisticsBinding {
  updateHeapStatisticsBuffer(): void;
  heapStatisticsBuffer: Float64Array;
  kUsedHeapSizeIndex: number;
  kHeapSizeLimitIndex: number;
}

/**
 * V8's heap use and limit, from the binding node:v8 wraps where Node gives it out (legacyBinding):
 * loading node:v8 after a recording run took 10-13 ms of it (bench/RESULTS.md, round thirteen).
 */
function heapStatistics(): { used_heap_size: number; heap_size_limit: number } {
  const binding = legacyBinding<HeapStatisticsBinding>('v8', ['updateHeapStatisticsBuffer']);
  if (binding?.heapStatisticsBuffer instanceof Float64Array && Number.isInteger(binding.kUsedHeapSizeIndex) && Number.isInteger(binding.kHeapSizeLimitIndex)) {
    binding.updateHeapStatisticsBuffer();
    return { used_heap_size: binding.heapStatisticsBuffer[binding.kUsedHeapSizeIndex]!, heap_size_limit: binding.heapStatisticsBuffer[binding.kHeapSizeLimitIndex]! };
  }
  return builtin<typeof import('node:v8')>('node:v8').getHeapStatistics();
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
