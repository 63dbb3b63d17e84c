import fs from 'node:fs';
import path from 'node:path';
import { PluginRuntimeError, type KrewWasmError } from '../errors.js';
import { setV8Flags as applyV8Flags } from '../builtin.js';
import { trace } from '../trace.js';
import { type CoreState } from './coreState.js';
import { MemoryBudget } from './limits.js';
import { ENTRY_FILES, recordingFormFile, dataImageFile, type EntryMeta } from '../store/entry.js';
import { LocalFileError, openRegularFile, readOpenedFile, readOpenedFileInPieces } from '../store/fsutil.js';
import { attemptFile, COMPILED_CACHE_MIN_BYTES, COMPILED_HINT, compiledCacheWorks, deserializeModule, giveUpCompiled, nodeV8Options, readCompiled, trapHandlerOn, type CompiledKey } from './compiledCache.js';
import { watchdogMissesTailCalls } from './tailCalls.js';
import { canRecord, HINTED_V8_FLAGS, hintsWork, markEager, modulesToRecord, readHotFunctions, recordingForm, type HotFunctions } from './compileHints.js';
import { damaged, type PluginRef } from './failure.js';

// A run's compile: its entry's core modules read and handed to V8 as early as the run can, under
// the V8 flags their sizes and the entry's records choose (runtime/run.ts instantiates them).

/** What a run's compile needs to know. */
export interface CompileRequest extends PluginRef {
  /** Store (or cache) entry holding plugin.js and its core modules. */
  entryDir: string;
  limits: { timeoutMs?: number; maxMemoryMiB?: number };
  /** V8 flags replacing the automatic choice (Settings.v8Flags). */
  v8Flags?: string;
}

/** Above this much core wasm, optimizing compilation costs more than a short-lived plugin gains. */
export const LIFTOFF_ONLY_BYTES = 1024 * 1024;

/**
 * A big plugin's V8 flags: Liftoff code only, validated lazily. Tier-up is turned off by name: set
 * at run time, --liftoff-only alone no longer implies it on Node 24's V8, whose background
 * TurboFan jobs then made a 12.5 MB JS plugin's run 1.5x slower (Node's exit waits for them) and
 * compiled what pull's compile check (compileCost.ts) never measured for such a plugin.
 */
export const BIG_MODULE_V8_FLAGS = '--liftoff-only --no-wasm-tier-up --no-wasm-dynamic-tiering --wasm-lazy-validation';

/** An entry's core modules, read, with V8 compiling them (see startCompiling). */
export interface CompilingPlugin {
  /** By file name. */
  modules: Map<string, Promise<WebAssembly.Module>>;
  footprints: WeakMap<WebAssembly.Module, Footprint>;
  /** The same, by file name, before the modules are compiled. */
  footprintsByName: Map<string, Footprint>;
  /** A plain preview1 module, run as itself (runsAsPreview1): its one module is `source.wasm`. */
  preview1: boolean;
  budget?: MemoryBudget;
  /** The modules compiled in their recording form (compileHints.ts), with their name and count of defined functions. */
  recording: Map<WebAssembly.Module, { name: string; functions: number }>;
  /** This run records (compileHints.ts): its list is kept after it, even when no module's recording form could be made. */
  records: boolean;
  /** Modules whose hot functions a process of their own compiles after this run (compiledCache.ts), under these flags. */
  compileLater?: { modules: string[]; key: Pick<CompiledKey, 'flags' | 'nodeOptions'> };
}

/** What instantiating a compiled core module makes the host hold, and the file its data is read from (dataImage.ts). */
export interface Footprint {
  state: CoreState;
  image?: string;
  /** Its first memory, made and its image read into it while the modules compiled (fillMemoriesAhead), for its one instance. */
  filled?: WebAssembly.Memory;
}

/**
 * A plain preview1 module (no import of krew-wasm's own interfaces, which the legacy adapter
 * provides) runs as the core module it is, on runtime/preview1: no component glue, no adapter.
 */
export function runsAsPreview1(meta: EntryMeta): boolean {
  return meta.sourceKind === 'core-module' && !meta.imports.some((i) => i.startsWith('krew-wasm:'));
}

/**
 * Reads the entry's core modules and starts compiling them: V8 compiles on its background threads
 * while the caller prepares the sandbox and loads the glue, the WASI host and the host interfaces,
 * instead of idling on the compile afterwards. A big module is read in pieces on Node's thread
 * pool meanwhile, and compiled once read (readCoreModules), unless `readOnPool` is false: while
 * the HTTP worker boots, the cores are better left to it (bench/RESULTS.md, round twelve). A plain preview1 module runs as itself
 * (runsAsPreview1): its one module is preview1.wasm. The V8 flags (flags for big modules, the
 * memory cap's compile limits, compilation hints) are set first, from the modules' sizes.
 */
export function startCompiling(req: CompileRequest, meta: EntryMeta, options: { readOnPool?: boolean } = {}): CompilingPlugin {
  const preview1 = runsAsPreview1(meta);
  const names = preview1 ? [ENTRY_FILES.preview1] : meta.coreModules;
  refuseUninterruptible(req.pluginName, meta, names);
  const states = new Map(names.map((name) => [name, coreStateOf(req, meta, name)]));
  const plan = [...states].map(([name, state]) => ({ state, instances: meta.instantiations?.[name] ?? 1 }));
  const budget = req.limits.maxMemoryMiB ? new MemoryBudget(req.limits.maxMemoryMiB * 1024 * 1024, plan) : undefined;
  const hints = preview1 ? NO_HINTS : planCompileHints(req, meta, budget);
  const reads = readCoreModules(req, names, options.readOnPool ?? true, hints.formOf);
  const flags = chosenV8Flags([...reads.values()].reduce((sum, read) => sum + read.size, 0), req.v8Flags, budget, hints.followHints);
  if (flags) applyV8Flags(flags);
  const formKey = { flags, nodeOptions: nodeV8Options() };
  const forms = hints.hot && !budget && req.v8Flags === undefined && compiledCacheWorks() && trapHandlerOn(applyV8Flags) ? compiledForms(req, meta, hints.hot, formKey, reads) : undefined;
  const modules = new Map<string, Promise<WebAssembly.Module>>();
  const footprints = new WeakMap<WebAssembly.Module, Footprint>();
  const footprintsByName = new Map([...states].map(([name, state]) => [name, { state, image: state.dataImage ? path.join(req.entryDir, dataImageFile(name)) : undefined }]));
  const recording = new Map<WebAssembly.Module, { name: string; functions: number }>();
  for (const [name, read] of reads) {
    const compile = (bytes: Uint8Array<ArrayBuffer>) =>
      WebAssembly.compile(hints.prepare(name, bytes, read.form)).then((m) => {
        footprints.set(m, footprintsByName.get(name)!);
        const functions = hints.recording.get(name);
        if (functions !== undefined) recording.set(m, { name, functions });
        return m;
      });
    const data = forms?.taken.get(name);
    const fromForm = (bytes: Uint8Array<ArrayBuffer>) => {
      const place = meta.compileHints![name]!;
      markEager(bytes, place, hints.hot![name] ?? [], COMPILED_HINT);
      const { module: m, refused } = deserializeModule(data!, bytes, applyV8Flags);
      trace(m ? `${name} from its compiled form` : refused ? `${name}: its compiled form was refused by V8` : `${name}: V8 could not be asked to take its compiled form`);
      if (!m) {
        if (refused) giveUpCompiled(req.entryDir, name);
        return compile(bytes); // marked eager again, for Liftoff (hints.prepare)
      }
      footprints.set(m, footprintsByName.get(name)!);
      return m;
    };
    const start = data ? fromForm : compile;
    // A module read at once is compiled at once: a microtask later, the sandbox's set-up would come first.
    const module = read.bytes instanceof Promise ? read.bytes.then(start) : Promise.resolve(start(read.bytes));
    module.catch(() => {}); // reported when the run awaits it, not as an unhandled rejection
    modules.set(name, module);
  }
  trace(hints.recordsNow ? 'compiling, to record what it compiles' : hints.followHints ? 'compiling, recorded functions ahead' : 'compiling');
  const compileLater = forms && forms.missing.length > 0 && canRecord(req.entryDir) ? { modules: forms.missing, key: formKey } : undefined;
  return { modules, footprints, footprintsByName, preview1, budget, recording, records: hints.recordsNow, compileLater };
}

/** What a run does with compilation hints (compileHints.ts): nothing, by default. */
interface HintsPlan {
  /** V8 must follow the modules' hints (HINTED_V8_FLAGS). */
  followHints: boolean;
  /** This run compiles modules in their recording form. */
  recordsNow: boolean;
  /** The bytes to compile for a module, once read (`fromForm`: from its recording form's file): its recorded functions marked eager, or its recording form. */
  prepare(name: string, bytes: Uint8Array<ArrayBuffer>, fromForm: boolean): Uint8Array<ArrayBuffer>;
  /** The modules compiled in their recording form, with how many functions each defines (filled by prepare). */
  recording: Map<string, number>;
  /** The file of a module's recording form, for a run that records it to read instead of the module, if pull made it. */
  formOf(name: string): string | undefined;
  /** The functions marked eager, by module, when the run follows a recorded list. */
  hot?: HotFunctions;
}

const NO_HINTS: HintsPlan = { followHints: false, recordsNow: false, prepare: (_name, bytes) => bytes, recording: new Map(), formOf: () => undefined };

/**
 * A big plugin's compilation hints (compileHints.ts), on a V8 that follows them: the functions
 * its first run compiled marked eager in the bytes compiled now or, while none are recorded, each
 * hinted module in its recording form. Decided from the entry's records alone, before its modules
 * are read, as the flags must be set before anything compiles. Not when KREW_WASM_V8_FLAGS replaces
 * the flags; and no recording under --max-memory, whose budget does not count the recording form's
 * globals, nor into an entry it cannot write (every run would pay for it), nor of a module
 * instantiated more than once (its instances would share no bitmap), nor beyond
 * MAX_RECORDED_FUNCTIONS in all (modulesToRecord). A module whose recording form cannot be made
 * (recordingForm) is compiled as it is, its hints all lazy.
 */
function planCompileHints(req: Pick<CompileRequest, 'entryDir' | 'v8Flags'>, meta: EntryMeta, budget?: MemoryBudget): HintsPlan {
  const places = meta.compileHints;
  if (!places || req.v8Flags !== undefined || !hintsWork()) return NO_HINTS;
  const hot = readHotFunctions(req.entryDir, places);
  if (hot) {
    const prepare = (name: string, bytes: Uint8Array<ArrayBuffer>) => {
      const place = places[name];
      if (place) markEager(bytes, place, hot[name] ?? []);
      return bytes;
    };
    return { followHints: true, recordsNow: false, prepare, recording: new Map(), hot, formOf: NO_HINTS.formOf };
  }
  if (budget || !canRecord(req.entryDir)) return NO_HINTS;
  const recorded = modulesToRecord(places, meta.coreModules, meta.instantiations);
  if (recorded.length === 0) return NO_HINTS;
  const recording = new Map<string, number>();
  const prepare = (name: string, bytes: Uint8Array<ArrayBuffer>, fromForm: boolean) => {
    if (!recorded.includes(name)) return bytes;
    if (fromForm) {
      recording.set(name, places[name]!.count);
      return bytes;
    }
    // Pull made each form, and a first run removes them: one gone (this Node did not pull it, or
    // another run removed it since) is made now, slower.
    const form = recordingForm(bytes);
    trace(form ? `${name}: its recording form made` : `${name}: no recording form`);
    if (!form) return bytes;
    recording.set(name, form.functions);
    return form.bytes as Uint8Array<ArrayBuffer>;
  };
  const formOf = (name: string) => (recorded.includes(name) ? recordingFormFile(name) : undefined);
  // Under the flags of the runs that follow it (its hints all lazy): the glue's code cache it writes is theirs.
  return { followHints: true, recordsNow: true, prepare, recording, formOf };
}

/** What instantiating a core module of the entry makes the host hold, as pull read it (coreState.ts). */
function coreStateOf(req: PluginRef, meta: EntryMeta, name: string): CoreState {
  const state = meta.coreStates?.[name];
  if (!state) throw damaged(req, `no record of what ${name} holds`);
  return state;
}

/** Modules at least this big are read in pieces on Node's thread pool (readOpenedFileInPieces). */
const READ_IN_PIECES_BYTES = 1024 * 1024;
/** V8's limit on a module's size (its --wasm-max-module-size): a bigger one is refused before it is read. */
const MAX_MODULE_BYTES = 1024 * 1024 * 1024;
/** Two: on a two-core machine, more made a run that reads its kubeconfig meanwhile slower (bench/RESULTS.md, round twelve). */
const READ_PIECES = 2;

/**
 * The entry's core modules, each with its size (which picks the V8 flags) and its bytes: read at
 * once, or for a big module on the pool (`onPool`), a read in pieces under way; `form` when they
 * are its recording form's (`formOf`), which is read instead when it can be opened: another run
 * may have removed it, and then the module is read. A failed read is the entry's damage.
 */
function readCoreModules(req: Pick<CompileRequest, 'entryDir' | 'pluginName' | 'repairHint'>, names: string[], onPool: boolean, formOf: (name: string) => string | undefined = () => undefined): Map<string, CoreModuleRead> {
  const modules = new Map<string, CoreModuleRead>();
  for (const name of names) {
    const formFile = formOf(name);
    const form = formFile === undefined ? undefined : openCoreModule(req, formFile);
    // A form that cannot be opened (another run removed it meanwhile) is made from the module.
    const fromForm = form !== undefined && !(form instanceof Error);
    const opened = fromForm ? form : openCoreModule(req, name);
    if (opened instanceof Error) throw opened;
    const { file, fd, size } = opened;
    const cannotRead = (error: unknown) => readFailure(req, path.basename(file), error);
    const read = { size, form: fromForm };
    if (size < READ_IN_PIECES_BYTES || !onPool) {
      try {
        modules.set(name, { ...read, bytes: readOpenedFile(file, fd, size) as Uint8Array<ArrayBuffer> });
      } catch (error) {
        throw cannotRead(error);
      }
      continue;
    }
    const bytes = (readOpenedFileInPieces(file, fd, size, READ_PIECES) as Promise<Uint8Array<ArrayBuffer>>).catch((error: unknown) => Promise.reject(cannotRead(error)));
    bytes.catch(() => {}); // reported when the run awaits it; not an unhandled rejection if a later module fails first
    modules.set(name, { ...read, bytes });
  }
  return modules;
}

interface CoreModuleRead {
  size: number;
  bytes: Uint8Array<ArrayBuffer> | Promise<Uint8Array<ArrayBuffer>>;
  /** The bytes are the module's recording form's. */
  form: boolean;
}

/** A core module's file of the entry, opened as a regular file of a size V8 compiles; or the entry's damage. */
function openCoreModule(req: Pick<CompileRequest, 'entryDir' | 'pluginName' | 'repairHint'>, fileName: string): { file: string; fd: number; size: number } | KrewWasmError {
  const file = path.join(req.entryDir, fileName);
  try {
    const { fd, size } = openRegularFile(file, { followLinks: false });
    if (size > MAX_MODULE_BYTES) {
      fs.closeSync(fd);
      throw new LocalFileError(file, `is ${size} bytes, more than V8 compiles in one module`, 'too-large');
    }
    return { file, fd, size };
  } catch (error) {
    return readFailure(req, fileName, error);
  }
}

function readFailure(req: PluginRef, fileName: string, error: unknown): KrewWasmError {
  const cause = error instanceof LocalFileError ? (error.cause ?? error) : error;
  return damaged(req, `cannot read ${fileName}: ${(cause as NodeJS.ErrnoException).code ?? (cause instanceof LocalFileError ? cause.detail : (cause as Error).message)}`);
}

/**
 * Refuses, before anything is compiled, a plugin whose modules may loop through tail calls where
 * this Node's V8 would not stop that loop at --timeout or Ctrl-C (runtime/tailCalls.ts).
 */
export function refuseUninterruptible(pluginName: string, meta: EntryMeta, modules: string[], v8Version = process.versions.v8): void {
  if (!watchdogMissesTailCalls(v8Version) || !modules.some((m) => meta.tailCalls?.includes(m))) return;
  throw new PluginRuntimeError(`plugin ${pluginName} makes WebAssembly tail calls, which this Node's V8 (${v8Version}) does not stop at --timeout or Ctrl-C`, {
    hint: 'run it with Node 20 or 22, whose V8 stops such a loop',
  });
}

/**
 * Big components (a JS engine compiled to wasm is ~15 MB) spend their start-up in V8's background
 * TurboFan tier-up and eager validation, competing for the cores with the plugin itself; a kubectl
 * plugin runs for milliseconds, so baseline (Liftoff) code and lazy validation win (bench/). Small
 * modules are left alone: setting flags costs more than it saves for them. A memory cap adds the
 * compile-time limits of MemoryBudget.
 */
function chosenV8Flags(bytes: number, override: string | undefined, budget: MemoryBudget | undefined, hinted: boolean): string {
  const big = bytes > LIFTOFF_ONLY_BYTES ? BIG_MODULE_V8_FLAGS : '';
  return [override ?? big, hinted ? HINTED_V8_FLAGS : '', budget?.compileFlags() ?? ''].join(' ').trim();
}

/**
 * The compiled forms a run following its hot list takes (compiledCache.ts), by module: those of
 * its big hinted modules made from this module, list and flags; and the modules that have none
 * yet, for a process of their own to make after the run.
 */
function compiledForms(req: Pick<CompileRequest, 'entryDir'>, meta: EntryMeta, hot: HotFunctions, key: Pick<CompiledKey, 'flags' | 'nodeOptions'>, reads: Map<string, { size: number }>): { taken: Map<string, ArrayBuffer>; missing: string[] } {
  const taken = new Map<string, ArrayBuffer>();
  const missing: string[] = [];
  for (const [name, read] of reads) {
    const digest = meta.files?.[name];
    if (!meta.compileHints?.[name] || !hot[name]?.length || !digest || read.size < COMPILED_CACHE_MIN_BYTES) continue;
    const { data, why, remake } = readCompiled(req.entryDir, name, { module: digest, hot: hot[name]!, ...key });
    if (data) taken.set(name, data);
    else {
      const underWay = why === 'none made' && fs.existsSync(attemptFile(req.entryDir, name));
      trace(`${name} has no compiled form to take: ${underWay ? 'none made; its compile failed or is under way' : why}`);
      if (remake && !underWay) missing.push(name);
    }
  }
  return { taken, missing };
}

