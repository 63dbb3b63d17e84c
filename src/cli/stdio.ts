import type { Readable, Writable } from 'node:stream';
import { OutputError } from '../errors.js';
import { isTerminal, writeAllSync } from '../fdio.js';

/** The standard streams a command is given (its clipanion context's stdin, stdout and stderr). */
export interface CliStdio {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

/**
 * The standard streams, made cheap for the commands that only print. Node's process.stdout,
 * stderr and stdin load node:stream, and for a pipe or a terminal node:net, when first touched:
 * ~3 to 5 ms of a `list` or `version` (bench/RESULTS.md). So stdout that is a pipe, a file or
 * /dev/null is written to its fd directly and synchronously (nothing queued, nothing to drain at
 * exit); a terminal gets Node's own stream (its width). stderr and stdin are Node's own, made
 * when first used: most commands say nothing on stderr, and an error line there must not block a
 * run that ended at its --timeout on a full pipe nobody reads (exit.ts waits for it a moment at
 * most, which only a queued write allows).
 */
export function cliStdio(): CliStdio {
  return { stdin: onFirstUse(() => process.stdin), stdout: standardOutput(), stderr: onFirstUse(() => process.stderr) };
}

function standardOutput(): Writable {
  if (isTerminal(1)) return process.stdout;
  // What commands and clipanion call on their stdout is write(), and isTTY through a cast.
  return new FdOutput(1) as unknown as Writable;
}

/** Output to a fd that is not a terminal. Once its reader is gone (`krew-wasm list | head -1`), the rest is dropped. */
class FdOutput {
  readonly isTTY = false;
  private readerGone = false;

  constructor(private readonly fd: number) {}

  write(chunk: string | Uint8Array, encoding?: BufferEncoding | WriteCallback, callback?: WriteCallback): boolean {
    const done = typeof encoding === 'function' ? encoding : callback;
    if (!this.readerGone) {
      try {
        writeAllSync(this.fd, typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw outputError(error);
        this.readerGone = true;
      }
    }
    done?.(null);
    return true;
  }
}

type WriteCallback = (error?: Error | null) => void;

function outputError(error: unknown): OutputError {
  const code = (error as NodeJS.ErrnoException).code;
  const why = code === 'ENOSPC' ? 'no space left on its device' : code === 'EIO' ? 'an input/output error' : (code ?? String(error));
  return new OutputError(`cannot write the output: ${why}`, { cause: error, hint: 'send stdout elsewhere' });
}

/**
 * A stand-in for the stream `make` returns, which is made when something first uses it: clipanion
 * copies the context (and so every stream in it) before each command runs.
 */
function onFirstUse<T extends object>(make: () => T): T {
  return new Proxy({} as T, {
    get(_, key) {
      const stream = make();
      const value: unknown = Reflect.get(stream, key);
      return typeof value === 'function' ? value.bind(stream) : value;
    },
    has: (_, key) => key in make(),
    getPrototypeOf: () => Object.getPrototypeOf(make()),
  });
}
