import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES, krewWasm, makeSandbox, runLink, runProcess, type Sandbox } from '../helpers/cli.js';

let sb: Sandbox;
let outside: string;

test.before(async () => {
  sb = makeSandbox();
  const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe']);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  // A secret beside HOME that the plugin must never see, and links that lead to it.
  outside = path.join(path.dirname(sb.home), 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret'), 'TOP SECRET');
  fs.symlinkSync(path.join(outside, 'secret'), path.join(sb.home, 'abs-link'));
  fs.symlinkSync('../outside/secret', path.join(sb.home, 'rel-link'));
  fs.symlinkSync(outside, path.join(sb.home, 'dir-link'));
  fs.writeFileSync(path.join(sb.home, 'notes.txt'), 'inside home');
});

test.after.always(() => sb?.cleanup());

/** Runs fsprobe with some operations and returns its report lines. */
async function probe(args: string[], cwd?: string): Promise<string[]> {
  const r = await runLink(sb, 'fsprobe', args, { cwd });
  if (r.exitCode !== 0) throw new Error(`fsprobe failed: ${r.stderr}`);
  return r.stdout.trim().split('\n');
}

const refused = (line: string) => /: ERR /.test(line);

test('HOME is readable and writable at its own absolute path', async (t) => {
  const file = path.join(sb.home, 'written-by-plugin.txt');
  const lines = await probe(['read', path.join(sb.home, 'notes.txt'), 'write', file, 'hello', 'read', file]);
  t.deepEqual(lines, [
    `read ${path.join(sb.home, 'notes.txt')}: OK inside home`,
    `write ${file}: OK`,
    `read ${file}: OK hello`,
  ]);
  t.is(fs.readFileSync(file, 'utf8'), 'hello');
});

test('relative paths resolve against the cwd when it is inside HOME', async (t) => {
  const work = path.join(sb.home, 'work');
  fs.mkdirSync(work, { recursive: true });
  const lines = await probe(['write', 'rel.txt', 'x', 'read', 'rel.txt'], work);
  t.deepEqual(lines, ['write rel.txt: OK', 'read rel.txt: OK x']);
  t.is(fs.readFileSync(path.join(work, 'rel.txt'), 'utf8'), 'x');
});

test('outside HOME the plugin gets no cwd and relative paths reach nothing', async (t) => {
  const lines = await probe(['write', 'planted.txt', 'x', 'cwd'], outside);
  t.true(refused(lines[0]), lines[0]);
  t.false(fs.existsSync(path.join(outside, 'planted.txt')));
});

test("a size, offset or cookie of 2^64-1 or past 2^53 is refused, never acted on elsewhere in the plugin's file", async (t) => {
  // V8 hands a u64 over as a signed BigInt: 2^64-1 arrived as -1, and a size of -1 emptied the
  // file; Node writes at a position past 2^53 at the descriptor's own offset (the file's start).
  const u64 = path.join(sb.home, 'u64');
  fs.mkdirSync(u64);
  const [INVAL, FBIG] = [28, 22];
  t.deepEqual(await probe(['u64', 'file'], u64), [
    `u64 set-size max: ${INVAL} 0`,
    `u64 set-size past 2^53: ${FBIG} 0`,
    `u64 pwrite at max: ${INVAL} 0`,
    `u64 pwrite at 2^63: ${INVAL} 0`,
    `u64 pwrite past 2^53: ${FBIG} 0`,
    `u64 pread at max: ${INVAL} 99`,
    'u64 pread past 2^53: 0 0',
    'u64 seek to past 2^53: 0 9007199254740993',
    `u64 write there: ${FBIG} 0`,
    `u64 seek past 2^63: ${INVAL} 0`,
    'u64 readdir at max: 0 0',
    'read file: OK 0123456789',
  ]);
  t.is(fs.readFileSync(path.join(u64, 'file'), 'utf8'), '0123456789');
});

test('preview1 reads its i32s unsigned, and an open whose number cannot be handed back leaves no descriptor', async (t) => {
  // V8 hands an i32 over signed: a count of 2^31 or more arrived negative (a poll of 2^31
  // subscriptions waited forever, a read of 2^32-1 buffers read none and succeeded).
  const [FAULT, INVAL] = [21, 28];
  t.deepEqual(await probe(['abi', 'abi-file']), [
    `abi open with a bad pointer: ${FAULT}, then the same fd`,
    `abi read of 2^32-1 iovecs: ${INVAL}`,
    `abi poll of 2^31 subscriptions: ${INVAL}`,
    `abi clock_res_get(2^32-1): ${INVAL}`,
    `abi poll of event type 7: ${INVAL}`,
  ]);
});

test('a write that stops part-way returns what it wrote, as POSIX and wasmtime', async (t) => {
  // Under a file-size limit of one block the first of two 1000-byte buffers is written part-way.
  const link = path.join(sb.root, 'bin', 'kubectl-fsprobe');
  const r = await runProcess('sh', ['-c', 'ulimit -f 1 && exec "$0" "$@"', link, 'split', 'split-file'], { cwd: sb.home, env: sb.env });
  t.is(r.exitCode, 0, r.stderr);
  const size = fs.statSync(path.join(sb.home, 'split-file')).size;
  t.true(size > 0 && size < 1000, `${size}`);
  t.is(r.stdout, `split: 0 ${size} at ${size}\n`);
});

const escapes: [string, string[]][] = [
  ['/etc/passwd', ['read', '/etc/passwd']],
  ['an absolute path outside HOME', ['read', '__OUTSIDE__/secret']],
  ['HOME/../.. chains', ['read', '__HOME__/../../etc/passwd']],
  ['HOME/.. to a sibling', ['read', '__HOME__/../outside/secret']],
  ['an absolute symlink leaving HOME', ['read', '__HOME__/abs-link']],
  ['a relative symlink leaving HOME', ['read', '__HOME__/rel-link']],
  ['a directory symlink leaving HOME', ['read', '__HOME__/dir-link/secret']],
  ['/proc/self/environ', ['read', '/proc/self/environ']],
  ['writing outside HOME', ['write', '__OUTSIDE__/planted', 'x']],
  ['writing through a symlink leaving HOME', ['write', '__HOME__/dir-link/planted', 'x']],
];

for (const [title, ops] of escapes) {
  test(`refused: ${title}`, async (t) => {
    const args = ops.map((a) => a.replace('__HOME__', sb.home).replace('__OUTSIDE__', outside));
    const lines = await probe(args);
    t.log(`attempt: ${args.join(' ')}  ->  ${lines[0].replace(/^\S+ \S+: /, '')}`);
    t.is(lines.length, 1);
    t.true(refused(lines[0]), lines[0]);
    t.false(lines[0].includes('TOP SECRET'));
    t.false(lines[0].includes('root:'));
    t.false(fs.existsSync(path.join(outside, 'planted')));
    t.is(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'TOP SECRET');
  });
}

test('refused: a symlink planted inside HOME pointing out cannot be followed afterwards', async (t) => {
  const link = path.join(sb.home, 'planted-link');
  const lines = await probe(['symlink', outside, link, 'read', `${link}/secret`, 'write', `${link}/evil`, 'x']);
  t.true(refused(lines[1]), lines[1]);
  t.true(refused(lines[2]), lines[2]);
  t.false(fs.existsSync(path.join(outside, 'evil')));
});

test('refused: a symlink loop inside HOME ends in an error, not a hang', async (t) => {
  fs.symlinkSync('loop-b', path.join(sb.home, 'loop-a'));
  fs.symlinkSync('loop-a', path.join(sb.home, 'loop-b'));
  const [line] = await probe(['read', path.join(sb.home, 'loop-a')]);
  t.true(refused(line), line);
});

test('refused: very long paths, inside and outside HOME', async (t) => {
  const long = `${sb.home}/${'a/'.repeat(2500)}x`;
  const escaping = `${sb.home}/${'../'.repeat(1000)}etc/passwd`;
  const lines = await probe(['read', long, 'read', escaping]);
  t.true(refused(lines[0]));
  t.true(refused(lines[1]));
  t.false(lines[1].includes('root:'));
});

test('odd bytes in names: fine inside HOME, still refused outside', async (t) => {
  const odd = path.join(sb.home, 'odd\u0001 name\twith tab');
  const lines = await probe(['write', odd, 'ok', 'write', path.join(outside, 'odd\u0001'), 'x']);
  t.is(lines[0], `write ${odd}: OK`);
  t.is(fs.readFileSync(odd, 'utf8'), 'ok');
  t.true(lines.some((l) => /: ERR /.test(l)));
  t.false(fs.readdirSync(outside).some((n) => n.startsWith('odd')));
});

test('a hostile component calling open-at with NUL bytes in paths gets `invalid`, and the host survives', async (t) => {
  const r = await krewWasm(sb, ['run', path.join(FIXTURES, 'nulpath.wasm')]);
  t.is(r.exitCode, 0, r.stderr);
  // error-code 12 is `invalid` in wasi:filesystem/types
  t.is(r.stdout, 'err 12\nerr 12\nerr 12\n');
  t.is(r.stderr, '');
});

test('listing / shows nothing of the host root', async (t) => {
  const [line] = await probe(['ls', '/']);
  const hostOnly = fs.readdirSync('/').filter((e) => !fs.existsSync(path.join(sb.home, e)));
  t.true(hostOnly.length > 3);
  for (const hostEntry of hostOnly) t.false(line.split(' ').includes(hostEntry), `${hostEntry} visible in: ${line}`);
});

test('refused: a hard link to a file outside HOME', async (t) => {
  const lines = await probe(['link', path.join(outside, 'secret'), path.join(sb.home, 'hard')]);
  t.true(refused(lines[0]), lines[0]);
  t.false(fs.existsSync(path.join(sb.home, 'hard')));
});

test('refused: renaming a HOME file out of HOME', async (t) => {
  const victim = path.join(sb.home, 'victim.txt');
  fs.writeFileSync(victim, 'v');
  const lines = await probe(['rename', victim, path.join(outside, 'victim.txt')]);
  t.true(refused(lines[0]), lines[0]);
  t.true(fs.existsSync(victim));
  t.false(fs.existsSync(path.join(outside, 'victim.txt')));
});

test('refused: moving a folder above another grant away, to leave a symlink in its place for the next run', async (t) => {
  const root = path.join(path.dirname(sb.home), 'nested-grants');
  fs.mkdirSync(path.join(root, 'sub', 'etc'), { recursive: true });
  const pulled = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'nested', '--fs', 'none', '--allow-dir', root, '--allow-dir', path.join(root, 'sub', 'etc')]);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const r = await runLink(sb, 'nested', ['rename', path.join(root, 'sub'), path.join(root, 'sub.old'), 'symlink', '../..', path.join(root, 'sub')]);
  const lines = r.stdout.trim().split('\n');
  t.true(refused(lines[0]), lines[0]);
  t.true(fs.statSync(path.join(root, 'sub', 'etc')).isDirectory());
  t.false(fs.lstatSync(path.join(root, 'sub')).isSymbolicLink());
  t.false(fs.existsSync(path.join(root, 'sub.old')));
});

test("refused: replacing the symlink another plugin's grant names, or making the missing folder it names, for that plugin's next run", async (t) => {
  // fsprobe may write all of HOME; `reader` may read two folders named in HOME, one through a link.
  const real = path.join(path.dirname(sb.home), 'shared-real');
  fs.mkdirSync(real);
  fs.writeFileSync(path.join(real, 'note'), 'shared');
  const link = path.join(sb.home, 'shared-link');
  fs.symlinkSync(real, link);
  const gone = path.join(sb.home, 'granted-then-removed');
  fs.mkdirSync(gone);
  const pulled = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'reader', '--fs', 'none', '--allow-dir', `${link}:ro`, '--allow-dir', `${gone}:ro`]);
  t.is(pulled.exitCode, 0, pulled.stderr);
  fs.rmdirSync(gone); // by the user: the grant stays, naming a folder that is missing
  const lines = await probe(['unlink', link, 'rename', link, `${link}.old`, 'symlink', '../outside', gone, 'mkdir', gone]);
  t.is(lines.length, 4, lines.join('\n'));
  for (const line of lines) t.true(refused(line), line);
  t.is(fs.readlinkSync(link), real);
  t.false(fs.existsSync(gone));
  fs.mkdirSync(gone);
  const r = await runLink(sb, 'reader', ['read', path.join(link, 'note')]);
  t.is(r.stdout, `read ${path.join(link, 'note')}: OK shared\n`, r.stderr);
});

test("refused: replacing a folder granted to another plugin while this plugin's run goes on", async (t) => {
  // fsprobe changes a name first (so its run has read the grants), then waits on stdin while the
  // user grants `later` a folder in HOME, then tries to put a link out of HOME in its place.
  const late = path.join(sb.home, 'granted-meanwhile');
  fs.mkdirSync(late);
  const pulled = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'later', '--fs', 'none']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const started = path.join(sb.home, 'meanwhile-started');
  const child = spawn(path.join(sb.root, 'bin', 'kubectl-fsprobe'), ['write', started, 'x', 'stdin', 'rename', late, `${late}.old`, 'symlink', '../outside', late], { cwd: sb.home, env: sb.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const closed = new Promise((resolve) => child.on('close', resolve));
  for (let i = 0; i < 1200 && !fs.existsSync(started); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  const granted = await krewWasm(sb, ['grant', 'later', '--allow-dir', `${late}:ro`]);
  t.is(granted.exitCode, 0, granted.stderr);
  child.stdin.end();
  await closed;
  const lines = stdout.trim().split('\n');
  t.deepEqual(lines.slice(0, 2), [`write ${started}: OK`, 'stdin: 0 bytes'], stdout);
  t.true(refused(lines[2]), lines[2]);
  t.true(refused(lines[3]), lines[3]);
  t.true(fs.lstatSync(late).isDirectory());
  t.false(fs.existsSync(`${late}.old`));
});

test("a run started in krew-wasm's own folders gets no cwd, as outside HOME, and goes on: it once ended at its first use of a file (attack 106)", async (t) => {
  const inStore = path.join(sb.root, 'receipts');
  const lines = await probe(['write', 'planted.txt', 'x', 'read', path.join(sb.home, 'free.txt'), 'write', path.join(sb.home, 'free.txt'), 'y'], inStore);
  t.true(refused(lines[0]), lines[0]);
  t.false(fs.existsSync(path.join(inStore, 'planted.txt')));
  t.is(lines[2], `write ${path.join(sb.home, 'free.txt')}: OK`);
});
