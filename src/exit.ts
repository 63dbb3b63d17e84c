import { TIMEOUT_EXIT_CODE } from './errors.js';
import { trace } from './trace.js';

type StdioName = 'stdout' | 'stderr';

/** The standard streams Node has made, once recordStdioCreation is on; undefined before. */
let made: Set<StdioName> | undefined;

/**
 * Records when process.stdout or process.stderr is first made. Node makes each on first access
 * (loading node:stream and the tty or pipe classes: ~3 ms of a plugin run), and plugin output goes
 * to fds 1 and 2 directly (runtime/wasi/stdio.ts): a run that never made them has nothing queued
 * in them, and exitWhenDrained need not make them to find that out. Called first thing.
 */
export function recordStdioCreation(): void {
  made = new Set();
  for (const name of ['stdout', 'stderr'] as const) {
    const descriptor = Object.getOwnPropertyDescriptor(process, name);
    const get = descriptor?.get;
    if (!get) {
      made.add(name);
      continue;
    }
    Object.defineProperty(process, name, {
      ...descriptor,
      get() {
        made!.add(name);
        return get.call(process);
      },
    });
  }
}

/** How long the error line of a run that passed its --timeout may wait to be written. */
const DEADLINE_GRACE_MS = 500;

/**
 * Ends the process with `code` once what was written to stdout and stderr has left: a pipe whose
 * reader is slow holds queued writes that exit would drop. (The shim's IO worker keeps the event
 * loop alive, so both modes end explicitly.) A run ended at its --timeout ends now: its one line
 * waits a moment at most for a reader that may never come (a full pipe nobody reads, as
 * `kubectl foo 2>&1 | less` once less stops reading, is how some runs got there).
 */
export async function exitWhenDrained(code: number): Promise<never> {
  const names: StdioName[] = made ? [...made] : ['stdout', 'stderr'];
  const drains = Promise.all(names.map((name) => drained(process[name])));
  const grace = () => new Promise((resolve) => setTimeout(resolve, DEADLINE_GRACE_MS).unref());
  await (code === TIMEOUT_EXIT_CODE ? Promise.race([drains, grace()]) : drains);
  trace('exiting');
  process.exit(code);
}

function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableLength === 0) return resolve();
    stream.once('error', () => resolve());
    stream.write('', () => resolve());
  });
}
