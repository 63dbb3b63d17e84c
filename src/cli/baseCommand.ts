import { Command, Option } from 'clipanion';
import { CliUsageError, exitCodeOf, formatError } from '../errors.js';
import { printable } from '../printable.js';
import type { KrewContext } from './context.js';

/**
 * Shared options and the one place where a failure becomes a user message: a single line on
 * stderr and the error's exit code (stack traces only with --verbose or KREW_WASM_VERBOSE=1).
 */
export abstract class BaseCommand extends Command<KrewContext> {
  verbose = Option.Boolean('--verbose', false, { description: 'Print stack traces with errors' });

  abstract run(): Promise<number | void>;

  async execute(): Promise<number> {
    try {
      return (await this.run()) ?? 0;
    } catch (error) {
      const shown = isClipanionUsageError(error) ? new CliUsageError((error as Error).message.split('\n')[0], { hint: `see ${this.context.binaryName} ${this.path.join(' ')} --help` }) : error;
      this.context.stderr.write(`${formatError(shown, this.verbose || this.context.settings.verbose)}\n`);
      return exitCodeOf(shown);
    }
  }

  /** Status and progress go to stderr; stdout carries data only. */
  protected status(line: string): void {
    this.context.stderr.write(`${printable(line)}\n`);
  }
}

/** clipanion's UsageError, thrown by a command's own code: a usage error like ours. */
function isClipanionUsageError(error: unknown): boolean {
  return (error as { clipanion?: { type?: string } })?.clipanion?.type === 'usage';
}
