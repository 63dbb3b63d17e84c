import fs from 'node:fs';
import path from 'node:path';
import { importModule } from '../builtin.js';
import { firstLineOf, InvalidPluginError } from '../errors.js';
import { currentTranspiler, dataImageFile, ENTRY_FILES, ENTRY_FORMAT, recordingFormFile, writeEntryMeta, type EntryMeta } from '../store/entry.js';
import { checkComponentInterface, checkPreview1Module, wasmKind } from './component.js';
import { checkComponentShape } from './componentShape.js';
import { checkCoreNames } from './coreNames.js';
import { checkCompileCost, CompileCostError } from './compileCost.js';
import { importDefinedState, readCoreState, UncountableModuleError } from './coreState.js';
import { checkInterfaceTypes } from './importTypes.js';
import { checkOwnership } from './ownership.js';
import { checkRunType } from './runType.js';
import { usesTailCalls } from './tailCalls.js';
import { addCompileHints, hintsWork, modulesToRecord, recordingForm, type HintsPlace } from './compileHints.js';
import { extractDataImage, MAX_IMAGE_RUNS, type ImageRun } from './dataImage.js';
import { LIFTOFF_ONLY_BYTES } from './compile.js';
import { instantiationCounts, minifiedGlue, toScriptForm } from './glue.js';
import { readAdapter } from './adapters/index.js';
import { LEGACY_HTTP_MODULE, readLegacyHttpAdapter } from './adapters/legacyHttp.js';
import { PROC_EXIT_MODULE, readProcExitAdapter, routeProcExit } from './adapters/procExit.js';

/** The most JavaScript glue a plugin may have (the 12.5 MB StarlingMonkey component's is 0.8 MB). */
const MAX_GLUE_BYTES = 8 * 1024 * 1024;

/** An entry's metadata (the store entry owner, src/store/entry.ts, defines it). */
export type TranspiledMeta = EntryMeta;

/**
 * Turns wasm bytes into a runnable store entry in `outDir`: a preview1 core module is first wrapped
 * into a component with jco's command adapter; the component is transpiled once with
 * `instantiation: 'async'` so that every run supplies its own sandboxed imports. The layer itself
 * is kept as source.wasm, so that a stale entry can be made again without the registry; meta.json
 * is written last.
 */
export async function transpileInto(wasm: Uint8Array, outDir: string): Promise<TranspiledMeta> {
  const kind = wasmKind(wasm);
  const component = kind === 'component' ? wasm : await wrapPreview1(wasm);
  // Before jco reads it: what makes jco slow, or types an export by an import.
  checkComponentShape(component);
  const { transpileBytes } = await importModule<typeof import('@bytecodealliance/jco-transpile')>('@bytecodealliance/jco-transpile');
  let result: Awaited<ReturnType<typeof transpileBytes>>;
  try {
    result = await transpileBytes(component, {
      name: 'plugin',
      instantiation: 'async',
      // Minified here after its dead JSPI branches are taken out (glue.ts, minifiedGlue).
      minify: false,
    });
  } catch (error) {
    throw new InvalidPluginError(`jco could not transpile the component: ${firstLineOf(error)}`);
  }
  const exports = result.exports.map(([name]) => name);
  checkComponentInterface(result.imports, exports);
  // After jco, which has validated the binary (and words its errors better); before any of the
  // glue is written, let alone run.
  checkCoreNames(component);
  await checkRunType(component);
  await checkInterfaceTypes(result.files, result.imports, result.exports as [string, string][]);
  // Minified glue is ~40% smaller for big components (1.4 MB -> 0.6 MB of JS for a componentized
  // JS plugin): less to parse on every run.
  const glue = await minifiedGlue(Buffer.from(result.files[ENTRY_FILES.glue] ?? new Uint8Array()).toString('utf8'));
  if (glue === undefined) throw new InvalidPluginError("jco's JavaScript for the component could not be minified");
  result.files[ENTRY_FILES.glue] = Buffer.from(glue);
  // Every run parses the glue (and caches its code): it grows with instances x imports, and 182 KB
  // of component made 43 MB of it (an attack). Real components make well under 2 MB.
  if (glue.length > MAX_GLUE_BYTES) throw new InvalidPluginError(`jco's JavaScript for the component is ${Math.round(glue.length / (1024 * 1024))} MiB, more than the ${MAX_GLUE_BYTES / (1024 * 1024)} MiB krew-wasm runs (its instances import too much)`);
  const { HOST_OWNED_ARGUMENTS } = await import('../../generated/hostOwnership.js');
  checkOwnership(glue, HOST_OWNED_ARGUMENTS);
  // Only the script form is run: it is the one whose copies out of guest memory are bounded.
  const script = toScriptForm(glue);
  if (!script) throw new InvalidPluginError("jco's JavaScript for the component has a shape krew-wasm cannot bound (its copies out of guest memory)");
  const files = Object.entries(result.files)
    .filter(([name]) => !name.endsWith('.d.ts'))
    .map(([name, bytes]): [string, Uint8Array] => [name, name.endsWith('.wasm') ? preparedCoreModule(name, bytes) : bytes]);
  const coreModules = files.map(([name]) => name).filter((name) => name.endsWith('.wasm'));
  // A plain preview1 module runs as itself (compile.ts, runsAsPreview1): kept prepared as the others.
  if (kind === 'core-module') files.push([ENTRY_FILES.preview1, preparedCoreModule('of the module', wasm)]);
  const dataImages = moveDataToImages(files);
  const compileHints = hintCoreModules(files, coreModules);
  const instantiations = Object.fromEntries(Object.entries(instantiationCounts(glue)).filter(([, n]) => n > 1));
  try {
    // As runs compile them: the component's core modules together, a preview1 module by itself.
    const runnable = (names: string[]) => files.filter(([name]) => names.includes(name)).map(([, bytes]) => bytes);
    await checkCompileCost(runnable(coreModules));
    if (kind === 'core-module') await checkCompileCost(runnable([ENTRY_FILES.preview1]));
  } catch (error) {
    if (error instanceof CompileCostError) throw new InvalidPluginError(`the component is refused: ${error.message}`);
    throw error;
  }
  // Only where this Node records (a run on another makes its forms itself): no run would remove them.
  if (compileHints && hintsWork()) files.push(...recordingForms(files, compileHints, coreModules, instantiations));
  fs.mkdirSync(outDir, { recursive: true });
  for (const [name, bytes] of files) fs.writeFileSync(path.join(outDir, name), bytes);
  if (kind === 'core-module') fs.writeFileSync(path.join(outDir, ENTRY_FILES.component), component);
  fs.writeFileSync(path.join(outDir, ENTRY_FILES.source), wasm);
  fs.writeFileSync(path.join(outDir, ENTRY_FILES.script), script);
  const wasmFiles = files.filter(([name]) => name.endsWith('.wasm'));
  return writeEntryMeta(outDir, {
    format: ENTRY_FORMAT,
    sourceKind: kind,
    componentBytes: component.length,
    imports: result.imports,
    exports,
    coreModules,
    instantiations,
    // Read once here: a run would spend 1-4 ms reading them from the 12.5 MB of a JS plugin.
    coreStates: Object.fromEntries(wasmFiles.map(([name, bytes]) => [name, { ...readCoreState(bytes), ...(dataImages.has(name) ? { dataImage: dataImages.get(name) } : {}) }])),
    tailCalls: wasmFiles.filter(([, bytes]) => mayTailCall(bytes)).map(([name]) => name),
    ...(compileHints ? { compileHints } : {}),
    transpiler: currentTranspiler(),
    glue: 'script',
  });
}

/**
 * The core modules whose data becomes an image beside them (dataImage.ts), replaced in `files`
 * and their images added to it; the runs of each image, by module. At most MAX_IMAGE_RUNS runs
 * for the whole entry: meta.json lists them, and a component of many modules made it larger
 * than a run reads (found by an attack); the modules beyond keep their data.
 */
function moveDataToImages(files: [string, Uint8Array][]): Map<string, ImageRun[]> {
  const runs = new Map<string, ImageRun[]>();
  let listed = 0;
  for (const [index, [name, bytes]] of [...files.entries()]) {
    if (!name.endsWith('.wasm')) continue;
    let moved: ReturnType<typeof extractDataImage>;
    try {
      moved = extractDataImage(bytes);
    } catch {
      continue; // a shape this reader does not know (jco has validated the module): it keeps its data
    }
    if (!moved || listed + moved.runs.length > MAX_IMAGE_RUNS) continue;
    listed += moved.runs.length;
    files[index] = [name, moved.module];
    files.push([dataImageFile(name), moved.image]);
    runs.set(name, moved.runs);
  }
  return runs;
}

/** addCompileHints on the component's core modules, replaced in `files` (compileHints.ts). */
function hintCoreModules(files: [string, Uint8Array][], coreModules: string[]): Record<string, HintsPlace> | undefined {
  const modules = files.filter(([name]) => coreModules.includes(name));
  const places = addCompileHints(modules, LIFTOFF_ONLY_BYTES);
  for (const [name, bytes] of modules) files[files.findIndex(([n]) => n === name)] = [name, bytes];
  return places;
}

/**
 * The recording forms of the modules a big plugin's first run records (compileHints.ts), to be
 * written beside them: made here once, not by that run (~50 ms for the JS plugin's 9 MB module).
 */
function recordingForms(files: [string, Uint8Array][], places: Record<string, HintsPlace>, coreModules: string[], instantiations: Record<string, number>): [string, Uint8Array][] {
  const forms: [string, Uint8Array][] = [];
  for (const name of modulesToRecord(places, coreModules, instantiations)) {
    const bytes = files.find(([n]) => n === name)?.[1];
    const form = bytes && recordingForm(bytes);
    if (form) forms.push([recordingFormFile(name), form.bytes]);
  }
  return forms;
}

/** usesTailCalls, and yes for a module it cannot read (the answer only ever refuses a run). */
function mayTailCall(bytes: Uint8Array): boolean {
  try {
    return usesTailCalls(bytes);
  } catch {
    return true;
  }
}

/**
 * A core module as the entry keeps it: checked to hold nothing a limit cannot count, with every
 * memory and table it defines made by the host (coreState.ts).
 */
function preparedCoreModule(name: string, bytes: Uint8Array): Uint8Array {
  try {
    return importDefinedState(bytes);
  } catch (error) {
    if (error instanceof UncountableModuleError) throw new InvalidPluginError(`the component's core module ${name} is refused: ${error.message}`);
    throw new InvalidPluginError(`cannot read the core module ${name}: ${(error as Error).message}`);
  }
}

/**
 * Wraps a preview1 command into a component with jco's preview1 command adapter, our proc-exit
 * adapter (adapters/procExit.ts: exit codes survive), and, for a plugin of the original krew-wasm,
 * the legacy adapter that serves its `wasi-outbound-http` imports through
 * krew-wasm:outbound-http (runtime/adapters/wasi-outbound-http.wat).
 */
async function wrapPreview1(module: Uint8Array): Promise<Uint8Array> {
  const { legacyHttp } = checkPreview1Module(module);
  const adapters: [string, Uint8Array][] = [['wasi_snapshot_preview1', readAdapter('wasi-snapshot-preview1')]];
  if (legacyHttp) adapters.push([LEGACY_HTTP_MODULE, readLegacyHttpAdapter()]);
  const routed = routeProcExit(module);
  if (routed) adapters.push([PROC_EXIT_MODULE, readProcExitAdapter()]);
  const { componentNew } = await importModule<typeof import('@bytecodealliance/jco-transpile/wasm-tools')>('@bytecodealliance/jco-transpile/wasm-tools');
  try {
    return await componentNew(routed ?? module, adapters);
  } catch (error) {
    throw new InvalidPluginError(`could not wrap the preview1 module into a component: ${firstLineOf(error)}`);
  }
}

