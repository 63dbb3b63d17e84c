import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, FIXTURES, krewWasm, makeSandbox, runLink } from '../helpers/cli.js';
import { storeProblems } from '../helpers/storeCheck.js';

const source = (f: string) => `file://${path.join(FIXTURES, f)}`;

test('concurrent pulls of different plugins from separate processes all land', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const names = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
  const results = await Promise.all(names.map((n, i) => krewWasm(sb, ['pull', source(i % 2 ? 'hello.wasm' : 'exitcode.wasm'), '--name', n])));
  for (const r of results) t.is(r.exitCode, 0, r.stderr);
  t.is((await krewWasm(sb, ['list'])).stdout, names.map((n) => `${n}\n`).join(''));
  t.deepEqual(storeProblems(sb.root), []);
  t.is((await runLink(sb, 'a2', [])).stdout, 'hello from wasm\n');
  t.is(fs.readdirSync(path.join(sb.root, 'store')).length, 2, 'entries are shared by digest');
});

test('concurrent pulls of one name: one wins, the others say it is installed', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const results = await Promise.all([1, 2, 3, 4].map(() => krewWasm(sb, ['pull', source('hello.wasm'), '--name', 'same'])));
  const ok = results.filter((r) => r.exitCode === 0);
  t.is(ok.length, 1);
  for (const r of results.filter((x) => x.exitCode !== 0)) t.regex(r.stderr, /plugin "same" is already installed/);
  t.deepEqual(storeProblems(sb.root), []);
});

test('concurrent forced pulls and removals leave a consistent store', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const ops = [
    ['pull', '--force', source('hello.wasm'), '--name', 'x'],
    ['pull', '--force', source('exitcode.wasm'), '--name', 'x'],
    ['rm', 'x'],
    ['pull', '--force', source('echo.wasm'), '--name', 'y'],
    ['rm', 'y'],
    ['pull', '--force', source('hello.wasm'), '--name', 'x'],
  ];
  const results = await Promise.all(ops.map((args) => krewWasm(sb, args)));
  for (const r of results) {
    if (r.exitCode !== 0) t.regex(r.stderr, /^krew-wasm: error: plugins? "[xy]"(, "[xy]")? (is|are) not installed/m);
  }
  t.deepEqual(storeProblems(sb.root), []);
});

test('a pull killed with SIGKILL at random points never leaves a half-installed plugin', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  t.is((await krewWasm(sb, ['pull', source('hello.wasm'), '--name', 'stable'])).exitCode, 0);
  const rounds = 12;
  for (let i = 0; i < rounds; i++) {
    const child = spawn(process.execPath, [BIN, 'pull', '--force', source(i % 2 ? 'echo.wasm' : 'exitcode.wasm'), '--name', 'victim'], {
      env: sb.env,
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 100 + ((i * 97) % 900)));
    child.kill('SIGKILL');
    await exited;
    // The next command repairs what the killed one left; then the store must be consistent.
    const list = await krewWasm(sb, ['list']);
    t.is(list.exitCode, 0, list.stderr);
    t.deepEqual(storeProblems(sb.root), [], `round ${i}`);
    const names = list.stdout.trim().split('\n');
    t.true(names.includes('stable'));
    if (names.includes('victim')) {
      const run = await runLink(sb, 'victim', ['0']);
      t.true(run.exitCode === 0, `victim runs after round ${i}: ${run.stderr}`);
    }
  }
  t.is((await runLink(sb, 'stable', [])).stdout, 'hello from wasm\n');
});
