import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { pushArtifact, writeLayout } from '../../testkit/artifacts.js';
import { FIXTURES, krewWasm, makeSandbox, runLink, theError, type Sandbox } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../../testkit/registry.js';
import { storeProblems } from '../helpers/storeCheck.js';
import { ENTRY_FORMAT } from '../../src/store/entry.js';

// Issue 9 "Repair and the store" and 8.10: one owner for a store entry, receipts checked on read,
// and every repair hint the tool prints works when followed (each test follows it).
const hello = fs.readFileSync(path.join(FIXTURES, 'hello.wasm'));
const annotations = {
  'org.opencontainers.image.title': 'hello',
  'org.opencontainers.image.description': 'Says hello\nfrom wasm',
  'org.opencontainers.image.version': '1.2.3',
  'org.opencontainers.image.source': 'https://example.com/hello',
  'org.opencontainers.image.licenses': 'Apache-2.0',
};
let registry: TestRegistry;
let ref: string;

test.before(async () => {
  registry = await startRegistry();
  await pushArtifact({ url: registry.url, repo: 'plugins/hello', tag: 'v1' }, 'cncf', hello, { manifest: annotations, layerTitle: 'hello.wasm' });
  ref = `${registry.host}/plugins/hello:v1`;
});

test.after.always(async () => {
  await registry?.stop();
});

function sandbox(t: import('ava').ExecutionContext): Sandbox {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  return sb;
}

async function ok(sb: Sandbox, args: string[], options: { cwd?: string } = {}) {
  const r = await krewWasm(sb, args, options);
  if (r.exitCode !== 0) throw new Error(`krew-wasm ${args.join(' ')}: ${r.stderr}`);
  return r;
}

const receiptOf = (sb: Sandbox, name: string) => JSON.parse(fs.readFileSync(path.join(sb.root, 'receipts', `${name}.json`), 'utf8'));
const entryOf = (sb: Sandbox, name: string) => path.join(sb.root, 'store', receiptOf(sb, name).layerDigest.slice(7));
const inode = (file: string) => fs.statSync(file).ino;

/** Runs the command a hint names (`krew-wasm a b c`), split on spaces as a user would type it. */
async function follow(sb: Sandbox, command: string, cwd?: string) {
  const args = command.trim().split(/\s+/);
  if (args.shift() !== 'krew-wasm') throw new Error(`not a krew-wasm command: ${command}`);
  return ok(sb, args, { cwd });
}

test('pull prints the digest list shows; info shows the artifact annotations', async (t) => {
  const sb = sandbox(t);
  const pulled = await ok(sb, ['pull', '--plain-http', ref]);
  const digest = /Installed plugin "hello" \((sha256:[0-9a-f]{12})\)/.exec(pulled.stderr)?.[1];
  t.truthy(digest, pulled.stderr);
  const table = await ok(sb, ['list', '-o', 'table']);
  t.true(table.stdout.split('\n')[1].includes(digest!), table.stdout);
  const info = await ok(sb, ['info', 'hello']);
  t.regex(info.stdout, /^Name: {8}hello\nTitle: {7}hello\nDescription: Says hello from wasm\nVersion: {5}1\.2\.3\nProject: {5}https:\/\/example\.com\/hello\nLicenses: {4}Apache-2\.0\nSource: {6}/);
  t.deepEqual(JSON.parse((await ok(sb, ['info', 'hello', '-o', 'json'])).stdout).annotations, annotations);
});

test('a layer whose current entry is in the store is not transpiled again; --force always makes a fresh entry', async (t) => {
  const sb = sandbox(t);
  await ok(sb, ['pull', '--plain-http', ref, '--name', 'one']);
  const meta = path.join(entryOf(sb, 'one'), 'meta.json');
  const first = inode(meta);
  await ok(sb, ['pull', '--plain-http', ref, '--name', 'two']);
  t.is(inode(meta), first, 'the entry was reused, not transpiled again');
  await ok(sb, ['pull', '--plain-http', '--force', ref, '--name', 'two']);
  t.not(inode(meta), first, '--force replaced the entry');
  t.is((await runLink(sb, 'one', [])).stdout, 'hello from wasm\n');
  t.deepEqual(storeProblems(sb.root), []);
});

test('a tampered entry is never kept: the next pull of that layer replaces it', async (t) => {
  const sb = sandbox(t);
  await ok(sb, ['pull', '--plain-http', ref, '--name', 'one']);
  const script = path.join(entryOf(sb, 'one'), 'plugin.script.js');
  const original = fs.readFileSync(script, 'utf8');
  fs.writeFileSync(script, original.replace(/\}\)\s*$/, 'globalThis.process.stdout.write("PWNED\\n"); })'));
  await ok(sb, ['pull', '--plain-http', ref, '--name', 'two']);
  t.is(fs.readFileSync(script, 'utf8'), original);
  const run = await runLink(sb, 'one', []);
  t.is(run.stdout, 'hello from wasm\n');
});

test('a damaged entry: the hint (pull --force, with the registry options) repairs it', async (t) => {
  const sb = sandbox(t);
  await ok(sb, ['pull', '--plain-http', ref, '--name', 'broken']);
  fs.rmSync(path.join(entryOf(sb, 'broken'), 'plugin.script.js'));
  const r = await runLink(sb, 'broken', []);
  t.is(r.exitCode, 1);
  const line = theError(r.stderr);
  t.is(line, `krew-wasm: error: plugin broken is damaged: cannot load plugin.script.js: ENOENT (reinstall it: krew-wasm pull --force ${ref} --name broken --plain-http)`);
  await follow(sb, /\(reinstall it: (.*)\)$/.exec(line)![1], '/');
  t.is((await runLink(sb, 'broken', [])).stdout, 'hello from wasm\n');
  const info = await krewWasm(sb, ['info', 'broken']);
  t.is(info.exitCode, 0, info.stderr);
});

test('a stale entry is transpiled again from its stored source at the next run, said in one line', async (t) => {
  const sb = sandbox(t);
  await ok(sb, ['pull', '--plain-http', ref, '--name', 'old']);
  const metaFile = path.join(entryOf(sb, 'old'), 'meta.json');
  const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
  const current = meta.transpiler;
  fs.writeFileSync(metaFile, JSON.stringify({ ...meta, transpiler: 'jco-transpile@0.0.1' }));
  // The registry is gone for this run: the stored source is all it needs.
  const r = await runLink(sb, 'old', []);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'hello from wasm\n');
  t.is(r.stderr, `krew-wasm: plugin old: its store entry is stale (transpiled by jco-transpile@0.0.1, this krew-wasm uses ${current}); transpiling it again from its stored source\n`);
  t.is(JSON.parse(fs.readFileSync(metaFile, 'utf8')).transpiler, current);
  const again = await runLink(sb, 'old', []);
  t.is(again.stderr, '', 'said once');
  t.deepEqual(storeProblems(sb.root), []);
});

test('a stale entry is transpiled again by the next pull of its layer', async (t) => {
  const sb = sandbox(t);
  await ok(sb, ['pull', '--plain-http', ref, '--name', 'one']);
  const metaFile = path.join(entryOf(sb, 'one'), 'meta.json');
  fs.writeFileSync(metaFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(metaFile, 'utf8')), format: 0 }));
  await ok(sb, ['pull', '--plain-http', ref, '--name', 'two']);
  t.is(JSON.parse(fs.readFileSync(metaFile, 'utf8')).format, ENTRY_FORMAT);
  t.is((await runLink(sb, 'one', [])).stderr, '');
});

test('a damaged receipt: info, grant, revoke and list say what is wrong; rm then pull --force repairs it', async (t) => {
  const sb = sandbox(t);
  await ok(sb, ['pull', '--plain-http', ref, '--name', 'hurt']);
  const file = path.join(sb.root, 'receipts/hurt.json');
  fs.writeFileSync(file, JSON.stringify({ ...receiptOf(sb, 'hurt'), grants: { filesystem: 'everything' } }));
  const expected = `krew-wasm: error: the receipt of plugin hurt is damaged: grants: filesystem "everything" is not home, kubeconfig or none (remove it with krew-wasm rm hurt, then reinstall: krew-wasm pull --force ${ref} --name hurt --plain-http)`;
  for (const args of [['info', 'hurt'], ['grant', 'hurt', '--network', 'none'], ['revoke', 'hurt', '--network'], ['pull', '--plain-http', ref, '--name', 'hurt']]) {
    const r = await krewWasm(sb, args);
    t.is(r.exitCode, 1, args.join(' '));
    t.is(theError(r.stderr), expected, args.join(' '));
  }
  const run = await runLink(sb, 'hurt', []);
  t.is(theError(run.stderr), expected);
  const list = await krewWasm(sb, ['list', '-o', 'table']);
  t.is(list.exitCode, 0);
  t.true(list.stderr.includes(expected.replace('krew-wasm: error: ', 'krew-wasm: warning: ')), list.stderr);
  t.false(/internal error/.test(list.stderr));
  const hint = /\(remove it with (krew-wasm rm hurt), then reinstall: (.*)\)$/.exec(expected)!;
  await follow(sb, hint[1]);
  await follow(sb, hint[2]);
  t.is((await runLink(sb, 'hurt', [])).stdout, 'hello from wasm\n');
  t.deepEqual(storeProblems(sb.root), []);
});

test('8.10: a receipt whose layerDigest climbs out of the store never runs code from there', async (t) => {
  const sb = sandbox(t);
  await ok(sb, ['pull', '--plain-http', ref, '--name', 'victim']);
  const receipt = receiptOf(sb, 'victim');
  // What the traversal would reach: $HOME/evil, planted as a store entry whose glue prints PWNED.
  const evil = path.join(sb.home, 'evil');
  fs.cpSync(entryOf(sb, 'victim'), evil, { recursive: true });
  fs.writeFileSync(path.join(evil, 'plugin.script.js'), '(function () { globalThis.process.stdout.write("PWNED\\n"); return function () { return function instantiate() { return {}; }; }; })');
  fs.writeFileSync(path.join(sb.root, 'receipts/victim.json'), JSON.stringify({ ...receipt, layerDigest: 'sha256:../../evil' }));
  const r = await runLink(sb, 'victim', []);
  t.is(r.exitCode, 1);
  t.false(r.stdout.includes('PWNED'));
  t.regex(theError(r.stderr), /^krew-wasm: error: the receipt of plugin victim is damaged: layerDigest "sha256:\.\.\/\.\.\/evil" is not sha256:<64 hex digits> \(remove it with krew-wasm rm victim/);
});

test('relative local sources are stored absolute, so their repair hints work from anywhere', async (t) => {
  const sb = sandbox(t);
  const work = path.join(sb.home, 'work');
  writeLayout(path.join(work, 'layout'), 'v1', hello, { manifest: { 'org.opencontainers.image.title': 'Hello' } });
  fs.copyFileSync(path.join(FIXTURES, 'hello.wasm'), path.join(work, 'greeter.wasm'));
  await ok(sb, ['pull', 'oci-layout://./layout:v1'], { cwd: work });
  await ok(sb, ['pull', 'file://./greeter.wasm'], { cwd: work });
  t.is(receiptOf(sb, 'hello').source, `oci-layout://${work}/layout:v1`);
  t.is(receiptOf(sb, 'greeter').source, `file://${work}/greeter.wasm`);
  fs.rmSync(path.join(entryOf(sb, 'hello'), 'meta.json'));
  const r = await runLink(sb, 'hello', [], { cwd: '/' });
  const line = theError(r.stderr);
  t.regex(line, /is damaged: cannot read meta\.json: .* \(reinstall it: krew-wasm pull --force oci-layout:\/\/\/.*\/work\/layout:v1 --name hello\)$/);
  await follow(sb, /\(reinstall it: (.*)\)$/.exec(line)![1], '/');
  t.is((await runLink(sb, 'hello', [])).stdout, 'hello from wasm\n');
});

const layoutNames: { title: string; annotations: Parameters<typeof writeLayout>[3]; want: string | RegExp }[] = [
  { title: 'the title annotation', annotations: { manifest: { 'org.opencontainers.image.title': 'kube-tree' }, layerTitle: 'x.wasm' }, want: 'kube-tree' },
  { title: 'the layer file name when there is no title', annotations: { layerTitle: 'greeter.wasm' }, want: 'greeter' },
  { title: 'neither: the folder name is never used', annotations: {}, want: /^krew-wasm: error: cannot tell a plugin name for oci-layout:\/\/.*\/layout:v1: the artifact has no title or file name annotation \(give one with --name\)$/ },
];

for (const c of layoutNames) {
  test(`an OCI layout's default name: ${c.title}`, async (t) => {
    const sb = sandbox(t);
    const layout = path.join(sb.home, 'layout');
    writeLayout(layout, 'v1', hello, c.annotations);
    const r = await krewWasm(sb, ['pull', `oci-layout://${layout}:v1`]);
    if (typeof c.want === 'string') {
      t.is(r.exitCode, 0, r.stderr);
      t.true(fs.existsSync(path.join(sb.root, 'receipts', `${c.want}.json`)));
    } else {
      t.is(r.exitCode, 1);
      t.regex(theError(r.stderr), c.want);
      t.false(fs.existsSync(path.join(sb.root, 'receipts/layout.json')));
    }
  });
}
