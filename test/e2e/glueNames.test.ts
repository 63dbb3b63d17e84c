import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES, krewWasm, makeSandbox, runLink, storeSnapshot, theError } from '../helpers/cli.js';

/**
 * What jco writes into JavaScript from a component (found by attacks): core names are quoted into
 * the glue unescaped, so a hostile one is code in the host; a glue whose copies out of guest memory
 * cannot be routed through the GlueBudget is never loaded unbounded instead; the glue lifts by the
 * types the component declares, so they must be the host's; and the object instantiate resolves
 * with must not be a thenable the host's promises would call.
 */

/** Pulls a fixture in a fresh sandbox: it must be refused with `line`, the store left as it was. */
async function refusesCleanly(t: ExecutionContext, fixture: string, line: string): Promise<void> {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  const before = storeSnapshot(sb.root);
  t.is(await refusedPull(t, sb, fixture), line);
  t.deepEqual(storeSnapshot(sb.root), before);
}

/** Pulls a fixture that must be refused; returns the error line. */
async function refusedPull(t: ExecutionContext, sb: ReturnType<typeof makeSandbox>, fixture: string): Promise<string> {
  const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, `${fixture}.wasm`)}`, '--name', fixture]);
  t.is(r.exitCode, 1, r.stderr);
  return theError(r.stderr);
}

test('a core name that would be code in the glue is refused by pull and run; it never runs and nothing is stored', async (t) => {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  const marker = path.join(sb.home, 'MARKER');
  const env = { KREW_WASM_TEST_MARKER: marker };
  const before = storeSnapshot(sb.root);
  const pulled = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'quotename.wasm')}`, '--name', 'quotename', '--fs', 'none', '--network', 'none', '--env', 'none'], { env });
  t.is(pulled.exitCode, 1, pulled.stderr);
  t.regex(theError(pulled.stderr), /^krew-wasm: error: the component names a core item "run'\+\(process\.getBuiltinModule.*refused in core names/);
  t.deepEqual(storeSnapshot(sb.root), before);
  const ran = await krewWasm(sb, ['run', path.join(FIXTURES, 'quotename.wasm')], { env });
  t.is(ran.exitCode, 1, ran.stderr);
  t.regex(theError(ran.stderr), /names a core item/);
  t.false(fs.existsSync(marker), 'the name\'s JavaScript never ran');
});

test('a component whose glue cannot be bounded is refused, never loaded as the unbounded ES module', (t) =>
  refusesCleanly(t, 'slicename', "krew-wasm: error: jco's JavaScript for the component has a shape krew-wasm cannot bound (its copies out of guest memory)"));

test('a store entry whose glue is not in script form is not run', async (t) => {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  t.is((await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'hello.wasm')}`, '--name', 'hello'])).exitCode, 0);
  const receipt = JSON.parse(fs.readFileSync(path.join(sb.root, 'receipts/hello.json'), 'utf8')) as { layerDigest: string };
  const metaFile = path.join(sb.root, 'store', receipt.layerDigest.slice('sha256:'.length), 'meta.json');
  const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as { glue: string };
  t.is(meta.glue, 'script');
  fs.writeFileSync(metaFile, JSON.stringify({ ...meta, glue: 'module' }));
  const r = await runLink(sb, 'hello', []);
  t.is(r.exitCode, 1);
  t.is(r.stdout, '');
  t.regex(theError(r.stderr), /plugin hello is damaged: its glue is not in script form/);
});

test('imports declared with types of the plugin\'s own, and a top-level `then`, are refused by pull; nothing is stored', async (t) => {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  const before = storeSnapshot(sb.root);
  const confused = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'typeconfused.wasm')}`, '--name', 'confused', '--max-memory', '1']);
  t.is(confused.exitCode, 1, confused.stderr);
  t.is(theError(confused.stderr), 'krew-wasm: error: the component\'s wasi:cli/environment has types krew-wasm does not implement (export function getEnvironment(x: Array<Array<R>>): void;)');
  const thenable = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'thenexport.wasm')}`, '--name', 'thenable', '--timeout', '3']);
  t.is(thenable.exitCode, 1, thenable.stderr);
  t.is(theError(thenable.stderr), 'krew-wasm: error: the component exports functions at its top level (then); a plugin exports interfaces (wasi:cli/run)');
  t.deepEqual(storeSnapshot(sb.root), before);
});

test('the host calls wasi:cli/run@0.2.x only; an exit code out of u8 is 1, in one piece; other interface versions are refused', async (t) => {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  const plain = await krewWasm(sb, ['run', path.join(FIXTURES, 'plainrun.wasm')]);
  t.is(plain.exitCode, 0, plain.stderr);
  t.is(plain.stderr, '', 'the plugin\'s own `run` instance (which fails with "RUNNER CALLED") is not what runs');
  const float = await krewWasm(sb, ['run', path.join(FIXTURES, 'exitfloat.wasm')]);
  t.is(float.exitCode, 1);
  t.is(float.stderr, '');
  t.is(await refusedPull(t, sb, 'exitversion'), 'krew-wasm: error: the component uses wasi:cli/exit@9.9.9, a version krew-wasm does not implement (WASI 0.2.x, krew-wasm:outbound-http 0.1.0)');
});

test('each list element jco lifts is counted: lists of records or of enum-led records naming one buffer end in one line', async (t) => {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  const certs = await krewWasm(sb, ['run', path.join(FIXTURES, 'manycerts.wasm')]);
  t.is(certs.exitCode, 1);
  t.regex(theError(certs.stderr), /^krew-wasm: error: plugin manycerts failed: one host call passed 1\.5 MiB of arguments, more than its 0\.3 MiB of memory holds/);
  const empty = await krewWasm(sb, ['run', path.join(FIXTURES, 'emptyfields.wasm')]);
  t.is(empty.exitCode, 1);
  t.regex(theError(empty.stderr), /^krew-wasm: error: plugin emptyfields failed: one host call passed [\d.]+ MiB of arguments, more than its 1\.1 MiB of memory holds/);
});

test('run\'s type is read from the component: an err payload (nested lists, options, a string with escapes) is refused before anything is installed', async (t) => {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  const before = storeSnapshot(sb.root);
  const cases: [string, string][] = [
    ['runerrnested', 'result<_, list<list<bool>>>'],
    ['runerrvariant', 'result<_, list<option<list<option<u8>>>>>'],
    ['errescape', 'result<_, string>'],
  ];
  for (const [fixture, declared] of cases) {
    t.is(await refusedPull(t, sb, fixture), `krew-wasm: error: the component's wasi:cli/run declares "run: func() -> ${declared};", not WASI's "run: func() -> result;"`);
  }
  t.deepEqual(storeSnapshot(sb.root), before);
  const twice = await krewWasm(sb, ['run', path.join(FIXTURES, 'runtwice.wasm')]);
  t.is(twice.exitCode, 1);
  t.is(theError(twice.stderr), 'krew-wasm: error: the component exports wasi:cli/run 2 times; a plugin exports it once');
});

test('an import of wasi:cli/run, components nested too deep, and components that instantiate others over and over are refused before jco reads them: one line, nothing stored', async (t) => {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  const before = storeSnapshot(sb.root);
  // jco typed the export by the import (and panicked on stderr for a list payload).
  const imported = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'runimport.wasm')}`, '--name', 'runimport']);
  t.is(imported.exitCode, 1);
  t.is(imported.stderr.trim().split('\n').filter((l) => !l.startsWith('Pulling')).join('\n'), 'krew-wasm: error: the component imports wasi:cli/run@0.2.12, which a plugin exports and krew-wasm does not provide');
  t.is(await refusedPull(t, sb, 'deepnest'), 'krew-wasm: error: the component nests components more than 32 deep');
  t.is(await refusedPull(t, sb, 'manyinstances'), 'krew-wasm: error: the component makes more than 1000 core instances when instantiated (its components instantiate components)');
  t.deepEqual(storeSnapshot(sb.root), before);
});

test('a borrowed handle declared owned (jco\'s declarations render both alike) is refused by pull; nothing is stored', (t) =>
  refusesCleanly(t, 'ownedborrow', "krew-wasm: error: the component's wasi:filesystem/types#[method]descriptor.is-same-object takes 1 owned handle, where krew-wasm's takes 0 (a borrowed handle declared owned, or the other way round)"));

test('a core module that defines garbage-collected types (arrays, structs) is refused by pull: their objects are beyond any limit; nothing is stored', (t) =>
  refusesCleanly(t, 'gcarrays', "krew-wasm: error: the component's core module plugin.core.wasm is refused: it defines garbage-collected types (structs or arrays), whose objects live in the host's own heap, where no limit can count them"));

test('a core name that spells what the glue trim rewrites keeps its binding: the export run lifts is the one that runs', async (t) => {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  // trimname's `run` lifts the export named `_trampoline0.manuallyAsync` (exit 0); its export named `false` exits 1.
  const pulled = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'trimname.wasm')}`, '--name', 'trimname']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const ran = await runLink(sb, 'trimname', []);
  t.is(ran.exitCode, 0, ran.stderr);
  t.is((await krewWasm(sb, ['run', path.join(FIXTURES, 'trimname.wasm')])).exitCode, 0);
});
