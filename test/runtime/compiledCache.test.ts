import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { compiledCacheWorks, compiledFile, compiledFileBytes, nodeV8Options, readCompiled, type CompiledKey } from '../../src/runtime/compiledCache.js';
import { scratchFolders } from '../helpers/scratch.js';

/**
 * A big module's compiled form (runtime/compiledCache.ts): V8 checks nothing of it but its
 * version and flags, and a file that is not what it wrote can crash the process, so krew-wasm
 * hands V8 only a form whose header names what the run would compile (the module, its hot list,
 * the flags, V8's version) and whose bytes have the CRC-32 the header says. Each other file is
 * ignored, with why, and whether a new one should be made.
 */

const scratch = scratchFolders('compiled');
const key: CompiledKey = { module: `sha256:${'a'.repeat(64)}`, hot: [3, 5, 8], flags: '--liftoff-only --experimental-wasm-compilation-hints' };
const data = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff);

function entryWith(bytes?: Uint8Array | Buffer): string {
  const dir = scratch();
  if (bytes) fs.writeFileSync(compiledFile(dir, 'plugin.core.wasm'), bytes);
  return dir;
}

test('a compiled form made from what the run compiles is taken, byte for byte, in a buffer of its own', (t) => {
  const taken = readCompiled(entryWith(compiledFileBytes(key, data)), 'plugin.core.wasm', key);
  t.is(taken.why, undefined);
  t.deepEqual(new Uint8Array(taken.data!), data);
  t.is(taken.data!.byteLength, data.length);
});

test('a compiled form made from anything else, or damaged, is not given to V8, and a new one is due', (t) => {
  const file = compiledFileBytes(key, data);
  const flipped = Buffer.from(file);
  flipped[flipped.length - 10]! ^= 1;
  const cases: [string, Buffer | undefined, CompiledKey, RegExp][] = [
    ['none', undefined, key, /^none made$/],
    ['another module', file, { ...key, module: `sha256:${'b'.repeat(64)}` }, /^made for another module$/],
    ['another hot list', file, { ...key, hot: [3, 5, 9] }, /^made for another list of hot functions$/],
    ['a longer hot list', file, { ...key, hot: [3, 5, 8, 13] }, /^made for another list of hot functions$/],
    ['other flags', file, { ...key, flags: '--liftoff-only' }, /^made for another flags$/],
    ['V8 options given to Node', file, { ...key, nodeOptions: ['--max-old-space-size=4096'] }, /^made for another set of V8 options given to Node$/],
    ['none of them any more', compiledFileBytes({ ...key, nodeOptions: ['--expose-gc'] }, data), key, /^made for another set of V8 options given to Node$/],
    ['a flipped byte', flipped, key, /^its bytes are not the ones it was made with$/],
    ['cut short', file.subarray(0, file.length - 1), key, /^its bytes are not the ones it was made with$/],
    ['its header alone', file.subarray(0, 1024), key, /^it is 1024 bytes$/],
    ['a header that is not JSON', Buffer.concat([Buffer.from('x'.repeat(1024)), data]), key, /^its header does not read$/],
  ];
  for (const [title, bytes, asKey, why] of cases) {
    const found = readCompiled(entryWith(bytes), 'plugin.core.wasm', asKey);
    t.is(found.data, undefined, title);
    t.regex(found.why ?? '', why, title);
    t.true(found.remake, title);
  }
});

test('a compiled form of another V8 is not given to this one', (t) => {
  const dir = entryWith();
  const file = compiledFile(dir, 'plugin.core.wasm');
  const bytes = compiledFileBytes(key, data);
  const header = JSON.parse(bytes.subarray(0, 1024).toString('utf8'));
  fs.writeFileSync(file, Buffer.concat([Buffer.from(JSON.stringify({ ...header, v8: '11.3.0.0-other' }).padEnd(1024)), data]));
  t.regex(readCompiled(dir, 'plugin.core.wasm', key).why ?? '', /^made for another v8$/);
});

test('a compiled form that is a link or a FIFO is neither followed nor waited for, and not made again', async (t) => {
  const dir = entryWith();
  const real = path.join(dir, 'real');
  fs.writeFileSync(real, compiledFileBytes(key, data));
  fs.symlinkSync(real, compiledFile(dir, 'plugin.core.wasm'));
  const linked = readCompiled(dir, 'plugin.core.wasm', key);
  t.is(linked.why, 'is a symbolic link, not a regular file');
  t.falsy(linked.remake);
  fs.rmSync(compiledFile(dir, 'plugin.core.wasm'));
  const { execFileSync } = await import('node:child_process');
  execFileSync('mkfifo', [compiledFile(dir, 'plugin.core.wasm')]);
  const fifo = readCompiled(dir, 'plugin.core.wasm', key);
  t.is(fifo.why, 'is a FIFO, not a regular file');
  t.falsy(fifo.remake);
});

test('compiled forms are kept and taken on V8 11.3 (Node 20.15 and later) on x64 only, where they were measured', (t) => {
  t.true(compiledCacheWorks('11.3.244.8-node.38', 'x64', '20.20.2'));
  t.true(compiledCacheWorks('11.3.244.8-node.38', 'x64', '20.15.0'));
  t.false(compiledCacheWorks('11.3.244.8-node.34', 'x64', '20.14.0'), 'no zlib.crc32 before Node 20.15');
  t.false(compiledCacheWorks('11.3.244.8-node.38', 'arm64', '20.20.2'));
  t.false(compiledCacheWorks('12.4.254.21-node.33', 'x64', '22.23.5'));
  t.false(compiledCacheWorks('13.6.233.10-node.24', 'x64', '24.22.3'));
});


test("the V8 options given to Node that a form's flags hash counts are read as Node reads NODE_OPTIONS, and only those", (t) => {
  t.deepEqual(nodeV8Options('', []), []);
  t.deepEqual(nodeV8Options('--max-old-space-size=4096', []), ['--max-old-space-size=4096']);
  // Quotes and escapes as Node splits them; `_` as `-`; the last of a name; one order.
  t.deepEqual(nodeV8Options('"--stack_trace_limit=50"   --max-old-space-size=1 --expose-gc --max-old-space-size=2', []), ['--expose-gc', '--max-old-space-size=2', '--stack-trace-limit=50']);
  t.deepEqual(nodeV8Options('--title="a --expose-gc b"', []), [], 'inside a quoted value');
  t.deepEqual(nodeV8Options('--title="a \\" --expose-gc"', []), [], 'an escaped quote inside a quoted value');
  // What runs code, stops wasm, writes files in the process's folder, or is not a V8 option is not passed on.
  t.deepEqual(nodeV8Options('--require=/tmp/x.cjs --import=x --jitless --perf-prof --max-old-space-size=x --max-old-space-size=1e3 --expose-gc=1 --no-deprecation', []), []);
  // --perf-basic-prof writes /tmp/perf-<pid>.map through a link a plugin granted /tmp may have planted (attack 61).
  t.deepEqual(nodeV8Options('--perf-basic-prof --perf-basic-prof-only-functions --abort-on-uncaught-exception', []), []);
  // Node splits on spaces only: a tab is part of a token (attack 61); `--no-x` after `--x` is V8's default.
  t.deepEqual(nodeV8Options('--title=x\t--stack-trace-limit=33 --expose-gc --no-expose-gc --no-interpreted-frames-native-stack', []), []);
  t.deepEqual(nodeV8Options('--no-expose-gc --expose-gc', []), ['--expose-gc']);
  // Signed numbers, which Node takes (attack 62).
  t.deepEqual(nodeV8Options('--stack-trace-limit=-1 --max-old-space-size=+900', []), ['--max-old-space-size=+900', '--stack-trace-limit=-1']);
  t.deepEqual(nodeV8Options('', ['--max-semi-space-size=16', '--inspect']), ['--max-semi-space-size=16'], 'the command line too');
  t.deepEqual(nodeV8Options('--max-old-space-size=4096', []), nodeV8Options('', ['--max-old-space-size=4096']), 'as the process making the form reads them');
});

test('a form made before the header named the V8 options given to Node is one made without them', (t) => {
  const bytes = compiledFileBytes(key, data);
  const header = JSON.parse(bytes.subarray(0, 1024).toString('utf8'));
  t.is(header.nodeOptions, '');
  delete header.nodeOptions;
  const older = entryWith(Buffer.concat([Buffer.from(JSON.stringify(header).padEnd(1024)), data]));
  t.is(readCompiled(older, 'plugin.core.wasm', key).why, undefined);
  t.regex(readCompiled(older, 'plugin.core.wasm', { ...key, nodeOptions: ['--expose-gc'] }).why ?? '', /another set of V8 options/);
});
