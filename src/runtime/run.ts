import fs from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { NotInstalledError, PluginMemoryError, PluginRuntimeError, PluginTimeoutError } from '../errors.js';
import { loadGlueScript, SCRIPT_FILE } from './glue.js';
import { ENTRY_FILE, META_FILE, type TranspiledMeta } from './transpile.js';
import { ExitSignal, wasiImports, type SandboxGrants } from './wasi.js';
import { trace } from '../trace.js';

type ImportObject = Record<string, unknown>;

/** Everything needed to run one transpiled plugin once. */
export interface RunRequest {
  /** Store (or cache) entry holding plugin.js and its core modules. */
  entryDir: string;
  /** Shown in messages. */
  pluginName: string;
  grants: SandboxGrants;
  /** Host interfaces beyond WASI (outbound-http), by unversioned interface name. */
  hostImports?: ImportObject;
  /** Hint for a damaged entry, e.g. the pull command that repairs it. */
  repairHint?: string;
  /** The entry's metadata, when the caller has read it already (readEntryMeta). */
  meta?: TranspiledMeta;
  /** V8 flags replacing the automatic choice (Settings.v8Flags). */
  v8Flags?: string;
}

interface TranspiledModule {
  instantiate(
    getCoreModule: (name: string) => Promise<WebAssembly.Module>,
    imports: ImportObject,
    instantiateCore?: (module: WebAssembly.Module, imports: WebAssembly.Imports) => Promise<WebAssembly.Instance>,
  ): Promise<Record<string, unknown>>;
}

const WASM_PAGE = 64 * 1024;

/** Instantiates the plugin with its sandbox and calls `wasi:cli/run`; resolves with the exit code. */
export async function runPlugin(req: RunRequest): Promise<number> {
  const meta = req.meta ?? readEntryMeta(req.entryDir, req.pluginName, req.repairHint);
  const coreModules = readCoreModules(req, meta);
  tuneV8ForModuleSize(coreModules, req.v8Flags);
  const memoryCap = req.grants.maxMemoryMiB ? req.grants.maxMemoryMiB * 1024 * 1024 : undefined;
  // V8 then refuses memory.grow past the cap, so the guest sees an allocation failure.
  if (memoryCap) v8.setFlagsFromString(`--wasm-max-mem-pages=${Math.max(1, Math.floor(memoryCap / WASM_PAGE))}`);
  const memories: WebAssembly.Memory[] = [];
  const instantiateCore = async (module: WebAssembly.Module, coreImports: WebAssembly.Imports) => {
    const instance = await WebAssembly.instantiate(module, coreImports);
    for (const value of Object.values(instance.exports)) if (value instanceof WebAssembly.Memory) memories.push(value);
    return instance;
  };
  // A refused memory.grow is invisible to the host; a trap with memory near the cap is the trace it
  // leaves when a heap grows step by step (malloc does), so that is reported as the limit.
  const overMemory = () => memoryCap !== undefined && memories.some((m) => m.buffer.byteLength >= memoryCap * 0.75);
  const memoryError = (cause: unknown) =>
    new PluginMemoryError(`plugin ${req.pluginName} exceeded its memory limit of ${req.grants.maxMemoryMiB} MiB`, {
      cause,
      hint: `krew-wasm grant ${req.pluginName} --max-memory <MiB>`,
    });
  // Compilation starts first: V8 compiles on background threads while this thread loads the glue
  // and the WASI host, instead of idling on the compile afterwards (~40 ms for a 15 MB component).
  const compiling = startCompiling(coreModules);
  const { mod, saveCache } = await loadEntry(req, meta);
  trace('plugin.js loaded');
  const imports: ImportObject = { ...(await wasiImports(req.grants, meta.imports)), ...req.hostImports };
  trace('imports ready');
  const getCoreModule = async (name: string) => {
    const module = compiling.get(name);
    if (!module) throw damaged(req, `unexpected core module ${name}`);
    return module;
  };
  let instance: Record<string, unknown>;
  try {
    instance = await mod.instantiate(getCoreModule, imports, instantiateCore);
  } catch (error) {
    if (error instanceof ExitSignal) return error.code;
    if (memoryCap !== undefined && (overMemory() || /memory/i.test(String((error as Error)?.message)))) throw memoryError(error);
    throw new PluginRuntimeError(`plugin ${req.pluginName} failed to start: ${describe(error)}`, { cause: error });
  }
  trace('instantiated');
  const run = findRun(instance);
  if (!run) throw damaged(req, 'the component exports no wasi:cli/run');
  try {
    callWithTimeout(run, req.grants.timeoutMs);
    trace('run returned');
    saveCache();
    return 0;
  } catch (error) {
    if (error instanceof ExitSignal) {
      saveCache();
      return error.code;
    }
    if ((error as NodeJS.ErrnoException)?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
      throw new PluginTimeoutError(`plugin ${req.pluginName} exceeded its time limit of ${(req.grants.timeoutMs ?? 0) / 1000} s`, {
        hint: `krew-wasm grant ${req.pluginName} --timeout <seconds>`,
      });
    }
    if (overMemory()) throw memoryError(error);
    if (error instanceof WebAssembly.RuntimeError) {
      // A growth far beyond the cap in one step is refused while memory is still small: say so.
      const hint = memoryCap ? `memory is capped at ${req.grants.maxMemoryMiB} MiB: krew-wasm grant ${req.pluginName} --max-memory <MiB>` : undefined;
      throw new PluginRuntimeError(`plugin ${req.pluginName} trapped: ${error.message}`, { cause: error, hint });
    }
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      throw new PluginRuntimeError(`plugin ${req.pluginName} trapped: call stack exhausted`, { cause: error });
    }
    if (isRunErrResult(error)) return 1;
    throw new PluginRuntimeError(`plugin ${req.pluginName} failed: ${describe(error)}`, { cause: error });
  }
}

/** The entry's core modules, read once: their size picks the V8 flags, their bytes are compiled. */
function readCoreModules(req: RunRequest, meta: TranspiledMeta): Map<string, Uint8Array<ArrayBuffer>> {
  const modules = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const name of meta.coreModules) {
    try {
      modules.set(name, fs.readFileSync(path.join(req.entryDir, name)) as Uint8Array<ArrayBuffer>);
    } catch (error) {
      throw damaged(req, `cannot read ${name}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  return modules;
}

function startCompiling(modules: Map<string, Uint8Array<ArrayBuffer>>): Map<string, Promise<WebAssembly.Module>> {
  const compiling = new Map<string, Promise<WebAssembly.Module>>();
  for (const [name, bytes] of modules) {
    const module = WebAssembly.compile(bytes);
    module.catch(() => {}); // reported when instantiate asks for it, not as an unhandled rejection
    compiling.set(name, module);
  }
  return compiling;
}

/** Above this much core wasm, optimizing compilation costs more than a short-lived plugin gains. */
const LARGE_MODULE_BYTES = 1024 * 1024;

/**
 * Big components (a JS engine compiled to wasm is ~15 MB) spend their start-up in V8's background
 * TurboFan tier-up and eager validation, competing for the cores with the plugin itself; a kubectl
 * plugin runs for milliseconds, so baseline (Liftoff) code and lazy validation win (bench/). Small
 * modules are left alone: setting flags costs more than it saves for them.
 */
function tuneV8ForModuleSize(modules: Map<string, Uint8Array>, flags: string | undefined): void {
  let bytes = 0;
  for (const module of modules.values()) bytes += module.length;
  const chosen = flags ?? (bytes > LARGE_MODULE_BYTES ? '--liftoff-only --wasm-lazy-validation' : '');
  if (chosen) v8.setFlagsFromString(chosen);
}

/**
 * Calls the guest's run synchronously; with a limit, under vm's watchdog, which terminates
 * execution from another thread (a timer cannot fire while wasm holds the main thread).
 */
function callWithTimeout(run: () => void, timeoutMs: number | undefined): void {
  if (!timeoutMs) return run();
  const slot = '__krewWasmRun';
  (globalThis as Record<string, unknown>)[slot] = run;
  try {
    vm.runInThisContext(`${slot}()`, { timeout: timeoutMs, breakOnSigint: true });
  } finally {
    delete (globalThis as Record<string, unknown>)[slot];
  }
}

/** Reads a store entry's metadata, or says how to repair a damaged entry. */
export function readEntryMeta(entryDir: string, pluginName: string, repairHint?: string): TranspiledMeta {
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(entryDir, META_FILE), 'utf8')) as TranspiledMeta;
    if (meta.format !== 1 || !Array.isArray(meta.coreModules) || !Array.isArray(meta.imports)) throw new Error('unknown format');
    return meta;
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? `its store entry ${entryDir} is missing` : `cannot read ${META_FILE}: ${(error as Error).message}`;
    throw new NotInstalledError(`plugin ${pluginName} is damaged: ${why}`, { hint: repairHint });
  }
}

/** Loads jco's glue: the code-cached script form when the entry has one, else the ES module. */
async function loadEntry(req: RunRequest, meta: TranspiledMeta): Promise<{ mod: TranspiledModule; saveCache(): void }> {
  const file = meta.glue === 'script' ? SCRIPT_FILE : ENTRY_FILE;
  try {
    if (meta.glue === 'script') {
      const glue = loadGlueScript(req.entryDir);
      return { mod: { instantiate: glue.instantiate as TranspiledModule['instantiate'] }, saveCache: glue.saveCache };
    }
    const mod = (await import(pathToFileURL(path.join(req.entryDir, ENTRY_FILE)).href)) as TranspiledModule;
    if (typeof mod.instantiate !== 'function') throw new Error('no instantiate export');
    return { mod, saveCache: () => {} };
  } catch (error) {
    throw damaged(req, `cannot load ${file}: ${describe(error)}`);
  }
}

function findRun(instance: Record<string, unknown>): (() => void) | undefined {
  for (const [key, value] of Object.entries(instance)) {
    if ((key === 'run' || key.startsWith('wasi:cli/run')) && value && typeof (value as { run?: unknown }).run === 'function') {
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

function damaged(req: RunRequest, why: string): NotInstalledError {
  return new NotInstalledError(`plugin ${req.pluginName} is damaged: ${why}`, { hint: req.repairHint });
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0];
  if (typeof error === 'object' && error !== null) return JSON.stringify(error);
  return String(error);
}
