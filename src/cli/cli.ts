import { Builtins, Cli } from 'clipanion';
import { exitCodeOf, formatError } from '../errors.js';
import { settingsFromEnv } from '../settings.js';
import { Paths } from '../store/paths.js';
import { PluginStore } from '../store/store.js';
import { VERSION } from '../version.js';
import { GrantCommand } from './commands/grant.js';
import { InfoCommand } from './commands/info.js';
import { ListCommand } from './commands/list.js';
import { PullCommand } from './commands/pull.js';
import { RevokeCommand } from './commands/revoke.js';
import { RemoveCommand } from './commands/rm.js';
import { RunCommand } from './commands/run.js';
import { VersionCommand } from './commands/version.js';
import type { KrewContext } from './context.js';

/** Direct mode: `krew-wasm <command> ...`. `executable` is what kubectl-* links point at. */
export async function runCli(argv: string[], executable: string): Promise<number> {
  const cli = new Cli<KrewContext>({ binaryLabel: 'krew-wasm', binaryName: 'krew-wasm', binaryVersion: VERSION });
  for (const command of [PullCommand, ListCommand, RemoveCommand, RunCommand, InfoCommand, GrantCommand, RevokeCommand, VersionCommand]) cli.register(command);
  cli.register(Builtins.HelpCommand);
  const dashDash = argv.indexOf('--');
  const trailingArgs = dashDash >= 0 ? argv.slice(dashDash + 1) : undefined;
  if (dashDash >= 0) argv = argv.slice(0, dashDash);
  const settings = settingsFromEnv(process.env);
  try {
    const paths = Paths.fromSettings(settings);
    const context: KrewContext = {
      ...Cli.defaultContext,
      env: process.env,
      settings,
      cwd: process.cwd(),
      executable,
      paths,
      store: new PluginStore(paths, executable),
      trailingArgs,
    };
    let command;
    try {
      command = cli.process(argv, context);
    } catch (error) {
      // clipanion prints usage errors on stdout (arcanis/clipanion#176): keep stdout for data.
      process.stderr.write(cli.error(error, { colored: false }));
      return 1;
    }
    return await cli.run(command, context);
  } catch (error) {
    process.stderr.write(`${formatError(error, settings.verbose)}\n`);
    return exitCodeOf(error);
  }
}
