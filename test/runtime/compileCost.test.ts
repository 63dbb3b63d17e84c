import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { checkCompileCost, CompileCostError, COMPILE_LIMITS } from '../../src/runtime/compileCost.js';
import { leb128 } from '../../src/runtime/wasmReader.js';
import { FIXTURES } from '../helpers/cli.js';

/**
 * pull compiles a plugin's core modules in a child Node, as a run would, and refuses a compile
 * that costs V8 more than COMPILE_LIMITS: the attacks' shapes (a large frame, a high operand stack,
 * many branches) are refused by what they cost, real plugins pass.
 */

async function wat(text: string): Promise<Uint8Array> {
  const { parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  return parse(text);
}

test('a function of 50,000 locals and 1,000 loops (600 MB for V8 to compile, from 200 KB) is refused by the memory its compile takes', async (t) => {
  const bomb = await wat(`(module (func (local ${Array(50000).fill('i32').join(' ')}) ${'(loop) '.repeat(1000)}))`);
  const error = await t.throwsAsync(checkCompileCost([bomb]), { instanceOf: CompileCostError });
  t.is(error?.message, `compiling its core modules takes V8 more than ${COMPILE_LIMITS.memoryBytes / (1024 * 1024)} MiB (krew-wasm compiles a plugin at every run, which no limit can interrupt)`);
});

test('50,000 values on the operand stack and no locals at all cost V8 the same, and are refused the same', async (t) => {
  // $many returns 1,000 values: 50 calls leave 50,000 on the stack, which every loop copies.
  const results = Array(1000).fill('i32').join(' ');
  const bomb = await wat(`(module
    (func $many (result ${results}) ${'(i32.const 0) '.repeat(1000)})
    (func ${'(call $many) '.repeat(50)} ${'(loop) '.repeat(1000)} (return)))`);
  await t.throwsAsync(checkCompileCost([bomb]), { instanceOf: CompileCostError });
});

test('real plugins compile well within the limits: a componentized JS engine (12.5 MB), wasi-libc C', async (t) => {
  const { transpileBytes } = await import('@bytecodealliance/jco-transpile');
  const js = await transpileBytes(fs.readFileSync(path.join(FIXTURES, 'jsecho.wasm')), { name: 'p', instantiation: 'async' });
  const modules = Object.entries(js.files).filter(([name]) => name.endsWith('.wasm')).map(([, bytes]) => bytes);
  t.true(modules.reduce((sum, m) => sum + m.length, 0) > 10 * 1024 * 1024);
  await t.notThrowsAsync(checkCompileCost(modules));
  await t.notThrowsAsync(checkCompileCost([fs.readFileSync(path.join(FIXTURES, 'fsprobe.core.wasm'))]));
});

test('100,000 values on the stack and 40,000 branches (160 KB) are refused by the CPU time their compile takes: every branch walks the whole stack state', async (t) => {
  const results = Array(1000).fill('i32').join(' ');
  const bomb = await wat(`(module
    (func $many (result ${results}) ${'(i32.const 0) '.repeat(1000)})
    (func ${'(call $many) '.repeat(100)} (loop $l ${'(br_if $l (i32.const 0)) '.repeat(40000)}) (return)))`);
  const error = await t.throwsAsync(checkCompileCost([bomb]), { instanceOf: CompileCostError });
  t.regex(error?.message ?? '', /^compiling its core modules takes V8 more than 2\.\d s of CPU \(krew-wasm compiles a plugin at every run, which no limit can interrupt\)$/);
  // The allowance follows the function bodies: 20 MiB of custom section (nothing to compile) buys
  // nothing (an attack bought 44 s of compile per run with 100 MiB of it).
  const padded = Buffer.concat([bomb, Uint8Array.of(0x00), leb128(4 + 20 * 1024 * 1024), Uint8Array.of(3), Buffer.from('pad'), Buffer.alloc(20 * 1024 * 1024)]);
  const paddedError = await t.throwsAsync(checkCompileCost([padded]), { instanceOf: CompileCostError });
  t.regex(paddedError?.message ?? '', /more than 2\.\d s of CPU/);
  // pull says: "the component is refused: compiling its core modules takes V8 more than … s of CPU (…)" (transpile.ts).
});
