import { Command, type CommandClass } from 'clipanion';
import { OPTION_EXTRAS, type OptionExtras } from './options.js';

/** One option of a command, as help and completion show it. */
export interface OptionSpec {
  /** All spellings, e.g. `['-o', '--output']`. */
  names: string[];
  description: string;
  /** True when the option takes a value. */
  takesValue: boolean;
  /** `<seconds|none>`; for a value option without one, its long name in angle brackets. */
  placeholder?: string;
  values?: readonly string[];
  hidden: boolean;
}

/** A positional argument. */
export interface PositionalSpec {
  name: string;
  required: boolean;
  /** Takes any number of values (`rm <name>...`). */
  repeated: boolean;
}

/** What krew-wasm knows about a command from its class alone: paths, usage, options, arguments. */
export interface CommandSpec {
  /** The first path is the name; the others are aliases. */
  paths: string[][];
  usage: NonNullable<CommandClass['usage']>;
  options: OptionSpec[];
  positionals: PositionalSpec[];
  /** Arguments after the positionals are passed on verbatim (`run <name> -- args`). */
  proxy: boolean;
  commandClass: CommandClass<any>;
}

/**
 * Reads a command class's declarations by replaying them into a recording builder, the way
 * clipanion registers them; only clipanion's public option markers are used, never its parser state.
 */
export function commandSpec(commandClass: CommandClass<any>): CommandSpec {
  const spec: CommandSpec = {
    paths: (commandClass.paths ?? []).map((p) => [...p]),
    usage: commandClass.usage ?? {},
    options: [],
    positionals: [],
    proxy: false,
    commandClass,
  };
  const instance = new commandClass() as unknown as Record<string, unknown>;
  for (const key of Object.keys(instance)) {
    const marker = instance[key] as { [Command.isOption]?: boolean; definition?: (builder: unknown, key: string) => void; [OPTION_EXTRAS]?: OptionExtras } | null;
    if (typeof marker !== 'object' || marker === null || !marker[Command.isOption] || !marker.definition) continue;
    const extras = marker[OPTION_EXTRAS];
    marker.definition(recorder(spec, extras), key);
  }
  return spec;
}

function recorder(spec: CommandSpec, extras: OptionExtras | undefined) {
  return {
    addOption({ names, description, arity, hidden }: { names: string[]; description?: string; arity: number; hidden?: boolean }) {
      const long = names.find((n) => n.startsWith('--')) ?? names[0];
      spec.options.push({
        names,
        description: description ?? '',
        takesValue: arity > 0,
        placeholder: arity > 0 ? (extras?.placeholder ?? `<${long.replace(/^-+/, '')}>`) : undefined,
        values: extras?.values,
        hidden: hidden === true,
      });
    },
    addPositional({ name, required = true }: { name: string; required?: boolean }) {
      spec.positionals.push({ name, required, repeated: false });
    },
    addRest({ name, required = 0 }: { name: string; required?: number }) {
      spec.positionals.push({ name, required: required > 0, repeated: true });
    },
    addProxy() {
      spec.proxy = true;
    },
  };
}

/** `pull [options] <reference>`: the synopsis line of a command (without the binary name). */
export function synopsis(spec: CommandSpec): string {
  const parts = [spec.paths[0]?.join(' ') ?? ''];
  if (spec.options.some((o) => !o.hidden)) parts.push('[options]');
  for (const p of spec.positionals) {
    const name = `<${p.name}>${p.repeated ? '...' : ''}`;
    parts.push(p.required ? name : `[${name}]`);
  }
  if (spec.proxy) parts.push('[-- args...]');
  return parts.join(' ');
}
