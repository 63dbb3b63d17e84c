import { spawn } from 'node:child_process';
import { LIFTOFF_ONLY_BYTES } from './compile.js';
import { forEachSection, MODULE_PREAMBLE, Reader } from './wasmReader.js';

/**
 * What compiling a plugin's core modules costs V8, measured at pull.
 *
 * Node compiles a plugin's wasm at every run, and neither `--max-memory` nor `--timeout` can
 * count or interrupt a compile. V8's compilers cost more than the code's size in ways no simple
 * rule about the binary caught (found by three attacks): its baseline compiler (Liftoff) keeps a
 * copy of the frame and the operand stack for every block, loop and if it opens (50,000 values and
 * 4,000 loops, 15 KB of wasm, took 2.4 GB; 20,000 loops ended the host with V8's fatal
 * out-of-memory error), walks them again at every branch (a 105 KB plugin compiled for 40 s), and
 * its optimizing compiler (TurboFan), which recompiles hot functions of a small plugin in the
 * background, grows with locals times branches (3.1 GB from 45 KB). So pull compiles the modules
 * as a run would, with each compiler a run may use, eagerly, in a child Node, and refuses a plugin
 * whose compile takes more memory or CPU time than COMPILE_LIMITS allow; the child is killed as soon
 * as it passes the memory limit. Real plugins stay far below: the 12.5 MB StarlingMonkey component
 * compiles in ~0.4 s of CPU and ~75 MB.
 */
export const COMPILE_LIMITS = {
  /** Growth of the child's resident memory while compiling. */
  memoryBytes: 256 * 1024 * 1024,
  /**
   * CPU time (all threads): a base, and so much per MiB of function bodies, about 1.5 times what
   * Liftoff takes for real code (~33 ms a MiB). What padding buys is the rest: functions a run
   * never calls cost Liftoff ~5 ms a MiB, so 100 MiB of them left a bomb ~4.5 s (at 500 ms a MiB
   * they left it 49 s; custom sections, counted at first, 44 s: attacks).
   */
  cpuBaseMs: 2000,
  cpuPerMiBMs: 50,
};

/** Thrown when compiling a plugin would cost more than COMPILE_LIMITS allow. */
export class CompileCostError extends Error {}

/**
 * The child: reads length-prefixed modules from stdin, compiles them all eagerly with one compiler
 * (a child each: V8 reuses a module compiled from the same bytes), and reports its peak memory
 * growth and CPU time; it says `over` as soon as the memory limit is passed (the parent kills it:
 * Node waits for V8's compile threads at exit).
 */
const CHILD = `
const v8 = require('node:v8');
// Ends itself past the limits, or when pull is gone (killed by a signal): a compile that outlives
// its parent would go on alone (an attack). SIGKILL: Node's exit waits for V8's compile threads.
const parent = process.ppid;
const started = Date.now();
const die = () => process.kill(process.pid, 'SIGKILL');
const report = (line) => require('node:fs').writeSync(1, line); // synchronous: before a SIGKILL
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', async () => {
  const all = Buffer.concat(chunks);
  const limit = Number(process.argv[1]);
  const wallMs = Number(process.argv[3]);
  const cpuLimitMs = Number(process.argv[4]);
  const flags = process.argv[2] === 'turbofan' ? '--no-liftoff --no-wasm-dynamic-tiering --no-wasm-lazy-compilation' : '--liftoff-only --no-wasm-lazy-compilation';
  const modules = [];
  for (let at = 0; at < all.length;) { const n = all.readUInt32LE(at); modules.push(all.subarray(at + 4, at + 4 + n)); at += 4 + n; }
  // V8 copies the module's bytes: what it compiles is what grows past them.
  const base = process.memoryUsage.rss() + all.length;
  const cpu = process.cpuUsage();
  let peak = 0;
  const watch = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss() - base);
    if (peak > limit) { report(JSON.stringify({ over: true, peak }) + '\\n'); die(); }
    const spent = process.cpuUsage(cpu);
    if ((spent.user + spent.system) / 1000 > cpuLimitMs) { report(JSON.stringify({ cpuMs: (spent.user + spent.system) / 1000 }) + '\\n'); die(); }
    if (process.ppid !== parent || Date.now() - started > wallMs) die();
  }, 2);
  try {
    v8.setFlagsFromString(flags);
    for (const m of modules) await WebAssembly.compile(m);
  } catch (error) {
    report(JSON.stringify({ error: String(error.message) }) + '\\n');
    process.exit(0);
  }
  peak = Math.max(peak, process.memoryUsage.rss() - base);
  clearInterval(watch);
  const used = process.cpuUsage(cpu);
  report(JSON.stringify({ peak, cpuMs: (used.user + used.system) / 1000 }) + '\\n');
  process.exit(0);
});
`;

interface Measured {
  over?: boolean;
  error?: string;
  peak?: number;
  cpuMs?: number;
}

/** Compiles the modules in a child Node as a run would, and refuses a compile that costs too much. */
export async function checkCompileCost(modules: Uint8Array[]): Promise<void> {
  const bytes = modules.reduce((sum, m) => sum + m.length, 0);
  const code = modules.reduce((sum, m) => sum + codeBytes(m), 0);
  const cpuLimitMs = COMPILE_LIMITS.cpuBaseMs + (COMPILE_LIMITS.cpuPerMiBMs * code) / (1024 * 1024);
  // Liftoff compiles what a run calls; TurboFan what a small plugin's run finds hot (above
  // LIFTOFF_ONLY_BYTES a run has Liftoff only). A run may do both, and hold both at once: each
  // gets half the memory.
  const compilers = bytes <= LIFTOFF_ONLY_BYTES ? ['liftoff', 'turbofan'] : ['liftoff'];
  const memoryLimit = COMPILE_LIMITS.memoryBytes / compilers.length;
  const results = await Promise.all(compilers.map((compiler) => measure(modules, compiler, memoryLimit, cpuLimitMs)));
  const measured: Measured = {
    over: results.some((r) => r.over) || results.reduce((sum, r) => sum + (r.peak ?? 0), 0) > COMPILE_LIMITS.memoryBytes,
    error: results.find((r) => r.error !== undefined)?.error,
    cpuMs: results.reduce((sum, r) => sum + (r.cpuMs ?? Infinity), 0),
  };
  const mib = (n: number) => Math.round(n / (1024 * 1024));
  if (measured.over) {
    throw new CompileCostError(`compiling its core modules takes V8 more than ${mib(COMPILE_LIMITS.memoryBytes)} MiB (krew-wasm compiles a plugin at every run, which no limit can interrupt)`);
  }
  if (measured.error !== undefined) throw new CompileCostError(`V8 cannot compile its core modules: ${measured.error}`);
  if (measured.cpuMs === undefined || measured.cpuMs > cpuLimitMs) {
    throw new CompileCostError(`compiling its core modules takes V8 more than ${(cpuLimitMs / 1000).toFixed(1)} s of CPU (krew-wasm compiles a plugin at every run, which no limit can interrupt)`);
  }
}

/** The bytes of a module's function bodies (its code section). */
function codeBytes(module: Uint8Array): number {
  let size = 0;
  forEachSection(new Reader(module), MODULE_PREAMBLE, 'a core module', (id, body) => {
    if (id === 10) size += body.rest().length;
  });
  return size;
}

function measure(modules: Uint8Array[], compiler: string, memoryLimit: number, cpuLimitMs: number): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS; // the child's flags are its own
    // The child ends itself past its CPU time; the wall limit is for a child that hangs, and leaves
    // room for a busy machine (the test suite runs many pulls at once).
    const wallMs = 60_000 + cpuLimitMs * 3;
    const child = spawn(process.execPath, ['-e', CHILD, String(memoryLimit), compiler, String(wallMs), String(cpuLimitMs)], { stdio: ['pipe', 'pipe', 'ignore'], env });
    let out = '';
    let settled = false;
    const finish = (result: Measured) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(result);
    };
    const timer = setTimeout(() => finish({ cpuMs: Infinity }), wallMs);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const line = out.split('\n')[0];
      if (out.includes('\n')) {
        try {
          finish(JSON.parse(line!) as Measured);
        } catch {
          finish({ error: 'no report' });
        }
      }
    });
    child.on('error', (error) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(error);
      }
    });
    child.on('close', () => finish({ error: 'the compiling process ended without a report' }));
    child.stdin.on('error', () => {}); // the child killed before it read everything
    for (const m of modules) {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(m.length);
      child.stdin.write(length);
      child.stdin.write(m);
    }
    child.stdin.end();
  });
}
