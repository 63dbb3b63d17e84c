import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { attemptFile, compiledCacheWorks, compiledFile } from '../../src/runtime/compiledCache.js';
import { hintsWork } from '../../src/runtime/compileHints.js';
import { FIXTURES, krewWasm, makeSandbox, runLink, type Sandbox } from '../helpers/cli.js';

/**
 * A big plugin's compiled form (runtime/compiledCache.ts), with the 12.5 MB componentized JS
 * plugin: its first run records its hot functions, its next run starts a process of its own that
 * compiles them with TurboFan and keeps V8's serialized module, and the runs after take it instead
 * of compiling, with the same output. KREW_WASM_TRACE says which a run does. Where compiled forms
 * are not used (compiledCacheWorks), none is made.
 */

const works = compiledCacheWorks() && hintsWork();
const MODULE = 'plugin.core.wasm';

async function pulled(t: { teardown(fn: () => void): void }): Promise<{ sb: Sandbox; entry: string }> {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  const pull = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'jsecho.wasm')}`, '--name', 'jsecho']);
  if (pull.exitCode !== 0) throw new Error(pull.stderr);
  const digest = JSON.parse(fs.readFileSync(path.join(sb.root, 'receipts/jsecho.json'), 'utf8')).layerDigest as string;
  return { sb, entry: path.join(sb.root, 'store', digest.slice('sha256:'.length)) };
}

/** A traced run, and what its trace says of the big module's compiled form. */
async function run(sb: Sandbox, env: NodeJS.ProcessEnv = {}) {
  const r = await runLink(sb, 'jsecho', ['hi'], { env: { KREW_WASM_TRACE: '1', JSECHO_VAR: 'v', ...env } });
  const form = /^krew-wasm trace: [\d.]+ ms plugin\.core\.wasm(?: has no compiled form to take: ([^(]+?)| (from its compiled form)|: (its compiled form was refused by V8|V8 could not be asked to take its compiled form)) \(cpu /m.exec(r.stderr);
  return { ...r, form: form?.[1] ?? form?.[2] ?? form?.[3] };
}

const EXPECTED = 'args: ["kubectl-jsecho","hi"]\nJSECHO_VAR=v\n';

/** Waits for the background compile to have kept the compiled form (its marker gone). */
async function compiledKept(entry: string): Promise<boolean> {
  for (let waited = 0; waited < 120_000; waited += 250) {
    if (fs.existsSync(compiledFile(entry, MODULE)) && !fs.existsSync(attemptFile(entry, MODULE))) return true;
    await sleep(250);
  }
  return false;
}

/** A pulled JS plugin whose compiled form is made: recorded, compiled in the background, kept. */
async function withCompiledForm(t: { teardown(fn: () => void): void }) {
  const { sb, entry } = await pulled(t);
  const first = await run(sb);
  const second = await run(sb);
  return { sb, entry, first, second, kept: await compiledKept(entry) };
}

test("a big plugin's hot functions are compiled once, after a run, by a process of their own; the runs after take them, with the same output", async (t) => {
  const { sb, entry, first, second, kept } = await withCompiledForm(t);
  for (const r of [first, second]) {
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.stdout, EXPECTED);
  }
  if (!works) {
    t.is(second.form, undefined);
    t.false(fs.existsSync(compiledFile(entry, MODULE)) || fs.existsSync(attemptFile(entry, MODULE)), 'nothing made where compiled forms are not used');
    return;
  }
  t.is(first.form, undefined, 'the first run records: it has no hot list yet');
  t.is(second.form, 'none made');
  t.true(kept, 'the compiled form was kept');
  const third = await run(sb);
  t.is(third.exitCode, 0, third.stderr);
  t.is(third.form, 'from its compiled form');
  t.is(third.stdout, EXPECTED);
  const mtime = fs.statSync(compiledFile(entry, MODULE)).mtimeMs;
  t.is((await run(sb)).form, 'from its compiled form');
  t.is(fs.statSync(compiledFile(entry, MODULE)).mtimeMs, mtime, 'made once');
  // pull does not take these files for damage: the entry is reused as it is, by another plugin of the same layer.
  const again = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'jsecho.wasm')}`, '--name', 'jsecho2']);
  t.is(again.exitCode, 0, again.stderr);
  t.true(fs.existsSync(compiledFile(entry, MODULE)));
  t.is((await runLink(sb, 'jsecho2', ['hi'], { env: { KREW_WASM_TRACE: '1' } })).stderr.match(/plugin\.core\.wasm from its compiled form/)?.length, 1);
});

test('a damaged compiled form is not given to V8: the run compiles, with the same output, and a new one is made', async (t) => {
  if (!works) return t.pass('compiled forms are not used on this Node');
  const { sb, entry, kept } = await withCompiledForm(t);
  t.true(kept);
  const file = compiledFile(entry, MODULE);
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - 100]! ^= 0xff;
  fs.writeFileSync(file, bytes);
  const r = await run(sb);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.form, 'its bytes are not the ones it was made with');
  t.is(r.stdout, EXPECTED);
  t.true(await compiledKept(entry), 'made again');
  t.is((await run(sb)).form, 'from its compiled form');
});

test("a form made under the V8 options given to Node is taken by runs under the same ones; other options make it again", async (t) => {
  if (!works) return t.pass('compiled forms are not used on this Node');
  const { sb, entry, kept } = await withCompiledForm(t);
  t.true(kept);
  // NODE_OPTIONS=--max-old-space-size=... is common: V8 counts it in its flags' hash, and refused every form made without it.
  const options = { NODE_OPTIONS: '"--max_old_space_size=3000"  --stack-trace-limit=20 --no-deprecation' };
  const remade = await run(sb, options);
  t.is(remade.exitCode, 0, remade.stderr);
  t.is(remade.form, 'made for another set of V8 options given to Node');
  t.is(remade.stdout, EXPECTED);
  t.true(await compiledKept(entry), 'made again, under those options');
  const same = await run(sb, { NODE_OPTIONS: '--stack-trace-limit=20 --max-old-space-size=3000' });
  t.is(same.form, 'from its compiled form', 'the same options, spelled and ordered otherwise');
  t.is(same.stdout, EXPECTED);
  t.is((await run(sb)).form, 'made for another set of V8 options given to Node');
  t.true(await compiledKept(entry));
  t.is((await run(sb)).form, 'from its compiled form');
});

test('a compiled form V8 refuses (other flags than it was made under) is given up for good; the run compiles', async (t) => {
  if (!works) return t.pass('compiled forms are not used on this Node');
  const { sb, entry, kept } = await withCompiledForm(t);
  t.true(kept);
  // A V8 option given to Node that is not passed on to the process making the form (it writes files
  // with --perf-prof): the form's header does not name it, and V8 refuses the form.
  const refused = await run(sb, { NODE_OPTIONS: '--perf-prof-unwinding-info' });
  t.is(refused.exitCode, 0, refused.stderr);
  t.is(refused.form, 'its compiled form was refused by V8');
  t.is(refused.stdout, EXPECTED);
  t.false(fs.existsSync(compiledFile(entry, MODULE)));
  const next = await run(sb);
  t.is(next.form, 'none made; its compile failed or is under way');
  t.is(next.stdout, EXPECTED);
  await sleep(2000);
  t.false(fs.existsSync(compiledFile(entry, MODULE)), 'no new one: V8 refused what it would make');
});

test('a compile that failed (its marker left) is not started again, and a run under --max-memory takes no compiled form', async (t) => {
  if (!works) return t.pass('compiled forms are not used on this Node');
  const { sb, entry } = await pulled(t);
  t.is((await run(sb)).exitCode, 0);
  fs.writeFileSync(attemptFile(entry, MODULE), '1\n');
  const r = await run(sb);
  t.is(r.form, 'none made; its compile failed or is under way');
  t.is(r.stdout, EXPECTED);
  await sleep(3000);
  t.false(fs.existsSync(compiledFile(entry, MODULE)));
  fs.rmSync(attemptFile(entry, MODULE));
  t.is((await krewWasm(sb, ['grant', 'jsecho', '--max-memory', '512'])).exitCode, 0);
  const capped = await run(sb);
  t.is(capped.exitCode, 0, capped.stderr);
  t.is(capped.form, undefined, 'not looked for under a memory cap');
  t.is(capped.stdout, EXPECTED);
  await sleep(2000);
  t.false(fs.existsSync(attemptFile(entry, MODULE)) || fs.existsSync(compiledFile(entry, MODULE)), 'none started under a memory cap');
});

test("the background compile loads none of the user's Node preloads (a plugin may have rewritten them), and its form is taken", async (t) => {
  if (!works) return t.pass('compiled forms are not used on this Node');
  const { sb, entry } = await pulled(t);
  const log = path.join(sb.home, 'preload.log');
  const preload = path.join(sb.home, 'preload.cjs');
  fs.writeFileSync(preload, `require('fs').appendFileSync(${JSON.stringify(log)}, require('path').basename(process.argv[1] ?? '') + '\\n');\n`);
  const env = { NODE_OPTIONS: `--require ${preload}` };
  t.is((await run(sb, env)).exitCode, 0);
  t.is((await run(sb, env)).form, 'none made');
  t.true(await compiledKept(entry));
  const taken = await run(sb, env);
  t.is(taken.form, 'from its compiled form');
  t.is(taken.stdout, EXPECTED);
  t.is(fs.readFileSync(log, 'utf8'), 'kubectl-jsecho\n'.repeat(3), 'loaded by the three runs, not by the compile');
});

test('no compiled form is taken without the trap handler (its code leaves bounds to guard pages), nor is one given up when V8 cannot be asked', async (t) => {
  if (!works) return t.pass('compiled forms are not used on this Node');
  const { sb, entry, kept } = await withCompiledForm(t);
  t.true(kept);
  // Node's own spellings in NODE_OPTIONS, quotes and escapes included (attack 40): V8 is asked.
  for (const options of ['--disable-wasm-trap-handler', '--require /dev/null --disable-wasm-trap-handler', '--disable-wasm-trap-handler""', '--disable-wasm-"trap"-handler', '"--disable-wasm-trap-\\handler"']) {
    const off = await run(sb, { NODE_OPTIONS: options });
    t.is(off.exitCode, 0, off.stderr);
    t.is(off.form, undefined, `not even looked for: ${options}`);
    t.is(off.stdout, EXPECTED);
  }
  const noStrings = await run(sb, { NODE_OPTIONS: '--disallow-code-generation-from-strings' });
  t.is(noStrings.exitCode, 0, noStrings.stderr);
  t.is(noStrings.form, undefined, 'V8 cannot be asked whether its trap handler is on: the form is not looked for');
  t.is(noStrings.stdout, EXPECTED);
  t.true(fs.existsSync(compiledFile(entry, MODULE)), 'kept for the runs that can ask');
  t.false(fs.existsSync(attemptFile(entry, MODULE)));
  t.is((await run(sb)).form, 'from its compiled form');
});
