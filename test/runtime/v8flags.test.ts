import test from 'ava';
import v8 from 'node:v8';
import { restoreDefaultV8Flags, setV8Flags } from '../../src/builtin.js';
import { BIG_MODULE_V8_FLAGS } from '../../src/runtime/compile.js';

/**
 * A big plugin's V8 flags, as a run sets them (after V8 started, with v8.setFlagsFromString), in a
 * process of their own (ava runs each file in one): its code stays Liftoff code however hot it
 * gets, and the flags go back to V8's start-up set for the code caches written at exit. Node 24's
 * V8 no longer turns tier-up off with --liftoff-only set at run time (measured: Node 20 and 22 do).
 */

// `salt` makes each module's bytes its own: V8 shares the code of a module it compiled already.
const hotLoop = (salt: number) => `(module (global i32 (i32.const ${salt})) (func (export "f") (param $n i32) (result i32) (local $s i32)
  (loop $l
    (local.set $s (i32.add (local.get $s) (local.get $n)))
    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
    (br_if $l (local.get $n)))
  (local.get $s)))`;

async function hotFunction(salt: number): Promise<(n: number) => number> {
  const { parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  const { instance } = await WebAssembly.instantiate((await parse(hotLoop(salt))) as Uint8Array<ArrayBuffer>);
  const f = instance.exports.f as (n: number) => number;
  for (let i = 0; i < 2000; i++) f(10_000);
  return f;
}

/** Runs `f` hot until `done(f)` or `ms` have passed (tier-up compiles in the background); the time it took. */
async function runHot(f: (n: number) => number, ms: number, done: (f: unknown) => boolean = () => false): Promise<number> {
  const start = performance.now();
  while (!done(f) && performance.now() - start < ms) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (let i = 0; i < 200; i++) f(10_000);
  }
  return performance.now() - start;
}

test("a big plugin's flags keep its code on Liftoff however hot it runs, and are put back for the code caches", async (t) => {
  v8.setFlagsFromString('--allow-natives-syntax');
  const isLiftoff = new Function('f', 'return %IsLiftoffFunction(f)') as (f: unknown) => boolean;
  const isTurboFan = new Function('f', 'return %IsTurboFanFunction(f)') as (f: unknown) => boolean;
  // Under V8's defaults the same loop tiers up: the check below can see it.
  // Waited for, not slept on: on a loaded machine the background compile can take seconds.
  const hot = await hotFunction(1);
  const tierUpMs = await runHot(hot, 60_000, isTurboFan);
  t.true(isTurboFan(hot), 'tiered up under the default flags');
  setV8Flags(BIG_MODULE_V8_FLAGS);
  const f = await hotFunction(2);
  // Twice as long as the default flags needed to tier up, and never less than a second.
  await runHot(f, Math.max(1000, 2 * tierUpMs));
  t.true(isLiftoff(f) && !isTurboFan(f), 'still Liftoff code');
  t.true(restoreDefaultV8Flags(), "V8's tag for code caches is its start-up one again");
});
