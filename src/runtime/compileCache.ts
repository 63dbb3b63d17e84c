import fs from 'node:fs';
import path from 'node:path';
import { builtin, setV8Flags } from '../builtin.js';
import { readEntryMeta } from '../store/entry.js';
import { openRegularFile, readOpenedFile } from '../store/fsutil.js';
import { markEager, readHotFunctions } from './compileHints.js';
import { COMPILE_LIMITS } from './compileCost.js';
import { attemptFile, COMPILED_HINT, nodeV8Options, trapHandlerOn, writeCompiled } from './compiledCache.js';

/**
 * The process compileInBackground starts after a run (compiledCache.ts): `node [<the run's V8
 * options given to Node>] compileCache.js <entry> <flags> <module>...`. For each module, it
 * compiles the entry's hot functions with TurboFan under the run's flags, set as the run set them,
 * and keeps V8's serialized form beside the module; then it removes the module's marker. It runs no
 * guest code: it compiles, nothing is instantiated.
 *
 * Pull measured a big plugin's compile with Liftoff only (compileCost.ts), and TurboFan can cost
 * far more than its code's size (3.1 GB from 45 KB, an attack on pull). So this process runs at
 * the lowest priority, and ends itself (SIGKILL: Node's exit waits for V8's compile threads) past
 * pull's limits: COMPILE_LIMITS' memory growth, and its CPU time for the module's size. A process
 * that ends so, or fails, leaves the marker, and no run starts another for that module.
 */
const [entryDir, flags, ...modules] = process.argv.slice(2);
// A failure ends the process with the marker left (nothing is printed: it has no terminal).
if (entryDir && flags !== undefined) compileAll(entryDir, flags, modules).catch(() => process.exit(1));

async function compileAll(entryDir: string, flags: string, modules: string[]): Promise<void> {
  try {
    builtin<typeof import('node:os')>('node:os').setPriority(19);
  } catch {
    // as it is
  }
  if (flags) setV8Flags(flags);
  if (!trapHandlerOn(setV8Flags)) throw new Error('no trap handler: its code would not fit the runs that take it');
  const meta = readEntryMeta(entryDir);
  const hot = readHotFunctions(entryDir, meta.compileHints ?? {}) ?? {};
  for (const module of modules) {
    const place = meta.compileHints?.[module];
    const digest = meta.files?.[module];
    const list = hot[module];
    if (!place || !digest || !list?.length || path.basename(module) !== module) continue;
    const file = path.join(entryDir, module);
    const { fd, size } = openRegularFile(file, { followLinks: false });
    const bytes = readOpenedFile(file, fd, size) as Uint8Array<ArrayBuffer>;
    markEager(bytes, place, list, COMPILED_HINT);
    const compiled = await withinLimits(bytes.length, () => WebAssembly.compile(bytes));
    writeCompiled(entryDir, module, { module: digest, hot: list, flags, nodeOptions: nodeV8Options('', process.execArgv) }, compiled, setV8Flags);
    fs.rmSync(attemptFile(entryDir, module), { force: true });
  }
}

/** Runs a compile, watched every 2 ms: past pull's limits, the process ends itself. */
async function withinLimits<T>(bytes: number, compile: () => Promise<T>): Promise<T> {
  const base = process.memoryUsage.rss() + bytes; // V8 copies the module's bytes
  const cpu = process.cpuUsage();
  const cpuLimitMs = COMPILE_LIMITS.cpuBaseMs + (COMPILE_LIMITS.cpuPerMiBMs * bytes) / (1024 * 1024);
  const watch = setInterval(() => {
    const spent = process.cpuUsage(cpu);
    if (process.memoryUsage.rss() - base > COMPILE_LIMITS.memoryBytes || (spent.user + spent.system) / 1000 > cpuLimitMs) process.kill(process.pid, 'SIGKILL');
  }, 2);
  try {
    return await compile();
  } finally {
    clearInterval(watch);
  }
}
