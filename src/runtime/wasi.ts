import { liteHostSuffices, liteImports } from './liteWasi.js';
import { syncOutputMethods } from './stdio.js';

/** Thrown by our `wasi:cli/exit` so the plugin unwinds instead of the process dying mid-wasm. */
export class ExitSignal {
  constructor(readonly code: number) {}
}

/** The capabilities one plugin run gets (wasmtime-style explicit grants). */
export interface SandboxGrants {
  /** argv as the guest sees it: argv[0] is `kubectl-<name>`. */
  args: string[];
  env: Record<string, string>;
  /** Guest path -> host path. */
  preopens: Record<string, string>;
  /** Reported by `wasi:cli/environment.initial-cwd`, or undefined for none. */
  initialCwd?: string;
}

type ImportObject = Record<string, unknown>;

/**
 * WASI preview2 imports for one run. Components that need only args, env, exit and stdio get the
 * lite host; the rest get the preview2 shim (imported only then: it costs ~30 ms). Either way exit
 * unwinds through ExitSignal (the shim calls process.exit mid-wasm), initial-cwd is ours (the shim
 * reports the host cwd), stdout/stderr are synchronous, and sockets and wasi:http are denied: the
 * only network is outbound-http.
 */
export async function wasiImports(grants: SandboxGrants, componentImports: string[]): Promise<ImportObject> {
  const imports = liteHostSuffices(componentImports) ? liteImports(grants) : await shimImports(grants);
  const environment = imports['wasi:cli/environment'] as Record<string, unknown>;
  imports['wasi:cli/environment'] = { ...environment, initialCwd: () => grants.initialCwd };
  imports['wasi:cli/exit'] = {
    exit(status: { tag: 'ok' | 'err' }): never {
      throw new ExitSignal(status.tag === 'err' ? 1 : 0);
    },
    exitWithCode(code: number): never {
      throw new ExitSignal(code);
    },
  };
  return imports;
}

async function shimImports(grants: SandboxGrants): Promise<ImportObject> {
  const { WASIShim } = await import('@bytecodealliance/preview2-shim/instantiation');
  const shim = new WASIShim({
    sandbox: { preopens: grants.preopens, env: grants.env, args: grants.args, enableNetwork: false },
  } as ConstructorParameters<typeof WASIShim>[0]);
  const imports = shim.getImportObject() as ImportObject;
  const http = imports['wasi:http/outgoing-handler'] as Record<string, unknown>;
  imports['wasi:http/outgoing-handler'] = {
    ...http,
    handle(): never {
      // A valid wasi:http error-code, so the guest sees a denial rather than the host crashing.
      throw { tag: 'HTTP-request-denied' };
    },
  };
  const { OutputStream } = imports['wasi:io/streams'] as { OutputStream: { prototype: object } };
  const cli = (name: string) => imports[name] as Record<string, () => { subscribe(): unknown }>;
  const stdout = syncStream(OutputStream.prototype, 1, cli('wasi:cli/stdout').getStdout());
  const stderr = syncStream(OutputStream.prototype, 2, cli('wasi:cli/stderr').getStderr());
  imports['wasi:cli/stdout'] = { getStdout: () => stdout };
  imports['wasi:cli/stderr'] = { getStderr: () => stderr };
  return imports;
}

/**
 * An object that is an instance of the shim's OutputStream class (jco checks resources with
 * instanceof) but writes synchronously; polling is delegated to the shim's own stream.
 */
function syncStream(proto: object, fd: number, shimStream: { subscribe(): unknown }): object {
  const stream = Object.create(proto) as Record<string | symbol, unknown>;
  Object.assign(stream, syncOutputMethods(fd), { subscribe: () => shimStream.subscribe() });
  const noop = () => {};
  stream[Symbol.for('dispose')] = noop;
  if (typeof Symbol.dispose === 'symbol') stream[Symbol.dispose] = noop;
  return stream;
}
