import { InvalidPluginError } from '../../errors.js';
import { readAdapter } from './index.js';

/**
 * The import module of the original krew-wasm plugins (wit-bindgen 0.1, `wasi-outbound-http.wit`).
 * A preview1 module importing it is wrapped with the legacy adapter (wasi-outbound-http.wat), which
 * implements it on top of `krew-wasm:outbound-http`; see that file for the ABI mapping.
 */
export const LEGACY_HTTP_MODULE = 'wasi-outbound-http';

/** What the adapter exports: the two functions of the original interface. */
const LEGACY_HTTP_FUNCTIONS = new Set(['request', 'register-request-config']);

export function isLegacyHttpImport(imp: WebAssembly.ModuleImportDescriptor): boolean {
  return imp.module === LEGACY_HTTP_MODULE && imp.kind === 'function' && LEGACY_HTTP_FUNCTIONS.has(imp.name);
}

/**
 * Checks what the adapter needs from a module that imports the original interface: the host hands
 * every list and string it returns to the plugin through the plugin's own `canonical_abi_realloc`
 * (as the original host did), in the plugin's exported memory.
 */
export function checkLegacyHttpModule(exports: WebAssembly.ModuleExportDescriptor[]): void {
  const has = (name: string, kind: WebAssembly.ImportExportKind) => exports.some((e) => e.name === name && e.kind === kind);
  if (!has('canonical_abi_realloc', 'function')) {
    throw new InvalidPluginError(`the core module imports ${LEGACY_HTTP_MODULE} but does not export canonical_abi_realloc, which the host needs to hand it responses`);
  }
  if (!has('memory', 'memory')) {
    throw new InvalidPluginError(`the core module imports ${LEGACY_HTTP_MODULE} but does not export its memory`);
  }
}

/** The adapter's bytes, to be linked in as the `wasi-outbound-http` adapter of componentNew. */
export function readLegacyHttpAdapter(): Uint8Array {
  return readAdapter('wasi-outbound-http');
}
