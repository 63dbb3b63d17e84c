import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { ENTRY_FILES } from '../store/entry.js';
import { atomicWriteFile } from '../store/fsutil.js';
import { LiftBudget } from './limits.js';

/**
 * jco's glue as a classic script, so that V8 can keep a code cache of it: Node 20 has no compile
 * cache for ES modules, but vm.Script takes `cachedData`. Loading the 0.8 MB glue of a componentized
 * JS plugin drops from ~16-22 ms as a module to ~7 ms from the cache (bench/RESULTS.md).
 */
export const SCRIPT_FILE = ENTRY_FILES.script;
export const CACHE_FILE = ENTRY_FILES.codeCache;

type Instantiate = (...args: never[]) => Promise<Record<string, unknown>>;

/** What the script form is called with: the glue's URL, and the bound on what one host call copies. */
type GlueFactory = (url: string, textDecoder: typeof TextDecoder, lift: LiftBudget) => Instantiate;

/**
 * Rewrites jco's async-instantiation output (an ES module whose only module syntax is
 * `export function instantiate`, `export const _util` and `import.meta.url`) into a function
 * expression returning `instantiate`. The glue's copies out of guest memory are routed through a
 * LiftBudget (limits.ts): its TextDecoder is a parameter, `<memory>.buffer.slice(` becomes
 * `__krewLift.slice(<memory>.buffer, `, and each host-call trampoline starts with
 * `__krewLift.enter()`. Returns undefined when the output has another shape: the caller then keeps
 * loading the ES module (without the bound).
 */
export function toScriptForm(esm: string): string | undefined {
  const body = esm
    .replace(/(^|[;}\s])export function instantiate\(/, '$1function instantiate(')
    .replace(/(^|[;}\s])export const _util=/, '$1const _util=')
    .replace(/import\.meta\.url/g, '__krewImportMetaUrl')
    .replace(/(?<![\w$.])([A-Za-z_$][\w$]*)\.buffer\.slice\(/g, '__krewLift.slice($1.buffer,')
    .replace(/(trampoline\d+\s*=\s*function\s*\([^)]*\)\s*\{|\bfunction\s+_?trampoline\d+\s*\([^)]*\)\s*\{)/g, '$1__krewLift.enter();');
  if (/\.buffer\.slice\(/.test(body)) return undefined; // a copy we could not route: keep the module
  const source = `(function (__krewImportMetaUrl, TextDecoder, __krewLift) {'use strict';\n${body}\n;return instantiate;\n})`;
  try {
    const factory = new vm.Script(source).runInThisContext() as GlueFactory;
    const lift = new LiftBudget();
    return typeof factory('file:///', lift.textDecoder(), lift) === 'function' ? source : undefined;
  } catch {
    return undefined; // module syntax left, or a shape we do not know
  }
}

/** Loads the script form of the glue, with its code cache when there is a usable one. */
export function loadGlueScript(entryDir: string): { instantiate: Instantiate; saveCache(): void } {
  const file = path.join(entryDir, SCRIPT_FILE);
  const cacheFile = path.join(entryDir, CACHE_FILE);
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(fs.readFileSync(file, 'utf8'), { filename: file, cachedData });
  const lift = new LiftBudget();
  const instantiate = (script.runInThisContext() as GlueFactory)(`file://${file}`, lift.textDecoder(), lift);
  const needsCache = !cachedData || script.cachedDataRejected === true;
  return {
    instantiate,
    // After a run the cache also holds the functions the run compiled. Best effort: a read-only
    // store or a concurrent writer only means the next run compiles again.
    saveCache: () => {
      if (!needsCache) return;
      try {
        atomicWriteFile(cacheFile, script.createCachedData());
      } catch {
        // see above
      }
    },
  };
}
