import { Cli } from 'clipanion';
import { markCodePath } from '../builtin.js';
import { exitCodeOf, formatError, isKrewWasmError } from '../errors.js';
import { workingFolder } from '../hostPaths.js';
import { settingsFromEnv, type Settings } from '../settings.js';
import { Paths } from '../store/paths.js';
import { PluginStore } from '../store/store.js';
import { VERSION } from '../version.js';
import { commandSpec, type CommandSpec } from './commandSpec.js';
import { commandNamed, COMMANDS, loadAllCommands, type CommandEntry } from './commandIndex.js';
import type { KrewContext } from './context.js';
import { complete, formatCompletion } from './complete.js';
import { commandHelp, generalHelp, type HelpContext } from './help.js';
import { cliStdio, type CliStdio } from './stdio.js';
import { styleFor, textWidth } from './terminal.js';
import { isClipanionUsageError, unknownCommand, usageErrorFor } from './usage.js';

/** The name kubectl runs krew-wasm under (`kubectl krew-wasm ...`): direct mode, not a plugin. */
export const KUBECTL_LINK_NAME = 'kubectl-krew_wasm';
/** The name kubectl (1.26+) runs to complete `kubectl krew-wasm <TAB>`: `__complete`. */
export const KUBECTL_COMPLETION_LINK_NAME = 'kubectl_complete-krew_wasm';

const HELP_FLAGS = new Set(['-h', '--help']);

/**
 * Direct mode: `krew-wasm <command> ...`. `executable` is what kubectl-* links point at; `invokedAs`
 * the basename krew-wasm was started as (help and hints say `kubectl krew-wasm` when run through kubectl).
 */
export async function runCli(argv: string[], executable: string, invokedAs = 'krew-wasm'): Promise<number> {
  invokedAs = invokedAs.replace(/\.js$/, '');
  const binaryName = invokedAs === KUBECTL_LINK_NAME || invokedAs === KUBECTL_COMPLETION_LINK_NAME ? 'kubectl krew-wasm' : 'krew-wasm';
  if (invokedAs === KUBECTL_COMPLETION_LINK_NAME) argv = ['__complete', ...argv];
  const stdio = cliStdio();
  const dashDash = argv.indexOf('--');
  const trailingArgs = dashDash >= 0 ? argv.slice(dashDash + 1) : undefined;
  const args = dashDash >= 0 ? argv.slice(0, dashDash) : argv;
  let verbose = args.includes('--verbose');
  try {
    // A relative HOME or KREW_WASM_ROOT needs the working folder, which may have been removed.
    const settings = settingsFromEnv(process.env);
    verbose ||= settings.verbose;
    // Code paths (builtin.ts) are marked once taken: a first run refused for its usage left the
    // command a code cache without the command's code, and no later run took a path it lacked.
    if (argv[0] === '__complete') {
      const done = await completeWords(argv.slice(1), settings, executable, stdio);
      markCodePath('complete');
      return done;
    }
    const route = routeOf(args, binaryName);
    if ('help' in route) {
      stdio.stdout.write(await helpText(route.help, binaryName, stdio));
      markCodePath('help');
      return 0;
    }
    const spec = commandSpec(await route.command.load());
    if (ownArguments(route.args.slice(1), spec).some((a) => HELP_FLAGS.has(a))) {
      stdio.stdout.write(await helpText(route.command, binaryName, stdio));
      return 0;
    }
    const paths = Paths.fromSettings(settings);
    const context: KrewContext = {
      ...stdio,
      colorDepth: 1, // clipanion's own colours are off (enableColors: false); terminal.ts styles ours
      env: process.env,
      settings,
      cwd: workingFolder(true),
      paths,
      store: new PluginStore(paths, executable),
      trailingArgs,
      binaryName,
      executable,
    };
    const cli = new Cli<KrewContext>({ binaryLabel: 'krew-wasm', binaryName, binaryVersion: VERSION, enableColors: false });
    // Only the routed command: routeOf already chose it, and clipanion's parser is built from
    // every registered command's options (about half of a `list`'s start-up with all of them).
    cli.register(spec.commandClass);
    let command;
    try {
      command = cli.process(bindOptionValues(route.args, spec), context);
    } catch (error) {
      if (isKrewWasmError(error) || !isClipanionUsageError(error)) throw error;
      throw usageErrorFor(error, spec, binaryName);
    }
    verbose ||= (command as { verbose?: boolean }).verbose === true;
    const exit = await cli.run(command, context);
    markCodePath(route.command.words[0]!);
    return exit;
  } catch (error) {
    stdio.stderr.write(`${formatError(error, verbose)}\n`);
    return exitCodeOf(error);
  }
}

/** `krew-wasm __complete WORDS...` (see complete.ts); never fails loudly, a shell is waiting. */
async function completeWords(words: string[], settings: Settings, executable: string, stdio: CliStdio): Promise<number> {
  const store = new PluginStore(Paths.fromSettings(settings), executable);
  const pluginNames = () => {
    try {
      return store.list().plugins.map((p) => p.name);
    } catch {
      return [];
    }
  };
  stdio.stdout.write(formatCompletion(complete(words.length ? words : [''], (await loadAllCommands()).map(commandSpec), pluginNames)));
  return 0;
}

type Route = { help: CommandEntry | undefined } | { command: CommandEntry; args: string[] };

/**
 * Which command the arguments name, or which help they ask for. Every command path is one word, so
 * the first word decides; an unknown one is refused here with the nearest command as the fix.
 */
function routeOf(argv: string[], binaryName: string): Route {
  const args = hoistLeadingVerbose(argv);
  if (args.length === 0) return { help: undefined };
  const [first, ...rest] = args;
  if (HELP_FLAGS.has(first) || first === 'help') {
    const topic = rest.find((a) => !a.startsWith('-'));
    if (topic === undefined) return { help: undefined };
    return { help: knownCommand(topic, binaryName) };
  }
  return { command: knownCommand(first, binaryName), args };
}

function knownCommand(word: string, binaryName: string): CommandEntry {
  const command = commandNamed(word);
  if (!command) throw unknownCommand(word, COMMANDS.flatMap((c) => c.words), binaryName);
  return command;
}

/** `krew-wasm --help`, or one command's help: the only output that needs every command's class. */
async function helpText(command: CommandEntry | undefined, binaryName: string, stdio: CliStdio): Promise<string> {
  const help: HelpContext = { binaryName, version: VERSION, width: textWidth(stdio.stdout), style: styleFor(stdio.stdout, process.env) };
  if (command) return commandHelp(commandSpec(await command.load()), help);
  return generalHelp((await loadAllCommands()).map(commandSpec), help);
}

/** `krew-wasm --verbose pull ...` as `krew-wasm pull --verbose ...`: clipanion wants options after the command. */
function hoistLeadingVerbose(args: string[]): string[] {
  let i = 0;
  while (args[i] === '--verbose') i++;
  return i > 0 && i < args.length ? [args[i], ...args.slice(0, i), ...args.slice(i + 1)] : args;
}

/**
 * The arguments that belong to krew-wasm itself: for a command that passes arguments on (`run
 * <name> args...`), those before its first positional argument; for the others, all of them.
 */
function ownArguments(args: string[], spec: CommandSpec): string[] {
  if (!spec.proxy) return args;
  const first = args.findIndex((a) => !a.startsWith('-'));
  return first < 0 ? args : args.slice(0, first);
}

/**
 * An option that takes a value always takes the next word as kubectl's flag parser does, even
 * when it starts with a dash (`--timeout -5`): bound as `--timeout=-5`, so that the option's own
 * check reports the value instead of clipanion reporting a missing one.
 */
function bindOptionValues(args: string[], spec: CommandSpec): string[] {
  const own = ownArguments(args.slice(1), spec);
  const out = [args[0]];
  for (let i = 0; i < own.length; i++) {
    const option = spec.options.find((o) => o.takesValue && o.names.includes(own[i]));
    const next = own[i + 1];
    if (option && next !== undefined && next.startsWith('-') && next !== '-') {
      out.push(`${option.names.find((n) => n.startsWith('--')) ?? option.names[0]}=${next}`);
      i++;
    } else {
      out.push(own[i]);
    }
  }
  return [...out, ...args.slice(1 + own.length)];
}
