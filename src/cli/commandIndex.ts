import type { CommandClass } from 'clipanion';
import type { KrewContext } from './context.js';

/** A command as routing sees it: the words that name it, and its class, loaded when it is needed. */
export interface CommandEntry {
  /** Each of the class's clipanion paths, all one word long; the first is the command's name. */
  words: readonly string[];
  load(): Promise<CommandClass<KrewContext>>;
}

/**
 * Every command, in the order `--help` lists them. A command's module, and what it imports (the
 * OCI client, the runtime, node:crypto), is evaluated only when that command runs, or for help and
 * completion: `list` evaluating every command's modules was ~5 ms of its start (bench/RESULTS.md).
 * `words` repeats each class's `paths`, so that routing needs no class; test/cli/commandIndex.test.ts
 * holds the two equal.
 */
export const COMMANDS: readonly CommandEntry[] = [
  { words: ['pull', 'install'], load: async () => (await import('./commands/pull.js')).PullCommand },
  { words: ['list', 'ls'], load: async () => (await import('./commands/list.js')).ListCommand },
  { words: ['rm', 'uninstall', 'remove'], load: async () => (await import('./commands/rm.js')).RemoveCommand },
  { words: ['run'], load: async () => (await import('./commands/run.js')).RunCommand },
  { words: ['info'], load: async () => (await import('./commands/info.js')).InfoCommand },
  { words: ['grant'], load: async () => (await import('./commands/grant.js')).GrantCommand },
  { words: ['revoke'], load: async () => (await import('./commands/revoke.js')).RevokeCommand },
  { words: ['push'], load: async () => (await import('./commands/push.js')).PushCommand },
  { words: ['tags'], load: async () => (await import('./commands/tags.js')).TagsCommand },
  { words: ['upgrade'], load: async () => (await import('./commands/upgrade.js')).UpgradeCommand },
  { words: ['outdated'], load: async () => (await import('./commands/outdated.js')).OutdatedCommand },
  { words: ['completion'], load: async () => (await import('./commands/completion.js')).CompletionCommand },
  { words: ['setup'], load: async () => (await import('./commands/setup.js')).SetupCommand },
  { words: ['version', '--version'], load: async () => (await import('./commands/version.js')).VersionCommand },
];

/** The command a word names, if any. */
export function commandNamed(word: string): CommandEntry | undefined {
  return COMMANDS.find((c) => c.words.includes(word));
}

/** Every command's class, for help and completion, which show them all. */
export function loadAllCommands(): Promise<CommandClass<KrewContext>[]> {
  return Promise.all(COMMANDS.map((c) => c.load()));
}
