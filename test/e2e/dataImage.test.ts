import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { readEntryMeta } from '../../src/store/entry.js';
import { FIXTURES, krewWasm, makeSandbox, runLink, theError, type Sandbox } from '../helpers/cli.js';

/**
 * A big plugin's data as an image beside its core module (runtime/dataImage.ts), with the 12.5 MB
 * componentized JS plugin, whose JS engine starts from 3.1 MB of data in 10,000 segments: the
 * entry keeps it as an image, the plugin runs from it, and an image that is not what the entry
 * recorded is a damaged entry, in one line, whose hint repairs it.
 */

const source = `file://${path.join(FIXTURES, 'jsecho.wasm')}`;

async function pulled(t: { teardown(fn: () => void): void }, from = source, name = 'jsecho'): Promise<{ sb: Sandbox; entry: string }> {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  const pull = await krewWasm(sb, ['pull', from, '--name', name]);
  if (pull.exitCode !== 0) throw new Error(pull.stderr);
  const digest = JSON.parse(fs.readFileSync(path.join(sb.root, `receipts/${name}.json`), 'utf8')).layerDigest as string;
  return { sb, entry: path.join(sb.root, 'store', digest.slice('sha256:'.length)) };
}

const pulledJsecho = (t: { teardown(fn: () => void): void }) => pulled(t);

test("the JS plugin's data is an image beside its core module, and the plugin runs from it", async (t) => {
  const { sb, entry } = await pulledJsecho(t);
  const runs = readEntryMeta(entry).coreStates?.['plugin.core.wasm']?.dataImage ?? [];
  const image = path.join(entry, 'plugin.core.data');
  t.true(runs.length > 0 && runs.length < 100, `${runs.length} runs`);
  t.is(fs.statSync(image).size, runs.reduce((sum, [, length]) => sum + length, 0));
  t.true(fs.statSync(image).size > 3_000_000);
  const r = await runLink(sb, 'jsecho', ['hi'], { env: { JSECHO_VAR: 'x' } });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'args: ["kubectl-jsecho","hi"]\nJSECHO_VAR=x\n');
});

test('an image cut short is a damaged entry, said in one line; its hint repairs it', async (t) => {
  const { sb, entry } = await pulledJsecho(t);
  const image = path.join(entry, 'plugin.core.data');
  const size = fs.statSync(image).size;
  fs.truncateSync(image, size - 1);
  const r = await runLink(sb, 'jsecho', ['hi']);
  t.is(r.exitCode, 1);
  t.is(r.stdout, '');
  const line = theError(r.stderr);
  t.is(line, `krew-wasm: error: plugin jsecho is damaged: cannot read plugin.core.data: is ${size - 1} bytes, not the ${size} its entry records (reinstall it: krew-wasm pull --force ${source} --name jsecho)`);
  const args = /\(reinstall it: krew-wasm (.*)\)$/.exec(line)![1]!.split(' ');
  const repair = await krewWasm(sb, args);
  t.is(repair.exitCode, 0, repair.stderr);
  const again = await runLink(sb, 'jsecho', ['hi']);
  t.is(again.exitCode, 0, again.stderr);
  t.is(fs.statSync(image).size, size);
});

test('an image swapped for a link is not followed', async (t) => {
  const { sb, entry } = await pulledJsecho(t);
  const image = path.join(entry, 'plugin.core.data');
  fs.renameSync(image, `${image}.real`);
  fs.symlinkSync(`${image}.real`, image);
  const r = await runLink(sb, 'jsecho', ['hi']);
  t.is(r.exitCode, 1);
  t.regex(theError(r.stderr), /^krew-wasm: error: plugin jsecho is damaged: cannot load plugin\.core\.data: not a regular file \(reinstall it: /);
});

test("a C command's 384 KiB table runs from its image, as a preview1 module, with and without a memory cap", async (t) => {
  const { sb, entry } = await pulled(t, `file://${path.join(FIXTURES, 'bigdata.core.wasm')}`, 'bigdata');
  t.truthy(readEntryMeta(entry).coreStates?.['preview1.wasm']?.dataImage, 'the module it runs as has an image');
  t.true(fs.existsSync(path.join(entry, 'preview1.data')));
  // What test/fixtures/src/bigdata.c's table holds, computed here.
  const SIZE = 384 * 1024;
  const table = new Uint8Array(SIZE);
  for (let i = 0; i < 32; i++) table[i] = (i * 131 + 7) & 0xff;
  table[SIZE / 2] = 42;
  table[SIZE - 1] = 255;
  let sum = 0;
  let weighted = 0;
  table.forEach((b, i) => {
    sum += b;
    weighted += b * ((i % 4096) + 1);
  });
  const expected = `sum ${sum} weighted ${weighted} first 7 middle 42 last 255\n`;
  const uncapped = await runLink(sb, 'bigdata', []);
  t.is(uncapped.exitCode, 0, uncapped.stderr);
  t.is(uncapped.stdout, expected);
  const grant = await krewWasm(sb, ['grant', 'bigdata', '--max-memory', '64']);
  t.is(grant.exitCode, 0, grant.stderr);
  const capped = await runLink(sb, 'bigdata', []);
  t.is(capped.exitCode, 0, capped.stderr);
  t.is(capped.stdout, expected);
});

test('an entry whose metadata no longer names its data image is not reused by pull: it is made again, and runs with its data', async (t) => {
  const { sb, entry } = await pulledJsecho(t);
  const metaFile = path.join(entry, 'meta.json');
  const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
  delete meta.coreStates['plugin.core.wasm'].dataImage;
  fs.writeFileSync(metaFile, JSON.stringify(meta));
  const again = await krewWasm(sb, ['pull', source, '--name', 'jsecho2']);
  t.is(again.exitCode, 0, again.stderr);
  t.truthy(readEntryMeta(entry).coreStates?.['plugin.core.wasm']?.dataImage, 'made again');
  const r = await runLink(sb, 'jsecho2', ['hi']);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'args: ["kubectl-jsecho2","hi"]\nJSECHO_VAR=(unset)\n');
});
