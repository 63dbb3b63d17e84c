import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES, krewWasm, makeSandbox, ROOT, runLink, runProcess, theError, type Sandbox } from '../helpers/cli.js';
import { RUNTIME_PACKAGES } from '../../src/hostPaths.js';

/**
 * The sandbox boundary against hostile plugins built from source (issue: "a sandbox that holds"):
 * the krew-wasm store and krew-wasm's own code out of reach whatever the grants, stale descriptors
 * that cannot be redirected, read-only by location. Each case asserts the refusal AND that the
 * host file was neither read (its contents never appear) nor changed; t.log keeps the attempt table.
 */

let sb: Sandbox;
let outside: string;
let storeFile: string;
let receipt: string;

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const refused = (line: string) => /: ERR /.test(line);

async function pull(name: string, ...grants: string[]): Promise<void> {
  const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', name, '--force', ...grants]);
  if (r.exitCode !== 0) throw new Error(r.stderr);
}

/** Runs fsprobe under `name` and returns its report lines, logging each attempt. */
function probe(t: { log(...v: unknown[]): void }, name: string, args: string[], cwd?: string): Promise<string[]> {
  return probeIn(t, sb, name, args, cwd);
}

/** probe() in another sandbox. */
async function probeIn(t: { log(...v: unknown[]): void }, box: Sandbox, name: string, args: string[], cwd?: string): Promise<string[]> {
  const r = await runLink(box, name, args, { cwd });
  if (r.exitCode !== 0) throw new Error(`fsprobe failed (${r.exitCode}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  t.log(`attempt: ${args.join(' ')}\n  -> ${lines.join('\n  -> ')}`);
  return lines;
}

test.before(async () => {
  sb = makeSandbox();
  outside = path.join(path.dirname(sb.home), 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret'), 'TOP SECRET');
  await pull('fsprobe');
  await pull('victim');
  const entry = fs.readdirSync(path.join(sb.root, 'store'))[0];
  storeFile = path.join(sb.root, 'store', entry, 'plugin.script.js');
  receipt = path.join(sb.root, 'receipts', 'fsprobe.json');
});

test.after.always(() => sb?.cleanup());

/** The store before and after: the same files with the same bytes. */
function storeFingerprint(): string {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile() && !e.name.endsWith('.cache')) out.push(`${path.relative(sb.root, full)} ${sha(full)}`);
      else if (e.isSymbolicLink()) out.push(`${path.relative(sb.root, full)} -> ${fs.readlinkSync(full)}`);
    }
  };
  for (const d of ['bin', 'receipts', 'store']) walk(path.join(sb.root, d));
  return out.sort().join('\n');
}

test.serial('the store is out of reach with the default grants (HOME read-write): no read, write, rename, link, symlink or listing', async (t) => {
  const before = storeFingerprint();
  const entryDir = path.dirname(storeFile);
  const lines = await probe(t, 'fsprobe', [
    'read', storeFile,
    'write', storeFile, 'require("child_process").execSync("id > /tmp/owned")',
    'write', receipt, '{"apiVersion":"krew-wasm/v1","grants":{"filesystem":"home","dirs":[{"path":"/","readOnly":false}]}}',
    'ls', sb.root,
    'ls', entryDir,
    'rename', sb.root, path.join(sb.home, 'moved-store'),
    'rename', path.join(sb.root, 'receipts'), path.join(sb.home, 'moved-receipts'),
    'symlink', '.krew-wasm/store', path.join(sb.home, 'store-link'),
    'read', path.join(sb.home, 'store-link', path.basename(entryDir), 'meta.json'),
    'link', storeFile, path.join(sb.home, 'hard-link'),
    'unlink', receipt,
    'rmdir', path.join(sb.root, 'lock-attempt'),
    'mkdir', path.join(sb.root, 'tmp', 'planted'),
  ]);
  const attempts = lines.filter((l) => !l.startsWith('symlink '));
  for (const line of attempts) t.true(refused(line), line);
  t.false(lines.join('\n').includes('"apiVersion"'), 'a receipt was read');
  t.false(lines.join('\n').includes('instantiate'), 'store code was read');
  t.is(storeFingerprint(), before);
  t.false(fs.existsSync(path.join(sb.home, 'moved-store')));
  t.false(fs.existsSync(path.join(sb.home, 'hard-link')));
  // The victim plugin still runs its own code.
  const victim = await runLink(sb, 'victim', ['env', 'HOME']);
  t.is(victim.exitCode, 0, victim.stderr);
  t.false(fs.existsSync('/tmp/owned'));
});

test.serial('a store reached through an --allow-dir folder that contains it, or through a symlink, is still out of reach', async (t) => {
  const parent = path.dirname(sb.home);
  await pull('wide', '--fs', 'none', '--allow-dir', parent);
  const before = storeFingerprint();
  const link = path.join(outside, 'to-store');
  fs.symlinkSync(sb.root, link);
  t.teardown(() => fs.rmSync(link, { force: true }));
  const lines = await probe(t, 'wide', [
    'read', receipt,
    'write', storeFile, 'x',
    'read', path.join(link, 'receipts', 'fsprobe.json'),
    'ls', path.join(link, 'store'),
    'read', path.join(outside, 'secret'),
  ]);
  for (const line of lines.slice(0, 4)) t.true(refused(line), line);
  t.is(lines[4], `read ${path.join(outside, 'secret')}: OK TOP SECRET`, 'the rest of the granted folder is readable');
  t.is(storeFingerprint(), before);
});

test.serial("krew-wasm's own code is out of reach: a folder granted around it does not open it, a folder inside it is refused", async (t) => {
  const wrapper = path.join(ROOT, 'dist', 'wrapper', 'wrapper.js');
  const before = sha(wrapper);
  await pull('around', '--fs', 'none', '--allow-dir', path.dirname(ROOT));
  const lines = await probe(t, 'around', ['read', wrapper, 'write', wrapper, 'x', 'ls', ROOT]);
  for (const line of lines) t.true(refused(line), line);
  t.is(sha(wrapper), before);
  // Refused when granted...
  const dist = path.join(ROOT, 'dist');
  const granted = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'inside', '--fs', 'none', '--allow-dir', dist]);
  t.is(granted.exitCode, 2);
  t.is(theError(granted.stderr), `krew-wasm: error: --allow-dir ${dist} is inside krew-wasm's own files (its store or its code), which no plugin may reach (grant a folder outside them)`);
  t.false(fs.existsSync(path.join(sb.root, 'receipts', 'inside.json')));
  // ...and when run: a granted symlink that points into them since. The run ends at the plugin's
  // first use of its filesystem, before anything is read; a run that reaches no file is not
  // stopped (its folders are checked at their first use: preopens.ts DeferredFs).
  const link = path.join(sb.home, 'later-inside');
  fs.symlinkSync(outside, link);
  await pull('inside', '--fs', 'none', '--allow-dir', link);
  const component = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'nulpath.wasm')}`, '--name', 'inside-component', '--fs', 'none', '--allow-dir', link]);
  t.is(component.exitCode, 0, component.stderr);
  fs.rmSync(link);
  fs.symlinkSync(dist, link);
  const message = `krew-wasm: error: granted folder ${link} is inside krew-wasm's own files (its store or its code), which no plugin may reach (krew-wasm revoke inside --allow-dir ${link})`;
  for (const args of [['read', path.join(link, 'wrapper', 'wrapper.js')], ['ls', link], ['ls', `${link}/`, 'read', path.join(outside, 'secret')]]) {
    const r = await runLink(sb, 'inside', args);
    t.is(r.exitCode, 1, args.join(' '));
    t.is(theError(r.stderr), message);
    t.is(r.stdout, '');
  }
  // A component asks for its folders (wasi:filesystem/preopens) before it can reach one.
  const viaComponent = await runLink(sb, 'inside-component', []);
  t.is(viaComponent.exitCode, 1);
  t.is(theError(viaComponent.stderr), message.replace('revoke inside ', 'revoke inside-component '));
  t.is(viaComponent.stdout, '');
  const noFile = await runLink(sb, 'inside', ['env', 'HOME']);
  t.is(noFile.exitCode, 0, noFile.stderr);
  // The hint works.
  const revoked = await krewWasm(sb, ['revoke', 'inside', '--allow-dir', link]);
  t.is(revoked.exitCode, 0, revoked.stderr);
  t.is((await runLink(sb, 'inside', ['env', 'HOME'])).exitCode, 0);
});

test.serial("the host process is out of reach through `/`: /proc (its memory, its environment), /sys and /dev are refused, and a grant of /proc is refused at the first file use", async (t) => {
  await pull('everything', '--fs', 'none', '--env', '', '--allow-dir', '/');
  const lines = await probe(t, 'everything', [
    'write', '/proc/self/mem', 'x',
    'read', '/proc/self/environ',
    'ls', '/proc/self/fd',
    'ls', '/sys/kernel',
    'read', '/dev/zero',
    'read', path.join(outside, 'secret'),
  ]);
  for (const line of lines.slice(0, 5)) t.true(refused(line), line);
  t.is(lines[5], `read ${path.join(outside, 'secret')}: OK TOP SECRET`);
  await pull('procfs', '--fs', 'none', '--allow-dir', '/proc:ro');
  const r = await runLink(sb, 'procfs', ['read', '/proc/self/environ']);
  t.is(r.exitCode, 1);
  t.is(theError(r.stderr), "krew-wasm: error: granted folder /proc is inside the kernel's own filesystems (/proc, /sys, /dev), which no plugin may reach (krew-wasm revoke procfs --allow-dir /proc)");
  t.is(r.stdout, '');
});

test.serial('a stale descriptor cannot be redirected: open a folder, move it away, plant a symlink out in its place, open through the old descriptor', async (t) => {
  // The setup: no HOME, no network, no environment: only a writable folder and a read-only one.
  const work = path.join(sb.home, 'work');
  const ro = path.join(sb.home, 'ro');
  fs.mkdirSync(path.join(work, 'd'), { recursive: true });
  fs.mkdirSync(path.join(work, 'w'), { recursive: true });
  fs.mkdirSync(ro, { recursive: true });
  fs.writeFileSync(path.join(ro, 'config'), 'original');
  await pull('stale', '--fs', 'none', '--network', 'none', '--env', '', '--allow-dir', work, '--allow-dir', `${ro}:ro`, '--data-dir');
  const lines = await probe(t, 'stale', [
    'stale', path.join(work, 'd'), '../../../../../../../..', 'etc/passwd',
    'stalew', path.join(work, 'w'), '../../../outside', 'planted', 'evil',
  ]);
  t.true(refused(lines[0]), lines[0]);
  t.false(lines.join('\n').includes('root:'));
  // The write lands in the folder the descriptor was opened on (moved away), never outside.
  t.false(fs.existsSync(path.join(outside, 'planted')));
  t.is(fs.readFileSync(path.join(work, 'w.moved', 'planted'), 'utf8'), 'evil');
  // The same through the private data folder, aimed at the read-only folder.
  const data = path.join(sb.root, 'data', 'stale');
  fs.mkdirSync(path.join(data, 'x'), { recursive: true });
  const more = await probe(t, 'stale', ['stalew', path.join(data, 'x'), path.relative(data, ro), 'config', 'overwritten']);
  t.is(fs.readFileSync(path.join(ro, 'config'), 'utf8'), 'original');
  t.false(more.join('\n').includes('original'));
});

test.serial('read-only is by location: a file under a read-only grant cannot be changed through the HOME preopen either', async (t) => {
  const manifests = path.join(sb.home, 'manifests');
  fs.mkdirSync(path.join(manifests, 'sub'), { recursive: true });
  const deploy = path.join(manifests, 'deploy.yaml');
  fs.writeFileSync(deploy, 'kind: Deployment');
  fs.symlinkSync('manifests', path.join(sb.home, 'm-link'));
  await pull('ro', '--allow-dir', `${manifests}:ro`);
  const lines = await probe(t, 'ro', [
    'read', deploy,
    'write', deploy, 'pwned',
    'write', 'manifests/deploy.yaml', 'pwned',
    'write', path.join(sb.home, 'm-link', 'deploy.yaml'), 'pwned',
    'write', path.join(manifests, 'sub', 'new.yaml'), 'x',
    'rename', deploy, path.join(sb.home, 'stolen.yaml'),
    'link', deploy, path.join(sb.home, 'alias.yaml'),
    'unlink', 'manifests/deploy.yaml',
    'mkdir', 'manifests/new-dir',
    'symlink', '/etc/passwd', 'manifests/evil',
  ], sb.home);
  t.is(lines[0], `read ${deploy}: OK kind: Deployment`);
  for (const line of lines.slice(1)) t.true(refused(line), line);
  t.is(fs.readFileSync(deploy, 'utf8'), 'kind: Deployment');
  t.deepEqual(fs.readdirSync(manifests).sort(), ['deploy.yaml', 'sub']);
  t.false(fs.existsSync(path.join(sb.home, 'alias.yaml')));
  t.false(fs.existsSync(path.join(sb.home, 'stolen.yaml')));
});

test.serial('read-only is by location: a read-write grant nested inside a read-only one is read-only', async (t) => {
  const a = path.join(sb.home, 'a');
  fs.mkdirSync(path.join(a, 'b'), { recursive: true });
  await pull('nested', '--fs', 'none', '--allow-dir', `${a}:ro`, '--allow-dir', path.join(a, 'b'));
  const lines = await probe(t, 'nested', ['write', path.join(a, 'b', 'x'), 'x', 'mkdir', path.join(a, 'b', 'y')]);
  for (const line of lines) t.true(refused(line), line);
  t.deepEqual(fs.readdirSync(path.join(a, 'b')), []);
});

/** A sandbox whose store is below HOME behind a symlink (~/.krew-wasm -> .local/share/krew-wasm), with fsprobe pulled. */
async function storeBehindSymlink(t: { teardown(fn: () => void): void; is(a: unknown, b: unknown, m?: string): void }): Promise<{ other: Sandbox; real: string; home: string }> {
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  const real = path.join(other.home, '.local', 'share', 'krew-wasm');
  fs.mkdirSync(real, { recursive: true });
  fs.symlinkSync('.local/share/krew-wasm', other.root);
  const r = await krewWasm(other, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe']);
  t.is(r.exitCode, 0, r.stderr);
  return { other, real, home: other.home };
}

test.serial('the way to the store stays pinned when the first rename comes after the plugin has made folders, files and links', async (t) => {
  // The pinned lineages are looked at when first needed (src/runtime/wasi/preopens.ts): here, after
  // the plugin made the missing folder on a launch path's way and a symlink beside it.
  const { other, real, home } = await storeBehindSymlink(t);
  const lines = await probeIn(t, other, 'fsprobe', [
    'mkdir', path.join(home, 'made'),
    'write', path.join(home, 'made', 'file'), 'x',
    'symlink', '.local', path.join(home, 'made', 'link'),
    'rename', path.join(home, '.local'), path.join(home, 'moved'),
    'rename', path.join(home, '.local', 'share'), path.join(home, 'moved'),
    'unlink', other.root,
    'rename', path.join(home, 'made'), path.join(home, 'made2'),
  ]);
  for (const line of lines.slice(0, 3)) t.false(refused(line), line);
  for (const line of lines.slice(3, 6)) t.true(refused(line), line);
  t.false(refused(lines[6]), 'a folder off the way is renamed as before');
  t.is(fs.readlinkSync(other.root), '.local/share/krew-wasm');
  t.deepEqual(fs.readdirSync(path.join(real, 'receipts')), ['fsprobe.json']);
});

test.serial('the way to the store is pinned: a store below HOME behind a symlink cannot be swapped for a forged one by moving a folder or unlinking the link', async (t) => {
  // Renaming ~/.local (or unlinking ~/.krew-wasm) and planting a decoy store in its place would run
  // the decoy's JavaScript in the host at the next run.
  const { other, real, home } = await storeBehindSymlink(t);
  const lines = await probeIn(t, other, 'fsprobe', [
    'rename', path.join(home, '.local'), path.join(home, 'moved'),
    'rename', path.join(home, '.local', 'share'), path.join(home, 'moved'),
    'rename', other.root, path.join(home, 'moved'),
    'unlink', other.root,
    'mkdir', path.join(home, 'decoy'),
    'rename', path.join(home, 'decoy'), other.root,
    'mkdir', path.join(home, '.local', 'share', 'other-app'),
    'rename', path.join(home, '.local', 'share', 'other-app'), path.join(home, '.local', 'share', 'renamed-app'),
  ]);
  for (const line of [...lines.slice(0, 4), lines[5]]) t.true(refused(line), line);
  t.false(refused(lines[4]), lines[4]);
  t.false(refused(lines[6]), 'folders on the way are entered and written as granted');
  t.false(refused(lines[7]), 'names off the way are renamed as before');
  t.is(fs.readlinkSync(other.root), '.local/share/krew-wasm');
  t.deepEqual(fs.readdirSync(path.join(real, 'receipts')), ['fsprobe.json']);
  const again = await runLink(other, 'fsprobe', ['env', 'HOME']);
  t.is(again.stdout, `env HOME: ${home}\n`, again.stderr);
});

test.serial('the way to a read-only grant is pinned: moving its parent and planting an empty decoy does not make it writable in later runs', async (t) => {
  const work = path.join(sb.home, 'work');
  const manifests = path.join(work, 'manifests');
  fs.mkdirSync(manifests, { recursive: true });
  fs.writeFileSync(path.join(manifests, 'deploy.yaml'), 'replicas: 3');
  await pull('ro-way', '--allow-dir', `${manifests}:ro`);
  const lines = await probe(t, 'ro-way', ['rename', work, path.join(sb.home, 'work2'), 'rename', manifests, path.join(sb.home, 'm2'), 'rmdir', manifests]);
  for (const line of lines) t.true(refused(line), line);
  t.is(fs.readFileSync(path.join(manifests, 'deploy.yaml'), 'utf8'), 'replicas: 3');
  t.false(fs.existsSync(path.join(sb.home, 'work2')));
});

/** A copy of this checkout's installation at `dir`: its bin/, package.json and (unless told not to) built bundles. */
function copyInstallation(dir: string, withDist = true): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const part of ['bin', 'package.json', ...(withDist ? ['dist/wrapper', 'dist/bundle'] : [])]) fs.cpSync(path.join(ROOT, part), path.join(dir, part), { recursive: true });
}

/** Pulls chello through the installation at `install` (the store's links then lead to it), and fsprobe through this checkout. */
async function pullThroughBoth(t: ExecutionContext, box: Sandbox, install: string): Promise<void> {
  const via = await runProcess(process.execPath, [path.join(install, 'bin/krew-wasm.js'), 'pull', `file://${path.join(FIXTURES, 'chello.core.wasm')}`, '--name', 'chello'], { cwd: box.home, env: box.env });
  t.is(via.exitCode, 0, via.stderr);
  const viaA = await krewWasm(box, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe']);
  t.is(viaA.exitCode, 0, viaA.stderr);
}

/** Links each package krew-wasm loads at run time into `modules`, to this checkout's copy. */
function linkRuntimePackages(modules: string): void {
  for (const pkg of RUNTIME_PACKAGES) {
    fs.mkdirSync(path.dirname(path.join(modules, pkg)), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules', pkg), path.join(modules, pkg));
  }
}

test.serial('every installation the store links lead to, and the node_modules its packages load from, are out of reach of a plugin run through another', async (t) => {
  // Installation B below HOME (a second checkout), its node_modules a symlink to a folder elsewhere
  // in HOME (pnpm, a hoisted install); plugins run through this checkout (A) with HOME read-write.
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  const b = path.join(other.home, 'src', 'krew-wasm-b');
  copyInstallation(b);
  const deps = path.join(other.home, 'deps', 'node_modules');
  // The packages themselves link on to this checkout's copies (whose dependencies Node finds from there).
  linkRuntimePackages(deps);
  fs.symlinkSync(deps, path.join(b, 'node_modules'));
  const viaB = await runProcess(process.execPath, [path.join(b, 'bin/krew-wasm.js'), 'pull', `file://${path.join(FIXTURES, 'chello.core.wasm')}`, '--name', 'chello'], { cwd: other.home, env: other.env });
  t.is(viaB.exitCode, 0, viaB.stderr);
  t.is(fs.realpathSync(path.join(other.root, 'bin', 'kubectl-chello')), path.join(b, 'bin', 'krew-wasm.js'));
  const viaA = await krewWasm(other, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe']);
  t.is(viaA.exitCode, 0, viaA.stderr);
  const lines = await probeIn(t, other, 'fsprobe', [
    'write', path.join(b, 'dist', 'bundle', 'main.js.forged.cache'), 'forged',
    'write', path.join(b, 'bin', 'krew-wasm.js'), 'forged',
    'write', path.join(deps, 'evil.js'), 'forged',
    'write', path.join(deps, '@bytecodealliance', 'evil.js'), 'forged',
    'mkdir', path.join(other.home, 'src', 'free'),
  ]);
  for (const line of lines.slice(0, 4)) t.true(refused(line), line);
  t.false(refused(lines[4]), lines[4]);
  t.false(fs.existsSync(path.join(b, 'dist', 'bundle', 'main.js.forged.cache')));
  t.false(fs.existsSync(path.join(deps, 'evil.js')));
  t.false(fs.existsSync(path.join(deps, '@bytecodealliance', 'evil.js')));
  // Nor can such a folder be granted.
  for (const dir of [path.join(b, 'node_modules'), deps, b]) {
    const granted = await krewWasm(other, ['grant', 'fsprobe', '--allow-dir', dir]);
    t.is(granted.exitCode, 2, dir);
    t.regex(granted.stderr, /inside krew-wasm's own files/);
  }
});

test.serial("an installation `setup --dir` linked, and an installation's dist/ kept elsewhere through a symlink, are out of reach too", async (t) => {
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  // Installation C below HOME, its dist/ a symlink to a build folder elsewhere in HOME; no plugin
  // is pulled through it: only `setup --dir ~/.local/bin` links it.
  const c = path.join(other.home, 'src', 'krew-wasm-c');
  const built = path.join(other.home, 'build', 'dist');
  fs.mkdirSync(path.dirname(built), { recursive: true });
  fs.cpSync(path.join(ROOT, 'dist'), built, { recursive: true, filter: (src) => !src.includes(`${path.sep}src${path.sep}`) && !src.includes(`${path.sep}test${path.sep}`) });
  fs.mkdirSync(c, { recursive: true });
  for (const part of ['bin', 'package.json']) fs.cpSync(path.join(ROOT, part), path.join(c, part), { recursive: true });
  fs.symlinkSync(built, path.join(c, 'dist'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(c, 'node_modules'));
  const localBin = path.join(other.home, '.local', 'bin');
  const setup = await runProcess(process.execPath, [path.join(c, 'bin/krew-wasm.js'), 'setup', '--dir', localBin], { cwd: other.home, env: other.env });
  t.is(setup.exitCode, 0, setup.stderr);
  const pulled = await krewWasm(other, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const link = path.join(localBin, 'kubectl-krew_wasm');
  const lines = await probeIn(t, other, 'fsprobe', [
    'write', path.join(c, 'bin', 'kubectl-krew_wasm.js'), 'forged',
    'write', path.join(built, 'wrapper', 'wrapper.js'), 'forged',
    'write', path.join(built, 'bundle', 'main.js.forged.cache'), 'forged',
    'rename', link, path.join(localBin, 'moved'),
    'mkdir', path.join(other.home, 'build', 'free'),
  ]);
  for (const line of lines.slice(0, 4)) t.true(refused(line), line);
  t.false(refused(lines[4]), lines[4]);
  t.is(fs.readlinkSync(link), path.join(c, 'bin', 'kubectl-krew_wasm.js'));
  t.false(fs.existsSync(path.join(built, 'bundle', 'main.js.forged.cache')));
  const granted = await krewWasm(other, ['grant', 'fsprobe', '--allow-dir', built]);
  t.is(granted.exitCode, 2);
  t.regex(granted.stderr, /inside krew-wasm's own files/);
});

test.serial('the way to an installation\'s code through chains of symlinks is pinned, and a node_modules folder Node would search first cannot be made', async (t) => {
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  const h = other.home;
  // D: dist -> ../chain/a -> b (the real dist), node_modules -> ../chain/m1 -> m2 (the real one).
  const d = path.join(h, 'src', 'krew-wasm-d');
  const chain = path.join(h, 'src', 'chain');
  copyInstallation(d, false);
  fs.mkdirSync(path.join(chain, 'b'), { recursive: true });
  for (const part of ['wrapper', 'bundle']) fs.cpSync(path.join(ROOT, 'dist', part), path.join(chain, 'b', part), { recursive: true });
  fs.symlinkSync('b', path.join(chain, 'a'));
  fs.symlinkSync('../chain/a', path.join(d, 'dist'));
  linkRuntimePackages(path.join(chain, 'm2'));
  fs.symlinkSync('m2', path.join(chain, 'm1'));
  fs.symlinkSync('../chain/m1', path.join(d, 'node_modules'));
  // E: a monorepo package, its dependencies hoisted to the repository's node_modules.
  const mono = path.join(h, 'mono');
  const e = path.join(mono, 'packages', 'krew-wasm');
  copyInstallation(e);
  linkRuntimePackages(path.join(mono, 'node_modules'));
  // A node_modules Node searches first that exists, without the package: not to be moved aside.
  const tools = path.join(mono, 'tools', 'krew-wasm');
  copyInstallation(tools);
  fs.mkdirSync(path.join(mono, 'tools', 'node_modules', 'left-pad'), { recursive: true });
  for (const [i, install] of [d, e, tools].entries()) {
    const pulled = await runProcess(process.execPath, [path.join(install, 'bin/krew-wasm.js'), 'pull', `file://${path.join(FIXTURES, 'chello.core.wasm')}`, '--name', `chello${i}`], { cwd: h, env: other.env });
    t.is(pulled.exitCode, 0, pulled.stderr);
  }
  const viaA = await krewWasm(other, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe']);
  t.is(viaA.exitCode, 0, viaA.stderr);
  const lines = await probeIn(t, other, 'fsprobe', [
    'rename', path.join(chain, 'a'), path.join(chain, 'a2'),
    'unlink', path.join(chain, 'm1'),
    'mkdir', path.join(mono, 'packages', 'node_modules'),
    'symlink', '../node_modules', path.join(mono, 'packages', 'node_modules'),
    'rename', path.join(mono, 'tools', 'node_modules'), path.join(mono, 'tools', 'old_modules'),
    'mkdir', path.join(mono, 'tools', 'node_modules', '@bytecodealliance'),
    'mkdir', path.join(mono, 'tools', 'node_modules', 'acorn'),
    'mkdir', path.join(chain, 'free'),
  ]);
  for (const line of lines.slice(0, 7)) t.true(refused(line), line);
  t.false(refused(lines[7]), lines[7]);
  t.false(fs.existsSync(path.join(mono, 'tools', 'node_modules', 'acorn')));
  t.true(fs.existsSync(path.join(mono, 'tools', 'node_modules', 'left-pad')));
  t.false(fs.existsSync(path.join(mono, 'tools', 'node_modules', '@bytecodealliance')));
  t.is(fs.readlinkSync(path.join(chain, 'a')), 'b');
  t.is(fs.readlinkSync(path.join(chain, 'm1')), 'm2');
  t.false(fs.existsSync(path.join(mono, 'packages', 'node_modules')));
});

test.serial("the way to krew-wasm's code is pinned: an installation below a granted folder cannot be moved aside and replaced", async (t) => {
  // As `npm install -g` with a prefix in HOME, or a source checkout in ~/src: a copy of krew-wasm's
  // built files below the granted folder, and plugins pulled (hence linked) through it.
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  const install = path.join(other.home, 'src', 'tools', 'krew-wasm');
  copyInstallation(install);
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(install, 'node_modules'));
  const pulled = await runProcess(process.execPath, [path.join(install, 'bin', 'krew-wasm.js'), 'pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe', '--fs', 'none', '--allow-dir', path.join(other.home, 'src')], { cwd: other.home, env: other.env });
  t.is(pulled.exitCode, 0, pulled.stderr);
  t.is(fs.realpathSync(path.join(other.root, 'bin', 'kubectl-fsprobe')), path.join(install, 'bin', 'krew-wasm.js'));
  const src = path.join(other.home, 'src');
  const lines = await probeIn(t, other, 'fsprobe', [
    'rename', path.join(src, 'tools'), path.join(src, 'moved'),
    'rename', install, path.join(src, 'moved'),
    'write', path.join(install, 'bin', 'krew-wasm.js'), 'require("child_process").execSync("id > /tmp/owned")',
    'mkdir', path.join(src, 'tools', 'other'),
  ]);
  for (const line of lines.slice(0, 3)) t.true(refused(line), line);
  t.false(refused(lines[3]), lines[3]);
  t.is(fs.readFileSync(path.join(install, 'bin', 'krew-wasm.js'), 'utf8'), fs.readFileSync(path.join(ROOT, 'bin', 'krew-wasm.js'), 'utf8'));
});


test.serial("an installation pnpm made (its virtual store, and its store's files, hard links of the installed ones) is out of reach", async (t) => {
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  // pnpm 10's `pnpm add -g` under HOME: <global>/.pnpm/<id>/node_modules/<pkg>, <global>/node_modules/.modules.yaml
  // naming the content-addressable store, whose files each installed file is a hard link of.
  const global = path.join(other.home, '.local', 'share', 'pnpm', 'global', '5');
  const storeDir = path.join(other.home, '.local', 'share', 'pnpm', 'store', 'v10');
  const install = path.join(global, '.pnpm', 'krew-wasm@0.1.0', 'node_modules', 'krew-wasm');
  copyInstallation(install);
  linkRuntimePackages(path.join(install, '..'));
  // A dependency's own real folder in the virtual store (oxc-minify's native binding, with pnpm).
  const binding = path.join(global, '.pnpm', '@oxc-minify+binding-linux-x64-gnu@0.136.0', 'node_modules', '@oxc-minify', 'binding-linux-x64-gnu');
  fs.mkdirSync(binding, { recursive: true });
  fs.writeFileSync(path.join(binding, 'package.json'), '{"name":"@oxc-minify/binding-linux-x64-gnu","main":"binding.js"}');
  fs.mkdirSync(path.join(global, 'node_modules'), { recursive: true });
  fs.writeFileSync(path.join(global, 'node_modules', '.modules.yaml'), JSON.stringify({ storeDir, virtualStoreDir: '../.pnpm' }, null, 2));
  const stored = path.join(storeDir, 'files', '1f', 'wrapper-js-content-hash');
  fs.mkdirSync(path.dirname(stored), { recursive: true });
  fs.linkSync(path.join(install, 'dist', 'wrapper', 'wrapper.js'), stored);
  await pullThroughBoth(t, other, install);
  const before = fs.readFileSync(stored, 'utf8');
  const lines = await probeIn(t, other, 'fsprobe', [
    'write', stored, 'forged',
    'write', path.join(binding, 'binding.js'), 'forged',
    'write', path.join(global, 'node_modules', '.modules.yaml'), '{}',
    'mkdir', path.join(global, '.pnpm', 'planted'),
    'mkdir', path.join(other.home, '.local', 'share', 'free'),
  ]);
  for (const line of lines.slice(0, 4)) t.true(refused(line), line);
  t.false(refused(lines[4]), lines[4]);
  t.is(fs.readFileSync(stored, 'utf8'), before);
  t.is(fs.readFileSync(path.join(install, 'dist', 'wrapper', 'wrapper.js'), 'utf8'), before, 'the installed file, the same inode');
  t.false(fs.existsSync(path.join(binding, 'binding.js')));
});

test.serial("another name of one of krew-wasm's files (a hard link, as pnpm's store keeps of each file it installs) is not opened to be written", async (t) => {
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  // An installation below HOME (a pnpm layout of any kind, `nodeLinker: hoisted` say: no `.pnpm`), its files hard links of a store's.
  const install = path.join(other.home, 'src', 'krew-wasm-h');
  copyInstallation(install);
  linkRuntimePackages(path.join(install, 'node_modules'));
  // pnpm's record of the layout, naming its store (nodeLinker: hoisted: no `.pnpm` anywhere).
  const store = path.join(other.home, 'store', 'files', '3a');
  fs.mkdirSync(store, { recursive: true });
  fs.writeFileSync(path.join(install, 'node_modules', '.modules.yaml'), JSON.stringify({ nodeLinker: 'hoisted', storeDir: path.join(other.home, 'store') }));
  const wrapper = path.join(install, 'dist', 'wrapper', 'wrapper.js');
  fs.linkSync(wrapper, path.join(store, 'wrapper'));
  // Two names of a file of the user's own: written as before.
  fs.writeFileSync(path.join(other.home, 'mine'), 'mine');
  fs.linkSync(path.join(other.home, 'mine'), path.join(store, 'mine'));
  await pullThroughBoth(t, other, install);
  const before = fs.readFileSync(wrapper, 'utf8');
  // The store is out of reach as a folder; a name the plugin made of one of its files before that is refused all the same.
  fs.linkSync(wrapper, path.join(other.home, 'third'));
  fs.linkSync(path.join(other.home, 'mine'), path.join(other.home, 'mine2'));
  const lines = await probeIn(t, other, 'fsprobe', [
    'write', path.join(store, 'wrapper'), 'forged',
    'write', path.join(store, 'mine'), 'changed',
    'rename', path.join(other.home, 'mine'), path.join(store, 'wrapper'),
    'write', path.join(other.home, 'third'), 'forged',
    'link', path.join(other.home, 'third'), path.join(other.home, 'fourth'),
    'write', path.join(other.home, 'fourth'), 'forged',
    'write', path.join(other.home, 'mine2'), 'changed',
  ]);
  t.is(lines.length, 7, lines.join('\n'));
  for (const i of [0, 1, 2, 3, 5]) t.true(refused(lines[i]!), lines[i]);
  t.false(refused(lines[4]!), `a further name may be made (${lines[4]}), and is refused as the others`);
  t.false(refused(lines[6]!), `two names of the user's own file: written as before (${lines[6]})`);
  t.is(fs.readFileSync(wrapper, 'utf8'), before);
  t.is(fs.readFileSync(path.join(other.home, 'mine'), 'utf8'), 'changed');
});

test.serial("a store named through a symlink has its files' other names refused too, and a plugin's data folder is none of krew-wasm's files", async (t) => {
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  const link = path.join(path.dirname(other.home), 'root-link');
  fs.mkdirSync(other.root, { recursive: true });
  fs.symlinkSync(other.root, link);
  const env = { KREW_WASM_ROOT: link };
  const pulled = await krewWasm(other, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe', '--data-dir'], { env });
  t.is(pulled.exitCode, 0, pulled.stderr);
  // A backup made with `cp -al` of the store: hard links of its files in HOME (attack 65).
  fs.mkdirSync(path.join(other.home, 'backup'));
  fs.linkSync(path.join(other.root, 'receipts', 'fsprobe.json'), path.join(other.home, 'backup', 'fsprobe.json'));
  // Two names of a file in the plugin's own data folder, inside the store's folder.
  const data = path.join(other.root, 'data', 'fsprobe');
  fs.mkdirSync(data, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(data, 'a'), 'a');
  fs.linkSync(path.join(data, 'a'), path.join(data, 'b'));
  const receipt = fs.readFileSync(path.join(other.root, 'receipts', 'fsprobe.json'), 'utf8');
  const r = await runLink(other, 'fsprobe', ['write', path.join(other.home, 'backup', 'fsprobe.json'), '{}', 'write', path.join(link, 'data', 'fsprobe', 'b'), 'b'], { env });
  const lines = r.stdout.trim().split('\n');
  t.true(refused(lines[0]!), lines[0]);
  t.false(refused(lines[1]!), lines[1]);
  t.is(fs.readFileSync(path.join(other.root, 'receipts', 'fsprobe.json'), 'utf8'), receipt);
  t.is(fs.readFileSync(path.join(data, 'a'), 'utf8'), 'b');
});

/**
 * Runs the plugin linked as `name` in `box` under a limit of 512 descriptors (soft and hard), so
 * that fsprobe's `hog` holds every one the process may have within milliseconds.
 */
function runWithFewDescriptors(box: Sandbox, name: string, args: string[]) {
  return runProcess('sh', ['-c', 'ulimit -n 512 && exec "$0" "$@"', path.join(box.root, 'bin', `kubectl-${name}`), ...args], { cwd: box.home, env: box.env });
}

test.serial("with every descriptor held by the plugin, a hard link of krew-wasm's files is still not opened to be written, then or once some are free", async (t) => {
  // The walk for such links could not read a folder, kept "none found" for the run, and the next
  // open for writing, with descriptors free again, rewrote krew-wasm's code (attack 68).
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  const install = path.join(other.home, 'src', 'krew-wasm-d');
  copyInstallation(install);
  linkRuntimePackages(path.join(install, 'node_modules'));
  await pullThroughBoth(t, other, install);
  const wrapper = path.join(install, 'dist', 'wrapper', 'wrapper.js');
  const before = fs.readFileSync(wrapper, 'utf8');
  fs.linkSync(wrapper, path.join(other.home, 'backup.js'));
  fs.writeFileSync(path.join(other.home, 'hogfile'), 'x');
  const r = await runWithFewDescriptors(other, 'fsprobe', ['cwd', 'hog', 'hogfile', 'write', 'backup.js', 'forged', 'unhog', 'write', 'backup.js', 'forged']);
  t.is(r.exitCode, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.log(lines.join('\n'));
  t.is(lines.length, 4);
  t.true(refused(lines[1]!), lines[1]);
  t.regex(lines[2]!, /^unhog \d{3}$/);
  t.true(refused(lines[3]!), lines[3]);
  t.is(fs.readFileSync(wrapper, 'utf8'), before);
});

test.serial("with every descriptor held by the plugin, another plugin's granted folder is still pinned, then or once some are free", async (t) => {
  // Reading the other plugins' receipts failed for want of a descriptor, their grants were left out
  // for the run, and the name another plugin was granted could be retargeted (attack 68).
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  fs.mkdirSync(path.join(other.home, 'real-shared'));
  fs.symlinkSync('real-shared', path.join(other.home, 'shared'));
  fs.writeFileSync(path.join(other.home, 'hogfile'), 'x');
  for (const [name, grants] of [['fsprobe', []], ['victim', ['--fs', 'none', '--allow-dir', path.join(other.home, 'shared')]]] as const) {
    const pulled = await krewWasm(other, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', name, ...grants]);
    t.is(pulled.exitCode, 0, pulled.stderr);
  }
  const r = await runWithFewDescriptors(other, 'fsprobe', ['cwd', 'hog', 'hogfile', 'unlink', 'shared', 'unhog', 'unlink', 'shared']);
  t.log(r.stdout, r.stderr);
  for (const line of r.stdout.trim().split('\n').filter((l) => l.startsWith('unlink'))) t.true(refused(line), line);
  t.is(fs.readlinkSync(path.join(other.home, 'shared')), 'real-shared');
});

test.serial('with every descriptor held by the plugin, its standard streams are not left blocking (past --timeout): the run ends with one line', async (t) => {
  // Made non-blocking at their first use, they stayed blocking when no descriptor was left to do
  // it with, and a write to a pipe nobody read waited in the kernel past --timeout (attack 68).
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  fs.writeFileSync(path.join(other.home, 'hogfile'), 'x');
  const pulled = await krewWasm(other, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe', '--timeout', '60']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  // Its stdout a pipe (a child's stdout here is a socket, which needs no descriptor to be made non-blocking).
  const link = path.join(other.root, 'bin', 'kubectl-fsprobe');
  const r = await runProcess('sh', ['-c', 'ulimit -n 512 && { "$0" "$@"; echo "exit $?" >&2; } | cat', link, 'hog', 'hogfile', 'cwd'], { cwd: other.home, env: other.env });
  t.is(r.stdout, '');
  t.deepEqual(r.stderr.trim().split('\n'), ['krew-wasm: error: plugin fsprobe failed: it holds every file descriptor the process may open, the most a run may', 'exit 1']);
});


test.serial('rm removes a data folder through handles: a run of the plugin swapping a folder of it for a link while rm empties it deletes nothing through the link (attack 105)', async (t) => {
  const victim = path.join(path.dirname(sb.home), 'victim-rm');
  fs.mkdirSync(path.join(victim, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(victim, 'precious'), 'kept');
  const receipts = fs.readdirSync(path.join(sb.root, 'receipts')).sort();
  const pulled = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'eraser.core.wasm')}`, '--name', 'eraser', '--fs', 'none', '--data-dir']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const prep = await runLink(sb, 'eraser', ['prep', '20000', 'victim-rm']);
  t.is(prep.stdout, 'prepared\n', prep.stderr);
  // A run going on while the user removes the plugin; from its data folder, ../../../.. is the folder above HOME.
  const run = spawn(path.join(sb.root, 'bin', 'kubectl-eraser'), ['wait', '../../../..', '60'], { cwd: sb.home, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  run.stdout.on('data', (chunk: Buffer) => (said += chunk));
  const ended = new Promise((resolve) => run.on('close', resolve));
  while (!said.includes('watching') && run.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 20));
  const removed = await krewWasm(sb, ['rm', 'eraser']);
  await ended;
  t.log(said.trim());
  t.is(removed.exitCode, 0, removed.stderr);
  t.is(fs.readFileSync(path.join(victim, 'precious'), 'utf8'), 'kept');
  t.true(fs.statSync(path.join(victim, 'sub')).isDirectory());
  t.deepEqual(fs.readdirSync(path.join(sb.root, 'receipts')).sort(), receipts);
  t.false(fs.existsSync(path.join(sb.root, 'data', 'eraser')));
});

/** The running Node at `file` (a hard link of it, else a copy), as a version manager or a prefix in HOME holds one. */
function nodeAt(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    fs.linkSync(process.execPath, file);
  } catch {
    fs.copyFileSync(process.execPath, file);
    fs.chmodSync(file, 0o755);
  }
}

test.serial("every Node a version manager keeps in HOME is out of reach, not only the running one: `nvm use` makes another the host (attack 105)", async (t) => {
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  const versions = path.join(other.home, '.nvm', 'versions', 'node');
  const running = path.join(versions, 'v20.0.0', 'bin', 'node');
  const next = path.join(versions, 'v22.0.0', 'bin', 'node');
  nodeAt(running);
  fs.mkdirSync(path.dirname(next), { recursive: true });
  fs.writeFileSync(next, '#!/bin/sh\necho the real node 22\n', { mode: 0o755 });
  fs.mkdirSync(path.join(other.home, '.nvm', 'alias'));
  const pulled = await krewWasm(other, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  // Started by the Node in HOME, as kubectl starts it where nvm's Node comes first on PATH.
  const r = await runProcess(running, [path.join(other.root, 'bin', 'kubectl-fsprobe'), 'write', next, 'forged', 'write', path.join(path.dirname(next), 'npm'), 'forged', 'write', path.join(other.home, '.nvm', 'alias', 'default'), 'v22.0.0', 'write', path.join(other.home, 'free'), 'x'], { cwd: other.home, env: other.env });
  t.is(r.exitCode, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.log(lines.join('\n'));
  t.true(refused(lines[0]), lines[0]);
  t.true(refused(lines[1]), lines[1]);
  t.true(refused(lines[2]), `nvm's own folder, which picks the version of the next shell: ${lines[2]}`);
  t.false(refused(lines[3]), lines[3]);
  t.is(fs.readFileSync(next, 'utf8'), '#!/bin/sh\necho the real node 22\n');
  t.false(fs.existsSync(path.join(path.dirname(next), 'npm')));
});

test.serial("the Node PATH leads to is out of reach too when another runs the plugin: a run under a system Node could rewrite nvm's, the host of your shell's next run (attack 105's low)", async (t) => {
  for (const shape of ['nvm', 'local'] as const) {
    const other = makeSandbox();
    t.teardown(() => other.cleanup());
    // Not the running Node (a copy or link of it would be busy, and unwritable anyway): a script.
    const bin = shape === 'nvm' ? path.join(other.home, '.nvm', 'versions', 'node', 'v22.0.0', 'bin') : path.join(other.home, '.local', 'bin');
    const next = path.join(bin, 'node');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(next, '#!/bin/sh\necho the real node\n', { mode: 0o755 });
    fs.mkdirSync(path.join(other.home, '.nvm', 'alias'), { recursive: true });
    const pulled = await krewWasm(other, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe']);
    t.is(pulled.exitCode, 0, pulled.stderr);
    const env = { ...other.env, PATH: `relative/bin:${path.join(other.home, 'none')}:${bin}:${other.env.PATH ?? process.env.PATH}` };
    const r = await runProcess(process.execPath, [path.join(other.root, 'bin', 'kubectl-fsprobe'), 'write', next, 'forged', 'unlink', next, 'link', next, path.join(other.home, 'alias-of-node'), 'write', path.join(other.home, '.nvm', 'alias', 'default'), 'v22.0.0', 'write', path.join(other.home, 'free'), 'x'], { cwd: other.home, env });
    t.is(r.exitCode, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    t.log(shape, lines.join('\n'));
    t.true(refused(lines[0]), `${shape}: ${lines[0]}`);
    t.true(refused(lines[1]), `${shape}: ${lines[1]}`);
    t.is(refused(lines[3]), shape === 'nvm', `${shape}: nvm's own folder only when its Node is the one: ${lines[3]}`);
    t.false(refused(lines[4]), lines[4]);
    t.is(fs.readFileSync(next, 'utf8'), '#!/bin/sh\necho the real node\n');
    // In nvm's folder it cannot be named again; in ~/.local/bin it can, and that name is the same
    // file: not written either.
    t.is(refused(lines[2]), shape === 'nvm', `${shape}: ${lines[2]}`);
    if (shape === 'local') {
      const again = await runProcess(process.execPath, [path.join(other.root, 'bin', 'kubectl-fsprobe'), 'write', path.join(other.home, 'alias-of-node'), 'forged'], { cwd: other.home, env });
      t.true(refused(again.stdout.trim()), `${shape}: ${again.stdout}`);
      t.is(fs.readFileSync(next, 'utf8'), '#!/bin/sh\necho the real node\n');
    }
  }
});

const nodeScript = '#!/bin/sh\necho the real node\n';
const exe = (file: string, text = nodeScript) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode: 0o755 });
};
const linkAt = (target: string, link: string) => {
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(target, link);
};

/** A shape of a user's HOME: what it sets up (returning PATH's folders before the rest), the fsprobe operations, and which of their lines must be refused. */
type NodeShape = { name: string; setup(home: string): string[]; ops(home: string): string[]; refused: boolean[]; viaLink?: boolean; env?(home: string): NodeJS.ProcessEnv };

/** Runs fsprobe under each shape, with the test's Node (a system Node's, outside HOME) running and the shape's folders first on PATH. */
async function assertRefusedByShape(t: ExecutionContext, shapes: NodeShape[]): Promise<void> {
  for (const shape of shapes) {
    const other = makeSandbox();
    t.teardown(() => other.cleanup());
    const pulled = await krewWasm(other, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe']);
    t.is(pulled.exitCode, 0, pulled.stderr);
    let home = other.home;
    if (shape.viaLink) {
      home = `${other.home}-link`;
      fs.symlinkSync(other.home, home);
      t.teardown(() => fs.rmSync(home, { force: true }));
    }
    const bins = shape.setup(home);
    const env = { ...other.env, HOME: home, PATH: [...bins, other.env.PATH ?? process.env.PATH].join(path.delimiter), ...shape.env?.(home) };
    const r = await runProcess(process.execPath, [path.join(other.root, 'bin', 'kubectl-fsprobe'), ...shape.ops(home)], { cwd: other.home, env });
    t.is(r.exitCode, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    t.log(shape.name, lines.join('\n'));
    t.deepEqual(lines.map(refused), shape.refused, `${shape.name}: ${lines.join('; ')}`);
  }
}

test.serial("the Node PATH leads to is kept whatever its shape: a Node in ~/bin, mise's shim and launcher, HOME through a link, a node planted before it on PATH, a project's Node (attack 109)", async (t) => {
  await assertRefusedByShape(t, [
    // n with N_PREFIX=$HOME: the prefix is HOME itself.
    { name: 'home prefix', setup: (h) => (exe(`${h}/bin/node`), exe(`${h}/n/versions/node/22.0.0/bin/node`), [`${h}/bin`]), ops: (h) => ['write', `${h}/bin/node`, 'x', 'write', `${h}/n/versions/node/22.0.0/bin/node`, 'x', 'write', `${h}/bin/other`, 'x'], refused: [true, true, false] },
    {
      name: 'mise shims',
      setup: (h) => {
        exe(`${h}/.local/bin/mise`);
        exe(`${h}/.local/share/mise/installs/node/22.0.0/bin/node`);
        linkAt('../../../bin/mise', `${h}/.local/share/mise/shims/node`);
        return [`${h}/.local/share/mise/shims`];
      },
      ops: (h) => ['write', `${h}/.local/bin/mise`, 'x', 'write', `${h}/.local/share/mise/installs/node/22.0.0/bin/node`, 'x', 'write', `${h}/.local/share/mise/shims/npm`, 'x', 'write', `${h}/.local/share/other`, 'x'],
      refused: [true, true, true, false],
    },
    { name: 'HOME through a link', viaLink: true, setup: (h) => (exe(`${h}/.nvm/versions/node/v22.0.0/bin/node`), [`${h}/.nvm/versions/node/v22.0.0/bin`]), ops: (h) => ['write', `${h}/.nvm/versions/node/v22.0.0/bin/node`, 'x', 'write', `${h}/free`, 'x'], refused: [true, false] },
    {
      name: 'planted before it',
      setup: (h) => (exe(`${h}/.nvm/versions/node/v22.0.0/bin/node`), exe(`${h}/scripts/backup.sh`), fs.mkdirSync(`${h}/.local/bin`, { recursive: true }), fs.mkdirSync(`${h}/.local2`), [`${h}/.local/bin`, `${h}/.local2/bin`, `${h}/.nvm/versions/node/v22.0.0/bin`]),
      ops: (h) => ['rename', `${h}/scripts/backup.sh`, `${h}/.local/bin/node`, 'mkdir', `${h}/.local2/bin`, 'symlink', `${h}/scripts/backup.sh`, `${h}/.local/bin/node`, 'mkdir', `${h}/.local/bin/sub`],
      refused: [true, true, true, false],
    },
    // frontend-maven-plugin's layout: the project is not Node's.
    { name: "a project's Node", setup: (h) => (exe(`${h}/work/proj/node/node`), fs.mkdirSync(`${h}/work/proj/src`, { recursive: true }), [`${h}/work/proj/node`]), ops: (h) => ['write', `${h}/work/proj/node/node`, 'x', 'write', `${h}/work/proj/src/out.txt`, 'x'], refused: [true, false] },
  ]);
});

test.serial("where PATH looks for node before finding it, no node can come to exist, PATH taken as the kernel takes it: a folder renamed and made again, a `..` after a link, a link into HOME, a dangling node link (attack 110)", async (t) => {
  const nvm = (h: string) => (exe(`${h}/.nvm/versions/node/v22.0.0/bin/node`), `${h}/.nvm/versions/node/v22.0.0/bin`);
  await assertRefusedByShape(t, [
    {
      name: 'a PATH folder renamed away and made again',
      setup: (h) => (exe(`${h}/scripts/hello.sh`), fs.mkdirSync(`${h}/bin`), fs.mkdirSync(`${h}/.local`), [`${h}/bin`, `${h}/.local/bin`, nvm(h)]),
      ops: (h) => ['rename', `${h}/bin`, `${h}/bin.old`, 'rmdir', `${h}/bin`, 'rename', `${h}/.local`, `${h}/.local.old`, 'mkdir', `${h}/.local/bin`, 'mkdir', `${h}/bin/sub`, 'write', `${h}/.local/share.txt`, 'x'],
      refused: [true, true, true, true, false, false],
    },
    {
      // sdk/current -> ../other/v1: the kernel goes up from other/v1, to other/tools, not sdk/tools.
      name: 'a `..` after a link',
      setup: (h) => (fs.mkdirSync(`${h}/other/v1`, { recursive: true }), linkAt('../other/v1', `${h}/sdk/current`), [`${h}/sdk/current/../tools`, nvm(h)]),
      ops: (h) => ['mkdir', `${h}/other/tools`, 'mkdir', `${h}/sdk/tools`, 'mkdir', `${h}/other/v2`],
      refused: [true, false, false],
    },
    {
      // A PATH folder outside HOME that is a link into it.
      name: 'a link into HOME',
      setup: (h) => (fs.mkdirSync(`${h}/tools/bin`, { recursive: true }), exe(`${h}/scripts/tool.sh`), linkAt(`${h}/tools`, `${h}/../opt-link`), [`${h}/../opt-link/bin`, nvm(h)]),
      ops: (h) => ['rename', `${h}/scripts/tool.sh`, `${h}/tools/bin/node`, 'rename', `${h}/tools`, `${h}/tools2`, 'write', `${h}/tools/bin/other`, 'x'],
      refused: [true, true, false],
    },
    {
      // The Node it led to was removed: its link was left behind, pointing at nothing.
      name: 'a dangling node link',
      setup: (h) => (linkAt('../opt/node-v18/bin/node', `${h}/bin/node`), [`${h}/bin`, nvm(h)]),
      ops: (h) => ['mkdir', `${h}/opt`, 'unlink', `${h}/bin/node`, 'mkdir', `${h}/opt2`],
      refused: [true, true, false],
    },
  ]);
});

test.serial("what a launcher on PATH hands the start to is kept too: a shim's interpreter and the program it execs, mise's configuration and HOME's version files, the next node when it runs the system one, a start made through the launcher, a nodenv at HOME's hooks, an empty PATH entry (attacks 110-112)", async (t) => {
  await assertRefusedByShape(t, [
    {
      // asdf's shims start `#!/usr/bin/env bash` and exec asdf, which may live outside its data folder.
      name: "asdf's shim script",
      setup: (h) => (exe(`${h}/.asdf/shims/node`, `#!/usr/bin/env bash\n# asdf-plugin: nodejs 22.0.0\nexec ${h}/go/bin/asdf exec "node" "$@"\n`), exe(`${h}/go/bin/asdf`), exe(`${h}/scripts/s3`), fs.mkdirSync(`${h}/.local/bin`, { recursive: true }), [`${h}/.asdf/shims`, `${h}/.local/bin`]),
      ops: (h) => ['rename', `${h}/scripts/s3`, `${h}/.local/bin/bash`, 'write', `${h}/go/bin/asdf`, 'x', 'write', `${h}/.local/bin/other`, 'x', 'write', `${h}/go/bin/other`, 'x'],
      refused: [true, true, false, false],
    },
    {
      // mise's shim links to mise, which reads its global configuration at each start: its [env] sets NODE_OPTIONS (attack 110).
      name: "mise's configuration",
      setup: (h) => (exe(`${h}/.local/bin/mise`), linkAt('../../../bin/mise', `${h}/.local/share/mise/shims/node`), fs.mkdirSync(`${h}/.config/mise`, { recursive: true }), fs.writeFileSync(`${h}/.config/mise/config.toml`, '[tools]\n'), [`${h}/.local/share/mise/shims`]),
      ops: (h) => ['write', `${h}/.config/mise/config.toml`, '[env]', 'write', `${h}/.tool-versions`, 'nodejs path:/tmp', 'rename', `${h}/.config/mise`, `${h}/.config/mise.old`, 'write', `${h}/.config/other.toml`, 'x'],
      refused: [true, true, true, false],
    },
    {
      // nodenv's default, with no version set, is the system Node: the next on PATH.
      name: 'a launcher set to the system Node',
      setup: (h) => (exe(`${h}/.nodenv/shims/node`, `#!/usr/bin/env bash\nexec "${h}/.nodenv/libexec/nodenv" exec "$program" "$@"\n`), exe(`${h}/scripts/s10`), fs.mkdirSync(`${h}/.local/bin`, { recursive: true }), [`${h}/.nodenv/shims`, `${h}/.local/bin`]),
      ops: (h) => ['rename', `${h}/scripts/s10`, `${h}/.local/bin/node`, 'write', `${h}/.local/bin/other`, 'x'],
      refused: [true, false],
    },
    {
      // env's options before the command (attack 112), and what bash reads before the shim: BASH_ENV.
      name: 'a shim run by `env -S -u VAR bash`',
      env: (h) => ({ BASH_ENV: `${h}/.bashenv` }),
      setup: (h) => (exe(`${h}/.asdf/shims/node`, `#!/usr/bin/env -S -u VAR bash\nexec asdf exec "node" "$@"\n`), exe(`${h}/scripts/s3`), fs.mkdirSync(`${h}/.local/bin`, { recursive: true }), [`${h}/.asdf/shims`, `${h}/.local/bin`]),
      ops: (h) => ['rename', `${h}/scripts/s3`, `${h}/.local/bin/bash`, 'write', `${h}/.bashenv`, 'echo', 'rename', `${h}/scripts/s3`, `${h}/.local/bin/asdf`, 'write', `${h}/.local/bin/other`, 'x'],
      refused: [true, true, true, false],
    },
    {
      // A start through nodenv's shim runs Node with the version's folder put first on PATH: the
      // run sees the launcher after the Node it chose (attack 112).
      name: 'started through nodenv',
      setup: (h) => (exe(`${h}/.nodenv/versions/20.0.0/bin/node`), exe(`${h}/.nodenv/shims/node`, `#!/usr/bin/env bash\nexec "${h}/.nodenv/libexec/nodenv" exec "$program" "$@"\n`), exe(`${h}/scripts/s1`), fs.mkdirSync(`${h}/.local/bin`, { recursive: true }), [`${h}/.nodenv/versions/20.0.0/bin`, `${h}/.nodenv/shims`, `${h}/.local/bin`]),
      ops: (h) => ['write', `${h}/.node-version`, 'system', 'rename', `${h}/scripts/s1`, `${h}/.local/bin/node`, 'write', `${h}/.local/bin/other`, 'x'],
      refused: [true, true, false],
    },
    {
      name: "started through mise's shim",
      setup: (h) => (exe(`${h}/.local/bin/mise`), exe(`${h}/.local/share/mise/installs/node/20.0.0/bin/node`), linkAt('../../../bin/mise', `${h}/.local/share/mise/shims/node`), fs.mkdirSync(`${h}/.config/mise`, { recursive: true }), fs.writeFileSync(`${h}/.config/mise/config.toml`, '[tools]\n'), [`${h}/.local/share/mise/installs/node/20.0.0/bin`, `${h}/.local/share/mise/shims`]),
      ops: (h) => ['write', `${h}/.config/mise/config.toml`, '[env]', 'write', `${h}/.config/other.toml`, 'x'],
      refused: [true, false],
    },
    {
      name: 'NODENV_ROOT=$HOME',
      setup: (h) => (exe(`${h}/shims/node`, `#!/usr/bin/env bash\nexec "${h}/libexec/nodenv" exec "$program" "$@"\n`), exe(`${h}/libexec/nodenv`), [`${h}/shims`]),
      ops: (h) => ['mkdir', `${h}/nodenv.d`, 'write', `${h}/libexec/nodenv`, 'x', 'mkdir', `${h}/notes`],
      refused: [true, true, false],
    },
    {
      // `a::b` searches the folder the command is started from.
      name: 'an empty PATH entry',
      setup: (h) => (exe(`${h}/scripts/s7`), fs.mkdirSync(`${h}/proj`), ['']),
      ops: (h) => ['rename', `${h}/scripts/s7`, `${h}/node`, 'write', `${h}/free`, 'x'],
      refused: [true, false],
    },
  ]);
});

test.serial("a version manager PATH reaches Node through is kept, versions, shims and default, also when its folder is HOME itself (VOLTA_HOME=$HOME, ASDF_DATA_DIR=$HOME, Homebrew at HOME: attack 108)", async (t) => {
  await assertRefusedByShape(t, [
    {
      // volta's shim links to volta-shim, which runs the version tools/user/platform.json names.
      name: 'volta in ~/.volta',
      setup: (h) => (exe(`${h}/.volta/bin/volta-shim`), linkAt('volta-shim', `${h}/.volta/bin/node`), exe(`${h}/.volta/tools/image/node/22.0.0/bin/node`), fs.mkdirSync(`${h}/.volta/tools/user`), [`${h}/.volta/bin`]),
      ops: (h) => ['write', `${h}/.volta/tools/image/node/22.0.0/bin/node`, 'x', 'write', `${h}/.volta/tools/user/platform.json`, '{}', 'write', `${h}/free`, 'x'],
      refused: [true, true, false],
    },
    {
      name: 'VOLTA_HOME=$HOME',
      setup: (h) => (exe(`${h}/bin/volta-shim`), linkAt('volta-shim', `${h}/bin/node`), exe(`${h}/tools/image/node/22.0.0/bin/node`), fs.mkdirSync(`${h}/tools/user`), [`${h}/bin`]),
      ops: (h) => ['write', `${h}/tools/image/node/22.0.0/bin/node`, 'x', 'write', `${h}/tools/user/platform.json`, '{}', 'symlink', 'volta-shim', `${h}/bin/npm`, 'write', `${h}/bin/volta-shim`, 'x', 'write', `${h}/free`, 'x'],
      refused: [true, true, true, true, false],
    },
    {
      name: 'ASDF_DATA_DIR=$HOME',
      setup: (h) => (exe(`${h}/shims/node`), exe(`${h}/installs/nodejs/22.0.0/bin/node`), exe(`${h}/plugins/nodejs/bin/exec-env`), [`${h}/shims`]),
      ops: (h) => ['write', `${h}/installs/nodejs/22.0.0/bin/node`, 'x', 'write', `${h}/plugins/nodejs/bin/exec-env`, 'x', 'write', `${h}/shims/npm`, 'x', 'write', `${h}/free`, 'x'],
      refused: [true, true, true, false],
    },
    {
      name: 'Homebrew at HOME',
      // Node loads its libraries (libuv, ICU, OpenSSL) from the prefix's lib/ (attack 111).
      setup: (h) => (exe(`${h}/Cellar/node/22.0.0/bin/node`), linkAt('../Cellar/node/22.0.0/bin/node', `${h}/bin/node`), exe(`${h}/lib/node_modules/npm/bin/npm-cli.js`), fs.writeFileSync(`${h}/lib/libuv.so.1`, 'ELF'), linkAt('../lib/node_modules/npm/bin/npm-cli.js', `${h}/bin/npm`), [`${h}/bin`]),
      ops: (h) => ['write', `${h}/lib/node_modules/npm/bin/npm-cli.js`, 'x', 'unlink', `${h}/bin/npm`, 'write', `${h}/Cellar/node/22.0.0/bin/node`, 'x', 'unlink', `${h}/lib/libuv.so.1`, 'write', `${h}/bin/other`, 'x'],
      refused: [true, true, true, true, false],
    },
  ]);
});

test.serial("a folder inside the Node PATH leads to is refused when granted, by pull and by grant, and a folder outside it, as the hint says, is taken", async (t) => {
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  const bin = path.join(other.home, '.nvm', 'versions', 'node', 'v22.0.0', 'bin');
  exe(path.join(bin, 'node'));
  const lib = path.join(other.home, '.nvm', 'versions', 'node', 'v22.0.0', 'lib');
  fs.mkdirSync(lib);
  const env = { ...other.env, PATH: [bin, other.env.PATH ?? process.env.PATH].join(path.delimiter) };
  const source = `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`;
  const pulled = await krewWasm(other, ['pull', source, '--name', 'fsprobe', '--allow-dir', lib], { env });
  t.is(pulled.exitCode, 2, pulled.stderr);
  t.is(theError(pulled.stderr), `krew-wasm: error: --allow-dir ${lib} is inside ${path.join(other.home, '.nvm')}, an installation of the Node that runs krew-wasm's plugins, which no plugin may reach (grant a folder outside it)`);
  t.false(fs.existsSync(path.join(other.root, 'receipts', 'fsprobe.json')));
  // The hint, followed: a folder outside it.
  const work = path.join(other.home, 'work');
  fs.mkdirSync(work);
  const outside = await krewWasm(other, ['pull', source, '--name', 'fsprobe', '--fs', 'none', '--allow-dir', work], { env });
  t.is(outside.exitCode, 0, outside.stderr);
  const granted = await krewWasm(other, ['grant', 'fsprobe', '--allow-dir', `${lib}:ro`], { env });
  t.is(granted.exitCode, 2, granted.stderr);
  t.regex(theError(granted.stderr), /^krew-wasm: error: --allow-dir .+ is inside .+\/\.nvm, an installation of the Node that runs krew-wasm's plugins/);
  const r = await runProcess(process.execPath, [path.join(other.root, 'bin', 'kubectl-fsprobe'), 'write', path.join(work, 'out'), 'x'], { cwd: other.home, env });
  t.is(r.stdout.trim(), `write ${path.join(work, 'out')}: OK`, r.stderr);
});

test.serial("a Node whose prefix is ~/.local protects what Node put there, not all of ~/.local: other programs' files there stay the plugin's to use (attack 106)", async (t) => {
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  const local = path.join(other.home, '.local');
  const node = path.join(local, 'bin', 'node');
  nodeAt(node);
  fs.mkdirSync(path.join(local, 'lib', 'node_modules', 'npm'), { recursive: true });
  fs.mkdirSync(path.join(local, 'share', 'app'), { recursive: true });
  // n's versions with N_PREFIX=~/.local, and Node's own commands beside it (attack 107).
  fs.mkdirSync(path.join(local, 'n', 'versions', 'node', '18.0.0', 'bin'), { recursive: true });
  fs.writeFileSync(path.join(local, 'n', 'versions', 'node', '18.0.0', 'bin', 'node'), 'node 18');
  fs.symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(local, 'bin', 'npm'));
  fs.writeFileSync(path.join(local, 'share', 'app', 'state'), 'app state');
  const pulled = await krewWasm(other, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe', '--allow-dir', path.join(local, 'share', 'app')]);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const r = await runProcess(node, [path.join(other.root, 'bin', 'kubectl-fsprobe'), 'read', path.join(local, 'share', 'app', 'state'), 'write', path.join(local, 'lib', 'node_modules', 'npm', 'index.js'), 'forged', 'write', node, 'forged', 'write', path.join(local, 'n', 'versions', 'node', '18.0.0', 'bin', 'node'), 'forged', 'unlink', path.join(local, 'bin', 'npm')], { cwd: other.home, env: other.env });
  t.is(r.exitCode, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.log(lines.join('\n'));
  t.is(lines[0], `read ${path.join(local, 'share', 'app', 'state')}: OK app state`);
  t.true(refused(lines[1]), lines[1]);
  t.true(refused(lines[2]), lines[2]);
  t.true(refused(lines[3]), lines[3]);
  t.true(refused(lines[4]), lines[4]);
  t.false(fs.existsSync(path.join(local, 'lib', 'node_modules', 'npm', 'index.js')));
  t.is(fs.readFileSync(path.join(local, 'n', 'versions', 'node', '18.0.0', 'bin', 'node'), 'utf8'), 'node 18');
  t.is(fs.readlinkSync(path.join(local, 'bin', 'npm')), '../lib/node_modules/npm/bin/npm-cli.js');
});

test.serial("a version manager whose folder is HOME itself (VOLTA_HOME=$HOME) keeps every version it holds out of reach (attack 107)", async (t) => {
  const other = makeSandbox();
  t.teardown(() => other.cleanup());
  const versions = path.join(other.home, 'tools', 'image', 'node');
  const running = path.join(versions, '20.0.0', 'bin', 'node');
  const next = path.join(versions, '22.0.0', 'bin', 'node');
  nodeAt(running);
  fs.mkdirSync(path.dirname(next), { recursive: true });
  fs.writeFileSync(next, 'node 22', { mode: 0o755 });
  const pulled = await krewWasm(other, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'fsprobe']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const r = await runProcess(running, [path.join(other.root, 'bin', 'kubectl-fsprobe'), 'write', next, 'forged', 'write', path.join(other.home, 'free'), 'x'], { cwd: other.home, env: other.env });
  t.is(r.exitCode, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.true(refused(lines[0]), lines[0]);
  t.false(refused(lines[1]), 'HOME itself stays the plugin\'s: ' + lines[1]);
  t.is(fs.readFileSync(next, 'utf8'), 'node 22');
});
