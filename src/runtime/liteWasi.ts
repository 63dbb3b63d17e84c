import { readSync, syncOutputMethods } from './stdio.js';
import { unversioned } from './component.js';
import type { SandboxGrants } from './wasi.js';

/**
 * A minimal synchronous WASI 0.2 host for components that need only arguments, environment,
 * exit and stdio (the common case for small plugins). It costs nothing to load, where the full
 * preview2 shim takes ~30 ms to import and starts an IO worker; components that import anything
 * more (filesystem, clocks, random, poll, sockets) get the shim instead (see wasi.ts).
 */
export const LITE_INTERFACES = new Set([
  'wasi:cli/environment',
  'wasi:cli/exit',
  'wasi:cli/stdin',
  'wasi:cli/stdout',
  'wasi:cli/stderr',
  'wasi:cli/terminal-input',
  'wasi:cli/terminal-output',
  'wasi:cli/terminal-stdin',
  'wasi:cli/terminal-stdout',
  'wasi:cli/terminal-stderr',
  'wasi:io/streams',
  'wasi:io/error',
]);

/** True when every WASI import of a component is served by the lite host. */
export function liteHostSuffices(imports: string[]): boolean {
  return imports.every((i) => !i.startsWith('wasi:') || LITE_INTERFACES.has(unversioned(i)));
}

class IoError {
  constructor(private readonly message: string) {}
  toDebugString(): string {
    return this.message;
  }
}

class OutputStream {
  constructor(fd: number) {
    Object.assign(this, syncOutputMethods(fd));
  }
}

class InputStream {
  private closed = false;
  constructor(private readonly fd: number) {}
  read(len: bigint): Uint8Array {
    return this.blockingRead(len);
  }
  blockingRead(len: bigint): Uint8Array {
    if (this.closed) throw { tag: 'closed' };
    const bytes = readSync(this.fd, Number(len));
    if (bytes.length === 0 && len > 0n) {
      this.closed = true;
      throw { tag: 'closed' };
    }
    return bytes;
  }
  skip(len: bigint): bigint {
    return BigInt(this.blockingRead(len).length);
  }
  blockingSkip(len: bigint): bigint {
    return this.skip(len);
  }
}

class TerminalInput {}
class TerminalOutput {}

/** WASI imports of the lite host; exit and environment are overridden by wasi.ts like the shim's. */
export function liteImports(grants: SandboxGrants): Record<string, unknown> {
  const stdout = new OutputStream(1);
  const stderr = new OutputStream(2);
  let stdin: InputStream | undefined;
  const env = Object.entries(grants.env);
  return {
    'wasi:cli/environment': {
      getEnvironment: () => env,
      getArguments: () => grants.args,
      initialCwd: () => grants.initialCwd,
    },
    'wasi:cli/stdout': { getStdout: () => stdout },
    'wasi:cli/stderr': { getStderr: () => stderr },
    'wasi:cli/stdin': { getStdin: () => (stdin ??= new InputStream(0)) },
    // Not a terminal: wasi-libc's isatty() answers no, and line buffering stays off.
    'wasi:cli/terminal-input': { TerminalInput },
    'wasi:cli/terminal-output': { TerminalOutput },
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => undefined },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => undefined },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => undefined },
    'wasi:io/streams': { InputStream, OutputStream },
    'wasi:io/error': { Error: IoError },
  };
}
