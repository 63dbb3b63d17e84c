import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { load } from 'js-yaml';
import { BIN, FIXTURES, krewWasm, krewWasmInTerminal, makeSandbox, runProcess, theError, type Sandbox } from '../helpers/cli.js';

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
  t.deepEqual(load(yaml.stdout), receipts);
  t.regex(yaml.stdout, /^- apiVersion: krew-wasm\/v1\n/);
});

test('output to a file is what a pipe gets; a reader that is gone before it reads ends the command quietly', async (t) => {
  const file = path.join(sb.home, 'list.json');
  const fd = fs.openSync(file, 'w');
  const toFile = spawn(process.execPath, [BIN, 'list', '-o', 'json'], { cwd: sb.home, env: sb.env, stdio: ['ignore', fd, 'inherit'] });
  fs.closeSync(fd);
  t.is(await new Promise((resolve) => toFile.on('close', resolve)), 0);
  t.is(fs.readFileSync(file, 'utf8'), (await krewWasm(sb, ['list', '-o', 'json'])).stdout);

  const gone = spawn(process.execPath, [BIN, 'list', '-o', 'json'], { cwd: sb.home, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
  gone.stdout.destroy(); // long before Node has started in the child
  let stderr = '';
  gone.stderr.on('data', (d) => (stderr += d));
  t.is(await new Promise((resolve) => gone.on('close', resolve)), 0);
  t.is(stderr, '');
});

test('output that cannot be written (stdout on /dev/full) is one error line and exit 1, completion included', async (t) => {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  for (const args of [['list'], ['version'], ['--help'], ['__complete', '']]) {
    const r = await runProcess('sh', ['-c', `exec ${[process.execPath, BIN, ...args].map(quote).join(' ')} > /dev/full`], { cwd: sb.home, env: sb.env });
    t.is(r.exitCode, 1, args.join(' '));
    t.is(theError(r.stderr), 'krew-wasm: error: cannot write the output: no space left on its device (send stdout elsewhere)');
  }
});

test('output of many times a pipe\'s capacity reaches a slow reader whole', async (t) => {
  const many = makeSandbox();
  t.teardown(() => many.cleanup());
  const r = await krewWasm(many, ['pull', `file://${path.join(FIXTURES, 'hello.wasm')}`]);
  t.is(r.exitCode, 0, r.stderr);
  const receipt = JSON.parse(fs.readFileSync(path.join(many.root, 'receipts/hello.json'), 'utf8'));
  for (let i = 0; i < 400; i++) {
    const name = `p${String(i).padStart(3, '0')}`;
    fs.writeFileSync(path.join(many.root, `receipts/${name}.json`), JSON.stringify({ ...receipt, name }));
    fs.symlinkSync(BIN, path.join(many.root, `bin/kubectl-${name}`));
  }
  // A shell pipe (64 KiB) whose reader starts late: the writer fills it and waits. Then the same
  // pipe made non-blocking by the process that hands it over (writes then fail with EAGAIN).
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const list = [process.execPath, BIN, 'list', '-o', 'json'];
  const nonBlocking = ['python3', '-c', 'import fcntl, os, sys; fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK); os.execv(sys.argv[1], sys.argv[1:])', ...list];
  for (const writer of [list, nonBlocking]) {
    const out = path.join(many.home, 'out.json');
    const piped = await runProcess('sh', ['-c', `${writer.map(quote).join(' ')} | { sleep 0.3; cat > ${quote(out)}; }`], { cwd: many.home, env: many.env });
    t.is(piped.exitCode, 0, piped.stderr);
    t.is(piped.stderr, '');
    t.true(fs.statSync(out).size > 3 * 65536, `${fs.statSync(out).size} bytes`);
    t.is(JSON.parse(fs.readFileSync(out, 'utf8')).length, 401);
  }
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
