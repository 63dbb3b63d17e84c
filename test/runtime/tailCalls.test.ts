import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { PluginRuntimeError } from '../../src/errors.js';
import { refuseUninterruptible } from '../../src/runtime/compile.js';
import { usesTailCalls, watchdogMissesTailCalls } from '../../src/runtime/tailCalls.js';
import { transpileInto } from '../../src/runtime/transpile.js';
import type { EntryMeta } from '../../src/store/entry.js';
import { FIXTURES } from '../helpers/cli.js';
import { scratchFolders } from '../helpers/scratch.js';

const scratch = scratchFolders('tail');

/**
 * Tail calls, which the V8 of Node 24 and 25 does not stop for --timeout or Ctrl-C: pull reads
 * which core modules may make them (walking every instruction), and a run on such a V8 refuses
 * them. Real modules, made from WAT by wasm-tools.
 */

async function wat(text: string): Promise<Uint8Array> {
  const { parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  return parse(text);
}

/**
 * Instructions of every immediate shape the walker skips: a misread immediate would land it on a
 * wrong opcode (a tail call it invents, or one it misses after the body).
 */
const BODY = `
  (local $x i32) (local $r funcref) (local $v v128)
  (block $b (result i32) (i32.const -1234567) (br_if $b (i32.const 1)) (br_table $b $b $b (i32.const 0)))
  drop
  (loop $l (br_if $l (i32.eqz (i32.const 1))))
  (if (i32.const 0) (then nop) (else nop))
  (drop (i64.const -9007199254740991)) (drop (f32.const 1.5)) (drop (f64.const -2.25))
  (drop (i32.load offset=65536 align=2 (i32.const 0)))
  (i64.store16 offset=7 (i32.const 0) (i64.const 1))
  (drop (memory.grow (i32.const 0))) (drop (memory.size))
  (memory.copy (i32.const 0) (i32.const 8) (i32.const 4))
  (memory.fill (i32.const 0) (i32.const 0) (i32.const 4))
  (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1)) (data.drop $d)
  (table.init $t $e (i32.const 0) (i32.const 0) (i32.const 1)) (elem.drop $e)
  (drop (table.size $t)) (drop (table.grow $t (ref.null func) (i32.const 1)))
  (local.set $r (ref.func $callee)) (drop (ref.is_null (local.get $r)))
  (drop (select (result funcref) (local.get $r) (ref.null func) (i32.const 1)))
  (call_indirect $t (type $ft) (i32.const 0) (i32.const 0))
  (call $callee (i32.const 3))
  (local.set $v (v128.const i32x4 1 2 3 4))
  (local.set $v (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))
  (drop (i32x4.extract_lane 3 (local.get $v)))
  (local.set $v (v128.load32_lane offset=4 2 (i32.const 0) (local.get $v)))
  (v128.store offset=16 (i32.const 0) (local.get $v))
  (drop (i32.atomic.rmw.add offset=8 (i32.const 0) (i32.const 1)))
  (atomic.fence)
  (drop (i32.trunc_sat_f32_s (f32.const 0)))
  (global.set $g (i32.extend8_s (global.get $g)))`;

const module = (tail: string) => `(module
  (type $ft (func (param i32)))
  (memory 1 1 shared) (table $t 2 funcref) (global $g (mut i32) (i32.const 0))
  (data $d "x") (elem $e func $callee) (elem declare func $callee)
  (func $callee (type $ft))
  (func (export "f") (param $p i32) ${BODY} ${tail}))`;

test('a module whose instructions make no tail call: none found, whatever immediates come before', async (t) => {
  t.false(usesTailCalls(await wat(module(''))));
});

test('each tail-call instruction is found, after every other kind of instruction', async (t) => {
  t.true(usesTailCalls(await wat(module('(return_call $callee (i32.const 1))'))));
  t.true(usesTailCalls(await wat(module('(return_call_indirect $t (type $ft) (i32.const 1) (i32.const 0))'))));
  t.true(usesTailCalls(await wat(module('(return_call_ref $ft (i32.const 1) (ref.func $callee))'))));
  t.true(usesTailCalls(await wat('(module (func $f (return_call $f)))')), 'the loop of the attack');
});

test('an instruction the walker does not know counts as a tail call (the answer only refuses)', async (t) => {
  const plain = await wat('(module (func nop))');
  // The same module with its one instruction replaced by 0x1d, an opcode no proposal has.
  const at = plain.lastIndexOf(0x01);
  const unknown = Uint8Array.from(plain);
  unknown[at] = 0x1d;
  t.false(usesTailCalls(plain));
  t.true(usesTailCalls(unknown));
});

test('pull records which core modules may make tail calls: none for the test plugins built from C and JS, the looping one for a component that loops', async (t) => {
  const metaOf = async (bytes: Uint8Array) => transpileInto(bytes, scratch());
  for (const name of ['jsecho.wasm', 'chello.core.wasm', 'hello.wasm']) {
    t.deepEqual((await metaOf(fs.readFileSync(path.join(FIXTURES, name)))).tailCalls, [], name);
  }
  const looping = await wat(`(component
    (core module $m (func $f (return_call $f)) (func (export "run") (result i32) (call $f) (i32.const 0)))
    (core instance $i (instantiate $m))
    (func $run (result (result)) (canon lift (core func $i "run")))
    (instance $runner (export "run" (func $run)))
    (export "wasi:cli/run@0.2.12" (instance $runner)))`);
  t.deepEqual((await metaOf(looping)).tailCalls, ['plugin.core.wasm']);
});

test('Node 24 and 25 (V8 13, 14) do not stop a tail-call loop; Node 20 and 22 (V8 11, 12) do', (t) => {
  t.false(watchdogMissesTailCalls('11.3.244.8-node.38'));
  t.false(watchdogMissesTailCalls('12.4.254.21-node.57'));
  t.true(watchdogMissesTailCalls('13.6.233.17-node.63'));
  t.true(watchdogMissesTailCalls('14.1.146.11-node.29'));
});

test('a run on such a V8 refuses a plugin whose modules may make tail calls, in one line with what to do; other plugins and other V8s run', (t) => {
  const meta = { coreModules: ['plugin.core.wasm', 'plugin.core2.wasm'], tailCalls: ['plugin.core2.wasm'] } as EntryMeta;
  const error = t.throws(() => refuseUninterruptible('loop', meta, meta.coreModules, '13.6.233.17-node.63'), { instanceOf: PluginRuntimeError });
  t.is(error?.message, "plugin loop makes WebAssembly tail calls, which this Node's V8 (13.6.233.17-node.63) does not stop at --timeout or Ctrl-C");
  t.is(error?.hint, 'run it with Node 20 or 22, whose V8 stops such a loop');
  t.notThrows(() => refuseUninterruptible('loop', meta, meta.coreModules, '11.3.244.8-node.38'));
  t.notThrows(() => refuseUninterruptible('plain', { ...meta, tailCalls: [] }, meta.coreModules, '13.6.233.17-node.63'));
  t.notThrows(() => refuseUninterruptible('preview1', meta, ['preview1.wasm'], '13.6.233.17-node.63'), 'only the modules the run compiles');
});
