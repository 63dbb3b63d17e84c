import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENTRY_FILES, ENTRY_FORMAT, entryIsIntact, inspectEntry, readEntryMeta, TRANSPILER } from '../../src/store/entry.js';
import { sha256Of } from '../../src/oci/digest.js';
import { transpileInto } from '../../src/runtime/transpile.js';
import { hintsWork } from '../../src/runtime/compileHints.js';
import { FIXTURES } from '../helpers/cli.js';
import { scratchFolders } from '../helpers/scratch.js';

const scratch = scratchFolders('entry');

test('the transpiler an entry is judged by is the one installed (package.json pins it exactly)', (t) => {
  const entry = fileURLToPath(import.meta.resolve('@bytecodealliance/jco-transpile'));
  const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(entry), '..', 'package.json'), 'utf8'));
  t.is(TRANSPILER, `jco-transpile@${pkg.version}`);
});

async function freshEntry(): Promise<{ dir: string; digest: string }> {
  const wasm = fs.readFileSync(path.join(FIXTURES, 'hello.wasm'));
  const dir = path.join(scratch(), 'entry');
  await transpileInto(wasm, dir);
  return { dir, digest: sha256Of(wasm) };
}

test('a fresh entry is current and intact; its metadata records every file it holds', async (t) => {
  const { dir, digest } = await freshEntry();
  const state = inspectEntry(dir);
  t.is(state.status, 'current');
  const meta = readEntryMeta(dir);
  t.is(meta.transpiler, TRANSPILER);
  t.deepEqual(Object.keys(meta.files ?? {}).sort(), fs.readdirSync(dir).filter((f) => f !== ENTRY_FILES.meta).sort());
  t.is(meta.files?.[ENTRY_FILES.source], digest);
  t.true(entryIsIntact(dir, digest));
  t.false(entryIsIntact(dir, `sha256:${'0'.repeat(64)}`), 'an entry named after another layer is not reused');
});

const damages: { name: string; damage: (dir: string) => void; state: 'damaged' | 'stale' | 'current'; intact: boolean; why?: RegExp }[] = [
  { name: 'a missing glue file', damage: (d) => fs.rmSync(path.join(d, ENTRY_FILES.script)), state: 'damaged', intact: false, why: /^cannot load plugin\.script\.js: ENOENT$/ },
  { name: 'a missing stored source (a stale entry could not be made again)', damage: (d) => fs.rmSync(path.join(d, ENTRY_FILES.source)), state: 'damaged', intact: false, why: /^cannot load source\.wasm: ENOENT$/ },
  { name: 'a glue file that is a symlink out of the entry', damage: (d) => { fs.rmSync(path.join(d, ENTRY_FILES.script)); fs.symlinkSync('/etc/passwd', path.join(d, ENTRY_FILES.script)); }, state: 'damaged', intact: false, why: /not a regular file$/ },
  { name: 'a core module name that climbs out', damage: (d) => editMeta(d, (m) => ({ ...m, coreModules: ['../../evil.core.wasm'] })), state: 'damaged', intact: false, why: /core module name that is not a file name/ },
  { name: 'metadata that is not JSON', damage: (d) => fs.writeFileSync(path.join(d, ENTRY_FILES.meta), '{'), state: 'damaged', intact: false, why: /^cannot read meta\.json: / },
  { name: 'another transpiler', damage: (d) => editMeta(d, (m) => ({ ...m, transpiler: 'jco-transpile@0.0.1' })), state: 'stale', intact: false, why: /^transpiled by jco-transpile@0\.0\.1, this krew-wasm uses jco-transpile@/ },
  { name: 'another entry format', damage: (d) => editMeta(d, (m) => ({ ...m, format: 0 })), state: 'stale', intact: false, why: new RegExp(`^entry format 0, this krew-wasm writes ${ENTRY_FORMAT}$`) },
  { name: 'an older format, from before core states were recorded', damage: (d) => editMeta(d, (m) => ({ ...m, format: 15, coreStates: undefined })), state: 'stale', intact: false, why: new RegExp(`^entry format 15, this krew-wasm writes ${ENTRY_FORMAT}$`) },
  { name: 'a current entry without its core states', damage: (d) => editMeta(d, (m) => ({ ...m, coreStates: undefined })), state: 'damaged', intact: false, why: /no record of what its core modules hold/ },
  { name: 'a core state that is not one', damage: (d) => editMeta(d, (m) => ({ ...m, coreStates: Object.fromEntries(Object.keys(m.coreStates ?? {}).map((k) => [k, { memories: 'x' }])) })), state: 'damaged', intact: false, why: /no record of what its core modules hold/ },
  { name: 'an older format, from before tail calls were recorded', damage: (d) => editMeta(d, (m) => ({ ...m, format: 16, tailCalls: undefined })), state: 'stale', intact: false, why: new RegExp(`^entry format 16, this krew-wasm writes ${ENTRY_FORMAT}$`) },
  { name: 'a current entry without its record of tail calls (a run on Node 24 could not refuse them)', damage: (d) => editMeta(d, (m) => ({ ...m, tailCalls: undefined })), state: 'damaged', intact: false, why: /no record of which core modules make tail calls/ },
  { name: 'a record of tail calls naming a file the run does not compile', damage: (d) => editMeta(d, (m) => ({ ...m, tailCalls: ['other.core.wasm'] })), state: 'damaged', intact: false, why: /no record of which core modules make tail calls/ },
  { name: 'a modified glue file (runs, but pull does not reuse it)', damage: (d) => fs.appendFileSync(path.join(d, ENTRY_FILES.script), '\n'), state: 'current', intact: false },
  { name: 'an extra file', damage: (d) => fs.writeFileSync(path.join(d, 'extra.js'), ''), state: 'current', intact: false },
  { name: 'a code cache written by a run (not part of the check)', damage: (d) => fs.writeFileSync(path.join(d, ENTRY_FILES.codeCache), 'x'), state: 'current', intact: true },
  { name: 'the functions a first run compiled, recorded by it (not part of the check)', damage: (d) => fs.writeFileSync(path.join(d, ENTRY_FILES.hotFunctions), '{}'), state: 'current', intact: true },
  { name: 'an older format, from before compilation hints', damage: (d) => editMeta(d, (m) => ({ ...m, format: 17 })), state: 'stale', intact: false, why: new RegExp(`^entry format 17, this krew-wasm writes ${ENTRY_FORMAT}$`) },
  { name: 'compilation hints of a file the run does not compile', damage: (d) => editMeta(d, (m) => ({ ...m, compileHints: { 'other.core.wasm': { offset: 10, count: 1 } } })), state: 'damaged', intact: false, why: /a record of compilation hints that does not read as one/ },
  { name: 'compilation hints without their place', damage: (d) => editMeta(d, (m) => ({ ...m, compileHints: Object.fromEntries((m.coreModules as string[]).map((c) => [c, { offset: -1, count: 1 }])) })), state: 'damaged', intact: false, why: /a record of compilation hints that does not read as one/ },
  { name: 'an older format, from before data images', damage: (d) => editMeta(d, (m) => ({ ...m, format: 18 })), state: 'stale', intact: false, why: new RegExp(`^entry format 18, this krew-wasm writes ${ENTRY_FORMAT}$`) },
  { name: 'a data image it does not hold', damage: (d) => editImage(d, [[0, 10]]), state: 'damaged', intact: false, why: /^cannot load plugin\.core\.data: ENOENT$/ },
  { name: 'a data image beyond its memory', damage: (d) => editImage(d, [[0, 10], [65530, 7]]), state: 'damaged', intact: false, why: /no record of what its core modules hold/ },
  { name: 'a data image whose runs overlap', damage: (d) => editImage(d, [[0, 10], [5, 10]]), state: 'damaged', intact: false, why: /no record of what its core modules hold/ },
  { name: 'a data image whose runs are out of order', damage: (d) => editImage(d, [[100, 10], [0, 10]]), state: 'damaged', intact: false, why: /no record of what its core modules hold/ },
  { name: 'a data image that is not runs', damage: (d) => editImage(d, [[0, -1]]), state: 'damaged', intact: false, why: /no record of what its core modules hold/ },
  { name: 'a data image of a module without memory', damage: (d) => editMeta(d, (m) => ({ ...m, coreStates: { ...(m.coreStates as object), 'plugin.core2.wasm': { ...(m.coreStates as Record<string, object>)['plugin.core2.wasm'], dataImage: [] } } })), state: 'damaged', intact: false, why: /no record of what its core modules hold/ },
];

/** Gives the hello entry's first core module (one page of memory) a data image of these runs. */
function editImage(dir: string, runs: unknown[]): void {
  editMeta(dir, (m) => {
    const states = m.coreStates as Record<string, object>;
    return { ...m, coreStates: { ...states, 'plugin.core.wasm': { ...states['plugin.core.wasm'], dataImage: runs } } };
  });
}

function editMeta(dir: string, change: (meta: Record<string, unknown>) => Record<string, unknown>): void {
  const file = path.join(dir, ENTRY_FILES.meta);
  fs.writeFileSync(file, JSON.stringify(change(JSON.parse(fs.readFileSync(file, 'utf8')))));
}

for (const c of damages) {
  test(`entry check: ${c.name}`, async (t) => {
    const { dir, digest } = await freshEntry();
    c.damage(dir);
    const state = inspectEntry(dir);
    t.is(state.status, c.state);
    if (c.why && state.status !== 'current') t.regex(state.why, c.why);
    t.is(entryIsIntact(dir, digest), c.intact);
  });
}

test("a big plugin's recording forms are checked while the entry holds them, and may be gone: its first run removes them", async (t) => {
  const wasm = fs.readFileSync(path.join(FIXTURES, 'manyfunctions.wasm'));
  const dir = path.join(scratch(), 'entry');
  await transpileInto(wasm, dir);
  const digest = sha256Of(wasm);
  const forms = fs.readdirSync(dir).filter((f) => f.endsWith('.recording'));
  if (!hintsWork()) return t.deepEqual(forms, [], 'none where this Node does not record');
  t.true(forms.length > 0, 'pull made recording forms');
  t.deepEqual(forms.filter((f) => !(f in (readEntryMeta(dir).files ?? {}))), [], 'each one in the metadata');
  t.true(entryIsIntact(dir, digest));
  const form = path.join(dir, forms[0]!);
  const bytes = fs.readFileSync(form);
  fs.appendFileSync(form, 'x');
  t.false(entryIsIntact(dir, digest), 'a changed form');
  fs.rmSync(form);
  t.true(entryIsIntact(dir, digest), 'a removed form');
  fs.writeFileSync(path.join(dir, 'other.core.wasm.recording'), bytes);
  t.false(entryIsIntact(dir, digest), 'a form the entry was not made with');
});
