import { InvalidPluginError } from '../errors.js';
import { someOf } from '../printable.js';
import { checkLegacyHttpModule, isLegacyHttpImport } from './adapters/legacyHttp.js';

/** What kind of wasm binary some bytes are (binary format: magic + version/layer). */
export type WasmKind = 'component' | 'core-module';

/** Checks the wasm magic and tells a component from a core module. */
export function wasmKind(bytes: Uint8Array): WasmKind {
  if (bytes.length < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new InvalidPluginError('not a WebAssembly binary (bad magic number)', {
      hint: 'the artifact layer must be a wasm component or a WASI preview1 command module',
    });
  }
  // Core modules: version 1, layer 0. Components: version 0x0d (pre-1.0 encoding), layer 1.
  const layer = bytes[6] | (bytes[7] << 8);
  if (layer === 1) return 'component';
  if (layer === 0 && bytes[4] === 1 && bytes[5] === 0) return 'core-module';
  throw new InvalidPluginError(`unsupported WebAssembly binary version/layer ${bytes[4]}.${bytes[5]}/${layer}`);
}

/** Interface names a component may import: the WASI 0.2 CLI world plus our outbound-http. */
const ALLOWED_IMPORT = /^(wasi:(cli|clocks|filesystem|io|random|sockets|http)\/[a-z-]+|krew-wasm:outbound-http\/(types|outbound-http))$/;

/** The export the host calls: WASI 0.2's run interface, by its full name (runType.ts checks its type). */
export const RUN_EXPORT = /^wasi:cli\/run@0\.2\.\d+$/;

/** Unversioned interface name: `wasi:cli/exit@0.2.3` -> `wasi:cli/exit`. */
export function unversioned(name: string): string {
  return name.replace(/@[^@]*$/, '');
}

/** Throws unless every import is one the host provides and `wasi:cli/run` is exported. */
export function checkComponentInterface(imports: string[], exports: string[]): void {
  const unsupported = imports.filter((i) => !ALLOWED_IMPORT.test(unversioned(i)));
  if (unsupported.length > 0) {
    throw new InvalidPluginError(`the component imports interfaces krew-wasm does not provide: ${someOf(unsupported)}`);
  }
  if (!exports.some((e) => unversioned(e) === 'wasi:cli/run')) {
    throw new InvalidPluginError(`the component does not export wasi:cli/run (exports: ${someOf(exports) || 'none'})`, {
      hint: 'build the plugin as a WASI command (world wasi:cli/command or krew-wasm:outbound-http/plugin)',
    });
  }
}

/**
 * Throws unless a core module is a WASI command the adapters can wrap: it imports wasi_snapshot_preview1
 * and, as the original krew-wasm plugins do, wasi-outbound-http (runtime/legacy). Tells whether it
 * needs the legacy wasi-outbound-http adapter.
 */
export function checkPreview1Module(bytes: Uint8Array): { legacyHttp: boolean } {
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  } catch (error) {
    throw new InvalidPluginError(`invalid WebAssembly module: ${(error as Error).message}`);
  }
  const imports = WebAssembly.Module.imports(module);
  const foreign = imports.filter((i) => i.module !== 'wasi_snapshot_preview1' && !isLegacyHttpImport(i));
  if (foreign.length > 0) {
    const names = [...new Set(foreign.map((i) => `${i.module}.${i.name}`))];
    throw new InvalidPluginError(`the core module imports what krew-wasm does not provide: ${someOf(names)}`);
  }
  const exports = WebAssembly.Module.exports(module);
  if (!exports.some((e) => e.name === '_start')) {
    throw new InvalidPluginError('the core module is not a WASI command (no _start export)');
  }
  const legacyHttp = imports.some(isLegacyHttpImport);
  if (legacyHttp) checkLegacyHttpModule(exports);
  return { legacyHttp };
}
