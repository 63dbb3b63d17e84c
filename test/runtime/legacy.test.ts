// Pull-time checks of plugins for the original krew-wasm ABI (runtime/legacy): what the legacy
// wasi-outbound-http adapter accepts and what it refuses. Running them is test/e2e/legacyAbi.test.ts.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidPluginError } from '../../src/errors.js';
import { transpileInto } from '../../src/runtime/transpile.js';
import { FIXTURES } from '../helpers/cli.js';
import { scratchFolders } from '../helpers/scratch.js';

const tmp = scratchFolders('legacy');

async function wat(text: string): Promise<Uint8Array> {
  const { parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  return parse(text);
}

const request = '(import "wasi-outbound-http" "request" (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))';
const realloc = '(func (export "canonical_abi_realloc") (param i32 i32 i32 i32) (result i32) (local.get 2))';

test('a plugin of the original ABI becomes a component importing krew-wasm:outbound-http, and nothing of the old module', async (t) => {
  const dir = tmp();
  const meta = await transpileInto(fs.readFileSync(path.join(FIXTURES, 'legacyprobe.core.wasm')), dir);
  t.is(meta.sourceKind, 'core-module');
  t.true(meta.imports.includes('krew-wasm:outbound-http/outbound-http'));
  t.false(meta.imports.some((i) => i.includes('wasi-outbound-http')));
  t.true(meta.exports.includes('wasi:cli/run@0.2.12'));
});

test('a preview1 module without the old imports is wrapped without the legacy adapter', async (t) => {
  const meta = await transpileInto(fs.readFileSync(path.join(FIXTURES, 'fsprobe.core.wasm')), tmp());
  t.false(meta.imports.some((i) => i.startsWith('krew-wasm:outbound-http/')));
});

test('a module importing only request (and not register-request-config) is accepted', async (t) => {
  const bytes = await wat(`(module ${request} (memory (export "memory") 1) ${realloc} (func (export "_start")))`);
  const meta = await transpileInto(bytes, tmp());
  t.true(meta.imports.includes('krew-wasm:outbound-http/outbound-http'));
});

test('a function the original interface does not have is refused, naming it', async (t) => {
  const bytes = await wat(`(module (import "wasi-outbound-http" "stream" (func)) (memory (export "memory") 1) ${realloc} (func (export "_start")))`);
  await t.throwsAsync(transpileInto(bytes, tmp()), {
    instanceOf: InvalidPluginError,
    message: 'the core module imports what krew-wasm does not provide: wasi-outbound-http.stream',
  });
});

test('without canonical_abi_realloc the host could not hand over responses: refused', async (t) => {
  const bytes = await wat(`(module ${request} (memory (export "memory") 1) (func (export "_start")))`);
  const error = await t.throwsAsync(transpileInto(bytes, tmp()), { instanceOf: InvalidPluginError });
  t.is(error?.message, 'the core module imports wasi-outbound-http but does not export canonical_abi_realloc, which the host needs to hand it responses');
});

test('an import with the wrong signature is refused at wrap time, not at run time', async (t) => {
  const bytes = await wat(`(module (import "wasi-outbound-http" "request" (func (param i32))) (memory (export "memory") 1) ${realloc} (func (export "_start")))`);
  const error = await t.throwsAsync(transpileInto(bytes, tmp()), { instanceOf: InvalidPluginError });
  t.regex(error?.message ?? '', /^could not wrap the preview1 module into a component: /);
});
