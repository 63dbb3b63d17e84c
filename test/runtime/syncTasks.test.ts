import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { minifiedGlue, toScriptForm } from '../../src/runtime/glue.js';
import { GlueBudget } from '../../src/runtime/limits.js';
import { withSyncTaskRuntime } from '../../src/runtime/syncTasks.js';
import { transpileInto } from '../../src/runtime/transpile.js';
import { FIXTURES } from '../helpers/cli.js';
import { scratchFolders } from '../helpers/scratch.js';

const tmp = scratchFolders('syncTasks');

/** What jco writes for a fixture (its ES module, not minified), with the JSPI tests as glue.ts leaves them. */
async function jcoGlue(fixture: string): Promise<string> {
  const { transpileBytes } = await import('@bytecodealliance/jco-transpile');
  const result = await transpileBytes(fs.readFileSync(path.join(FIXTURES, fixture)), { name: 'plugin', instantiation: 'async', minify: false });
  return Buffer.from(result.files['plugin.js']!).toString('utf8').replace(/_trampoline\d+\.manuallyAsync/g, 'false');
}

const SYNC_RUNTIME_MARK = "reached krew-wasm's synchronous task runtime";

test("a synchronous component's glue takes the synchronous task runtime; an async mark, an unknown declaration or a missing one keeps jco's", async (t) => {
  const glue = await jcoGlue('hello.wasm');
  t.regex(glue, /class AsyncTask \{/, "jco still writes its async runtime (else this test tests nothing)");
  const { glue: synced } = await withSyncTaskRuntime(glue);
  t.true(synced.includes(SYNC_RUNTIME_MARK));
  t.true(synced.length < glue.length * 0.7, `${synced.length} bytes against jco's ${glue.length}`);
  // The component's own code marks a lowering async: jco's runtime stays whole.
  const lowering = glue.indexOf('_lowerImportBackwardsCompat.bind(');
  t.true(lowering > 0);
  const asyncMarked = glue.slice(0, lowering) + glue.slice(lowering).replace('isAsync: false', 'isAsync: true');
  t.not(asyncMarked, glue);
  t.deepEqual(await withSyncTaskRuntime(asyncMarked), { glue: asyncMarked, asyncPart: 'isAsync' });
  // A mark that is not a literal false (a variable) is not taken as false.
  t.deepEqual(await withSyncTaskRuntime(glue.replace('isAsync: false', 'isAsync: globalThis.x')), { glue: glue.replace('isAsync: false', 'isAsync: globalThis.x'), asyncPart: 'isAsync' });
  // A declaration of jco's runtime the list was not made from (an async builtin's).
  const withIntrinsic = glue.replace(/(export function instantiate\([^)]*\) \{)/, '$1\nfunction _liftFlatChar() {}\n');
  t.not(withIntrinsic, glue);
  t.deepEqual(await withSyncTaskRuntime(withIntrinsic), { glue: withIntrinsic });
  // One of jco's async built-ins: what the glue uses is named (pull refuses it).
  const withBuiltin = glue.replace(/(export function instantiate\([^)]*\) \{)/, '$1\nfunction taskReturn() {}\n');
  t.deepEqual(await withSyncTaskRuntime(withBuiltin), { glue: withBuiltin, asyncPart: 'taskReturn' });
  // One of the replaced declarations missing, or twice.
  const twice = glue.replace(/(export function instantiate\([^)]*\) \{)/, '$1\nclass AsyncSubtask {}\n');
  t.deepEqual(await withSyncTaskRuntime(twice), { glue: twice });
  t.deepEqual(await withSyncTaskRuntime('export function instantiate() { class AsyncTask {} }'), { glue: 'export function instantiate() { class AsyncTask {} }' });
  t.deepEqual(await withSyncTaskRuntime('export function instantiate( { class AsyncTask'), { glue: 'export function instantiate( { class AsyncTask' }, 'what acorn cannot parse');
});

test("a glue that asks a component's state for what only jco's has (a suspended task's), or lacks what the synchronous runtime takes from it, keeps jco's runtime", async (t) => {
  const glue = await jcoGlue('hello.wasm');
  const { glue: synced } = await withSyncTaskRuntime(glue);
  t.not(synced, glue);
  // jco's component state goes, and with it the classes only the async runtime used.
  for (const gone of ['class Waitable', 'class RepTable', 'class FutureValue']) {
    t.true(glue.includes(gone), `jco writes ${gone} (else this tests nothing)`);
    t.false(synced.includes(gone), `${gone} is left out`);
  }
  t.true(synced.includes('hasPendingSchedulerWork() { return false; }'));
  // The component's own code calling a member the synchronous state lacks.
  const entry = glue.indexOf('.throwIfTrapped();');
  t.true(entry > 0);
  const suspends = glue.slice(0, entry) + '.throwIfTrapped(); getOrCreateAsyncState(0).isTaskSuspended(1);' + glue.slice(entry + '.throwIfTrapped();'.length);
  t.deepEqual(await withSyncTaskRuntime(suspends), { glue: suspends });
  // A glue that names RepTable outside jco's runtime keeps it, whatever runtime it gets.
  const tables = glue.replace(/(export function instantiate\([^)]*\) \{)/, '$1\nconst handlesOfMine = () => new RepTable({});\n');
  t.not(tables, glue);
  t.true((await withSyncTaskRuntime(tables)).glue.includes('class RepTable'));
  // A glue without the store's trap, which the synchronous state records a trap in.
  const noStoreTrap = glue.replace(/const STORE_TRAP = /, 'const STORE_TRAP_ELSEWHERE = ');
  t.not(noStoreTrap, glue);
  t.deepEqual(await withSyncTaskRuntime(noStoreTrap), { glue: noStoreTrap });
});

interface Outcome {
  written: string[];
  result?: unknown;
  error?: unknown;
}

/**
 * Runs an entry's core modules through a script form of the glue, in this process, with a host of
 * stdout alone whose write does what `write` says, as run.ts instantiates (the host makes the
 * memories and tables the entry's core modules import).
 */
async function runGlue(entryDir: string, script: string, write: (text: string) => void, runs = 1, getStdout: () => void = () => {}): Promise<Outcome[] & { instance: unknown }> {
  const meta = JSON.parse(fs.readFileSync(path.join(entryDir, 'meta.json'), 'utf8'));
  const budget = new GlueBudget();
  const quiet = { error() {}, debug() {}, log() {}, warn() {} };
  const instantiate = (new vm.Script(script).runInThisContext() as (...args: unknown[]) => (...args: unknown[]) => Promise<{ run: { run(): unknown } }>)('file:///', budget.textDecoder(), budget, quiet, false);
  const written: string[] = [];
  class OutputStream {
    blockingWriteAndFlush(bytes: Uint8Array) {
      const text = Buffer.from(bytes).toString('utf8');
      written.push(text);
      write(text);
    }
  }
  const imports = { 'wasi:cli/stdout': { getStdout: () => (getStdout(), new OutputStream()) }, 'wasi:io/streams': { OutputStream }, 'wasi:io/error': { Error: class {} } };
  const modules = new Map<string, WebAssembly.Module>(meta.coreModules.map((file: string) => [file, new WebAssembly.Module(fs.readFileSync(path.join(entryDir, file)))]));
  const states = new Map([...modules].map(([file, module]) => [module, meta.coreStates[file]]));
  const instantiateCore = (module: WebAssembly.Module, coreImports: WebAssembly.Imports) => {
    const made: Record<string, WebAssembly.Memory | WebAssembly.Table> = {};
    for (const m of states.get(module).memories) made[m.name] = new WebAssembly.Memory({ initial: m.initial, maximum: m.maximum });
    for (const table of states.get(module).tables) made[table.name] = new WebAssembly.Table({ initial: table.initial, maximum: table.maximum, element: table.element });
    return new WebAssembly.Instance(module, { ...coreImports, 'krew-wasm:state': made });
  };
  const instance = await instantiate((file: string) => modules.get(file), imports, instantiateCore);
  const outcomes: Outcome[] = [];
  for (let i = 0; i < runs; i++) {
    const before = written.length;
    try {
      outcomes.push({ written: [], result: instance.run.run() });
    } catch (error) {
      outcomes.push({ written: [], error });
    }
    outcomes.at(-1)!.written = written.slice(before);
  }
  // The instance too, for a caller that reads what it holds.
  return Object.assign(outcomes, { instance });
}

/** The fixture's entry, made as pull makes it (synchronous runtime), and the script form of jco's own glue for it. */
async function bothRuntimes(fixture: string): Promise<{ dir: string; ours: string; jcos: string }> {
  const dir = tmp();
  await transpileInto(fs.readFileSync(path.join(FIXTURES, fixture)), dir);
  const ours = fs.readFileSync(path.join(dir, 'plugin.script.js'), 'utf8');
  // Minified as minifiedGlue minifies, without the runtime's replacement.
  const { minify } = await import('oxc-minify');
  const minified = await minify('component.js', await jcoGlue(fixture), { module: true, compress: { target: 'es2019' }, mangle: { keepNames: true } });
  const jcos = toScriptForm(minified.code);
  if (!jcos || ours.includes('class AsyncTask{static _ID=0n')) throw new Error('the two runtimes are not told apart');
  return { dir, ours, jcos };
}

test("jco's runtime and the synchronous one run a plugin alike: its output, its result, a host error, a trap and the entry refused after it", async (t) => {
  const { dir, ours, jcos } = await bothRuntimes('hello.wasm');
  t.true(ours.includes(SYNC_RUNTIME_MARK));
  t.false(jcos.includes(SYNC_RUNTIME_MARK));
  for (const script of [jcos, ours]) {
    const [ok] = await runGlue(dir, script, () => {});
    t.deepEqual(ok, { written: ['hello from wasm\n'], result: undefined });
    // A host error (one of krew-wasm's limits, or exit's unwinding) reaches the caller as the same
    // error, from a function whose errors are the guest's to see (a stream's write) and from one
    // without (get-stdout).
    const failure = new Error('a host failure');
    const [failed] = await runGlue(dir, script, () => { throw failure; });
    t.is(failed!.error, failure);
    const [failedBefore] = await runGlue(dir, script, () => {}, 1, () => { throw failure; });
    t.is(failedBefore!.error, failure);
    t.deepEqual(failedBefore!.written, []);
    // A trap poisons the instance: the next entry is refused.
    const trap = new WebAssembly.RuntimeError('unreachable');
    const [trapped, again] = await runGlue(dir, script, () => { throw trap; }, 2);
    t.is(trapped!.error, trap);
    t.true(again!.error instanceof WebAssembly.RuntimeError);
    t.is((again!.error as Error).message, 'wasm trap: cannot enter component instance');
    t.deepEqual(again!.written, []);
  }
});

test("the test plugins made from JS (post-return, may-leave), from a preview1 module of the original ABI (two adapters) and of wasi:http run on the synchronous runtime", async (t) => {
  for (const fixture of ['jsecho.wasm', 'legacyprobe.core.wasm', 'httpraw.wasm']) {
    const dir = tmp();
    await transpileInto(fs.readFileSync(path.join(FIXTURES, fixture)), dir);
    const glue = fs.readFileSync(path.join(dir, 'plugin.script.js'), 'utf8');
    t.true(glue.includes(SYNC_RUNTIME_MARK), fixture);
    t.false(glue.includes('class RepTable'), `${fixture}: jco's handle tables left out`);
    // No empty host object for a handle the plugin does not hold, borrowed or owned (wasi:http's own<fields>: attack 80).
    t.false(/Object\.create\([\w$]+\.prototype\)/.test(glue), `${fixture}: every empty resource object is a trap`);
  }
});

test("a host call from a post-return, where the component model forbids leaving the instance, traps on both runtimes", async (t) => {
  const { dir, ours, jcos } = await bothRuntimes('postreturn.wasm');
  t.true(ours.includes(SYNC_RUNTIME_MARK));
  for (const script of [jcos, ours]) {
    const calls: string[] = [];
    const [refused] = await runGlue(dir, script, () => {}, 1, () => calls.push('get-stdout'));
    t.deepEqual(refused!.written, ['before post-return\n']);
    t.deepEqual(calls, ['get-stdout'], 'the call from the post-return never reached the host');
    t.true(refused!.error instanceof WebAssembly.RuntimeError);
    t.is((refused!.error as Error).message, 'cannot leave component instance');
  }
});

test("the host's heap does not grow with the handles a plugin takes and drops (jco's handle tables kept every rep they gave out)", async (t) => {
  const { dir, ours, jcos } = await bothRuntimes('handlechurn.wasm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const growth = async (script: string) => {
    gc();
    const before = process.memoryUsage().heapUsed;
    // The run's instance is kept alive while the heap is read: what it holds is counted.
    const outcomes = await runGlue(dir, script, () => {});
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    t.deepEqual(outcomes[0]!.written, ['churned\n']);
    t.truthy(outcomes.instance);
    return grown;
  };
  const jcosGrowth = await growth(jcos);
  t.true(jcosGrowth > 8 * 2 ** 20, `jco's own glue kept ${jcosGrowth} bytes (else this test tests nothing)`);
  const oursGrowth = await growth(ours);
  t.true(oursGrowth < 2 * 2 ** 20, `the glue pull made kept ${oursGrowth} bytes for 500,000 handles taken and dropped`);
});

test("a write through a dropped handle traps in the glue pull made (jco's own called the host's write on an empty stream object)", async (t) => {
  const { dir, ours, jcos } = await bothRuntimes('droppedborrow.wasm');
  const writes: string[] = [];
  const [jcosRun] = await runGlue(dir, jcos, (text) => writes.push(text));
  t.is(jcosRun!.error, undefined, "jco's glue does not trap (else this test tests nothing)");
  const [oursRun] = await runGlue(dir, ours, (text) => writes.push(text));
  t.true(oursRun!.error instanceof WebAssembly.RuntimeError);
  t.is((oursRun!.error as Error).message, 'unknown handle index 1');
  t.deepEqual(oursRun!.written, []);
});

/** The script form's check on a drop taken out again: jco's own rscTableRemove lets the handle through. */
function withoutDropCheck(script: string): string {
  return script.replace(/if\(!\(([\w$]+)>0&&\1<0x40000000&&\(\1<<1\)\+1<[\w$]+\.length\)\)throw new WebAssembly\.RuntimeError\(`unknown handle index \$\{\1>>>0\}`\);/, '');
}

test("dropping a handle past any the host gave traps in the glue pull made (jco's own took it as removed, and the handle count went down)", async (t) => {
  const { dir, ours } = await bothRuntimes('bogusdrop.wasm');
  const unchecked = withoutDropCheck(ours);
  t.not(unchecked, ours);
  const [uncheckedRun] = await runGlue(dir, unchecked, () => {});
  t.deepEqual(uncheckedRun!.written, ['dropped\n'], "jco's check lets it through (else this test tests nothing)");
  const [oursRun] = await runGlue(dir, ours, () => {});
  t.true(oursRun!.error instanceof WebAssembly.RuntimeError);
  t.is((oursRun!.error as Error).message, 'unknown handle index 1000000');
  t.deepEqual(oursRun!.written, []);
});

test("a handle at or past 2^30 traps in the glue pull made: a drop of 0x40000001, a borrow with bit 31 set (jco doubles a handle in 32 bits)", async (t) => {
  // The drop: jco's own check lets it through, and says nothing.
  const drop = await bothRuntimes('hugedrop.wasm');
  const unchecked = withoutDropCheck(drop.ours);
  t.not(unchecked, drop.ours);
  const [uncheckedDrop] = await runGlue(drop.dir, unchecked, () => {});
  t.deepEqual(uncheckedDrop!.written, ['dropped\n'], "jco's check lets the drop through (else this test tests nothing)");
  const [oursDrop] = await runGlue(drop.dir, drop.ours, () => {});
  t.true(oursDrop!.error instanceof WebAssembly.RuntimeError);
  t.is((oursDrop!.error as Error).message, 'unknown handle index 1073741825');
  t.deepEqual(oursDrop!.written, []);
  // The borrow: jco's own glue finds handle 1's stream through 0x80000001 and writes to it.
  const borrow = await bothRuntimes('highborrow.wasm');
  const [jcosBorrow] = await runGlue(borrow.dir, borrow.jcos, () => {});
  t.deepEqual(jcosBorrow!.written, ['written through bit 31\n'], "jco's glue reaches handle 1's stream (else this test tests nothing)");
  const [oursBorrow] = await runGlue(borrow.dir, borrow.ours, () => {});
  t.true(oursBorrow!.error instanceof WebAssembly.RuntimeError);
  t.is((oursBorrow!.error as Error).message, 'unknown handle index 2147483649');
  t.deepEqual(oursBorrow!.written, []);
});

test("jco's set of the reps a handle table gave out goes, whatever the component's core names say; a glue whose own code reads it keeps it", async (t) => {
  const glue = await jcoGlue('handlechurn.wasm');
  t.regex(glue, /table\._createdReps\.add\(rep\);/, 'jco still adds every rep (else this tests nothing)');
  t.false((await minifiedGlue(glue))!.includes('_createdReps.add'));
  // A core export named _createdReps, as jco writes it into the instantiation code (attack 80).
  const named = glue.replace(/(\n\s*)(const handleTable0 = )/, '$1globalThis.x = exports0?._createdReps;$1$2');
  t.not(named, glue);
  t.false((await minifiedGlue(named))!.includes('_createdReps.add'));
  // jco's own code reading the set.
  const read = glue.replace('table._createdReps.add(rep);', 'table._createdReps.add(rep); if (table._createdReps.has(-1)) throw 0;');
  t.true((await minifiedGlue(read))!.includes('_createdReps.add'));
});

test('a host call made by a start function, while the component is instantiated and no export runs, is served by both runtimes', async (t) => {
  const { dir, ours, jcos } = await bothRuntimes('startwrite.wasm');
  for (const script of [jcos, ours]) {
    const [ok, second] = await runGlue(dir, script, () => {}, 2);
    t.deepEqual(ok, { written: ['stdout taken at start\n'], result: undefined });
    t.deepEqual(second, { written: ['stdout taken at start\n'], result: undefined }, 'an export called again (tasks were cleared)');
  }
});
