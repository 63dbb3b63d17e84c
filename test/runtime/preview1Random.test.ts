import test from 'ava';
import { Interrupted, RunGuard } from '../../src/runtime/limits.js';
import { preview1Imports } from '../../src/runtime/preview1/host.js';

/** A preview1 host bound to `memory`, its random_get as the guest calls it (i32s arrive signed). */
function randomGetOn(memory: WebAssembly.Memory): (buf: number, len: number) => number {
  const { imports, bindMemory } = preview1Imports({ args: [], env: {} });
  bindMemory(memory);
  return imports.wasi_snapshot_preview1!.random_get as (buf: number, len: number) => number;
}

test('random_get of a whole 4 GiB memory is stopped by the watchdog inside the call, not after it (attack 92)', (t) => {
  const memory = new WebAssembly.Memory({ initial: 65536 });
  const randomGet = randomGetOn(memory);
  const len = 0xffff0000;
  // One native fill of 4 GiB took 20 s here, past --timeout and Ctrl-C; slices of 1 MiB leave the watchdog a way in between.
  const error = t.throws(() => new RunGuard(50).call(() => randomGet(0, len | 0)));
  t.true(error instanceof Interrupted, String(error));
  t.true(new Uint8Array(memory.buffer, len - 65536, 65536).every((b) => b === 0), 'the end of the buffer was never filled');
  t.false(new Uint8Array(memory.buffer, 0, 65536).every((b) => b === 0), 'the start was');
});

test('random_get fills exactly the bytes asked for, and a buffer past the memory is EFAULT with nothing written', (t) => {
  const memory = new WebAssembly.Memory({ initial: 64 });
  const randomGet = randomGetOn(memory);
  const all = new Uint8Array(memory.buffer);
  t.is(randomGet(100, 3 * 1024 * 1024 + 7), 0);
  t.true(all.subarray(0, 100).every((b) => b === 0), 'nothing before the buffer');
  t.true(all.subarray(100 + 3 * 1024 * 1024 + 7).every((b) => b === 0), 'nothing after it');
  t.false(all.subarray(100 + 3 * 1024 * 1024 - 64, 100 + 3 * 1024 * 1024 + 7).every((b) => b === 0), 'its last slice filled');
  all.fill(0);
  t.is(randomGet(memory.buffer.byteLength - 10, 20), 21, 'EFAULT');
  t.true(all.every((b) => b === 0));
});
