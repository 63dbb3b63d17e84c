import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * A Node built-in module, loaded when first used. Every plugin run pays for what the wrapper
 * bundle imports at its top, and some built-ins are not in Node's start-up snapshot: node:net
 * (~3 ms), node:crypto (~3 ms), node:tty, node:os and node:v8 (~0.6 ms each, measured in an ES
 * module on Node 20). Code that needs them only sometimes (random bytes, a socket on stdio,
 * setting V8 flags) loads them through here instead of a static import.
 */
let load: NodeJS.Require | undefined;

export function builtin<T>(name: `node:${string}`): T {
  load ??= createRequire(import.meta.url); // when first needed: ~0.3 ms of every run otherwise
  return load(name) as T;
}

type Crypto = typeof import('node:crypto');
export const crypto = (): Crypto => builtin<Crypto>('node:crypto');

/** The flags this process set, in order: V8 rejects a code cache made under other flags. */
let flagsSet = '';
/** V8's tag for code caches (its version, its flags) before this process first changed a flag. */
let defaultFlagsTag: number | undefined;

/** What krew-wasm asks of V8 about its flags. */
interface V8Flags {
  setFlagsFromString(flags: string): void;
  cachedDataVersionTag(): number;
}

let v8Flags: V8Flags | undefined;

/**
 * V8's flags, through the binding node:v8 wraps where Node still gives it out: node:v8 itself loads
 * node:stream and 24 more modules for these two functions, 2-3.5 ms of every big plugin's run on
 * Node 20 (bench/RESULTS.md, round thirteen). Node 24 has no such binding: node:v8 there.
 */
export function v8FlagsAccess(): V8Flags {
  return (v8Flags ??= legacyBinding<V8Flags>('v8', ['setFlagsFromString', 'cachedDataVersionTag']) ?? builtin<typeof import('node:v8')>('node:v8'));
}

/**
 * A binding of Node's own that a built-in module wraps, when this Node still gives it to
 * process.binding and it has these functions; else undefined. Node 20 and 22 give `v8` and `zlib`
 * with a deprecation warning (DEP0111) the first time, which says nothing to the plugin's user: it
 * is silenced for that one call. For what a run needs of a built-in whose module loads far more
 * (node:v8 and node:zlib load node:stream: ~3 ms each).
 */
export function legacyBinding<T>(name: 'v8' | 'zlib', functions: (keyof T & string)[]): T | undefined {
  const warns = process.noDeprecation;
  process.noDeprecation = true;
  try {
    const binding = (process as unknown as { binding?(name: string): Record<string, unknown> | undefined }).binding?.(name);
    return binding && functions.every((f) => typeof binding[f] === 'function') ? (binding as T) : undefined;
  } catch {
    return undefined; // "No such module" (Node 24)
  } finally {
    process.noDeprecation = warns;
  }
}

/** v8.setFlagsFromString, loading V8's flags (v8FlagsAccess) only when some flag is set. */
export function setV8Flags(flags: string): void {
  const v8 = v8FlagsAccess();
  defaultFlagsTag ??= v8.cachedDataVersionTag();
  flagsSet += ` ${flags}`;
  v8.setFlagsFromString(flags);
}

/**
 * Each flag krew-wasm sets, as V8 has it by default, with the flags V8 changes along with it
 * (--liftoff-only turns tier-up off). Checked by V8's own tag, not trusted: see below.
 */
const DEFAULT_FLAGS: Record<string, string> = {
  'liftoff-only': '--no-liftoff-only --wasm-tier-up --wasm-dynamic-tiering',
  'no-wasm-tier-up': '--wasm-tier-up',
  'no-wasm-dynamic-tiering': '--wasm-dynamic-tiering',
  'wasm-lazy-validation': '--no-wasm-lazy-validation',
  // V8 12 turns --experimental on with any experimental feature.
  'experimental-wasm-compilation-hints': '--no-experimental-wasm-compilation-hints --no-experimental',
  'no-wasm-lazy-compilation': '--wasm-lazy-compilation',
  // On for the moment a recording run compiles one function (runtime/compileHints.ts), then off.
  'allow-natives-syntax': '--no-allow-natives-syntax',
  'no-allow-natives-syntax': '--no-allow-natives-syntax',
  'wasm-max-mem-pages': '--wasm-max-mem-pages=4294967295',
  'wasm-max-table-size': '--wasm-max-table-size=10000000',
};

/**
 * Puts V8's flags back as they were when the process started, for bin/krew-wasm.js to make the
 * bundle's code cache at exit: the next start compares a cache with its own flags, and one made
 * under a big plugin's flags was refused, so its runs kept one made at load. At exit no guest code
 * runs and no memory or table grows, so a limit guards nothing any more (a big --max-memory's table
 * limit may even come down, which V8 takes for tables that exist: measured by an attack). True
 * when V8's tag for code caches is its start-up one again; false when it is not (a flag of
 * KREW_WASM_V8_FLAGS this table does not know, or another V8 that changes more along with one).
 */
export function restoreDefaultV8Flags(): boolean {
  if (!flagsSet) return true;
  const names = flagsSet.trim().split(/\s+/).map((flag) => flag.replace(/^--/, '').replace(/=.*$/, ''));
  const defaults = names.map((name) => DEFAULT_FLAGS[name]);
  if (defaults.some((d) => d === undefined)) return false;
  const v8 = v8FlagsAccess();
  v8.setFlagsFromString(defaults.join(' '));
  return v8.cachedDataVersionTag() === defaultFlagsTag;
}

/**
 * The code paths this run took: a plugin's kind (component or preview1 module, with a filesystem,
 * with network access), a command's name. bin/krew-wasm.js makes a bundle's code cache again at
 * exit when the run took a path the cache was not made from: V8 compiles at every start whatever
 * the cache lacks, and a cache made by a first run of one kind lacked a C plugin's host code for
 * good (~2 ms of each of its runs, bench/RESULTS.md).
 */
const pathsTaken = new Set<string>();

export function markCodePath(name: string): void {
  pathsTaken.add(name);
}

export function codePathsTaken(): string[] {
  return [...pathsTaken];
}

/** The code paths named by the code cache this bundle was loaded with, when V8 took one. */
let pathsCached: ReadonlySet<string> | undefined;

/** For bin/krew-wasm.js, once it has loaded the bundle with a cache V8 accepted. */
export function rememberCachedCodePaths(paths: string[]): void {
  pathsCached = new Set(paths);
}

/**
 * Whether the earlier runs this plugin's (or command's) code cache was made from took a code path;
 * undefined when there is no cache to say (the first run, an unwritable installation).
 */
export function tookBefore(name: string): boolean | undefined {
  return pathsCached?.has(name);
}

/** Where bin/krew-wasm.js puts its code-cache loader (see requireSibling). */
const LOADER = Symbol.for('krew-wasm.load');

/**
 * Requires a file beside this bundle (the wrapper's kubeconfig loader) with the bin's V8 code
 * cache, one per set of V8 flags (a big plugin's run sets some first): without one, compiling it
 * and the YAML parser was ~4 ms of every run of a plugin with network access.
 */
export function requireSibling(name: string): unknown {
  const file = fileURLToPath(new URL(name, import.meta.url));
  const withCache = (globalThis as { [LOADER]?: (file: string, variant: string) => unknown })[LOADER];
  return withCache ? withCache(file, flagsSet && fnv1a(flagsSet)) : (load ??= createRequire(import.meta.url))(file);
}

/** A short tag for a string in a file name (FNV-1a, 32 bits; not a security hash). */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}

/** Where bin/krew-wasm.js puts its import() for the CLI bundle (see importModule). */
const IMPORTER = Symbol.for('krew-wasm.import');

/**
 * import() of an ES module: jco's packages, a glue file. bin/krew-wasm.js compiles the CLI bundle
 * with a V8 code cache, and on Node 20 code restored from a cache has lost its dynamic-import
 * callback ("A dynamic import callback was not specified"), so the bin hands over its own import().
 */
export function importModule<T>(specifier: string): Promise<T> {
  const fromBin = (globalThis as { [IMPORTER]?: (specifier: string) => Promise<unknown> })[IMPORTER];
  return (fromBin ? fromBin(specifier) : import(specifier)) as Promise<T>;
}
