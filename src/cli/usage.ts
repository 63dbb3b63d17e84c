import { CliUsageError } from '../errors.js';
import type { CommandSpec } from './commandSpec.js';
import { optionLabel } from './help.js';

/**
 * Turns what clipanion throws for a malformed command line into one CliUsageError line with a
 * fix. clipanion's own texts (a numbered list of every command, "While running ...") never reach
 * the user: the command was already identified by its first word, so only the reason is used.
 */
export function unknownCommand(word: string, commandWords: string[], binaryName: string): CliUsageError {
  if (word.startsWith('-')) return new CliUsageError(`unknown option "${word}"`, { hint: `see ${binaryName} --help` });
  const guess = nearest(word, commandWords.filter((n) => !n.startsWith('-')));
  return new CliUsageError(`unknown command "${word}"`, { hint: guess ? `did you mean ${guess}?` : `see ${binaryName} --help for the commands` });
}

/** The usage error for something clipanion refused while parsing the arguments of `spec`. */
export function usageErrorFor(error: unknown, spec: CommandSpec, binaryName: string): CliUsageError {
  const command = spec.paths[0].join(' ');
  const help = `see ${binaryName} ${command} --help`;
  const reason = clipanionReason(error);
  let match: RegExpExecArray | null;
  if ((match = /^Unsupported option name \("(.*)"\)\.$/.exec(reason)) || (match = /^Invalid option name \("(.*)"\)\.$/.exec(reason))) {
    const guess = nearest(match[1].replace(/=.*$/, ''), spec.options.filter((o) => !o.hidden).flatMap((o) => o.names).filter((n) => n.startsWith('--')));
    return new CliUsageError(`unknown option "${match[1]}" for ${command}`, { hint: guess ? `did you mean ${guess}?` : help });
  }
  if ((match = /^Not enough arguments to option (.*)\.$/.exec(reason))) {
    const option = spec.options.find((o) => o.names.includes(match![1]));
    return new CliUsageError(`option ${match[1]} needs a value${option ? `: ${optionLabel(option)}` : ''}`, { hint: help });
  }
  if (/^Not enough positional arguments/.test(reason)) {
    const missing = spec.positionals.filter((p) => p.required).map((p) => `<${p.name}>`).join(' ');
    const example = spec.usage.examples?.[0]?.[1]?.replace(/\$0/g, binaryName);
    return new CliUsageError(`${command} needs ${missing || 'more arguments'}`, { hint: example ? `e.g. ${example}` : help });
  }
  if ((match = /^Extraneous positional argument \("(.*)"\)\.$/.exec(reason))) {
    return new CliUsageError(`unexpected argument "${match[1]}" for ${command}`, { hint: help });
  }
  const detail = reason ? `: ${reason.split('\n')[0].replace(/\.$/, '')}` : '';
  return new CliUsageError(`cannot parse the arguments of ${command}${detail}`, { hint: help });
}

/** The reason clipanion gives, from its syntax errors (candidates) or its own UsageError. */
function clipanionReason(error: unknown): string {
  const e = error as { name?: string; message?: string; candidates?: { reason: string | null }[] };
  if (e?.name === 'UnknownSyntaxError') return e.candidates?.find((c) => c.reason)?.reason ?? '';
  if (e?.name === 'UsageError') return (e.message ?? '').split('\n')[0];
  return '';
}

/** Whether clipanion threw this because of the command line (not a bug of ours). */
export function isClipanionUsageError(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  return name === 'UnknownSyntaxError' || name === 'AmbiguousSyntaxError' || name === 'UsageError';
}

/**
 * The candidate nearest to `word`, if it is near enough to be what was meant: a prefix of a
 * candidate, or within a small edit distance (one edit per three letters, at least one).
 */
export function nearest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = word.length >= 2 && candidate.startsWith(word) ? 0.5 : editDistance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
