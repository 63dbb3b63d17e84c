import fs from 'node:fs';

/** The adapters build.mjs makes from this folder's WAT (and jco's preview1 command adapter), by name. */
export type AdapterName = 'wasi-outbound-http' | 'proc-exit' | 'wasi-snapshot-preview1';

/** An adapter's bytes, built next to this code in each dist tree by build.mjs. */
export function readAdapter(name: AdapterName): Uint8Array {
  const file = new URL(`./${name}.adapter.wasm`, import.meta.url);
  try {
    return fs.readFileSync(file);
  } catch (error) {
    // A broken build, not the plugin's fault: an internal error.
    throw new Error(`krew-wasm is missing ${name}.adapter.wasm (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}): rebuild it with make build`);
  }
}
