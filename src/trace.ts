import fs from 'node:fs';

/**
 * Start-up tracing for performance work: KREW_WASM_TRACE=1 prints each phase's time (ms since the
 * process started) and the process's CPU time so far (all threads, V8's compilers included; and
 * the part of it spent in the kernel, where page faults of fresh memory go, and how many page faults
 * so far: each costs 1-15 µs here, by the machine's phase) to stderr.
 */
let enabled = false;

/** Turned on once, from Settings.trace, by the entry point. */
export function enableTrace(on: boolean): void {
  enabled = on;
}

/** Written to fd 2 directly: making process.stderr would add its own ~3 ms to what is traced. */
export function trace(phase: string): void {
  if (!enabled) return;
  const { userCPUTime, systemCPUTime, minorPageFault } = process.resourceUsage();
  fs.writeSync(2, `krew-wasm trace: ${performance.now().toFixed(1)} ms ${phase} (cpu ${((userCPUTime + systemCPUTime) / 1000).toFixed(1)} ms, system ${(systemCPUTime / 1000).toFixed(1)} ms, ${minorPageFault} page faults)\n`);
}
