import fs from 'node:fs';
import path from 'node:path';
import { builtin, legacyBinding } from '../builtin.js';
import { ENTRY_FILES, recordingFormFile } from '../store/entry.js';
import { atomicWriteCache, readRegularText } from '../store/fsutil.js';
import { leb128, MODULE_PREAMBLE, moduleSections, Reader, SECTION, SECTION_ORDER, sleb128, writeLeb128, writePaddedLeb128, type ModuleSection } from './wasmReader.js';

/**
 * Which functions of a big plugin V8 compiles before its run starts, on its background threads,
 * instead of one by one on the main thread at their first call.
 *
 * A big plugin's functions are compiled lazily (runtime/compile.ts): a 12.5 MB componentized JS
 * plugin calls ~400 of its ~12,600 functions in a run, and compiling those on their first call was
 * ~23 of the ~31 ms its run took (bench/RESULTS.md, round eleven); compiling all of them before
 * the run costs ~180 ms more. V8 compiles a chosen set ahead when the module carries a
 * `compilationHints` section (a byte per defined function: lazy or eager) and
 * --experimental-wasm-compilation-hints is on, with lazy compilation off so that the hints decide.
 *
 * So at pull every core module of a big plugin gets such a section, all lazy: run as today. The
 * first run records which functions V8 compiled: it runs each hinted module in a recording form,
 * in which each function sets its bit in a bitmap the host reads after the run (a function is
 * compiled at its first call); pull makes the forms, and that run removes them. The entry keeps that list (ENTRY_FILES.hotFunctions), and each later
 * run marks those functions eager in the bytes it compiles. A function the list lacks is compiled
 * lazily, as before; a list holding every function compiles what pull's compile check measured.
 *
 * Only the section krew-wasm writes reaches V8's decoder of it: a module that has one of its own
 * gets none, and then no module of the entry does (the flag is the whole process's).
 */
export const HINTS_SECTION = 'compilationHints';
const LAZY = 0x01;
const EAGER = 0x02;
const { custom: CUSTOM_SECTION, import: IMPORT_SECTION, function: FUNCTION_SECTION, global: GLOBAL_SECTION, export: EXPORT_SECTION, code: CODE_SECTION } = SECTION;

/** Where a module's hints are: the offset of its first hint byte in the module's bytes, and how many there are. */
export interface HintsPlace {
  offset: number;
  count: number;
}

/** The flags that make V8 follow the hints (with a big plugin's own, runtime/compile.ts). */
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
 * The recording form of a hinted module: the same module in which each defined function, first
 * thing, sets its bit in a bitmap the form adds, of mutable i32 globals (function i: bit i % 32 of
 * word i / 32), each exported as `${RECORDING_EXPORT}/<word>`. V8 compiles a function lazily at
 * its first call, so after the run the bits say which functions it compiled, read in a few
 * hundred numbers. Asking V8 of each function instead (%IsUncompiledWasmFunction, through a
 * function object made for each) took ~30 ms at the end of the JS plugin's first run
 * (bench/RESULTS.md, round fourteen).
 * Nothing the guest sees changes: no index moves (the globals come after every other, and no
 * function of the module, validated at pull against fewer, names them), and setting a bit neither
 * traps nor takes stack.
 */
export const RECORDING_EXPORT = 'krew-wasm:compiled';

export function recordingForm(bytes: Uint8Array): { bytes: Uint8Array; functions: number } | undefined {
  const sections = moduleSections(bytes);
  const code = sections.find((s) => s.id === CODE_SECTION);
  const functions = code ? new Reader(code.body).u32() : 0;
  if (!code || functions === 0) return undefined;
  let importedGlobals = 0;
  for (const { id, body } of sections) {
    if (id !== IMPORT_SECTION) continue;
    const b = new Reader(body);
    for (let n = b.u32(); n > 0; n--) if (b.coreImport().kind === 3) importedGlobals++;
  }
  const exports = vectorOf(sections, EXPORT_SECTION);
  // A module exporting a name of the form's already cannot be recorded (two exports of one name).
  const names = new Reader(exports.entries);
  for (let n = exports.count; n > 0; n--) {
    const name = names.name();
    names.byte();
    names.u32();
    if (name.startsWith(RECORDING_EXPORT)) return undefined;
  }
  const globals = vectorOf(sections, GLOBAL_SECTION);
  const firstWord = importedGlobals + globals.count;
  const words = Math.ceil(functions / 32);
  // More exports and globals than the module has: not past V8's limits (a module at its export
  // limit failed every run, found by an attack).
  if (exports.count + words > V8_MAX_EXPORTS || firstWord + words > V8_MAX_GLOBALS) return undefined;
  const wordExports: Uint8Array[] = [];
  for (let word = 0; word < words; word++) {
    const name = Buffer.from(`${RECORDING_EXPORT}/${word}`, 'latin1');
    wordExports.push(leb128(name.length), name, Uint8Array.of(0x03), leb128(firstWord + word));
  }
  const made = new Map<number, Uint8Array>([
    [GLOBAL_SECTION, withEntries(GLOBAL_SECTION, globals, words, Buffer.alloc(words * MUTABLE_I32_ZERO.length, MUTABLE_I32_ZERO))],
    [EXPORT_SECTION, withEntries(EXPORT_SECTION, exports, words, Buffer.concat(wordExports))],
  ]);
  // One buffer, written once: the JS plugin's form is 9.4 MB, and a fresh page's first touch costs.
  const out = Buffer.allocUnsafe(bytes.length + [...made.values()].reduce((sum, s) => sum + s.length, 0) + SECTION_HEAD + functions * MAX_GROWTH);
  out.set(MODULE_PREAMBLE);
  let at = MODULE_PREAMBLE.length;
  const write = (part: Uint8Array) => {
    out.set(part, at);
    at += part.length;
  };
  // Each made section takes the place of the one it replaces, or goes before the first that follows it.
  const placeBefore = (rank: number) => {
    for (const [id, section] of made) {
      if (SECTION_ORDER.indexOf(id) >= rank) continue;
      write(section);
      made.delete(id);
    }
  };
  for (const s of sections) {
    if (s.id !== CUSTOM_SECTION) placeBefore(SECTION_ORDER.indexOf(s.id) + (made.has(s.id) ? 1 : 0));
    if (s.id === CODE_SECTION) at = writeBodiesSettingBits(out, at, s.body, firstWord);
    else if (s.id !== GLOBAL_SECTION && s.id !== EXPORT_SECTION) write(bytes.subarray(s.start, s.end));
  }
  placeBefore(Infinity);
  return { bytes: out.subarray(0, at), functions };
}

/** A mutable i32 global starting at 0: a word of the recording form's bitmap. */
const MUTABLE_I32_ZERO = Uint8Array.of(0x7f, 0x01, 0x41, 0x00, 0x0b);
/** A section's id and its size, written in five bytes (a LEB128 may be padded): sized once its entries are. */
const SECTION_HEAD = 6;
/** The most a body grows: its size one byte longer, and global.get, i32.const and global.set of five-byte LEBs, and i32.or. */
const MAX_GROWTH = 1 + 6 + 6 + 1 + 6;
/** Each bit of a word, as i32.const writes it. */
const BITS = Array.from({ length: 32 }, (_, bit) => sleb128(1 << bit));

/**
 * The code section at `at`, each function's body starting, after its locals, with `global.get w;
 * i32.const bit; i32.or; global.set w` for its own bit. A body that would grow past V8's limit is
 * left as it is: its function is never recorded, and stays lazy. Returns where the section ends.
 */
function writeBodiesSettingBits(out: Uint8Array, sectionAt: number, code: Uint8Array, firstWord: number): number {
  const r = new Reader(code);
  const count = r.u32();
  let at = sectionAt + SECTION_HEAD;
  at = writeLeb128(out, at, count);
  let word = leb128(firstWord);
  for (let i = 0; i < count; i++) {
    const size = r.u32();
    const start = r.position;
    const body = r.sub(size);
    for (let n = body.u32(); n > 0; n--) {
      body.u32();
      body.valueType();
    }
    const localsEnd = start + body.position;
    if (i % 32 === 0) word = leb128(firstWord + i / 32);
    const bit = BITS[i % 32]!;
    const grows = 2 * (1 + word.length) + 1 + bit.length + 1;
    if (size + grows > V8_MAX_FUNCTION_SIZE) {
      at = writeLeb128(out, at, size);
      out.set(code.subarray(start, start + size), at);
      at += size;
      continue;
    }
    at = writeLeb128(out, at, size + grows);
    out.set(code.subarray(start, localsEnd), at);
    at += localsEnd - start;
    out[at++] = 0x23; // global.get
    out.set(word, at);
    at += word.length;
    out[at++] = 0x41; // i32.const
    out.set(bit, at);
    at += bit.length;
    out[at++] = 0x72; // i32.or
    out[at++] = 0x24; // global.set
    out.set(word, at);
    at += word.length;
    out.set(code.subarray(localsEnd, start + size), at);
    at += start + size - localsEnd;
  }
  r.end();
  out[sectionAt] = CODE_SECTION;
  writePaddedLeb128(out, sectionAt + 1, at - sectionAt - SECTION_HEAD);
  return at;
}

/** V8's limits on a module's exports and globals, and on a function's body (wasm-limits.h: kV8MaxWasmExports, kV8MaxWasmGlobals, kV8MaxWasmFunctionSize). */
const V8_MAX_EXPORTS = 100_000;
const V8_MAX_GLOBALS = 1_000_000;
const V8_MAX_FUNCTION_SIZE = 7_654_321;

/** A vector section's count and entries (none when the module has no such section). */
function vectorOf(sections: ModuleSection[], id: number): { count: number; entries: Uint8Array } {
  const section = sections.find((s) => s.id === id);
  if (!section) return { count: 0, entries: new Uint8Array() };
  const r = new Reader(section.body);
  return { count: r.u32(), entries: r.rest() };
}

/** A vector section made again with `count` more entries. */
function withEntries(id: number, vector: { count: number; entries: Uint8Array }, count: number, entries: Uint8Array): Uint8Array {
  const content = Buffer.concat([leb128(vector.count + count), vector.entries, entries]);
  return Buffer.concat([Uint8Array.of(id), leb128(content.length), content]);
}

/**
 * The most functions a run records, all its modules together: their recording forms export a
 * global for each 32, of which V8 makes an object each at instantiation. The modules beyond it are
 * not recorded: their functions stay lazy.
 */
export const MAX_RECORDED_FUNCTIONS = 50_000;

/**
 * The hinted modules a first run records, in their recording form: each instantiated once (the
 * instances of one would share no bitmap), up to MAX_RECORDED_FUNCTIONS functions in all.
 */
export function modulesToRecord(places: Record<string, HintsPlace>, coreModules: readonly string[], instantiations: Record<string, number> = {}): string[] {
  const recorded: string[] = [];
  let functions = 0;
  for (const [name, place] of Object.entries(places)) {
    if (!coreModules.includes(name) || functions + place.count > MAX_RECORDED_FUNCTIONS || (instantiations[name] ?? 1) !== 1) continue;
    recorded.push(name);
    functions += place.count;
  }
  return recorded;
}

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

/**
 * Keeps what a recording run compiled; whether it could. Best effort, as the code cache: a failed
 * write only means the next run records again. A readable list kept already stays (two first runs
 * at once both record): a compiled form names the list it was made from by a 32-bit hash, and a
 * second list of the same length and hash, which a plugin can choose, written after the form was
 * made, would have later runs take a form made for another list (attack 92).
 */
export function writeHotFunctions(entryDir: string, hot: HotFunctions, places: Record<string, HintsPlace>): boolean {
  const file = path.join(entryDir, ENTRY_FILES.hotFunctions);
  const text = `${JSON.stringify(hot)}\n`;
  try {
    atomicWriteCache(file, text, { durable: false, replace: false });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return false;
  }
  if (readHotFunctions(entryDir, places) !== undefined) return true; // the first list kept stays
  try {
    atomicWriteCache(file, text, { durable: false });
    return true;
  } catch {
    return false;
  }
}

/** Once the list is kept: the recording forms pull made (9 MB for the JS plugin), which no run reads again. Best effort. */
export function removeRecordingForms(entryDir: string, modules: readonly string[]): void {
  for (const name of modules) {
    try {
      fs.rmSync(path.join(entryDir, recordingFormFile(name)), { force: true });
    } catch {
      // a form left behind costs its disk space only: no run reads it once the list is kept
    }
  }
}

/**
 * After a run of a module's recording form: the defined functions it called, so V8 compiled, in
 * index order, read from the form's bitmap (recordingForm).
 */
export function calledFunctions(exports: WebAssembly.Exports, functions: number): number[] {
  const called: number[] = [];
  for (let word = 0; word * 32 < functions; word++) {
    const global = exports[`${RECORDING_EXPORT}/${word}`];
    if (!(global instanceof WebAssembly.Global)) return [];
    const bits = Number(global.value) >>> 0;
    for (let bit = 0; bit < 32 && bits >>> bit !== 0; bit++) if ((bits >>> bit) & 1) called.push(word * 32 + bit);
  }
  return called.filter((i) => i < functions);
}

/**
 * Whether V8's heap has room to read what a recording run compiled: the list and its text take up
 * to a megabyte. A plugin that left the heap near its limit (its tables hold it) had a run that
 * returned 0 end in V8's fatal out-of-memory while it was read, every run (found by an attack, when
 * each function read was a function object):
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
