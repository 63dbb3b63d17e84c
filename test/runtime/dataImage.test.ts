import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { DATA_IMAGE_MIN_BYTES, extractDataImage, MAX_IMAGE_RUNS, readImageInto, type DataImage } from '../../src/runtime/dataImage.js';
import { LocalFileError } from '../../src/store/fsutil.js';
import { scratchFolders } from '../helpers/scratch.js';

/**
 * A big core module's data moved at pull into an image file that a run reads into the memory the
 * host makes (runtime/dataImage.ts). Real modules, made from WAT by wasm-tools: each is
 * instantiated as it was, and as its entry keeps it (emptied segments, the image read into a fresh
 * memory by readImageInto), and the two memories must hold the same bytes, before any guest code
 * runs and after it used its segments.
 */

const scratch = scratchFolders('image');
const PAGE = 65536;

async function wat(text: string): Promise<Uint8Array> {
  const { parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  return parse(text);
}

/** `length` bytes that differ from segment to segment and from zeros, as a WAT string. */
function payload(seed: number, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += `\\${(((seed * 31 + i * 7) % 255) + 1).toString(16).padStart(2, '0')}`;
  return text;
}

/** A module whose memory the host makes, with these segments, a start function that reads the memory, and a passive segment used after. */
function moduleText(segments: { at: number; length: number }[], options: { pages?: number; memory?: string; imports?: string; extra?: string } = {}): string {
  const memory = options.memory ?? `(import "krew-wasm:state" "memory0" (memory ${options.pages ?? 64}))`;
  const data = segments.map((s, i) => `(data (i32.const ${s.at}) "${payload(i + 1, s.length)}")`).join('\n');
  const first = segments[0]?.at ?? 0;
  return `(module
    ${memory}
    ${options.imports ?? ''}
    (global $seen (export "seen") (mut i32) (i32.const 0))
    ${data}
    (data $passive "\\01\\02\\03\\04")
    ${options.extra ?? ''}
    (func $start (global.set $seen (i32.load (i32.const ${first}))))
    (start $start)
    (func (export "init") (memory.init $passive (i32.const 16) (i32.const 0) (i32.const 4)))
    (func (export "drop") (data.drop 0)))`;
}

/** Instantiates a module on a fresh memory of `pages`, its data image read into it first when given. */
function instantiate(bytes: Uint8Array, pages: number, moved?: DataImage): { memory: WebAssembly.Memory; exports: WebAssembly.Exports } {
  const memory = new WebAssembly.Memory({ initial: pages });
  if (moved) {
    const file = path.join(scratch(), 'plugin.core.data');
    fs.writeFileSync(file, moved.image);
    readImageInto(memory, file, moved.runs);
  }
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), { 'krew-wasm:state': { memory0: memory } });
  return { memory, exports: instance.exports };
}

const same = (a: WebAssembly.Memory, b: WebAssembly.Memory) => Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer)) === 0;

test('a module whose data moves to an image: the same memory before its start function runs, and after it uses its segments', async (t) => {
  // 40 segments of 8 KiB, 100 bytes apart (one run), then one overlapping the two before it (later wins), then one far away.
  const segments = Array.from({ length: 40 }, (_, i) => ({ at: 65536 + i * 8292, length: 8192 }));
  segments.push({ at: 65536 + 38 * 8292 + 4000, length: 9000 }, { at: 40 * PAGE, length: 1000 });
  const bytes = await wat(moduleText(segments));
  const moved = extractDataImage(bytes);
  if (!moved) return t.fail('no image');
  t.deepEqual(moved.runs.map(([at]) => at), [65536, 40 * PAGE], 'close segments share a run; the zeros between them are in it');
  t.true(moved.module.length < bytes.length - 300_000, 'the data is out of the module');
  t.true(WebAssembly.validate(moved.module as Uint8Array<ArrayBuffer>));
  const before = instantiate(bytes, 64);
  const after = instantiate(moved.module, 64, moved);
  t.true(same(before.memory, after.memory), 'the same bytes in memory');
  t.is((after.exports.seen as WebAssembly.Global).value, (before.exports.seen as WebAssembly.Global).value, 'the start function saw the data');
  t.not((after.exports.seen as WebAssembly.Global).value, 0);
  for (const { exports } of [before, after]) {
    (exports.init as () => void)(); // memory.init of the passive segment: its index is what it was
    (exports.drop as () => void)(); // data.drop of an active segment, dropped once applied either way
  }
  t.true(same(before.memory, after.memory), 'the same bytes after memory.init');
  t.is(new Uint8Array(after.memory.buffer, 16, 4).join(), '1,2,3,4');
});

test('segments far apart make one run each, and zeros never grow the image beyond a quarter of the data', async (t) => {
  // 1 KiB segments 4 KiB apart: within the merging gap, but merged they would be 4x the data.
  const segments = Array.from({ length: 300 }, (_, i) => ({ at: i * 4096, length: 1024 }));
  const bytes = await wat(moduleText(segments, { pages: 32 }));
  const moved = extractDataImage(bytes);
  if (!moved) return t.fail('no image');
  t.is(moved.runs.length, 300);
  t.is(moved.image.length, 300 * 1024, 'the data alone');
  t.true(same(instantiate(bytes, 32).memory, instantiate(moved.module, 32, moved).memory));
});

test('a module keeps its data when moving it would change what instantiation does, or would not pay', async (t) => {
  const big = [{ at: 0, length: DATA_IMAGE_MIN_BYTES }];
  const cases: [string, string][] = [
    ['less data than an image is worth', moduleText([{ at: 0, length: DATA_IMAGE_MIN_BYTES - 1 }])],
    ['a segment beyond the initial memory (instantiation fails, as before)', moduleText([...big, { at: 4 * PAGE - 10, length: 100 }], { pages: 4 })],
    ['an offset read from an imported global', moduleText(big, { imports: '(import "env" "base" (global $base i32))', extra: '(data (global.get $base) "x")' })],
    ['a memory imported from another instance', moduleText(big, { memory: '(import "env" "memory" (memory 64))' })],
    ['a shared memory', moduleText(big, { memory: '(import "krew-wasm:state" "memory0" (memory 64 64 shared))' })],
    ['a memory the module defines (an entry always has it made by the host)', moduleText(big, { memory: '(memory 64)' })],
    [`more than ${MAX_IMAGE_RUNS} runs`, moduleText(Array.from({ length: MAX_IMAGE_RUNS + 1 }, (_, i) => ({ at: i * 8192, length: 256 })), { pages: 129 })],
  ];
  for (const [title, text] of cases) {
    t.is(extractDataImage(await wat(text)), undefined, title);
  }
});

test('an image is read only whole, from a regular file of its recorded size, into its memory', async (t) => {
  const bytes = await wat(moduleText([{ at: 0, length: DATA_IMAGE_MIN_BYTES }]));
  const moved = extractDataImage(bytes)!;
  const dir = scratch();
  const file = path.join(dir, 'plugin.core.data');
  fs.writeFileSync(file, moved.image.subarray(0, moved.image.length - 1));
  const memory = () => new WebAssembly.Memory({ initial: 64 });
  t.throws(() => readImageInto(memory(), file, moved.runs), { instanceOf: LocalFileError, message: `${file} is ${moved.image.length - 1} bytes, not the ${moved.image.length} its entry records` });
  fs.writeFileSync(file, moved.image);
  t.throws(() => readImageInto(new WebAssembly.Memory({ initial: 3 }), file, moved.runs), { instanceOf: LocalFileError, message: `${file} holds data beyond its memory` });
  const link = path.join(dir, 'link.data');
  fs.symlinkSync(file, link);
  t.throws(() => readImageInto(memory(), link, moved.runs), { instanceOf: LocalFileError, message: `${link} is a symbolic link, not a regular file` });
  t.notThrows(() => readImageInto(memory(), file, moved.runs));
});
