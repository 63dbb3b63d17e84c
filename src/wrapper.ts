import { exitCodeOf, formatError } from './errors.js';
import { runInstalledPlugin } from './services/runPlugin.js';
import { Paths, pluginNameFromLink } from './store/paths.js';

/** Wrapper mode: run the installed plugin behind `kubectl-<name>` with the user's arguments verbatim. */
export async function wrapperMain(invokedAs: string, args: string[]): Promise<number> {
  const name = pluginNameFromLink(invokedAs) as string;
  try {
    return await runInstalledPlugin(Paths.fromEnv(), { name, args, host: { env: process.env, cwd: process.cwd() } });
  } catch (error) {
    process.stderr.write(`${formatError(error)}\n`);
    return exitCodeOf(error);
  }
}
