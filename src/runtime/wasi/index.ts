import { monotonicClock, wallClock } from './clocks.js';
import { Descriptor, DirectoryEntryStream, filesystemErrorCode, preopenedDirectories } from './filesystem.js';
import type { DeferredFs } from './preopens.js';
import { InputStream, IoError, OutputStream, Pollable, poll } from './io.js';
import { insecure, insecureSeed, random } from './random.js';
import { socketImports } from './sockets.js';
import { isTerminal } from '../../fdio.js';
import { ExitSignal, FdSink, StdinSource } from './stdio.js';

export { ExitSignal } from './stdio.js';

/** What one run of a plugin may see of WASI (the filesystem part: preopens.ts DeferredFs). */
export interface WasiSandbox {
  /** argv as the guest sees it: argv[0] is `kubectl-<name>`. */
  args: string[];
  env: Record<string, string>;
  /** The preopened folders; none for a plugin that imports no filesystem interface. */
  fs?: DeferredFs;
  /** Reported by `wasi:cli/environment.initial-cwd`, or undefined for none. */
  initialCwd?: string;
}

type ImportObject = Record<string, unknown>;

class TerminalInput {}
class TerminalOutput {}

/**
 * The WASI 0.2 imports of one run, all implemented here, synchronously, on Node's fs: no
 * preview2-shim, no IO worker. jco's async-instantiation glue reads imports by UNVERSIONED
 * interface name, so one object serves components built against any 0.2.x. Not served here:
 * sockets (denied) and wasi:http (runtime/hosts/wasiHttp.ts, under the API-server policy).
 */
export function wasiImports(sandbox: WasiSandbox): ImportObject {
  const stdout = new OutputStream(new FdSink(1));
  const stderr = new OutputStream(new FdSink(2));
  let stdin: InputStream | undefined;
  const env = Object.entries(sandbox.env);
  // A terminal is reported as one, so that C stdio line-buffers what a user watches live.
  const terminal = (fd: number) => (isTerminal(fd) ? (fd === 0 ? new TerminalInput() : new TerminalOutput()) : undefined);
  return {
    'wasi:cli/environment': {
      getEnvironment: () => env,
      getArguments: () => sandbox.args,
      initialCwd: () => sandbox.initialCwd,
    },
    'wasi:cli/exit': {
      exit(status: { tag: 'ok' | 'err' }): never {
        throw new ExitSignal(status.tag === 'err' ? 1 : 0);
      },
      exitWithCode(code: number): never {
        // A u8 by WIT; a plugin that declares the import with another number type can pass 1.5,
        // NaN or 256, which Node's process.exit refuses with a stack trace (found by an attack).
        throw new ExitSignal(Number.isInteger(code) && code >= 0 && code <= 255 ? code : 1);
      },
    },
    'wasi:cli/stdin': { getStdin: () => (stdin ??= new InputStream(new StdinSource())) },
    'wasi:cli/stdout': { getStdout: () => stdout },
    'wasi:cli/stderr': { getStderr: () => stderr },
    'wasi:cli/terminal-input': { TerminalInput },
    'wasi:cli/terminal-output': { TerminalOutput },
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => terminal(0) },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => terminal(1) },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => terminal(2) },
    'wasi:io/error': { Error: IoError },
    'wasi:io/poll': { Pollable, poll },
    'wasi:io/streams': { InputStream, OutputStream },
    'wasi:clocks/monotonic-clock': monotonicClock,
    'wasi:clocks/wall-clock': wallClock,
    'wasi:random/random': random,
    'wasi:random/insecure': insecure,
    'wasi:random/insecure-seed': insecureSeed,
    'wasi:filesystem/types': { Descriptor, DirectoryEntryStream, filesystemErrorCode },
    'wasi:filesystem/preopens': { getDirectories: () => (sandbox.fs ? preopenedDirectories(sandbox.fs.context()) : []) },
    ...socketImports(),
  };
}
