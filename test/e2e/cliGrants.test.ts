import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES, krewWasm, kubectl, makeSandbox, storeSnapshot, theError, type Sandbox } from '../helpers/cli.js';
import { makeLongWay, removeLongWay } from '../helpers/longWay.js';

let sb: Sandbox;

test.before(async () => {
  sb = makeSandbox();
  for (const [file, name] of [['echo.wasm', 'envs'], ['echo.wasm', 'legacy'], ['fsprobe.core.wasm', 'probe']]) {
    const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, file)}`, '--name', name]);
    if (r.exitCode !== 0) throw new Error(r.stderr);
  }
});

test.after.always(() => sb?.cleanup());

/** The environment the echo plugin saw, through real kubectl, as NAME=VALUE lines. */
async function seenEnv(name: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const r = await kubectl(sb, [name], { env });
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return r.stdout.split('--\n')[1].trim().split('\n');
}

test.serial('revoke --env A on a plugin that sees all variables hides A and keeps the others', async (t) => {
  const env = { AWS_PROFILE: 'prod', KEEP_ME: 'yes' };
  t.true((await seenEnv('envs', env)).includes('AWS_PROFILE=prod'));
  const r = await krewWasm(sb, ['revoke', 'envs', '--env', 'AWS_PROFILE']);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stderr, /^ {2}environment: all variables except AWS_PROFILE$/m);
  const seen = await seenEnv('envs', env);
  t.false(seen.some((l) => l.startsWith('AWS_PROFILE=')));
  t.true(seen.includes('KEEP_ME=yes'));
  t.true(seen.includes(`HOME=${sb.home}`));
  await krewWasm(sb, ['revoke', 'envs', '--env', 'all']);
  t.deepEqual(await seenEnv('envs', env), ['']);
});

test.serial('a receipt written by an older krew-wasm (env "all" or a list) keeps working and migrates', async (t) => {
  const file = path.join(sb.root, 'receipts/legacy.json');
  const receipt = JSON.parse(fs.readFileSync(file, 'utf8'));
  fs.writeFileSync(file, JSON.stringify({ ...receipt, grants: { ...receipt.grants, env: 'all' } }));
  t.true((await seenEnv('legacy', { OLD_VAR: '1' })).includes('OLD_VAR=1'));
  t.is((await krewWasm(sb, ['revoke', 'legacy', '--env', 'OLD_VAR'])).exitCode, 0);
  t.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')).grants.env, { mode: 'all-except', names: ['OLD_VAR'] });
  fs.writeFileSync(file, JSON.stringify({ ...receipt, grants: { ...receipt.grants, env: ['ONLY'] } }));
  t.deepEqual(await seenEnv('legacy', { ONLY: 'a', OTHER: 'b' }), ['ONLY=a']);
});

test.serial('grant --allow-dir refuses a folder that does not exist, and a file; the hint works', async (t) => {
  const before = storeSnapshot(sb.root);
  const missing = path.join(sb.home, 'manifests');
  const r = await krewWasm(sb, ['grant', 'probe', '--allow-dir', `${missing}:ro`]);
  t.is(r.exitCode, 2);
  t.is(theError(r.stderr), `krew-wasm: error: --allow-dir ${missing} does not exist (create it first (mkdir -p ${missing}) or correct the path)`);
  fs.writeFileSync(path.join(sb.home, 'a-file'), '');
  const file = await krewWasm(sb, ['grant', 'probe', '--allow-dir', path.join(sb.home, 'a-file')]);
  t.is(file.exitCode, 2);
  t.is(theError(file.stderr), `krew-wasm: error: --allow-dir ${path.join(sb.home, 'a-file')} is a file, not a folder (give the path of a folder)`);
  const pull = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'hello.wasm')}`, '--allow-dir', missing]);
  t.is(pull.exitCode, 2);
  t.deepEqual(storeSnapshot(sb.root), before);
  fs.mkdirSync(missing, { recursive: true }); // the hint, followed
  const ok = await krewWasm(sb, ['grant', 'probe', '--allow-dir', `${missing}:ro`]);
  t.is(ok.exitCode, 0, ok.stderr);
  t.regex(ok.stderr, new RegExp(`files: ${missing} \\(read-only\\)`));
});

test.serial('a folder granted through a link says where the link leads, in grant and info', async (t) => {
  const real = fs.mkdtempSync(path.join(path.dirname(sb.home), 'linked-'));
  const link = path.join(sb.home, 'linked-manifests');
  fs.symlinkSync(real, link);
  const r = await krewWasm(sb, ['grant', 'probe', '--allow-dir', `${link}:ro`]);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stderr, new RegExp(`^ {2}files: ${link} \\(read-only; through a link, it is now ${real}\\)$`, 'm'));
  const info = await krewWasm(sb, ['info', 'probe']);
  t.true(info.stdout.includes(`files: ${link} (read-only; through a link, it is now ${real})`), info.stdout);
  t.is((await krewWasm(sb, ['revoke', 'probe', '--allow-dir', link])).exitCode, 0);
  // Where a link leads may be another plugin's choice: a name that would write to the terminal is shown escaped.
  const odd = path.join(real, 'title\x1b]0;pwned\x07\x9b31m');
  fs.mkdirSync(odd);
  fs.rmSync(link);
  fs.symlinkSync(odd, link);
  const escaped = await krewWasm(sb, ['grant', 'probe', '--allow-dir', `${link}:ro`]);
  t.is(escaped.exitCode, 0, escaped.stderr);
  t.false(/[\x1b\x07\x9b]/.test(escaped.stderr), escaped.stderr);
  t.true(escaped.stderr.includes(`it is now ${JSON.stringify(odd).replace('\x9b', '\\u009b')})`), escaped.stderr);
  // Invisible and right-to-left characters too: they would show as another path.
  const hidden = path.join(real, 'late\u200b\u202e');
  fs.mkdirSync(hidden);
  fs.rmSync(link);
  fs.symlinkSync(hidden, link);
  const shown = await krewWasm(sb, ['grant', 'probe', '--allow-dir', `${link}:ro`]);
  t.true(shown.stderr.includes(`it is now "${real}/late\\u200b\\u202e")`), shown.stderr);
  // A link that no longer resolves says so.
  fs.rmdirSync(hidden);
  const gone = await krewWasm(sb, ['info', 'probe']);
  t.true(gone.stdout.includes(`files: ${link} (read-only; where it leads cannot be resolved now)`), gone.stdout);
  t.is((await krewWasm(sb, ['revoke', 'probe', '--allow-dir', link])).exitCode, 0);
});

test.serial('grant --allow-dir refuses a path that leads through /proc (a link to /proc/self/cwd follows the process); the hint works', async (t) => {
  const before = storeSnapshot(sb.root);
  const link = path.join(sb.home, 'follows-cwd');
  fs.symlinkSync('/proc/self/cwd', link);
  const r = await krewWasm(sb, ['grant', 'probe', '--allow-dir', `${link}:ro`]);
  t.is(r.exitCode, 2);
  t.is(theError(r.stderr), `krew-wasm: error: --allow-dir ${link} leads through the kernel's own filesystems (/proc, /sys, /dev), which no plugin may reach (grant the folder itself, by its own path)`);
  t.deepEqual(storeSnapshot(sb.root), before);
  const itself = await krewWasm(sb, ['grant', 'probe', '--allow-dir', `${sb.home}:ro`]); // the hint, followed: the folder it led to, by its own path
  t.is(itself.exitCode, 0, itself.stderr);
  t.is((await krewWasm(sb, ['revoke', 'probe', '--allow-dir', sb.home])).exitCode, 0);
});

test.serial('a granted folder that disappears later: the run says which plugin to revoke it from, and that works', async (t) => {
  // A granted folder whose path is the start of this one's (`gone`, `gone2`) is not the one named.
  const dir = path.join(sb.home, 'gone2');
  const prefix = path.join(sb.home, 'gone');
  fs.mkdirSync(dir);
  fs.mkdirSync(prefix);
  t.is((await krewWasm(sb, ['grant', 'probe', '--allow-dir', prefix, '--allow-dir', dir])).exitCode, 0);
  fs.rmSync(dir, { recursive: true });
  const r = await kubectl(sb, ['probe', 'ls', sb.home]);
  t.is(r.exitCode, 1);
  const line = theError(r.stderr);
  t.is(line, `krew-wasm: error: granted folder ${dir} does not exist (krew-wasm revoke probe --allow-dir ${dir})`);
  const hint = /\((krew-wasm revoke .*)\)$/.exec(line)![1].split(' ').slice(1);
  t.is((await krewWasm(sb, hint)).exitCode, 0);
  t.is((await kubectl(sb, ['probe', 'ls', sb.home])).exitCode, 0);
  t.is((await krewWasm(sb, ['revoke', 'probe', '--allow-dir', prefix])).exitCode, 0);
});

test.serial('a plugin that imports no filesystem interface is given no folder: one granted to it that disappeared does not stop it', async (t) => {
  // hello imports stdout alone: no grant of files can reach it, so none is opened for it.
  const dir = path.join(sb.home, 'gone-too');
  fs.mkdirSync(dir);
  const pulled = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'hello.wasm')}`, '--name', 'nofs', '--allow-dir', dir]);
  t.is(pulled.exitCode, 0, pulled.stderr);
  t.is((await kubectl(sb, ['nofs'])).stdout, 'hello from wasm\n');
  fs.rmSync(dir, { recursive: true });
  const r = await kubectl(sb, ['nofs']);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'hello from wasm\n', 'where a plugin that imports the filesystem is stopped (the test above)');
});

test.serial('a folder whose way cannot be followed to its end is refused by grant and by the run; both hints work', async (t) => {
  // A plugin may write such links (each short, their way spelled out longer than PATH_MAX): what it reaches cannot be checked.
  const base = fs.mkdtempSync(path.join(sb.home, 'longway-'));
  t.teardown(() => removeLongWay(base));
  const { link, first } = makeLongWay(base);
  const r = await krewWasm(sb, ['grant', 'probe', '--allow-dir', `${link}:ro`]);
  t.is(r.exitCode, 2);
  t.is(theError(r.stderr), `krew-wasm: error: --allow-dir ${link} cannot be followed to its end (its links loop, make a path longer than the system allows, or name what is not UTF-8), so what it reaches cannot be checked (grant the folder itself, by its own path)`);
  const itself = await krewWasm(sb, ['grant', 'probe', '--allow-dir', `${first}:ro`]); // the hint, followed
  t.is(itself.exitCode, 0, itself.stderr);
  // A receipt that names such a way (written before this check, or made so since): the run refuses it.
  const file = path.join(sb.root, 'receipts/probe.json');
  const receipt = JSON.parse(fs.readFileSync(file, 'utf8'));
  receipt.grants.dirs = receipt.grants.dirs.map((d: { path: string }) => (d.path === first ? { ...d, path: link } : d));
  fs.writeFileSync(file, JSON.stringify(receipt));
  const run = await kubectl(sb, ['probe', 'ls', link]);
  t.is(run.exitCode, 1);
  t.is(theError(run.stderr), `krew-wasm: error: granted folder ${link} cannot be followed to its end (its links loop, make a path longer than the system allows, or name what is not UTF-8), so what it reaches cannot be checked (krew-wasm revoke probe --allow-dir ${link})`);
  t.is((await krewWasm(sb, ['revoke', 'probe', '--allow-dir', link])).exitCode, 0); // that hint, followed
  t.is((await kubectl(sb, ['probe', 'ls', sb.home])).exitCode, 0);
});
