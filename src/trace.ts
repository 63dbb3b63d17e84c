/** Start-up tracing for performance work: KREW_WASM_TRACE=1 prints phase times (ms since process start) to stderr. */
let enabled = false;

/** Turned on once, from Settings.trace, by the entry point. */
export function enableTrace(on: boolean): void {
  enabled = on;
}

export function trace(phase: string): void {
  if (enabled) process.stderr.write(`krew-wasm trace: ${performance.now().toFixed(1)} ms ${phase}\n`);
}
