import fs from 'node:fs';
import path from 'node:path';
import { exitWhenDrained, recordStdioCreation } from './exit.js';

// For bin/krew-wasm.js, which writes the bundle's code cache at exit under V8's default flags, and
// again when the run took a code path the cache was not made from; and which says what paths the
// cache it loaded names.
export { codePathsTaken, rememberCachedCodePaths, restoreDefaultV8Flags } from './builtin.js';

/**
 * Direct mode: `krew-wasm <command> ...`, also as `kubectl krew-wasm ...` through a
 * `kubectl-krew_wasm` link. (bin/krew-wasm.js sends every other `kubectl-<name>` invocation to
 * wrapper.ts instead, without loading this file, the CLI framework, the OCI client or the transpiler.)
 */
export async function main(): Promise<void> {
  recordStdioCreation(); // the CLI writes to fds directly unless on a terminal (cli/stdio.ts)
  const { runCli } = await import('./cli/cli.js');
  await exitWhenDrained(await runCli(process.argv.slice(2), executablePath(), path.basename(process.argv[1] ?? 'krew-wasm')));
}

/** The file kubectl-* links should point at: the real path of the script we were started as. */
function executablePath(): string {
  const script = process.argv[1];
  try {
    return fs.realpathSync(script);
  } catch {
    return path.resolve(script);
  }
}
