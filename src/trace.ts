import fs from 'node:fs';

/** Start-up tracing for performance work: KREW_WASM_TRACE=1 prints phase times (ms since process start) to stderr. */
let enabled = false;

/** Turned on once, from Settings.trace, by the entry point. */
export function enableTrace(on: boolean): void {
  enabled = on;
}

/** Written to fd 2 directly: making process.stderr would add its own ~3 ms to what is traced. */
export function trace(phase: string): void {
  if (enabled) fs.writeSync(2, `krew-wasm trace: ${performance.now().toFixed(1)} ms ${phase}\n`);
}
