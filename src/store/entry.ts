import { crypto } from '../builtin.js';
import fs from 'node:fs';
import path from 'node:path';
import type { WasmKind } from '../runtime/component.js';
import type { HintsPlace } from '../runtime/compileHints.js';
import type { CoreState } from '../runtime/coreState.js';
import { atomicWriteFile, openRegularFile } from './fsutil.js';

/**
 * The one owner of a store entry: `store/<sha256 hex of the layer>/` (and `cache/<hex>/` for
 * `krew-wasm run ./x.wasm`). It knows the entry's files, writes and reads its metadata, checks it,
 * and says whether the entry is current: made by the transpiler and entry format this krew-wasm
 * uses. Wrapper mode loads this file, so it stays small and does no work beyond what it is asked.
 *
 *   plugin.js            jco's glue (an ES module exporting `instantiate`)
 *   plugin.script.js     the same glue as a classic script, so V8 can keep a code cache of it
 *   plugin.cache         V8's code cache of plugin.script.js, written by the first run
 *   plugin.core*.wasm    the core modules jco extracted, in the order instantiate() asks for them,
 *                        their memories and tables made imports (runtime/coreState.ts)
 *   plugin.core*.data    a big core module's data, read into its memory (runtime/dataImage.ts)
 *   plugin.core*.wasm.recording  a big core module in the form its first run compiles, to record
 *                        which functions it calls (runtime/compileHints.ts); that run removes it
 *   plugin.core*.wasm.compiled   a big core module's hot functions compiled by TurboFan, made
 *                        after a run by a process of their own (runtime/compiledCache.ts)
 *   component.wasm       the component made from a preview1 module (only for those)
 *   preview1.wasm        a preview1 module as it runs by itself, made so too (only for those)
 *   source.wasm          the layer exactly as pulled (its sha256 is the entry's name)
 *   meta.json            EntryMeta, written last
 */
export const ENTRY_FILES = {
  glue: 'plugin.js',
  script: 'plugin.script.js',
  codeCache: 'plugin.cache',
  /** The functions a big plugin's first run compiled, for later runs to compile ahead (runtime/compileHints.ts). */
  hotFunctions: 'plugin.hot.json',
  component: 'component.wasm',
  source: 'source.wasm',
  preview1: 'preview1.wasm',
  meta: 'meta.json',
} as const;

/**
 * Layout version of an entry; bump when the transpile output changes shape (older entries become
 * stale and are made again from their source). 2: wrapped preview1 modules carry the proc-exit adapter.
 * 3: the glue script routes its copies out of guest memory through a GlueBudget. 4: the glue script
 * calls WebAssembly.promising without a throw on engines without JSPI (glue.ts). 5: made only after
 * the core names and the interface types were checked (coreNames.ts, importTypes.ts): entries made
 * before are made again, and so checked, or refused. 6: the glue counts each list element it lifts.
 * 7: and those of lists of variants, in each loop's own initializer. 8: made only after `run`'s type
 * was read from the component and found to be WASI's (runType.ts). 9: and the component's shape
 * (componentShape.ts) and its owned handles (ownership.ts) were checked. 10: every core module
 * exports every memory and table it defines, for --max-memory to measure (coreState.ts). 11: and
 * none defines garbage-collected types. 12: every memory and table a core module defines is an
 * import the host makes (coreState.ts); a preview1 module runs from preview1.wasm, made so too.
 * 13: and no function costs V8 more to compile than compileCost.ts allowed. 14: compiling them was
 * measured (compileCost.ts). 15: against an allowance of their function bodies, not their size.
 * 16: what instantiating each core module makes the host hold is in meta.json (coreStates).
 * 17: and which core modules may make tail calls (tailCalls; runtime/tailCalls.ts).
 * 18: a big plugin's core modules carry compilation hints (compileHints; runtime/compileHints.ts).
 * 19: a big core module's data is an image beside it (coreStates' dataImage; runtime/dataImage.ts).
 * 20: a synchronous component's glue runs on krew-wasm's synchronous task runtime (runtime/syncTasks.ts).
 * 21: and on its synchronous component state, without jco's waitables and handle tables.
 */
export const ENTRY_FORMAT = 21;

/** Names jco gives core modules; anything else in meta.json would be a path we must not follow. */
const CORE_MODULE = /^[A-Za-z0-9_.-]+\.core\d*\.wasm$/;
const MAX_META_BYTES = 1024 * 1024;

/** meta.json: what transpiling produced; wrapper mode reads it to find its way. */
export interface EntryMeta {
  format: typeof ENTRY_FORMAT;
  sourceKind: WasmKind;
  componentBytes: number;
  imports: string[];
  exports: string[];
  /** The core modules jco emitted, in the order its instantiate() asks for them. */
  coreModules: string[];
  /** How many instances jco's glue makes of each core module, when more than once (runtime/glue.ts). */
  instantiations?: Record<string, number>;
  /** What instantiating each core module (and preview1.wasm) makes the host hold, read at pull (runtime/coreState.ts). */
  coreStates?: Record<string, CoreState>;
  /**
   * The core modules (and preview1.wasm) that may loop through tail calls, read at pull
   * (runtime/tailCalls.ts): a Node whose V8 does not stop such a loop for --timeout or Ctrl-C
   * refuses to run them. Absent from entries of formats before 17.
   */
  tailCalls?: string[];
  /**
   * Where each core module's compilation hints are, for a big plugin (runtime/compileHints.ts):
   * absent when its modules have none.
   */
  compileHints?: Record<string, HintsPlace>;
  /** `jco-transpile@<version>` that made the entry. */
  transpiler: string;
  /** `script`: plugin.script.js holds the glue as a classic script (code-cacheable, bounded); entries of older formats may say `module`, which is never run. */
  glue?: 'script' | 'module';
  /** sha256 of every file the entry was made with (not the code cache), checked before pull reuses the entry. */
  files?: Record<string, string>;
}

/** What inspectEntry found. */
export type EntryState =
  | { status: 'current'; meta: EntryMeta }
  /** Made by another transpiler or entry format: re-transpile it from source.wasm. */
  | { status: 'stale'; meta: EntryMeta; why: string }
  /** Missing, unreadable or inconsistent: it must not run; `pull --force` replaces it. */
  | { status: 'damaged'; why: string };

/** Reads and checks meta.json; throws an Error whose message says what is wrong. */
export function readEntryMeta(entryDir: string): EntryMeta {
  let text: string;
  try {
    const { fd } = openRegularFile(path.join(entryDir, ENTRY_FILES.meta));
    try {
      text = fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    if (!fs.existsSync(entryDir)) throw new Error(`its store entry ${entryDir} is missing`);
    throw new Error(`cannot read ${ENTRY_FILES.meta}: ${(error as Error).message}`);
  }
  if (text.length > MAX_META_BYTES) throw new Error(`cannot read ${ENTRY_FILES.meta}: too large`);
  let meta: EntryMeta;
  try {
    meta = JSON.parse(text) as EntryMeta;
  } catch (error) {
    throw new Error(`cannot read ${ENTRY_FILES.meta}: ${(error as Error).message}`);
  }
  const why = metaProblem(meta);
  if (why) throw new Error(`cannot read ${ENTRY_FILES.meta}: ${why}`);
  return meta;
}

function metaProblem(meta: EntryMeta): string | undefined {
  if (typeof meta !== 'object' || meta === null) return 'not an object';
  if (typeof meta.format !== 'number') return 'unknown format';
  const strings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
  if (!strings(meta.imports) || !strings(meta.exports) || !strings(meta.coreModules)) return 'unknown format';
  if (meta.coreModules.some((m) => !CORE_MODULE.test(m))) return 'a core module name that is not a file name of the entry';
  // An entry of an older format is stale (made again from its source), not damaged.
  const states = meta.coreStates;
  const runnable = [...meta.coreModules, ...(meta.sourceKind === 'core-module' ? [ENTRY_FILES.preview1] : [])];
  const statesRead = typeof states === 'object' && states !== null && runnable.every((m) => isCoreState(states[m]));
  if (meta.format === ENTRY_FORMAT && !statesRead) return 'no record of what its core modules hold';
  if (meta.format === ENTRY_FORMAT && !(strings(meta.tailCalls) && meta.tailCalls!.every((m) => runnable.includes(m)))) return 'no record of which core modules make tail calls';
  if (meta.format === ENTRY_FORMAT && meta.compileHints !== undefined && !hintPlacesRead(meta)) return 'a record of compilation hints that does not read as one';
  const counts = meta.instantiations ?? {};
  if (typeof counts !== 'object' || Object.entries(counts).some(([m, n]) => !meta.coreModules.includes(m) || !Number.isSafeInteger(n) || n < 1)) return 'unknown format';
  if (meta.sourceKind !== 'component' && meta.sourceKind !== 'core-module') return 'unknown source kind';
  if (typeof meta.transpiler !== 'string') return 'no transpiler';
  return undefined;
}

/** A count or size as JSON keeps it. */
function size(n: unknown): boolean {
  return Number.isSafeInteger(n) && (n as number) >= 0;
}

/** Compilation hints of core modules of the entry only, each at an offset and count. */
function hintPlacesRead(meta: EntryMeta): boolean {
  const places = meta.compileHints;
  return typeof places === 'object' && places !== null
    && Object.entries(places).every(([m, p]) => meta.coreModules.includes(m) && typeof p === 'object' && p !== null && size(p.offset) && size(p.count));
}

/** A CoreState as JSON keeps it: names, counts and sizes, nothing else; a data image inside its first memory's initial size. */
function isCoreState(value: unknown): value is CoreState {
  const v = value as CoreState;
  const optionalSize = (n: unknown) => n === undefined || size(n);
  return typeof v === 'object' && v !== null && Array.isArray(v.memories) && Array.isArray(v.tables) && Array.isArray(v.tableImports) && size(v.instanceBytes)
    && v.memories.every((m) => typeof m.name === 'string' && size(m.initial) && optionalSize(m.maximum) && typeof m.shared === 'boolean')
    && v.tables.every((t) => typeof t.name === 'string' && size(t.initial) && optionalSize(t.maximum) && (t.element === 'anyfunc' || t.element === 'externref'))
    && v.tableImports.every((t) => typeof t.module === 'string' && typeof t.name === 'string')
    && (v.dataImage === undefined || imageFits(v.dataImage, v.memories[0]?.initial));
}

const WASM_PAGE = 65536;

/**
 * Runs of a data image as pull makes them: in address order, apart, each inside the first
 * memory's initial pages (the memory a run makes before it reads them).
 */
function imageFits(runs: unknown, pages: number | undefined): boolean {
  let end = 0;
  return Array.isArray(runs) && pages !== undefined && runs.every((run) => {
    const fits = Array.isArray(run) && run.length === 2 && size(run[0]) && size(run[1]) && run[0] >= end && run[0] + run[1] <= pages * WASM_PAGE;
    if (fits) end = run[0] + run[1] + 1;
    return fits;
  });
}

/**
 * Whether an entry may run as it is: its metadata reads, it was made by this transpiler and entry
 * format, and every file a run loads is a regular file in the entry (never a link out of it).
 */
export function inspectEntry(entryDir: string): EntryState {
  let meta: EntryMeta;
  try {
    meta = readEntryMeta(entryDir);
  } catch (error) {
    return { status: 'damaged', why: (error as Error).message };
  }
  for (const file of filesToRun(meta)) {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(path.join(entryDir, file));
    } catch (error) {
      return { status: 'damaged', why: `cannot load ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` };
    }
    if (!stat.isFile()) return { status: 'damaged', why: `cannot load ${file}: not a regular file` };
  }
  if (meta.format !== ENTRY_FORMAT) return { status: 'stale', meta, why: `entry format ${meta.format}, this krew-wasm writes ${ENTRY_FORMAT}` };
  const transpiler = currentTranspiler();
  if (meta.transpiler !== transpiler) return { status: 'stale', meta, why: `transpiled by ${meta.transpiler}, this krew-wasm uses ${transpiler}` };
  return { status: 'current', meta };
}

/**
 * The files a run may load: the glue (its script form when there is one), the core modules and
 * their data images, and the layer itself (a preview1 module can run as the core module it is; a stale entry is made
 * again from it).
 */
export function filesToRun(meta: EntryMeta): string[] {
  const preview1 = meta.sourceKind === 'core-module' ? [ENTRY_FILES.preview1] : [];
  const images = [...meta.coreModules, ...preview1].filter((m) => meta.coreStates?.[m]?.dataImage).map(dataImageFile);
  return [meta.glue === 'script' ? ENTRY_FILES.script : ENTRY_FILES.glue, ...meta.coreModules, ...preview1, ...images, ENTRY_FILES.source];
}

/**
 * The file holding a core module's recording form (runtime/compileHints.ts), made by pull and
 * removed by the first run, which records with it: a file of the entry that may be gone.
 */
export function recordingFormFile(coreModule: string): string {
  return `${coreModule}${RECORDING_FORM_SUFFIX}`;
}
const RECORDING_FORM_SUFFIX = '.recording';

/** The file holding a core module's data image (runtime/dataImage.ts): `plugin.core.wasm`'s is `plugin.core.data`. */
export function dataImageFile(coreModule: string): string {
  return coreModule.replace(/\.wasm$/, '.data');
}

/** The component a WIT world is read from (a preview1 module's wrapped component, else the layer itself). */
export function componentFile(meta: EntryMeta): string {
  return meta.sourceKind === 'core-module' ? ENTRY_FILES.component : ENTRY_FILES.source;
}

/**
 * Files runs add to an entry, not part of what pull made: the glue's code cache, the functions a
 * first run compiled, and a big module's compiled form and the marker of its making
 * (runtime/compiledCache.ts).
 */
function madeByRuns(name: string): boolean {
  return name === ENTRY_FILES.codeCache || name === ENTRY_FILES.hotFunctions || /\.wasm\.compil(ed|ing)$/.test(name);
}

/** Writes meta.json last, recording the sha256 of every file the entry holds (the code cache aside). */
export function writeEntryMeta(entryDir: string, meta: Omit<EntryMeta, 'files'>): EntryMeta {
  const files: Record<string, string> = {};
  for (const name of fs.readdirSync(entryDir).sort()) {
    if (name === ENTRY_FILES.meta || madeByRuns(name)) continue;
    files[name] = sha256File(path.join(entryDir, name));
  }
  const full: EntryMeta = { ...meta, files };
  atomicWriteFile(path.join(entryDir, ENTRY_FILES.meta), `${JSON.stringify(full, null, 2)}\n`);
  return full;
}

/**
 * Whether `pull` may reuse an entry instead of transpiling again: current, its stored source is
 * the layer it is named after, and every file still has the bytes it was made with.
 */
export function entryIsIntact(entryDir: string, layerDigest: string): boolean {
  const state = inspectEntry(entryDir);
  if (state.status !== 'current' || !state.meta.files) return false;
  const files = state.meta.files;
  if (files[ENTRY_FILES.source] !== layerDigest) return false;
  // Each data image it holds is one its metadata reads (a module whose record of it is gone would run without its data).
  const images = filesToRun(state.meta).filter((f) => f.endsWith('.data'));
  if (Object.keys(files).filter((f) => f.endsWith('.data')).sort().join() !== images.sort().join()) return false;
  try {
    const present = fs.readdirSync(entryDir).filter((n) => n !== ENTRY_FILES.meta && !madeByRuns(n) && !n.includes('.tmp-'));
    // A recording form is gone once its first run recorded.
    const expected = Object.keys(files).filter((name) => present.includes(name) || !name.endsWith(RECORDING_FORM_SUFFIX));
    if (present.length !== expected.length) return false;
    return expected.every((name) => sha256File(path.join(entryDir, name)) === files[name]);
  } catch {
    return false;
  }
}

function sha256File(file: string): string {
  const { fd } = openRegularFile(file);
  try {
    return `sha256:${crypto().createHash('sha256').update(fs.readFileSync(fd)).digest('hex')}`;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The transpiler this krew-wasm makes entries with. A constant, not read from the installed
 * package at run time: resolving and reading it cost ~3 ms of every plugin start. package.json pins
 * this exact version, and test/store/entry.test.ts fails when the two part.
 */
export const TRANSPILER = 'jco-transpile@0.15.0';

/** `jco-transpile@<version>` this krew-wasm transpiles with. */
export function currentTranspiler(): string {
  return TRANSPILER;
}
