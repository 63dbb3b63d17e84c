import { InvalidPluginError } from '../errors.js';
import { unversioned } from './component.js';

/**
 * Which of a host function's arguments the plugin hands over (owned handles), read from jco's glue.
 *
 * jco's declarations render `own<descriptor>` and `borrow<descriptor>` alike, so the declaration
 * check (importTypes.ts) cannot tell a plugin that declares a borrowed argument as owned: jco then
 * takes the handle out of the plugin's table as it calls the host, the plugin no longer holds it,
 * and nothing closes what it held (a file's descriptor), past the handle limit. The other way
 * round, an owned argument declared borrowed, the host consumes what the plugin still holds. In
 * jco's glue an owned argument is a `rscTableRemove(` in the function's trampoline before the call;
 * each host function must have as many as jco writes for the host's own types
 * (generated/hostOwnership.ts, made by `make bindings` the same way).
 */
export function ownedArgumentLifts(glue: string): [string, number][] {
  const starts = [...glue.matchAll(TRAMPOLINE_START)].map((m) => m.index);
  const found: [string, number][] = [];
  for (let i = 0; i < starts.length; i++) {
    const trampoline = glue.slice(starts[i], starts[i + 1] ?? glue.length);
    const call = CALL_INTERFACE.exec(trampoline);
    if (!call) continue; // a drop, a task built-in: no host function
    const lifts = trampoline.slice(0, call.index).split('rscTableRemove(').length - 1;
    found.push([`${unversioned(call[1]!)}#${call[2]}`, lifts]);
  }
  // Every host call in the glue must have been found in a trampoline of its own: a shape this
  // does not know (an async trampoline, found by an attack) is not counted, so it is refused.
  const calls = glue.match(new RegExp(CALL_INTERFACE.source, 'g'))?.length ?? 0;
  if (calls !== found.length) throw new InvalidPluginError(`cannot check the component's owned handles: jco's glue has ${calls} host calls in ${found.length} trampolines krew-wasm can read`);
  return found;
}

/** Where each trampoline begins: host functions' (`_trampolineN`) and drops' (`trampolineN`), async or not. */
const TRAMPOLINE_START = /(?<![\w$])_?trampoline\d+\s*=\s*(?:async\s+)?function\s*\(|\b(?:async\s+)?function\s+_?trampoline\d+\s*\(/g;
const CALL_INTERFACE = /\[iface="([^"]+)", function="([^"]+)"\] \[Instruction::CallInterface\]/;

/** Throws unless each host function the glue calls takes owned handles where the host's does. */
export function checkOwnership(glue: string, host: Record<string, number>): void {
  for (const [fn, lifts] of ownedArgumentLifts(glue)) {
    const expected = host[fn];
    if (expected === undefined) throw new InvalidPluginError(`the component calls ${fn}, which krew-wasm does not implement`);
    if (lifts !== expected) {
      throw new InvalidPluginError(`the component's ${fn} takes ${lifts} owned handle${lifts === 1 ? '' : 's'}, where krew-wasm's takes ${expected} (a borrowed handle declared owned, or the other way round)`);
    }
  }
}
