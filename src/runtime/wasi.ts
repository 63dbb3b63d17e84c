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
  /** Guest paths of preopens the plugin may read but not change. */
  readOnlyPreopens?: string[];
  /** Reported by `wasi:cli/environment.initial-cwd`, or undefined for none. */
  initialCwd?: string;
  /** Wall-clock limit of the run. */
  timeoutMs?: number;
  /** Cap on linear memory. */
  maxMemoryMiB?: number;
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
  hardenFilesystem(imports, grants.readOnlyPreopens ?? []);
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

type Descriptor = Record<string, (...args: unknown[]) => unknown>;
const readOnlyDescriptors = new WeakSet<object>();
let descriptorPatched = false;

/** Descriptor methods that change the filesystem. */
const MUTATING = new Set(['write', 'writeViaStream', 'appendViaStream', 'setSize', 'setTimes', 'setTimesAt', 'createDirectoryAt',
  'linkAt', 'removeDirectoryAt', 'renameAt', 'symlinkAt', 'unlinkFileAt']);

/** A WASI error the guest can receive: an error-code string (or a variant object). Anything else is a host failure. */
const isWasiError = (e: unknown) => typeof e === 'string' || (typeof e === 'object' && e !== null && 'tag' in e);

/**
 * Hardens the shim's filesystem at the guest boundary, once per process:
 * - a path with a NUL byte is `invalid` (Node would throw a TypeError and end the run);
 * - any other host exception becomes `io` instead of escaping as a crash;
 * - read-only preopens (the shim has none) and every descriptor opened from them refuse changes
 *   with `read-only`, as do links and renames whose target directory is one of them.
 */
function hardenFilesystem(imports: ImportObject, readOnlyGuestPaths: string[]): void {
  const types = imports['wasi:filesystem/types'] as { Descriptor: { prototype: Descriptor } };
  const preopens = imports['wasi:filesystem/preopens'] as { getDirectories(): [object, string][] };
  for (const [descriptor, guestPath] of preopens.getDirectories()) {
    if (readOnlyGuestPaths.includes(guestPath)) readOnlyDescriptors.add(descriptor);
  }
  if (descriptorPatched) return;
  descriptorPatched = true;
  const proto = types.Descriptor.prototype;
  for (const method of Object.getOwnPropertyNames(proto)) {
    const original = proto[method];
    if (method === 'constructor' || typeof original !== 'function') continue;
    proto[method] = function (this: object, ...args: unknown[]) {
      if (args.some((a) => typeof a === 'string' && a.includes('\0'))) throw 'invalid';
      const readOnly = readOnlyDescriptors.has(this);
      if (readOnly && MUTATING.has(method)) throw 'read-only';
      if ((method === 'linkAt' || method === 'renameAt') && args.some((a) => typeof a === 'object' && a !== null && readOnlyDescriptors.has(a))) {
        throw 'read-only';
      }
      if (readOnly && method === 'openAt') {
        const [, , openFlags, flags] = args as [unknown, unknown, Record<string, boolean> | undefined, Record<string, boolean> | undefined];
        if (openFlags?.create || openFlags?.truncate || flags?.write || flags?.mutateDirectory) throw 'read-only';
      }
      let result: unknown;
      try {
        result = original.apply(this, args);
      } catch (error) {
        if (isWasiError(error)) throw error;
        throw 'io';
      }
      if (readOnly && method === 'openAt') readOnlyDescriptors.add(result as object);
      return result;
    };
  }
}
