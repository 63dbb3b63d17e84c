import test from 'ava';
import { checkCompileCost, CompileCostError, MAX_FRAME_COPIES } from '../../src/runtime/compileCost.js';

/**
 * The compile-cost bound counts control instructions by decoding every instruction: bytes that
 * look like `block` (0x02), `loop` (0x03) or `if` (0x04) inside immediates are not counted, and
 * every instruction family a real toolchain emits is read.
 */

async function wat(text: string): Promise<Uint8Array> {
  const { parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  return parse(text);
}

/** A module whose one function has `locals` locals and the given body, repeated. */
const withBody = (locals: number, body: string, times: number) =>
  wat(`(module (memory 1) (table 4 funcref) (type $t (func (param i32) (result i32))) (elem declare func $g) (data $d "abc")
    (func $g (type $t) (local.get 0))
    (func $f (param i32 i32) (local ${Array(locals).fill('i32').join(' ')}) ${body.repeat(times)}))`);

/** Immediates full of 0x02, 0x03 and 0x04 bytes, and every family of instruction, around one loop. */
const BUSY = `
  (drop (i32.const 2)) (drop (i64.const 3)) (drop (f32.const 4)) (drop (f64.const 2)) (local.set 2 (local.get 3))
  (drop (i32.load offset=3 align=4 (i32.const 4))) (i64.store8 offset=2 (i32.const 0) (i64.const 2))
  (drop (v128.const i8x16 2 3 4 2 3 4 2 3 4 2 3 4 2 3 4 2)) (drop (i8x16.extract_lane_s 3 (v128.load offset=4 (i32.const 0))))
  (drop (i8x16.shuffle 2 3 4 2 3 4 2 3 4 2 3 4 2 3 4 2 (v128.const i64x2 0 0) (v128.const i64x2 0 0)))
  (drop (v128.load8_lane offset=2 3 (i32.const 0) (v128.const i64x2 0 0)))
  (memory.fill (i32.const 2) (i32.const 3) (i32.const 4)) (memory.init $d (i32.const 0) (i32.const 0) (i32.const 2)) (data.drop $d)
  (drop (table.size)) (drop (table.grow (ref.null func) (i32.const 2))) (drop (ref.func $g))
  (drop (select (result i32) (i32.const 2) (i32.const 3) (i32.const 4)))
  (drop (call_indirect (type $t) (i32.const 3) (i32.const 2)))
  (drop (i32.atomic.load offset=4 (i32.const 0))) (atomic.fence)
  (block $out (br_table 0 0 0 (i32.const 3)))
  (loop (br_if 0 (i32.const 0)))
  (drop (i32.trunc_sat_f32_s (f32.const 3)))`;

test('control instructions are counted by decoding: immediates that look like them are not, and every family is read', async (t) => {
  // Each BUSY has two controls (a block and a loop); the frame is 2 parameters and the locals.
  // 20,000 x (2 x 99 + 1) is within MAX_FRAME_COPIES, 20,000 x (2 x 100 + 1) is not.
  t.is(MAX_FRAME_COPIES, 4_000_000);
  const within = await withBody(19998, BUSY, 99);
  const past = await withBody(19998, BUSY, 100);
  t.notThrows(() => checkCompileCost(within));
  const error = t.throws(() => checkCompileCost(past), { instanceOf: CompileCostError });
  t.is(error?.message, 'its function 1 has 20000 locals and 200 blocks, loops and ifs: compiling it would take V8 about 46 MiB');
});

test('a function body that ends inside an instruction is an error, not a count', async (t) => {
  const bytes = await withBody(0, '(drop (i32.const 300))', 1);
  // Cut the module inside the last body's i32.const immediate: the code section now lies about its size.
  t.throws(() => checkCompileCost(bytes.subarray(0, bytes.length - 3)), { instanceOf: Error });
});
