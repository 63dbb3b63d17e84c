import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotInstalledError } from '../errors.js';
import { trace } from '../trace.js';
import { RUN_EXPORT } from './component.js';
import { loadGlueScript } from './glue.js';
import { STATE_MODULE } from './coreState.js';
import { Interrupted, makeState, MemoryBudget, RunGuard } from './limits.js';
import { ENTRY_FILES, readEntryMeta as readMeta, type EntryMeta } from '../store/entry.js';
import { LocalFileError } from '../store/fsutil.js';
import { wasiImports, type WasiSandbox } from './wasi/index.js';
import { readImageInto, type ImageRun } from './dataImage.js';
import { compileInBackground } from './compiledCache.js';
import { calledFunctions, heapHasRoomToRead, removeRecordingForms, writeHotFunctions, type HotFunctions } from './compileHints.js';
import { startCompiling, type CompileRequest, type CompilingPlugin, type Footprint } from './compile.js';
import { asStartFailure, classifyFailure, damaged, describe, type FailureContext, type PluginRef } from './failure.js';

type ImportObject = Record<string, unknown>;

/** Host interfaces beyond WASI, and environment variables they announce to the guest (e.g. KREW_WASM_API_SERVER). */
export interface HostImports {
  imports: ImportObject;
  env?: Record<string, string>;
}

/** Everything needed to run one transpiled plugin once. */
export interface RunRequest extends CompileRequest {
  sandbox: WasiSandbox;
  /**
   * Host interfaces beyond WASI (outbound-http, wasi:http), by unversioned interface name. Called
   * once compilation has started, so that their set-up (reading the kubeconfig) overlaps with it,
   * with the run's deadline (performance.now() milliseconds), which their waits must not pass.
   */
  hostImports?: (deadline: number | undefined) => Promise<HostImports>;
  /** The entry's metadata, when the caller has read it already (readEntryMeta). */
  meta?: EntryMeta;
  /** The entry's compilation, when the caller started it early (startCompiling). */
  compiling?: CompilingPlugin;
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
    if (writeHotFunctions(req.entryDir, hot, meta.compileHints ?? {})) removeRecordingForms(req.entryDir, Object.keys(meta.compileHints ?? {}));
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
function instantiateWithState(req: PluginRef, module: WebAssembly.Module, footprint: Footprint, imports: WebAssembly.Imports | undefined, budget?: MemoryBudget): WebAssembly.Instance {
  const { state, image, filled } = footprint;
  footprint.filled = undefined; // for one instance only
  const first = state.memories[0]?.name;
  const made = budget ? budget.admit(state, imports) : makeState(state, undefined, filled && first ? { [first]: filled } : {});
  if (image && state.dataImage && !filled) fillMemory(req, made[first!] as WebAssembly.Memory, image, state.dataImage);
  return new WebAssembly.Instance(module, { ...imports, [STATE_MODULE]: made });
}

/** Reads a module's data image into its first memory (dataImage.ts); a failed read is the entry's damage. */
function fillMemory(req: PluginRef, memory: WebAssembly.Memory, image: string, runs: ImageRun[]): void {
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
function fillMemoriesAhead(req: PluginRef, footprints: Map<string, Footprint>, instantiations: Record<string, number> = {}): void {
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

