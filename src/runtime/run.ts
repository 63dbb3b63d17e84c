import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isKrewWasmError, NotInstalledError, PluginMemoryError, PluginRuntimeError, PluginTimeoutError, type KrewWasmError } from '../errors.js';
import { setV8Flags as applyV8Flags } from '../builtin.js';
import { trace } from '../trace.js';
import { RUN_EXPORT } from './component.js';
import { loadGlueScript } from './glue.js';
import { STATE_MODULE, type CoreState } from './coreState.js';
import { HostLimitExceeded, Interrupted, LiftTooLarge, makeState, MemoryBudget, OverBudget, RunGuard, TooManyHandles } from './limits.js';
import { dataImageFile, ENTRY_FILES, readEntryMeta as readMeta, recordingFormFile, type EntryMeta } from '../store/entry.js';
import { LocalFileError, openRegularFile, readOpenedFile, readOpenedFileInPieces } from '../store/fsutil.js';
import { ExitSignal, wasiImports, type WasiSandbox } from './wasi/index.js';
import { readImageInto, type ImageRun } from './dataImage.js';
import { attemptFile, compileInBackground, COMPILED_CACHE_MIN_BYTES, COMPILED_HINT, compiledCacheWorks, deserializeModule, giveUpCompiled, nodeV8Options, readCompiled, trapHandlerOn, type CompiledKey } from './compiledCache.js';
import { watchdogMissesTailCalls } from './tailCalls.js';
import { calledFunctions, canRecord, heapHasRoomToRead, HINTED_V8_FLAGS, hintsWork, markEager, modulesToRecord, readHotFunctions, recordingForm, removeRecordingForms, writeHotFunctions, type HotFunctions } from './compileHints.js';
import { printable, shortened } from '../printable.js';

type ImportObject = Record<string, unknown>;

/** Host interfaces beyond WASI, and environment variables they announce to the guest (e.g. KREW_WASM_API_SERVER). */
export interface HostImports {
  imports: ImportObject;
  env?: Record<string, string>;
}

/** Everything needed to run one transpiled plugin once. */
export interface RunRequest {
  /** Store (or cache) entry holding plugin.js and its core modules. */
  entryDir: string;
  /** Shown in messages. */
  pluginName: string;
  sandbox: WasiSandbox;
  limits: { timeoutMs?: number; maxMemoryMiB?: number };
  /**
   * Host interfaces beyond WASI (outbound-http, wasi:http), by unversioned interface name. Called
   * once compilation has started, so that their set-up (reading the kubeconfig) overlaps with it,
   * with the run's deadline (performance.now() milliseconds), which their waits must not pass.
   */
  hostImports?: (deadline: number | undefined) => Promise<HostImports>;
  /** Hint for a damaged entry, e.g. the pull command that repairs it. */
  repairHint?: string;
  /** The entry's metadata, when the caller has read it already (readEntryMeta). */
  meta?: EntryMeta;
  /** V8 flags replacing the automatic choice (Settings.v8Flags). */
  v8Flags?: string;
  /** The entry's compilation, when the caller started it early (startCompiling). */
  compiling?: CompilingPlugin;
}

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
interface Footprint {
  state: CoreState;
  image?: string;
  /** Its first memory, made and its image read into it while the modules compiled (fillMemoriesAhead), for its one instance. */
  filled?: WebAssembly.Memory;
}

/**
 * jco's `instantiation: 'async'` entry point. Its generator waits only for what it is given as a
 * promise: given modules and instances, it returns the exports synchronously.
 */
interface TranspiledModule {
  instantiate(
    getCoreModule: (name: string) => WebAssembly.Module | Promise<WebAssembly.Module>,
    imports: ImportObject,
    instantiateCore?: (module: WebAssembly.Module, imports: WebAssembly.Imports) => WebAssembly.Instance | Promise<WebAssembly.Instance>,
  ): Record<string, unknown> | Promise<Record<string, unknown>>;
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

/** Instantiates the plugin in its sandbox and calls `wasi:cli/run`; resolves with the exit code. */
export async function runPlugin(req: RunRequest): Promise<number> {
  const meta = req.meta ?? readEntryMeta(req.entryDir, req.pluginName, req.repairHint);
  const compiling = req.compiling ?? startCompiling(req, meta);
  const guard = new RunGuard(req.limits.timeoutMs);
  const { budget } = compiling;
  const context: FailureContext = { pluginName: req.pluginName, limits: req.limits, nearMemoryCap: () => budget?.nearCap() ?? false };
  // Ctrl-C: while guest code runs (instantiation included) the guard turns it into an Interrupted,
  // exit 130; before, Node's default action ends the process by the signal, which a shell reports
  // as 130 too. No SIGINT listener: the guard (breakOnSigint) takes listeners away while it runs,
  // and Node then drops a signal still waiting for them, which lost a Ctrl-C that came just
  // before guest code started (found by an attack).
  try {
    if (compiling.preview1) return await runPreview1Module(compiling, req, guard, budget);
    return await instantiateAndRun(req, meta, compiling, guard, budget);
  } catch (error) {
    const outcome = classifyFailure(error, context);
    if ('exit' in outcome) return outcome.exit;
    throw outcome.error;
  }
}

async function instantiateAndRun(req: RunRequest, meta: EntryMeta, { modules: compiling, footprints, footprintsByName, recording: compilingRecording, records, compileLater }: CompilingPlugin, guard: RunGuard, budget?: MemoryBudget): Promise<number> {
  const hostImports = req.hostImports?.(guard.deadline);
  hostImports?.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
  const { mod, saveCache } = await loadEntry(req, meta);
  trace('plugin.js loaded');
  const host = hostImports ? await guard.within(hostImports) : undefined;
  const sandbox = host?.env ? { ...req.sandbox, env: { ...req.sandbox.env, ...host.env } } : req.sandbox;
  const imports: ImportObject = { ...wasiImports(sandbox), ...host?.imports };
  trace('imports ready');
  if (!budget) fillMemoriesAhead(req, footprintsByName, meta.instantiations);
  const modules = await compiledModules(compiling, guard);
  trace('compiled');
  const getCoreModule = (name: string) => {
    const module = modules.get(name);
    if (!module) throw damaged(req, `unexpected core module ${name}`);
    return module;
  };
  // A core `start` function is guest code too, and without one a guest can still make
  // instantiation take seconds (huge tables): every instance is made under the guard. With the
  // modules compiled, jco's instantiate runs to its end synchronously, so instantiation and the
  // run share one guarded call: each guarded call starts and joins a SIGINT watchdog thread (a
  // millisecond on a busy machine), and a Ctrl-C between two calls is Node's to lose.
  let guarded = false;
  const recorded: { name: string; functions: number; exports: WebAssembly.Exports }[] = [];
  const createInstance = (module: WebAssembly.Module, coreImports: WebAssembly.Imports | undefined) => {
    const footprint = footprints.get(module);
    if (!footprint) throw damaged(req, 'a core module the run did not compile');
    const instance = instantiateWithState(req, module, footprint, coreImports, budget);
    const recording = compilingRecording.get(module);
    if (recording) recorded.push({ ...recording, exports: instance.exports });
    return instance;
  };
  // After the run, however it ended: what it compiled, for the next runs to compile ahead. Kept
  // even when no module could take its recording form (a module at V8's export limit): its runs
  // then compile it lazily, as they would, and do not try again every time (found by an attack).
  const saveHotFunctions = () => {
    if (!records) return;
    if (!heapHasRoomToRead()) return trace('compiled functions not read: the heap is near its limit');
    const hot: HotFunctions = {};
    for (const { name, functions, exports } of recorded) hot[name] = calledFunctions(exports, functions);
    trace('compiled functions read');
    if (writeHotFunctions(req.entryDir, hot)) removeRecordingForms(req.entryDir, Object.keys(meta.compileHints ?? {}));
    trace('compiled functions recorded');
  };
  // What the run leaves for the next ones: the glue's code cache, the functions it compiled, and their compiled form.
  const afterRun = () => {
    saveCache();
    saveHotFunctions();
    if (compileLater) compileInBackground(req.entryDir, compileLater.modules, compileLater.key, fileURLToPath(new URL('./compileCache.js', import.meta.url)));
  };
  const instantiateCore = (module: WebAssembly.Module, coreImports: WebAssembly.Imports | undefined) =>
    guarded ? createInstance(module, coreImports) : guard.call(() => createInstance(module, coreImports));
  const wasiRunOf = (instance: Record<string, unknown>) => {
    trace('instantiated');
    const wasiRun = findRun(instance);
    if (!wasiRun) throw damaged(req, 'the component exports no wasi:cli/run');
    return wasiRun;
  };
  let phase: 'starting' | 'running' = 'starting';
  let pending: Promise<Record<string, unknown>> | undefined;
  try {
    guard.call(() => {
      guarded = true;
      try {
        const instantiated = mod.instantiate(getCoreModule, imports, instantiateCore);
        // A glue that still waits for something finishes outside this call (each instance guarded on its own).
        if (instantiated instanceof Promise) pending = instantiated;
        else {
          const wasiRun = wasiRunOf(instantiated);
          phase = 'running';
          wasiRun();
        }
      } finally {
        guarded = false;
      }
    });
    if (pending) {
      const wasiRun = wasiRunOf(await guard.within(pending));
      phase = 'running';
      guard.call(wasiRun);
    }
  } catch (error) {
    if (phase === 'starting') throw asStartFailure(error);
    // Its exit, and as much an `err` result or a trap: what it compiled is still what its runs call,
    // and a plugin whose runs all end so recorded on every run (found by an attack). Not a run cut
    // short by --timeout or Ctrl-C, whose list would stay short for good (found by the next one).
    if (!(error instanceof Interrupted)) afterRun();
    throw error;
  }
  trace('run returned');
  afterRun();
  return 0;
}

/**
 * Instantiates a core module with the memories and tables pull made imports of (coreState.ts):
 * made by the budget, each with its share of the cap, or with their declared limits; its first
 * memory holding its data image, if pull made one (dataImage.ts), before any of its code runs.
 */
function instantiateWithState(req: Pick<RunRequest, 'pluginName' | 'repairHint'>, module: WebAssembly.Module, footprint: Footprint, imports: WebAssembly.Imports | undefined, budget?: MemoryBudget): WebAssembly.Instance {
  const { state, image, filled } = footprint;
  footprint.filled = undefined; // for one instance only
  const first = state.memories[0]?.name;
  const made = budget ? budget.admit(state, imports) : makeState(state, undefined, filled && first ? { [first]: filled } : {});
  if (image && state.dataImage && !filled) fillMemory(req, made[first!] as WebAssembly.Memory, image, state.dataImage);
  return new WebAssembly.Instance(module, { ...imports, [STATE_MODULE]: made });
}

/** Reads a module's data image into its first memory (dataImage.ts); a failed read is the entry's damage. */
function fillMemory(req: Pick<RunRequest, 'pluginName' | 'repairHint'>, memory: WebAssembly.Memory, image: string, runs: ImageRun[]): void {
  try {
    readImageInto(memory, image, runs);
    trace(`read ${path.basename(image)}`);
  } catch (error) {
    throw damaged(req, `cannot read ${path.basename(image)}: ${error instanceof LocalFileError ? error.detail : (error as Error).message}`);
  }
}

/**
 * While V8 compiles, the main thread waits: the first memory of each module with a data image and
 * one instance is made then, with its declared limits, and its image read into it, for its
 * instance to take. Not under --max-memory, whose budget makes each memory as it admits its
 * instance.
 */
function fillMemoriesAhead(req: Pick<RunRequest, 'pluginName' | 'repairHint'>, footprints: Map<string, Footprint>, instantiations: Record<string, number> = {}): void {
  for (const [name, footprint] of footprints) {
    const { state, image } = footprint;
    if (!image || !state.dataImage || (instantiations[name] ?? 1) !== 1) continue;
    const memory = makeState({ ...state, tables: [], memories: state.memories.slice(0, 1) })[state.memories[0]!.name] as WebAssembly.Memory;
    fillMemory(req, memory, image, state.dataImage);
    footprint.filled = memory;
  }
}

/** The entry's core modules, compiled (each was started by startCompiling). */
async function compiledModules(compiling: Map<string, Promise<WebAssembly.Module>>, guard: RunGuard): Promise<Map<string, WebAssembly.Module>> {
  const names = [...compiling.keys()];
  const modules = await guard.within(Promise.all(names.map((name) => compiling.get(name)!)));
  return new Map(names.map((name, i) => [name, modules[i]!]));
}

/**
 * A plain preview1 module (no import of krew-wasm's own interfaces, which the legacy adapter
 * provides) runs as the core module it is, on runtime/preview1: no component glue, no adapter.
 */
export function runsAsPreview1(meta: EntryMeta): boolean {
  return meta.sourceKind === 'core-module' && !meta.imports.some((i) => i.startsWith('krew-wasm:'));
}

async function runPreview1Module(compiling: CompilingPlugin, req: RunRequest, guard: RunGuard, budget?: MemoryBudget): Promise<number> {
  if (!budget) fillMemoriesAhead(req, compiling.footprintsByName);
  const module = await guard.within(compiling.modules.get(ENTRY_FILES.preview1)!);
  trace('compiled');
  const { preview1Imports } = await import('./preview1/host.js');
  const host = preview1Imports(req.sandbox);
  let phase: 'starting' | 'running' = 'starting';
  try {
    // Instantiation and _start in one guarded call, as for components (instantiateAndRun).
    guard.call(() => {
      const instance = instantiateWithState(req, module, compiling.footprints.get(module)!, host.imports, budget);
      const { memory, _start: start } = instance.exports;
      if (!(memory instanceof WebAssembly.Memory) || typeof start !== 'function') throw damaged(req, 'the module exports no memory or no _start');
      host.bindMemory(memory);
      trace('instantiated');
      phase = 'running';
      (start as () => void)();
    });
  } catch (error) {
    throw phase === 'starting' ? asStartFailure(error) : error;
  }
  trace('run returned');
  return 0;
}

/** A failure while the plugin was being instantiated (a trap in a start function, a link error). */
class StartFailure extends Error {
  constructor(override readonly cause: unknown) {
    super('start failure');
  }
}

/** What went wrong while instantiating, as a start failure, except what ends a run anyway. */
function asStartFailure(error: unknown): unknown {
  const passes = error instanceof ExitSignal || error instanceof Interrupted || error instanceof OverBudget || isKrewWasmError(error);
  return passes ? error : new StartFailure(error);
}

/** What a failure is classified against. */
export interface FailureContext {
  pluginName: string;
  limits: { timeoutMs?: number; maxMemoryMiB?: number };
  /** Whether the plugin's memories are near the cap (a refused growth leaves no other trace). */
  nearMemoryCap(): boolean;
}

/**
 * What a thrown value means for the run: an exit code (the plugin ended itself, or the user
 * pressed Ctrl-C) or the one error the user sees. Pure apart from asking about memory.
 */
export function classifyFailure(error: unknown, ctx: FailureContext): { exit: number } | { error: KrewWasmError } {
  const name = ctx.pluginName;
  if (error instanceof ExitSignal) return { exit: error.code };
  if (error instanceof Interrupted) {
    if (error.why === 'interrupted') return { exit: 130 }; // as a shell reports SIGINT
    return { error: new PluginTimeoutError(`plugin ${name} exceeded its time limit of ${(ctx.limits.timeoutMs ?? 0) / 1000} s`, { hint: `krew-wasm grant ${name} --timeout <seconds>` }) };
  }
  if (isKrewWasmError(error)) return { error };
  if (error instanceof HostLimitExceeded) {
    return { error: new PluginRuntimeError(`plugin ${name} failed: ${error.message}, the most a run may`) };
  }
  if (error instanceof TooManyHandles) {
    return { error: new PluginRuntimeError(`plugin ${name} failed: it holds more than ${error.limit} resource handles (streams, descriptors, pollables, requests) at once, the most a run may`) };
  }
  if (error instanceof LiftTooLarge) {
    return { error: new PluginRuntimeError(`plugin ${name} failed: one host call passed ${mib(error.liftedBytes)} MiB of arguments, more than its ${mib(error.memoryBytes)} MiB of memory holds (lists or strings that overlap); the call was refused`) };
  }
  const memoryError = () => new PluginMemoryError(`plugin ${name} exceeded its memory limit of ${ctx.limits.maxMemoryMiB} MiB`, {
    cause: error,
    hint: `krew-wasm grant ${name} --max-memory <MiB>`,
  });
  if (error instanceof OverBudget) return { error: memoryError() };
  // Near the cap first: an allocator that found no room returns a pointer past the memory, and the
  // glue's read of it is out of bounds (attack 77), where the cap is what the user can change.
  if (ctx.limits.maxMemoryMiB && (ctx.nearMemoryCap() || declaredBeyondEngineLimit(error))) return { error: memoryError() };
  // A growth far beyond the cap in one step is refused while memory is still small: say so.
  const hint = ctx.limits.maxMemoryMiB ? `memory is capped at ${ctx.limits.maxMemoryMiB} MiB: krew-wasm grant ${name} --max-memory <MiB>` : undefined;
  if (isGlueOutOfBounds(error)) return { error: new PluginRuntimeError(`plugin ${name} trapped: out of bounds memory access`, { cause: error, hint }) };
  if (error instanceof StartFailure) {
    return { error: new PluginRuntimeError(`plugin ${name} failed to start: ${describe(error.cause)}`, { cause: error.cause, hint: error.cause instanceof WebAssembly.RuntimeError ? hint : undefined }) };
  }
  if (error instanceof WebAssembly.RuntimeError) {
    return { error: new PluginRuntimeError(`plugin ${name} trapped: ${error.message}`, { cause: error, hint }) };
  }
  if (error instanceof WebAssembly.CompileError || error instanceof WebAssembly.LinkError) {
    return { error: new PluginRuntimeError(`plugin ${name} failed to start: ${describe(error)}`, { cause: error }) };
  }
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return { error: new PluginRuntimeError(`plugin ${name} trapped: call stack exhausted`, { cause: error }) };
  }
  if (isRunErrResult(error)) return { exit: 1 };
  return { error: new PluginRuntimeError(`plugin ${name} failed: ${describe(error)}`, { cause: error }) };
}

/**
 * A read of guest memory in jco's glue past the end of the memory: a string or a list whose
 * pointer and length do not fit, or a pointer past 2 GiB, which the glue reads as a negative i32.
 * The canonical ABI traps there; V8 throws its typed array and DataView bounds errors (attack 76:
 * they ended the run as "failed" with their text).
 */
function isGlueOutOfBounds(error: unknown): boolean {
  return error instanceof RangeError && /^(Start offset -?\d+ is outside the bounds of the buffer|Offset is outside the bounds of the DataView|Invalid typed array length: \d+)$/.test(error.message);
}

/**
 * V8's refusal to compile a module whose declared table or memory is bigger than the engine allows.
 * Under --max-memory the allowed size is the cap's (MemoryBudget.compileFlags sets
 * --wasm-max-table-size), and Node 24's V8 checks a table's declared size against it when it
 * compiles, where Node 20's and 22's leave it to the budget at instantiation: the cap refused it.
 */
function declaredBeyondEngineLimit(error: unknown): boolean {
  return error instanceof WebAssembly.CompileError && /\binitial (table|memory) size \(\d+ (elements|pages)\) is larger than implementation limit\b/.test(error.message);
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
export function startCompiling(req: Pick<RunRequest, 'entryDir' | 'pluginName' | 'repairHint' | 'limits' | 'v8Flags'>, meta: EntryMeta, options: { readOnPool?: boolean } = {}): CompilingPlugin {
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
function planCompileHints(req: Pick<RunRequest, 'entryDir' | 'v8Flags'>, meta: EntryMeta, budget?: MemoryBudget): HintsPlan {
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
function coreStateOf(req: Pick<RunRequest, 'pluginName' | 'repairHint'>, meta: EntryMeta, name: string): CoreState {
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
function readCoreModules(req: Pick<RunRequest, 'entryDir' | 'pluginName' | 'repairHint'>, names: string[], onPool: boolean, formOf: (name: string) => string | undefined = () => undefined): Map<string, CoreModuleRead> {
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
function openCoreModule(req: Pick<RunRequest, 'entryDir' | 'pluginName' | 'repairHint'>, fileName: string): { file: string; fd: number; size: number } | KrewWasmError {
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

function readFailure(req: Pick<RunRequest, 'pluginName' | 'repairHint'>, fileName: string, error: unknown): KrewWasmError {
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
function compiledForms(req: Pick<RunRequest, 'entryDir'>, meta: EntryMeta, hot: HotFunctions, key: Pick<CompiledKey, 'flags' | 'nodeOptions'>, reads: Map<string, { size: number }>): { taken: Map<string, ArrayBuffer>; missing: string[] } {
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

/** Reads a store entry's metadata (store/entry.ts checks it), or says how to repair a damaged entry. */
export function readEntryMeta(entryDir: string, pluginName: string, repairHint?: string): EntryMeta {
  try {
    return readMeta(entryDir);
  } catch (error) {
    throw new NotInstalledError(`plugin ${pluginName} is damaged: ${(error as Error).message}`, { hint: repairHint });
  }
}

/** Loads jco's glue, in its code-cached script form. */
async function loadEntry(req: RunRequest, meta: EntryMeta): Promise<{ mod: TranspiledModule; saveCache(): void }> {
  // Entries are made in script form only (its copies out of guest memory are bounded); an entry
  // whose glue is the plain ES module is not run.
  if (meta.glue !== 'script') throw damaged(req, `its glue is not in script form (${ENTRY_FILES.script})`);
  try {
    const glue = loadGlueScript(req.entryDir);
    return { mod: { instantiate: glue.instantiate as TranspiledModule['instantiate'] }, saveCache: glue.saveCache };
  } catch (error) {
    throw damaged(req, `cannot load ${ENTRY_FILES.script}: ${describe(error)}`);
  }
}

/**
 * The `run` of the component's wasi:cli/run export, by its full name only: the one whose type
 * was checked (runType.ts, importTypes.ts). jco's shorthand `run` key can be another export of the plugin's
 * (a plain `run` instance, or `evil:pkg/run`), which an attack had the host call instead.
 */
function findRun(instance: Record<string, unknown>): (() => void) | undefined {
  for (const [key, value] of Object.entries(instance)) {
    if (RUN_EXPORT.test(key) && value && typeof (value as { run?: unknown }).run === 'function') {
      return (value as { run: () => void }).run;
    }
  }
  return undefined;
}

/** jco throws the err payload of `run`'s result; for `result` without payload that is undefined, possibly wrapped. */
function isRunErrResult(error: unknown): boolean {
  if (error === undefined) return true;
  return error instanceof Error && error.name === 'ComponentError' && (error as { payload?: unknown }).payload === undefined;
}

function damaged(req: Pick<RunRequest, 'pluginName' | 'repairHint'>, why: string): NotInstalledError {
  return new NotInstalledError(`plugin ${req.pluginName} is damaged: ${why}`, { hint: req.repairHint });
}

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}

/**
 * One line of what failed. What a plugin threw or returned is its own text: at most 200 characters
 * of it, control characters (a terminal's escape sequences) as `?`, and a payload too big to print
 * (an attack's err payload passed V8's string limit) said so.
 */
function describe(error: unknown): string {
  let text: string;
  try {
    text = error instanceof Error ? error.message : typeof error === 'object' && error !== null ? JSON.stringify(error) : String(error);
  } catch {
    return '(a value too large to show)';
  }
  // Cut first: the text can be as large as the plugin's memory (128 MiB of control characters,
  // replaced whole, exhausted Node's heap; found by an attack).
  const head = text.slice(0, 201);
  const line = printable(head.split('\n')[0]!);
  return shortened(line, 200);
}
