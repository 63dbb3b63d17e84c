import type { CommandSpec } from './commandSpec.js';
import { visibleSpecs } from './help.js';

/**
 * Shell completion, computed here once for every shell (as cobra does): the shell scripts of
 * `krew-wasm completion bash|zsh|fish` and kubectl's plugin completion (`kubectl_complete-krew_wasm`)
 * all run `krew-wasm __complete WORDS...` and read its answer: one `candidate<TAB>description` per
 * line, then a `:<directive>` line; directive 0 lets the shell offer files when no candidate fits,
 * 4 (cobra's ShellCompDirectiveNoFileComp) does not.
 */
export interface Completion {
  candidates: [string, string][];
  files: boolean;
}

/** Where completion finds installed plugin names (read lazily: most completions need none). */
export type PluginNames = () => string[];

/** Positional arguments with this name are installed plugin names. */
const PLUGIN_NAME_ARGS = new Set(['name', 'name|file.wasm']);
/** Positional arguments that may be a local file. */
const FILE_ARGS = new Set(['reference', 'name|file.wasm', 'source']);

/** Candidates for the last of `words` (the words after the binary name; the last one is being typed). */
export function complete(words: string[], specs: CommandSpec[], pluginNames: PluginNames): Completion {
  const current = words[words.length - 1] ?? '';
  const before = words.slice(0, -1);
  const visible = visibleSpecs(specs);
  if (before.length === 0) {
    if (current.startsWith('-')) return only([['--help', 'Show help'], ['--version', 'Print the version']], current);
    // Names only, no aliases (as cobra): `l<TAB>` is list, not list and ls.
    const commands = visible.map((s) => [s.paths[0].join(' '), s.usage.description ?? ''] as [string, string]).filter(([name]) => !name.startsWith('-'));
    return only([...commands, ['help', 'Show help of a command']], current);
  }
  if (before[0] === 'help') return before.length === 1 ? complete([current], specs, pluginNames) : none();
  const spec = visible.find((s) => s.paths.some((p) => p.length === 1 && p[0] === before[0]));
  if (!spec) return none();
  const { positionals, passedOn } = readArguments(before.slice(1), spec);
  if (passedOn) return { candidates: [], files: true };
  const previous = spec.options.find((o) => o.takesValue && o.names.includes(before[before.length - 1]));
  if (previous && before.length > 1) {
    return previous.values ? only(previous.values.map((v) => [v, '']), current) : { candidates: [], files: true };
  }
  if (current.startsWith('-')) {
    const options = spec.options.filter((o) => !o.hidden).map((o) => [o.names.find((n) => n.startsWith('--')) ?? o.names[0], o.description] as [string, string]);
    return only([...options, ['--help', 'Show this help']], current);
  }
  const arg = spec.positionals[Math.min(positionals.length, spec.positionals.length - 1)];
  const repeatable = arg?.repeated || positionals.length < spec.positionals.length;
  if (!arg || !repeatable) return none();
  const files = FILE_ARGS.has(arg.name);
  if (/^[a-z]+(\|[a-z]+)+$/.test(arg.name)) return only(arg.name.split('|').map((v) => [v, '']), current); // `<bash|zsh|fish>`
  if (!PLUGIN_NAME_ARGS.has(arg.name)) return { candidates: [], files };
  const typed = new Set(positionals);
  return { ...only(pluginNames().filter((n) => !typed.has(n)).map((n) => [n, 'installed plugin']), current), files };
}

/** The positional arguments already given (values of options skipped), and whether the rest is passed on (`run <name> ...`). */
function readArguments(args: string[], spec: CommandSpec): { positionals: string[]; passedOn: boolean } {
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const word = args[i];
    if (word === '--') return { positionals, passedOn: true };
    if (word.startsWith('-')) {
      if (!word.includes('=') && spec.options.some((o) => o.takesValue && o.names.includes(word))) i++;
      continue;
    }
    positionals.push(word);
    if (spec.proxy && positionals.length >= spec.positionals.length) return { positionals, passedOn: true };
  }
  return { positionals, passedOn: false };
}

function only(candidates: [string, string][], prefix: string): Completion {
  return { candidates: candidates.filter(([c]) => c.startsWith(prefix)), files: false };
}

function none(): Completion {
  return { candidates: [], files: false };
}

/** The `__complete` answer: candidates, then cobra's directive line. */
export function formatCompletion(c: Completion): string {
  const lines = c.candidates.map(([name, description]) => (description ? `${name}\t${oneLine(description)}` : name));
  return `${[...lines, `:${c.files ? 0 : 4}`].join('\n')}\n`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
