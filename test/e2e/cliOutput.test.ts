import test from 'ava';
import path from 'node:path';
import YAML from 'yaml';
import { FIXTURES, krewWasm, krewWasmInTerminal, makeSandbox, type Sandbox } from '../helpers/cli.js';

let sb: Sandbox;

test.before(async () => {
  sb = makeSandbox();
  for (const name of ['hello', 'echo']) {
    const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, `${name}.wasm`)}`]);
    if (r.exitCode !== 0) throw new Error(r.stderr);
  }
});

test.after.always(() => sb?.cleanup());

test('list -o json and -o yaml print the same receipts on stdout, nothing on stderr', async (t) => {
  const json = await krewWasm(sb, ['list', '-o', 'json']);
  const yaml = await krewWasm(sb, ['list', '--output=yaml']);
  t.is(json.exitCode, 0, json.stderr);
  t.is(yaml.exitCode, 0, yaml.stderr);
  t.is(json.stderr + yaml.stderr, '');
  const receipts = JSON.parse(json.stdout);
  t.deepEqual(receipts.map((r: { name: string }) => r.name), ['echo', 'hello']);
  t.is(receipts[1].layerDigest.slice(0, 7), 'sha256:');
  t.deepEqual(YAML.parse(yaml.stdout), receipts);
  t.regex(yaml.stdout, /^- apiVersion: krew-wasm\/v1\n/);
});

test('list -o name, and bare names by default when piped (as krew)', async (t) => {
  t.is((await krewWasm(sb, ['list', '-o', 'name'])).stdout, 'echo\nhello\n');
  t.is((await krewWasm(sb, ['ls'])).stdout, 'echo\nhello\n');
});

test('list -o table, and a table by default on a terminal', async (t) => {
  const table = await krewWasm(sb, ['list', '-o', 'table']);
  const lines = table.stdout.trimEnd().split('\n');
  t.regex(lines[0], /^NAME {3,}REFERENCE {3,}DIGEST {3,}SIZE {3,}PULLED$/);
  t.regex(lines[1], /^echo {3,}file:\/\/\S+echo\.wasm {3,}sha256:[0-9a-f]{12} {3,}\d+(\.\d)? (B|KiB) {3,}\d{4}-\d\d-\d\dT/);
  t.is(lines.length, 3);
  const tty = await krewWasmInTerminal(sb, ['list']);
  t.is(tty.stdout.trimEnd().split('\n')[0], lines[0]);
});
