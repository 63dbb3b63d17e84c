import fs from 'node:fs';
import path from 'node:path';
import { exitCodeOf, formatError } from './errors.js';
import { workingFolder } from './hostPaths.js';
import { exitWhenDrained, recordStdioCreation } from './exit.js';
import { runInstalledPlugin } from './services/runPlugin.js';
import { Paths, pluginNameFromLink } from './store/paths.js';
import { settingsFromEnv, type Settings } from './settings.js';
import { enableTrace, trace } from './trace.js';

// For bin/krew-wasm.js, which writes the bundle's code cache at exit under V8's default flags, and
// again when the run took a code path the cache was not made from; and which says what paths the
// cache it loaded names.
export { codePathsTaken, rememberCachedCodePaths, restoreDefaultV8Flags } from './builtin.js';

/**
 * Wrapper mode: krew-wasm was started through a `kubectl-<name>` link (basename of argv[1]); run
 * the installed plugin with the user's arguments verbatim. Built into one self-contained file
 * (scripts/bundle.mjs) because every module Node loads is start-up time of every plugin run.
 */
export async function main(): Promise<void> {
  recordStdioCreation();
  await exitWhenDrained(await wrapperMain(path.basename(process.argv[1]), process.argv.slice(2)));
}

/** Runs the plugin behind the link; resolves with the process exit code. */
export async function wrapperMain(invokedAs: string, args: string[]): Promise<number> {
  const name = pluginNameFromLink(invokedAs) as string;
  let settings: Settings | undefined;
  try {
    // A relative HOME or KREW_WASM_ROOT needs the working folder, which may have been removed.
    settings = settingsFromEnv(process.env);
    enableTrace(settings.trace);
    trace('wrapper loaded');
    // The installation is resolved now, before any guest code runs: resolved at the first file use,
    // the link it is found through could have been retargeted by another plugin meanwhile, and the
    // installation that runs left unprotected (found by an attack).
    // A removed working folder is none: the plugin runs as one started outside HOME.
    const host = { env: process.env, cwd: workingFolder() ?? '', settings, installDir: installDir(), launchPaths: [process.argv[1], process.execPath] };
    return await runInstalledPlugin(Paths.fromSettings(settings), { name, args, host });
  } catch (error) {
    process.stderr.write(`${formatError(error, settings?.verbose ?? false)}\n`);
    return exitCodeOf(error);
  }
}

/** krew-wasm's installation folder: bin/krew-wasm.js, which every kubectl-* link points at, is in it. */
export function installDir(): string | undefined {
  try {
    return path.dirname(path.dirname(fs.realpathSync.native(process.argv[1])));
  } catch {
    return undefined;
  }
}
