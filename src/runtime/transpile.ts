import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidPluginError } from '../errors.js';
import { checkComponentInterface, checkPreview1Module, wasmKind, type WasmKind } from './component.js';
import { SCRIPT_FILE, toScriptForm } from './glue.js';
import { LEGACY_HTTP_MODULE, readLegacyHttpAdapter } from './adapters/legacyHttp.js';
import { PROC_EXIT_MODULE, readProcExitAdapter, routeProcExit } from './adapters/procExit.js';

/** Written next to the transpiled files; wrapper mode reads it to find its way. */
export interface TranspiledMeta {
  /** Layout version of a store entry; bump when the transpile output changes shape. */
  format: 1;
  sourceKind: WasmKind;
  componentBytes: number;
  imports: string[];
  exports: string[];
  /** The core modules jco emitted, in the order its instantiate() asks for them. */
  coreModules: string[];
  transpiler: string;
  /** `script` when SCRIPT_FILE holds the glue as a classic script (code-cacheable), else the ES module. */
  glue?: 'script' | 'module';
}

export const ENTRY_FILE = 'plugin.js';
export const META_FILE = 'meta.json';

/**
 * Turns wasm bytes into a runnable store entry in `outDir`: a preview1 core module is first wrapped
 * into a component with jco's command adapter; the component is transpiled once with
 * `instantiation: 'async'` so that every run supplies its own sandboxed imports.
 */
export async function transpileInto(wasm: Uint8Array, outDir: string): Promise<TranspiledMeta> {
  const kind = wasmKind(wasm);
  const component = kind === 'component' ? wasm : await wrapPreview1(wasm);
  const { transpileBytes } = await import('@bytecodealliance/jco-transpile');
  let result: Awaited<ReturnType<typeof transpileBytes>>;
  try {
    result = await transpileBytes(component, {
      name: 'plugin',
      instantiation: 'async',
      // Minified glue is ~40% smaller for big components (1.4 MB -> 0.8 MB of JS for a
      // componentized JS plugin): less to parse on every run, and it transpiles faster too.
      minify: true,
    });
  } catch (error) {
    throw new InvalidPluginError(`jco could not transpile the component: ${firstLine(error)}`);
  }
  const exports = result.exports.map(([name]) => name);
  checkComponentInterface(result.imports, exports);
  fs.mkdirSync(outDir, { recursive: true });
  const coreModules: string[] = [];
  for (const [name, bytes] of Object.entries(result.files)) {
    if (name.endsWith('.d.ts')) continue;
    fs.writeFileSync(path.join(outDir, name), bytes);
    if (name.endsWith('.wasm')) coreModules.push(name);
  }
  if (kind === 'core-module') fs.writeFileSync(path.join(outDir, 'component.wasm'), component);
  const script = toScriptForm(Buffer.from(result.files[ENTRY_FILE]).toString('utf8'));
  if (script) fs.writeFileSync(path.join(outDir, SCRIPT_FILE), script);
  const meta: TranspiledMeta = {
    format: 1,
    sourceKind: kind,
    componentBytes: component.length,
    imports: result.imports,
    exports,
    coreModules,
    transpiler: `jco-transpile@${transpilerVersion()}`,
    glue: script ? 'script' : 'module',
  };
  fs.writeFileSync(path.join(outDir, META_FILE), JSON.stringify(meta, null, 2));
  return meta;
}

/**
 * Wraps a preview1 command into a component with jco's preview1 command adapter, our proc-exit
 * adapter (adapters/procExit.ts: exit codes survive), and, for a plugin of the original krew-wasm,
 * the legacy adapter that serves its `wasi-outbound-http` imports through
 * krew-wasm:outbound-http (runtime/adapters/wasi-outbound-http.wat).
 */
async function wrapPreview1(module: Uint8Array): Promise<Uint8Array> {
  const { legacyHttp } = checkPreview1Module(module);
  const adapters: [string, Uint8Array][] = [['wasi_snapshot_preview1', fs.readFileSync(preview1AdapterPath())]];
  if (legacyHttp) adapters.push([LEGACY_HTTP_MODULE, readLegacyHttpAdapter()]);
  const routed = routeProcExit(module);
  if (routed) adapters.push([PROC_EXIT_MODULE, readProcExitAdapter()]);
  const { componentNew } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  try {
    return await componentNew(routed ?? module, adapters);
  } catch (error) {
    throw new InvalidPluginError(`could not wrap the preview1 module into a component: ${firstLine(error)}`);
  }
}

/** jco ships the WASI preview1 command adapter; its package exports do not expose lib/, so resolve by hand. */
export function preview1AdapterPath(): string {
  const api = fileURLToPath(import.meta.resolve('@bytecodealliance/jco'));
  return path.join(path.dirname(api), '..', 'lib', 'wasi_snapshot_preview1.command.wasm');
}

let cachedVersion: string | undefined;
function transpilerVersion(): string {
  if (!cachedVersion) {
    const entry = fileURLToPath(import.meta.resolve('@bytecodealliance/jco-transpile'));
    const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(entry), '..', 'package.json'), 'utf8')) as { version: string };
    cachedVersion = pkg.version;
  }
  return cachedVersion;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').find((l) => l.trim().length > 0)?.trim() ?? 'unknown error';
}
