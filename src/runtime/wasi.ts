import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation';

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
 * WASI preview2 imports for one run, from the shim, with our overrides: exit unwinds through
 * ExitSignal (the shim calls process.exit mid-wasm), initial-cwd is ours (the shim reports the
 * host cwd), and sockets and wasi:http are denied: the only network is outbound-http.
 */
export function wasiImports(grants: SandboxGrants): ImportObject {
  const shim = new WASIShim({
    sandbox: { preopens: grants.preopens, env: grants.env, args: grants.args, enableNetwork: false },
  } as ConstructorParameters<typeof WASIShim>[0]);
  const imports = shim.getImportObject() as ImportObject;
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
  const http = imports['wasi:http/outgoing-handler'] as Record<string, unknown>;
  imports['wasi:http/outgoing-handler'] = {
    ...http,
    handle(): never {
      // A valid wasi:http error-code, so the guest sees a denial rather than the host crashing.
      throw { tag: 'HTTP-request-denied' };
    },
  };
  return imports;
}
