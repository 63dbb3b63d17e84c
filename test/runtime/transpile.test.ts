import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidPluginError } from '../../src/errors.js';
import { wasmKind } from '../../src/runtime/component.js';
import { checkCoreNames, coreNamesOf } from '../../src/runtime/coreNames.js';
import { declarationsOf } from '../../src/runtime/importTypes.js';
import { checkRunType, renameExports } from '../../src/runtime/runType.js';
import { checkComponentShape, readShape } from '../../src/runtime/componentShape.js';
import { checkOwnership, ownedArgumentLifts } from '../../src/runtime/ownership.js';
import { HOST_OWNED_ARGUMENTS } from '../../generated/hostOwnership.js';
import { CACHE_FILE, instantiationCounts, minifiedGlue, SCRIPT_FILE, toScriptForm } from '../../src/runtime/glue.js';
import { transpileInto } from '../../src/runtime/transpile.js';
import { pathToFileURL } from 'node:url';
import { FIXTURES, ROOT, runProcess } from '../helpers/cli.js';
import { scratchFolders } from '../helpers/scratch.js';

const tmp = scratchFolders('transpile');

async function wat(text: string): Promise<Uint8Array> {
  const { parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  return parse(text);
}

/** WAT for a core module whose `run` returns ok, lifted and exported as wasi:cli/run. */
const RUN_EXPORT_WAT = `(core module $r (func (export "run") (result i32) (i32.const 0)))
    (core instance $ri (instantiate $r))
    (func $run (result (result)) (canon lift (core func $ri "run")))
    (instance $runner (export "run" (func $run)))
    (export "wasi:cli/run@0.2.12" (instance $runner))`;

/** wasi:cli/run lifted from the `run` of core instance `$i`. */
const RUN_LIFT_WAT = `(func $run (result (result)) (canon lift (core func $i "run")))
    (instance $runner (export "run" (func $run)))
    (export "wasi:cli/run@0.2.12" (instance $runner))`;

/**
 * A component whose run takes stdout and drops it (so that its glue has jco's handle tables and
 * tasks), and that exports beside wasi:cli/run an interface function of the given name.
 */
function exportingWat(name: string, iface = 'foo:bar/baz'): string {
  return `(component $outer
    (import "wasi:io/streams@0.2.12" (instance $io (export "output-stream" (type (sub resource)))))
    (alias export $io "output-stream" (type $os))
    (import "wasi:cli/stdout@0.2.12" (instance $so
      (alias outer $outer $os (type $t))
      (export "output-stream" (type (eq $t)))
      (export "get-stdout" (func (result (own $t))))))
    (alias export $so "get-stdout" (func $gs))
    (core func $lgs (canon lower (func $gs)))
    (core func $drop (canon resource.drop $os))
    (core module $m
      (import "h" "gs" (func $gs (result i32)))
      (import "h" "drop" (func $drop (param i32)))
      (func (export "run") (result i32) (call $drop (call $gs)) (i32.const 0))
      (func (export "other") (result i32) (i32.const 7)))
    (core instance $i (instantiate $m (with "h" (instance (export "gs" (func $lgs)) (export "drop" (func $drop))))))
    (func $run (result (result)) (canon lift (core func $i "run")))
    (func $other (result u32) (canon lift (core func $i "other")))
    (instance $runner (export "run" (func $run)))
    (export "wasi:cli/run@0.2.12" (instance $runner))
    (instance $x (export "${name}" (func $other)))
    (export "${iface}" (instance $x)))`;
}

test("an export named as one of jco's own functions in the glue (which would take its place in every host call) is refused at pull, with the name to change", async (t) => {
  // rsc-table-remove: every handle drop called the plugin's export instead (attack 79); the others
  // broke the task stack or recursed.
  for (const [name, taken] of [['rsc-table-remove', 'rscTableRemove'], ['rsc-table-create-own', 'rscTableCreateOwn'], ['get-current-task', 'getCurrentTask'], ['get-or-create-async-state', 'getOrCreateAsyncState']]) {
    const dir = tmp();
    await t.throwsAsync(transpileInto(await wat(exportingWat(name!)), dir), {
      instanceOf: InvalidPluginError,
      message: `a name of the component (an export's, a resource's) takes the place of jco's own ${taken} in the JavaScript jco makes for it: rename it`,
    });
    t.deepEqual(fs.readdirSync(dir), [], 'nothing written');
  }
  // An interface's object takes the name of one of jco's variables (every borrow was pushed to the
  // plugin's `push`), or of a global the glue reads (attack 80).
  await t.throwsAsync(transpileInto(fs.readFileSync(path.join(FIXTURES, 'borrowname.wasm')), tmp()), { instanceOf: InvalidPluginError, message: /jco's own curResourceBorrows in/ });
  await t.throwsAsync(transpileInto(await wat(exportingWat('push', 'foo:bar/undefined')), tmp()), { instanceOf: InvalidPluginError, message: /jco's own undefined in/ });
  // A method of an exported resource named as one of the instance's variables: inside the method,
  // jco's code read the method for its handle table (attack 82).
  await t.throwsAsync(transpileInto(fs.readFileSync(path.join(FIXTURES, 'methodname.wasm')), tmp()), { instanceOf: InvalidPluginError, message: /jco's own handleTable0 in/ });
  // A name jco keeps apart itself (it writes dataView$1), and ordinary ones, are taken.
  for (const name of ['data-view', 'get-pods', 'push']) await t.notThrowsAsync(transpileInto(await wat(exportingWat(name)), tmp()), name);
});

/** pull's transpile refuses the plugin with this message, and writes nothing into its entry's folder. */
async function refusedWithNothingWritten(t: ExecutionContext, bytes: Uint8Array, message: string): Promise<void> {
  const dir = tmp();
  await t.throwsAsync(transpileInto(bytes, dir), { instanceOf: InvalidPluginError, message });
  t.deepEqual(fs.readdirSync(dir), []);
}

test('a component that lends a handle to a component nested in it is refused at pull (jco neither counts nor releases such borrows), and nothing is written', async (t) => {
  await refusedWithNothingWritten(t, fs.readFileSync(path.join(FIXTURES, 'nestedborrow.wasm')), 'the component passes resource handles between components nested in it, which the JavaScript jco makes for it neither counts nor releases: compose it so that no handle crosses between them');
});

test("a component that uses the component model's async built-ins (waitable sets, backpressure) is refused at pull (jco's async runtime keeps what they make beyond every limit), and nothing is written; a core name like one of jco's async marks is taken", async (t) => {
  await refusedWithNothingWritten(t, fs.readFileSync(path.join(FIXTURES, 'waitableset.wasm')), "the component uses the component model's async parts (async functions, streams, futures, waitable sets, error contexts: here jco's WaitableSet), which krew-wasm does not host: build it for WASI 0.2 without them");
  // backpressure.inc, which jco names apart from the rest of its async runtime (attack 85).
  const backpressure = await wat(`(component
    (core func $b (canon backpressure.inc))
    (core module $m (import "h" "b" (func $b)) (func (export "run") (result i32) (call $b) (i32.const 0)))
    (core instance $i (instantiate $m (with "h" (instance (export "b" (func $b))))))
    ${RUN_LIFT_WAT})`);
  await t.throwsAsync(transpileInto(backpressure, tmp()), { instanceOf: InvalidPluginError, message: /here jco's backpressureInc\)/ });
  // A core import named as one of jco's async marks is no mark: taken (attack 85).
  const named = await wat(`(component
    (core module $lib (func (export "isAsync") (result i32) (i32.const 0)))
    (core instance $li (instantiate $lib))
    (core module $m (import "isAsync" "isAsync" (func $f (result i32))) (func (export "run") (result i32) (call $f)))
    (core instance $i (instantiate $m (with "isAsync" (instance $li))))
    ${RUN_LIFT_WAT})`);
  await t.notThrowsAsync(transpileInto(named, tmp()));
});

test('a core module whose tables the host cannot make (a table with an initializer expression) is refused, and nothing is written', async (t) => {
  const bytes = await wat(`(component
    (core module $m (table 1 funcref (ref.null func)) (func (export "run") (result i32) (i32.const 0)))
    (core instance $i (instantiate $m))
    (func $run (result (result)) (canon lift (core func $i "run")))
    (instance $runner (export "run" (func $run)))
    (export "wasi:cli/run@0.2.12" (instance $runner)))`);
  const dir = tmp();
  await t.throwsAsync(transpileInto(bytes, dir), { instanceOf: InvalidPluginError, message: "the component's core module plugin.core.wasm is refused: it defines a table with an initializer expression" });
  t.false(fs.existsSync(dir) && fs.readdirSync(dir).length > 0);
});

test('a plugin whose compile would cost V8 gigabytes (50,000 locals, 1,000 loops) is refused, and nothing is written', async (t) => {
  // V8's baseline compiler copies the frame for each block, loop and if: such 4,000 loops took 2.4 GB (an attack).
  const bomb = await wat(`(component
    (core module $m
      (func $f (local ${Array(50000).fill('i32').join(' ')}) ${'(loop) '.repeat(1000)})
      (func (export "run") (result i32) (call $f) (i32.const 0)))
    (core instance $i (instantiate $m))
    (func $run (result (result)) (canon lift (core func $i "run")))
    (instance $runner (export "run" (func $run)))
    (export "wasi:cli/run@0.2.12" (instance $runner)))`);
  const dir = tmp();
  await t.throwsAsync(transpileInto(bomb, dir), {
    instanceOf: InvalidPluginError,
    message: 'the component is refused: compiling its core modules takes V8 more than 256 MiB (krew-wasm compiles a plugin at every run, which no limit can interrupt)',
  });
  t.deepEqual(fs.readdirSync(dir), []);
});

test('a core module importing more than the adapters provide is refused, naming the imports', async (t) => {
  const bytes = await wat('(module (import "env" "foo" (func)) (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (func (export "_start")))');
  const error = await t.throwsAsync(transpileInto(bytes, tmp()), { instanceOf: InvalidPluginError });
  t.is(error?.message, 'the core module imports what krew-wasm does not provide: env.foo');
});

test('a core module that is not a command (no _start) is refused', async (t) => {
  const bytes = await wat('(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))))');
  await t.throwsAsync(transpileInto(bytes, tmp()), { instanceOf: InvalidPluginError, message: 'the core module is not a WASI command (no _start export)' });
});

test('a component without wasi:cli/run is refused', async (t) => {
  const bytes = await wat('(component)');
  await t.throwsAsync(transpileInto(bytes, tmp()), { instanceOf: InvalidPluginError, message: /^the component does not export wasi:cli\/run \(exports: none\)$/ });
});

test('bad magic and unknown layers are refused before anything else', (t) => {
  t.throws(() => wasmKind(Buffer.from('#!/bin/sh\n')), { instanceOf: InvalidPluginError, message: 'not a WebAssembly binary (bad magic number)' });
  t.throws(() => wasmKind(Buffer.from([0, 0x61, 0x73, 0x6d, 9, 0, 7, 0])), { instanceOf: InvalidPluginError });
  t.is(wasmKind(fs.readFileSync(path.join(FIXTURES, 'hello.wasm'))), 'component');
  t.is(wasmKind(fs.readFileSync(path.join(FIXTURES, 'fsprobe.core.wasm'))), 'core-module');
});

test('a preview1 command module is wrapped with the adapter and transpiled once, with its metadata', async (t) => {
  const dir = tmp();
  const meta = await transpileInto(fs.readFileSync(path.join(FIXTURES, 'fsprobe.core.wasm')), dir);
  t.is(meta.sourceKind, 'core-module');
  t.true(meta.imports.includes('wasi:filesystem/types'));
  t.true(meta.exports.includes('wasi:cli/run@0.2.12'));
  t.true(fs.existsSync(path.join(dir, 'plugin.js')));
  t.true(fs.existsSync(path.join(dir, 'component.wasm')));
  for (const core of meta.coreModules) t.true(fs.existsSync(path.join(dir, core)));
});

test('the glue is also written as a code-cacheable script; shapes the script form cannot bound are told apart', async (t) => {
  const dir = tmp();
  const meta = await transpileInto(fs.readFileSync(path.join(FIXTURES, 'hello.wasm')), dir);
  t.is(meta.glue, 'script');
  const script = fs.readFileSync(path.join(dir, SCRIPT_FILE), 'utf8');
  t.true(script.startsWith('(function (__krewImportMetaUrl, TextDecoder, __krewGlue, console, __krewJcoDebug) {'));
  // jco's debug switch is read once per run, not from the environment at every call.
  t.false(/process\?*\.env/.test(script));
  t.regex(script, /_debugLog=\(\.\.\.(\w+)\)=>\{__krewJcoDebug&&console\.debug\(\.\.\.\1\)\}/);
  // Every copy out of guest memory is counted (limits.ts GlueBudget), every host call resets the count, and handles are counted.
  t.false(/\.buffer\.slice\(/.test(script));
  t.regex(script, /__krewGlue\.slice\(\w+\.buffer,/);
  t.is((script.match(/trampoline\d+\s*=\s*function\s*\([^)]*\)\s*\{|function\s+_?trampoline\d+\s*\([^)]*\)\s*\{/g) ?? []).length, (script.match(/__krewGlue\.enter\(\)/g) ?? []).length);
  t.true(script.includes('__krewGlue.enter()'));
  t.regex(script, /function rscTableCreateOwn\([^)]*\)\{__krewGlue\.handleCreated\(\);/);
  const tables = toScriptForm('function rscTableCreateOwn(e,t){}function rscTableRemove(e,t){}export function instantiate(){}') ?? '';
  // A handle that is not in the table traps before it is counted as removed (attack 80).
  t.regex(tables, /function rscTableRemove\(e,t\)\{if\(!\(t>0&&t<0x40000000&&\(t<<1\)\+1<e\.length\)\)throw new WebAssembly\.RuntimeError\(`unknown handle index \$\{t>>>0\}`\);__krewGlue\.handleRemoved\(\);/);
  t.is(toScriptForm('function rscTableRemove(...e){}export function instantiate(){}'), undefined, 'a table function of a shape whose handles would go uncounted');
  t.is(toScriptForm(''), undefined, 'an empty glue (jco minifying what it could not parse) is no script');
  // A list-lift loop is counted in its own initializer, so that an `if` without braces still governs it.
  const counted = toScriptForm('export function instantiate(){let m,r,a,c,l;if(c)for(let e=0;e<a;e++){let t=l+e*12,n;switch(dataView(r).getUint8(t+0,!0)){}}}') ?? '';
  t.regex(counted, /if\(c\)for\(let e=\(__krewGlue\.elements\(a,12,\{memory:r\}\),0\);e<a;e\+\+\)/);
  t.is(toScriptForm('export function instantiate(n){for(let e=0;e<n;e++){}}'), undefined, 'a loop over a length the rewrite cannot count');
  t.is(toScriptForm('export default 1;'), undefined);
  t.is(toScriptForm("import fs from 'node:fs'; export function instantiate() {}"), undefined);
  t.is(toScriptForm('export function other() {}'), undefined);
  t.truthy(toScriptForm('export function instantiate(a) { return a; }'));
  t.is(toScriptForm('export function instantiate(m) { return this.m.buffer.slice(0, 1); }'), undefined, 'a copy the rewrite cannot route');
});

test('the glue is minified without the JSPI branches no import takes; a glue that marks a trampoline is refused', async (t) => {
  const dir = tmp();
  await transpileInto(fs.readFileSync(path.join(FIXTURES, 'chello.core.wasm')), dir);
  const glue = fs.readFileSync(path.join(dir, 'plugin.js'), 'utf8');
  const { transpileBytes } = await import('@bytecodealliance/jco-transpile');
  const component = fs.readFileSync(path.join(dir, 'component.wasm'));
  const jcos = Buffer.from((await transpileBytes(component, { name: 'plugin', instantiation: 'async', minify: true })).files['plugin.js']!).toString('utf8');
  t.regex(jcos, /_trampoline\d+\.manuallyAsync\?new WebAssembly\.Suspending\(/, 'jco still writes the branch (else this test tests nothing)');
  t.false(/manuallyAsync|WebAssembly\.Suspending/.test(glue));
  t.true(glue.length < jcos.length * 0.9, `${glue.length} bytes against jco's ${jcos.length}`);
  t.false(/\n\s+\S/.test(glue), 'minified: no indented line');
  // A trampoline marked for JSPI is jco's JSPI mode: refused, so that the test read as no mark stays unmarked.
  const marking = (value: string) => minifiedGlue(`export function instantiate(){let _trampoline0=function(){};_trampoline0.manuallyAsync=${value};return _trampoline0.manuallyAsync?1:2}`);
  await t.throwsAsync(marking('true'), { instanceOf: InvalidPluginError, message: /async parts .*here jco's manuallyAsync\)/ });
  await t.throwsAsync(marking('!0'), { instanceOf: InvalidPluginError, message: /jco's manuallyAsync\)/ });
  t.regex((await marking('false')) ?? '', /manuallyAsync=!1/, 'a mark of a literal false marks nothing: accepted');
  const unmarked = await minifiedGlue('export function instantiate(){let _trampoline0=function(){};return _trampoline0.manuallyAsync?1:2}');
  t.regex(unmarked ?? '', /return 2/);
  // The same text in a string is a core name of the plugin's (a property key): never rewritten, and the branches stay.
  const named = await minifiedGlue('export function instantiate(e){let _trampoline0=function(){};return[_trampoline0.manuallyAsync?1:2,e[`_trampoline0.manuallyAsync`]]}');
  t.regex(named ?? '', /\.manuallyAsync\?1:2/);
  t.regex(named ?? '', /\[[`"']_trampoline0\.manuallyAsync[`"']\]/);
  await t.throwsAsync(minifiedGlue('export function instantiate( {'), { instanceOf: InvalidPluginError, message: "jco's JavaScript for the component could not be read" }, 'what acorn cannot parse');
});

test('the script form asks for JSPI without a throw: WebAssembly.promising is f itself where the engine lacks it', async (t) => {
  const dir = tmp();
  // A preview1 command's glue wraps its post-return in WebAssembly.promising, inside a try.
  await transpileInto(fs.readFileSync(path.join(FIXTURES, 'chello.core.wasm')), dir);
  const esm = fs.readFileSync(path.join(dir, 'plugin.js'), 'utf8');
  t.regex(esm, /WebAssembly\.promising\(/, 'jco still calls WebAssembly.promising (else this test tests nothing)');
  const script = fs.readFileSync(path.join(dir, SCRIPT_FILE), 'utf8');
  t.false(/WebAssembly\.promising\(/.test(script));
  t.regex(script, /__krewPromising\(/);
  const promisingOf = (webAssembly: object) =>
    new Function('WebAssembly', `${/^const __krewPromising = [^\n]*/m.exec(script)?.[0]}; return __krewPromising;`)(webAssembly) as (f: unknown) => unknown;
  const f = () => 0;
  t.is(promisingOf({})(f), f);
  const jspi = (g: unknown) => ({ promised: g });
  t.deepEqual(promisingOf({ promising: jspi })(f), { promised: f });
});

test('core names are read from the binary: every fixture name passes the check, a quote or a leftover copy is refused', async (t) => {
  const names = coreNamesOf(fs.readFileSync(path.join(FIXTURES, 'quotename.wasm')));
  t.true(names.includes('run'));
  t.true(names.some((n) => n.startsWith("run'+(process.getBuiltinModule")));
  t.throws(() => checkCoreNames(fs.readFileSync(path.join(FIXTURES, 'quotename.wasm'))), { instanceOf: InvalidPluginError, message: /names a core item "run'\+/ });
  // A componentized JS plugin: StarlingMonkey's core names, WASI's, the shims' ($imports), all accepted.
  const js = coreNamesOf(fs.readFileSync(path.join(FIXTURES, 'jsecho.wasm')));
  t.true(js.includes('wasi:cli/run@0.2.12#run'));
  t.true(js.includes('$imports'));
  t.notThrows(() => checkCoreNames(fs.readFileSync(path.join(FIXTURES, 'jsecho.wasm'))));
  t.throws(() => checkCoreNames(Uint8Array.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0, 2, 5, 1])), { instanceOf: InvalidPluginError, message: /^cannot read the component's core names: / });
  await t.throwsAsync(transpileInto(fs.readFileSync(path.join(FIXTURES, 'slicename.wasm')), tmp()), { instanceOf: InvalidPluginError, message: /cannot bound/ });
});

test('run\'s type is read from a copy whose wasi:cli/run export has a plain name; what cannot be read is refused', async (t) => {
  const echo = fs.readFileSync(path.join(FIXTURES, 'echo.wasm'));
  const renamed = renameExports(echo, (name) => name.startsWith('wasi:cli/run@'), 'plain-run');
  t.is(renamed.count, 1);
  const { componentWit } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  t.regex(await componentWit(renamed.bytes), /export plain-run: interface \{\n\s+run: func\(\) -> result;\n\s+\}/);
  await t.notThrowsAsync(checkRunType(echo));
  await t.notThrowsAsync(checkRunType(fs.readFileSync(path.join(FIXTURES, 'jsecho.wasm'))));
  // An export already named as the copy's: the copy does not validate, and the plugin is refused.
  const taken = await wat(`(component
    ${RUN_EXPORT_WAT}
    (export "krew-wasm-checked-run" (instance $runner)))`);
  await t.throwsAsync(checkRunType(taken), { instanceOf: InvalidPluginError, message: /^cannot read the type of the component's wasi:cli\/run: / });
  await t.throwsAsync(checkRunType(Uint8Array.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0, 11, 5, 1])), { instanceOf: InvalidPluginError, message: /^cannot read the component's exports: / });
});

test('an export name in the older 0x01 form (which wasm-tools reads as the same name) is read as such', async (t) => {
  const echo = Uint8Array.from(fs.readFileSync(path.join(FIXTURES, 'echo.wasm')));
  // The export section is the last one wit-component writes; its one name is wasi:cli/run's.
  const name = new TextEncoder().encode('wasi:cli/run@0.2.12');
  const at = Buffer.from(echo).lastIndexOf(Buffer.from([0x00, name.length, ...name]));
  t.true(at > 0);
  echo[at] = 0x01;
  t.notThrows(() => checkComponentShape(echo));
  t.is(renameExports(echo, (n) => n === 'wasi:cli/run@0.2.12', 'plain-run').count, 1);
  await t.notThrowsAsync(checkRunType(echo));
  echo[at] = 0x02;
  t.throws(() => checkComponentShape(echo), { instanceOf: InvalidPluginError, message: /^cannot read the component's imports and exports: unknown import or export name form 0x2/ });
});

test('an interface both imported and exported is refused before jco reads it', async (t) => {
  const both = await wat(`(component
    (import "wasi:cli/environment@0.2.12" (instance $env (export "get-arguments" (func (result (list string))))))
    ${RUN_EXPORT_WAT}
    (export "wasi:cli/environment@0.2.0" (instance $env)))`);
  t.throws(() => checkComponentShape(both), { instanceOf: InvalidPluginError, message: 'the component both imports and exports wasi:cli/environment' });
  await t.throwsAsync(transpileInto(both, tmp()), { instanceOf: InvalidPluginError, message: 'the component both imports and exports wasi:cli/environment' });
});

test('the core instances one instantiation makes are counted through nested components and outer aliases', async (t) => {
  t.is(readShape(fs.readFileSync(path.join(FIXTURES, 'jsecho.wasm'))).coreInstances, 4);
  t.is(readShape(fs.readFileSync(path.join(FIXTURES, 'manymemories.wasm'))).coreInstances, 17);
  const twice = (levels: number) => `(component
    (component $c0 (core module $m) (core instance (instantiate $m)))
    ${Array.from({ length: levels }, (_, k) => `(component $c${k + 1} (alias outer 1 $c${k} (component $p)) (instance (instantiate $p)) (instance (instantiate $p)))`).join('\n')}
    (instance (instantiate $c${levels}))
    ${RUN_EXPORT_WAT})`;
  t.is(readShape(await wat(twice(9))).coreInstances, 512 + 1);
  t.is(readShape(await wat(twice(12))).coreInstances, 1001, 'counts stop above the limit');
  const fromExports = await wat(`(component
    (component $outer (component $x (core module $m) (core instance (instantiate $m))) (export "x" (component $x)))
    (instance $i (instantiate $outer))
    (alias export $i "x" (component $y))
    (instance (instantiate $y))
    ${RUN_EXPORT_WAT})`);
  t.throws(() => checkComponentShape(fromExports), { instanceOf: InvalidPluginError, message: "the component takes a component from an instance's exports, which krew-wasm does not run" });
  // A component passed as an instantiation argument is instantiated by its importer as often as it likes.
  const passed = await wat(`(component
    (component $x (core module $m) (core instance (instantiate $m)))
    (component $twice (import "c" (component $c)) (instance (instantiate $c)) (instance (instantiate $c)))
    (instance (instantiate $twice (with "c" (component $x))))
    ${RUN_EXPORT_WAT})`);
  t.throws(() => checkComponentShape(passed), { instanceOf: InvalidPluginError, message: 'the component imports a component, which krew-wasm does not run' });
});

test("a core name that spells a trampoline's start puts no call into the glue's code, and is read in one pass", (t) => {
  // Before: the parameter list matched on past the name's closing backtick, up to `function(e){`, which got the call.
  const named = toScriptForm('export function instantiate(n){return[n[`x function trampoline1(`],function(e){return e}]}') ?? '';
  t.false(named.includes('__krewGlue.enter()'), named);
  t.true(named.includes('n[`x function trampoline1(`]'));
  const long = toScriptForm(`export function instantiate(n){return n[\`${'function trampoline1('.repeat(50_000)}\`]}`);
  t.truthy(long);
  t.false(long!.includes('__krewGlue.enter()'));
});

test('instantiations are counted from the glue in one pass over a long core name (it was quadratic: this took hours)', (t) => {
  const name = 'a'.repeat(1_000_000);
  const glue = `const e=f[\`${name}\`],${name}x=1;let v=getCoreModule(\`plugin.core.wasm\`);(yield v,{});(yield v)`;
  t.deepEqual(instantiationCounts(glue), { 'plugin.core.wasm': 2 });
  t.deepEqual(instantiationCounts(`$v=getCoreModule(\`a.wasm\`);(yield $v)`), { 'a.wasm': 1 });
});

test('owned handles are counted per host function from the glue, and compared with the host\'s', (t) => {
  const glue = [
    'let a,b,_trampoline3=function(e,t){var n=x;rscTableRemove(x,e);_debugLog(`[iface="wasi:http/outgoing-handler@0.2.0", function="handle"] [Instruction::CallInterface]`);return 0};',
    'function _trampoline4(e){_debugLog(`[iface="wasi:cli/environment@0.2.12", function="get-environment"] [Instruction::CallInterface]`);rscTableRemove(y,e)}',
    'let _trampoline5=function(e){rscTableRemove(z,e)};', // a drop: no host function
  ].join('');
  t.deepEqual(ownedArgumentLifts(glue), [['wasi:http/outgoing-handler#handle', 1], ['wasi:cli/environment#get-environment', 0]]);
  t.is(HOST_OWNED_ARGUMENTS['wasi:http/outgoing-handler#handle'], 2);
  t.is(HOST_OWNED_ARGUMENTS['wasi:filesystem/types#[method]descriptor.is-same-object'], 0);
  t.throws(() => checkOwnership(glue, HOST_OWNED_ARGUMENTS), { instanceOf: InvalidPluginError, message: "the component's wasi:http/outgoing-handler#handle takes 1 owned handle, where krew-wasm's takes 2 (a borrowed handle declared owned, or the other way round)" });
  // A trampoline of a shape this does not know to start one is refused, not counted with the one before.
  const unread = 'function _trampoline0(){_debugLog(`[iface="wasi:cli/environment@0.2.12", function="get-environment"] [Instruction::CallInterface]`)}let _x7=function(e){rscTableRemove(x,e);_debugLog(`[iface="wasi:filesystem/types@0.2.12", function="[method]descriptor.is-same-object"] [Instruction::CallInterface]`)}';
  t.throws(() => checkOwnership(unread, HOST_OWNED_ARGUMENTS), { instanceOf: InvalidPluginError, message: "cannot check the component's owned handles: jco's glue has 2 host calls in 1 trampolines krew-wasm can read" });
  const asyncTrampoline = unread.replace('let _x7=function(', 'let _trampoline7=async function(');
  t.throws(() => checkOwnership(asyncTrampoline, HOST_OWNED_ARGUMENTS), { instanceOf: InvalidPluginError, message: /descriptor\.is-same-object takes 1 owned handle, where krew-wasm's takes 0/ });
  const unknown = 'function _trampoline0(){_debugLog(`[iface="wasi:cli/environment@0.2.12", function="get-secrets"] [Instruction::CallInterface]`)}';
  t.throws(() => checkOwnership(unknown, HOST_OWNED_ARGUMENTS), { instanceOf: InvalidPluginError, message: 'the component calls wasi:cli/environment#get-secrets, which krew-wasm does not implement' });
});

test('interface declarations compare line by line, a resource\'s methods as a subset', (t) => {
  const reference = 'export function f(): string;\nexport class R {\n  /** doc */\n  private constructor();\n  a(x: number): void;\n  b(): Uint8Array;\n}\n';
  t.deepEqual(declarationsOf(reference), ['export function f(): string;', 'export class R {', 'export class R { / private constructor();', 'export class R { / a(x: number): void;', 'export class R { / b(): Uint8Array;']);
  const plugin = declarationsOf('/** @module Interface x:y/z@0.2.0 **/\nexport class R {\n  b(): Uint8Array;\n}\n');
  t.true(plugin.every((d) => declarationsOf(reference).includes(d)));
  t.false(declarationsOf('export class R {\n  b(): Array<Array<number>>;\n}\n').every((d) => declarationsOf(reference).includes(d)));
});

test('a run writes the code cache once, reuses it, and survives a damaged one (each load in a fresh process)', async (t) => {
  const dir = tmp();
  await transpileInto(fs.readFileSync(path.join(FIXTURES, 'hello.wasm')), dir);
  const glue = pathToFileURL(path.join(ROOT, 'dist/src/runtime/glue.js')).href;
  // V8 keeps compiled scripts per process, so cache acceptance is only observable across processes.
  const load = () => runProcess(process.execPath, ['--input-type=module', '-e',
    `const { loadGlueScript } = await import(${JSON.stringify(glue)}); const g = loadGlueScript(${JSON.stringify(dir)}); if (typeof g.instantiate !== 'function') process.exit(3); g.saveCache();`]);
  t.is((await load()).exitCode, 0);
  const cache = path.join(dir, CACHE_FILE);
  t.true(fs.statSync(cache).size > 0);
  const written = fs.statSync(cache).mtimeMs;
  t.is((await load()).exitCode, 0);
  t.is(fs.statSync(cache).mtimeMs, written, 'an accepted cache is not rewritten');
  fs.writeFileSync(cache, 'garbage');
  t.is((await load()).exitCode, 0, 'a damaged cache is not fatal');
  t.not(fs.readFileSync(cache, 'utf8'), 'garbage', 'a rejected cache is replaced');
});
