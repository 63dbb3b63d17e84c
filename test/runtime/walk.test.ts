import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { preopenedDirectories, type Descriptor } from '../../src/runtime/wasi/filesystem.js';
import { closePreopens, createFsContext, DeferredFs, openPreopens } from '../../src/runtime/wasi/preopens.js';
import { makeLongWay, removeLongWay } from '../helpers/longWay.js';

/**
 * The guest path walker and descriptors (runtime/wasi/walk.ts, filesystem.ts), called directly:
 * one row per path shape, on a real tree. Errors are WASI error-codes thrown as strings.
 */

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-walk-'));
const root = path.join(base, 'root'); // the preopen
const outside = path.join(base, 'outside');
const store = path.join(root, 'store'); // a protected directory inside the preopen
const ro = path.join(root, 'ro'); // a read-only grant inside the preopen
fs.mkdirSync(path.join(root, 'a', 'b'), { recursive: true });
fs.mkdirSync(outside);
fs.mkdirSync(path.join(store, 'entry'), { recursive: true });
fs.mkdirSync(ro);
fs.writeFileSync(path.join(root, 'a', 'file'), 'in a');
fs.writeFileSync(path.join(root, 'small'), 'abc');
fs.writeFileSync(path.join(outside, 'secret'), 'SECRET');
fs.writeFileSync(path.join(store, 'entry', 'code.js'), 'code');
fs.writeFileSync(path.join(ro, 'keep'), 'keep');
fs.symlinkSync('a/file', path.join(root, 'rel-in'));
fs.symlinkSync(path.join(root, 'a', 'file'), path.join(root, 'abs-in'));
fs.symlinkSync('../outside/secret', path.join(root, 'rel-out'));
fs.symlinkSync(path.join(outside, 'secret'), path.join(root, 'abs-out'));
fs.symlinkSync('store', path.join(root, 'to-store'));
fs.symlinkSync('loop2', path.join(root, 'loop1'));
fs.symlinkSync('loop1', path.join(root, 'loop2'));
fs.symlinkSync('a', path.join(root, 'dir-link'));
test.after.always(() => fs.rmSync(base, { recursive: true, force: true }));

const ctx = createFsContext({
  preopens: [{ guestPath: '/root', hostPath: root, readOnly: false }],
  protectedDirs: [store],
  readOnlyDirs: [ro],
  launchPaths: [],
});
const [[dir]] = preopenedDirectories(ctx) as [Descriptor, string][];
const FOLLOW = { symlinkFollow: true };
const READ = { read: true };

/** The WASI error-code a call throws (they are strings, not Errors), or `returned`. */
function codeOf(call: () => unknown): string {
  try {
    call();
    return 'returned';
  } catch (error) {
    return String(error);
  }
}

/** Reads a whole (small) file through the walker, or returns the error-code. */
function readAt(p: string, follow = true): string {
  try {
    const file = dir.openAt(follow ? FOLLOW : {}, p, {}, READ);
    const [bytes] = file.read(100n, 0n);
    return Buffer.from(bytes).toString();
  } catch (error) {
    return `err ${String(error)}`;
  }
}

const reads: [string, string, string][] = [
  ['a plain relative path', 'a/file', 'in a'],
  ['. and .. that stay inside', './a/../a/./file', 'in a'],
  ['double slashes', 'a//file', 'in a'],
  ['a relative symlink inside', 'rel-in', 'in a'],
  ['an absolute symlink inside the preopen', 'abs-in', 'in a'],
  ['a directory symlink inside', 'dir-link/file', 'in a'],
  ['.. above the preopen', '../outside/secret', 'err not-permitted'],
  ['.. chains far above', 'a/../../../../../../etc/passwd', 'err not-permitted'],
  ['an absolute path', '/etc/passwd', 'err not-permitted'],
  ['a relative symlink out', 'rel-out', 'err not-permitted'],
  ['an absolute symlink out', 'abs-out', 'err not-permitted'],
  ['a protected directory', 'store/entry/code.js', 'err access'],
  ['a symlink to a protected directory', 'to-store/entry/code.js', 'err access'],
  ['a symlink loop', 'loop1', 'err loop'],
  ['a NUL byte', 'a/file\0../../etc/passwd', 'err invalid'],
  ['an empty path', '', 'err no-entry'],
  ['a path longer than PATH_MAX (4096)', `a/${'./'.repeat(2048)}file`, 'err name-too-long'],
  ['many trailing slashes on a file (walked in linear time)', `a/file${'/'.repeat(4000)}`, 'err not-directory'],
  ['a file used as a directory', 'a/file/x', 'err not-directory'],
  ['a file with a trailing slash', 'a/file/', 'err not-directory'],
  ['a final symlink without follow', 'rel-in', 'err loop'],
];

for (const [title, p, want] of reads) {
  const shown = p.length > 60 ? `${JSON.stringify(p.slice(0, 30))}... ${p.length} chars` : JSON.stringify(p);
  test(`walk: ${title} (${shown}) -> ${want}`, (t) => {
    t.is(readAt(p, title !== 'a final symlink without follow'), want);
  });
}

test('descriptors are handles: a directory moved away and replaced by a symlink out is still the same directory', (t) => {
  fs.mkdirSync(path.join(root, 'moving'));
  fs.writeFileSync(path.join(root, 'moving', 'inner'), 'inner');
  const held = dir.openAt({}, 'moving', { directory: true }, READ);
  fs.renameSync(path.join(root, 'moving'), path.join(root, 'moved'));
  fs.symlinkSync('../outside', path.join(root, 'moving'));
  t.teardown(() => fs.rmSync(path.join(root, 'moving'), { force: true }));
  const [bytes] = held.openAt({}, 'inner', {}, READ).read(100n, 0n);
  t.is(Buffer.from(bytes).toString(), 'inner');
  t.is(codeOf(() => held.openAt(FOLLOW, 'secret', {}, READ)), 'no-entry');
  t.is(codeOf(() => held.openAt(FOLLOW, '../outside/secret', {}, READ)), 'not-permitted');
});

test('read-only by location: writes below a read-only grant are refused through a read-write preopen', (t) => {
  t.is(codeOf(() => dir.openAt({}, 'ro/keep', {}, { read: true, write: true })), 'read-only');
  t.is(codeOf(() => dir.openAt({}, 'ro/new', { create: true }, { write: true })), 'read-only');
  t.is(codeOf(() => dir.unlinkFileAt('ro/keep')), 'read-only');
  t.is(codeOf(() => dir.renameAt('ro/keep', dir, 'stolen')), 'read-only');
  t.is(codeOf(() => dir.linkAt({}, 'ro/keep', dir, 'alias')), 'read-only');
  const roDir = dir.openAt({}, 'ro', { directory: true }, READ);
  t.is(codeOf(() => roDir.createDirectoryAt('sub')), 'read-only');
  t.is(fs.readFileSync(path.join(ro, 'keep'), 'utf8'), 'keep');
});

test('the protected directory cannot be renamed, removed, opened or linked into', (t) => {
  t.is(codeOf(() => dir.renameAt('store', dir, 'taken')), 'access');
  t.is(codeOf(() => dir.removeDirectoryAt('store')), 'access');
  t.is(codeOf(() => dir.openAt({}, 'store', { directory: true }, READ)), 'access');
  t.is(codeOf(() => dir.renameAt('small', dir, 'store')), 'access');
  t.true(fs.existsSync(path.join(store, 'entry', 'code.js')));
});

test('a guest-sized read allocates a bounded chunk, not the 2 GiB it asks for', (t) => {
  const file = dir.openAt({}, 'small', {}, READ);
  const before = process.memoryUsage().arrayBuffers;
  const [bytes, eof] = file.read(2n ** 31n - 1n, 0n);
  const grown = process.memoryUsage().arrayBuffers - before;
  t.is(Buffer.from(bytes).toString(), 'abc');
  t.true(eof);
  t.true(grown < 8 * 1024 * 1024, `external memory grew by ${grown} bytes`);
});

test('a grant inside a protected directory is refused when the filesystem is checked', (t) => {
  t.throws(() => createFsContext({ preopens: [{ guestPath: '/x', hostPath: path.join(store, 'entry'), readOnly: false }], protectedDirs: [store], readOnlyDirs: [], launchPaths: [] }), {
    message: /is inside krew-wasm's own files/,
  });
});

test('a run\'s filesystem is checked at its first use: names at once, the protected folders looked up once, a refused grant refused every time', (t) => {
  const opened = openPreopens([
    { guestPath: '/root', hostPath: root, readOnly: false },
    { guestPath: '/entry', hostPath: path.join(store, 'entry'), readOnly: false },
  ]);
  t.teardown(() => closePreopens(opened));
  let looked = 0;
  const deferred = new DeferredFs(opened, () => {
    looked++;
    return { protectedDirs: [store], readOnlyDirs: [], launchPaths: [] };
  }, (error) => new Error(`reported: ${(error as Error).message}`));
  t.deepEqual(deferred.guestPaths, ['/root', '/entry']);
  t.is(looked, 0, 'nothing is looked up for the names');
  for (let i = 0; i < 2; i++) t.throws(() => deferred.context(), { message: /^reported: granted folder .*entry is inside krew-wasm's own files/ });
  t.is(looked, 1);
  const good = new DeferredFs(opened.slice(0, 1), () => ({ protectedDirs: [store], readOnlyDirs: [ro], launchPaths: [] }));
  const checked = good.context();
  t.is(good.context(), checked);
  const [[d]] = preopenedDirectories(checked) as [Descriptor, string][];
  t.is(codeOf(() => d.openAt(FOLLOW, 'store/entry/code.js', {}, READ)), 'access', 'the policy is the checked one');
  t.is(codeOf(() => d.openAt(FOLLOW, 'ro/new', { create: true }, { write: true })), 'read-only');
});

test('the check is of the folder that was opened, not of the one its path names by the time of the check', (t) => {
  // A grant is a symlink another plugin can retarget: into the store for the moment the run opens
  // it, back out before the run's first file use (found by an attack).
  const link = path.join(base, 'swapped');
  fs.symlinkSync(path.join(store, 'entry'), link);
  t.teardown(() => fs.rmSync(link, { force: true }));
  const opened = openPreopens([{ guestPath: '/x', hostPath: link, readOnly: false }]);
  t.teardown(() => closePreopens(opened));
  fs.rmSync(link);
  fs.symlinkSync(outside, link);
  const deferred = new DeferredFs(opened, () => ({ protectedDirs: [store], readOnlyDirs: [], launchPaths: [] }));
  t.throws(() => deferred.context(), { message: `granted folder ${link} is inside krew-wasm's own files (its store or its code), which no plugin may reach` });
  t.throws(() => deferred.throwIfRefused(), { message: /is inside krew-wasm's own files/ }, 'the refusal stays the run\'s outcome');
  // Read-only by location, likewise: the folder opened inside the read-only grant stays read-only.
  const inRo = path.join(ro, 'sub');
  fs.mkdirSync(inRo, { recursive: true });
  fs.rmSync(link);
  fs.symlinkSync(inRo, link);
  const openedRo = openPreopens([{ guestPath: '/x', hostPath: link, readOnly: false }]);
  t.teardown(() => closePreopens(openedRo));
  fs.rmSync(link);
  fs.symlinkSync(outside, link);
  const checked = new DeferredFs(openedRo, () => ({ protectedDirs: [store], readOnlyDirs: [ro], launchPaths: [] }));
  t.true(checked.context().preopens[0].readOnly);
  t.notThrows(() => checked.throwIfRefused());
  // A read-only grant is the folder its handle holds, not a decoy its symlink names by the check:
  // a read-write grant of the real folder is read-only below it.
  const real = path.join(root, 'a');
  fs.rmSync(link);
  fs.symlinkSync(real, link);
  const both = openPreopens([{ guestPath: '/ro', hostPath: link, readOnly: true }, { guestPath: '/rw', hostPath: root, readOnly: false }]);
  t.teardown(() => closePreopens(both));
  fs.rmSync(link);
  fs.symlinkSync(outside, link);
  const rw = new DeferredFs(both, () => ({ protectedDirs: [store], readOnlyDirs: [link], launchPaths: [] })).context();
  const [, [rwDir]] = preopenedDirectories(rw) as [Descriptor, string][];
  t.is(codeOf(() => rwDir.openAt(FOLLOW, 'a/new', { create: true }, { write: true })), 'read-only');
});

test('a folder above a grant that the user may only search (mode 0711) does not stop the check', (t) => {
  // Walking up by handle needs no read permission on the folders above, as a path does not. Run as
  // a user the folder does not belong to: `nobody` through runuser when the tests run as root.
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-search-only-'));
  t.teardown(() => fs.rmSync(top, { recursive: true, force: true }));
  const grant = path.join(top, 'closed', 'grant');
  fs.mkdirSync(grant, { recursive: true });
  fs.chmodSync(top, 0o755);
  fs.chmodSync(path.join(top, 'closed'), 0o711);
  fs.chmodSync(grant, 0o755);
  const preopens = new URL('../../src/runtime/wasi/preopens.js', import.meta.url).pathname;
  const script = `const { createFsContext } = await import(${JSON.stringify(preopens)});
const ctx = createFsContext({ preopens: [{ guestPath: '/g', hostPath: ${JSON.stringify(grant)}, readOnly: false }], protectedDirs: [${JSON.stringify(store)}], readOnlyDirs: [], launchPaths: [] });
process.stdout.write(String(ctx.preopens.length));`;
  const argv = [process.execPath, '--input-type=module', '-e', script];
  const r = process.getuid?.() === 0 ? spawnSync('runuser', ['-u', 'nobody', '--', ...argv], { encoding: 'utf8' }) : spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  t.is(r.error, undefined, 'runuser runs');
  t.is(r.stderr, '');
  t.is(r.stdout, '1');
});

test("the kernel's own filesystems are out of every grant: /proc, /sys and /dev are not entered or opened through `/`, nor granted", (t) => {
  const whole = createFsContext({ preopens: [{ guestPath: '/', hostPath: '/', readOnly: false }], protectedDirs: [store], readOnlyDirs: [], launchPaths: [] });
  t.teardown(() => whole.preopens.forEach((p) => fs.closeSync(p.fd)));
  const [[slash]] = preopenedDirectories(whole) as [Descriptor, string][];
  // /proc/self/mem is the host process's memory, /proc/self/environ its whole environment.
  t.is(codeOf(() => slash.openAt({}, 'proc/self/mem', {}, { read: true, write: true })), 'access');
  t.is(codeOf(() => slash.openAt(FOLLOW, 'proc/self/environ', {}, READ)), 'access');
  t.is(codeOf(() => slash.openAt({}, 'proc', { directory: true }, READ)), 'access');
  t.is(codeOf(() => slash.openAt({}, 'sys/kernel', { directory: true }, READ)), 'access');
  t.is(codeOf(() => slash.openAt({}, 'dev/null', {}, READ)), 'access');
  t.is(codeOf(() => slash.openAt({}, 'etc/hostname', {}, READ)), 'returned', 'the rest of the grant is reached');
  for (const folder of ['/proc', '/proc/sys', '/sys', '/dev']) {
    t.throws(() => createFsContext({ preopens: [{ guestPath: folder, hostPath: folder, readOnly: true }], protectedDirs: [store], readOnlyDirs: [], launchPaths: [] }), {
      message: `granted folder ${folder} is inside the kernel's own filesystems (/proc, /sys, /dev), which no plugin may reach`,
    }, folder);
  }
});

test('a procfs mounted elsewhere (a chroot\'s /proc) is known by its type, and a device node anywhere is not opened', (t) => {
  // Root's test (CI runs as root): mounting a procfs and making a device node need it.
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-kernelfs-'));
  const proc2 = path.join(top, 'proc2');
  fs.mkdirSync(proc2);
  t.teardown(() => {
    spawnSync('umount', ['-l', proc2]); // lazily: a descriptor the test left open may hold it
    fs.rmSync(top, { recursive: true, force: true });
  });
  t.is(spawnSync('mount', ['-t', 'proc', 'proc', proc2]).status, 0, 'mount -t proc');
  t.is(spawnSync('mknod', [path.join(top, 'zero'), 'c', '1', '5']).status, 0, 'mknod');
  fs.writeFileSync(path.join(top, 'plain'), 'plain');
  const ctx = createFsContext({ preopens: [{ guestPath: '/top', hostPath: top, readOnly: false }], protectedDirs: [store], readOnlyDirs: [], launchPaths: [] });
  t.teardown(() => ctx.preopens.forEach((p) => fs.closeSync(p.fd)));
  const [[d]] = preopenedDirectories(ctx) as [Descriptor, string][];
  t.is(codeOf(() => d.openAt({}, 'proc2/self/mem', {}, { read: true, write: true })), 'access');
  t.is(codeOf(() => d.openAt(FOLLOW, 'proc2/self/environ', {}, READ)), 'access');
  t.is(codeOf(() => d.openAt({}, 'proc2', { directory: true }, READ)), 'access');
  t.is(codeOf(() => d.openAt({}, 'zero', {}, READ)), 'access');
  t.is(codeOf(() => d.openAt({}, 'plain', {}, READ)), 'returned');
  t.throws(() => createFsContext({ preopens: [{ guestPath: '/p', hostPath: path.join(proc2, 'self'), readOnly: true }], protectedDirs: [store], readOnlyDirs: [], launchPaths: [] }), {
    message: /is inside the kernel's own filesystems/,
  });
});

test('a device number given again after an unmount is asked about again: a procfs mounted where a tmpfs was is not entered as the tmpfs', (t) => {
  // Root's test, as the one above. The kernel gives a freed device number to the next filesystem
  // mounted: a walk that kept the tmpfs's answer by its number entered the procfs after it.
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-devreuse-'));
  const late = path.join(top, 'late');
  fs.mkdirSync(late);
  t.teardown(() => {
    spawnSync('umount', ['-l', late]);
    fs.rmSync(top, { recursive: true, force: true });
  });
  const ctx = createFsContext({ preopens: [{ guestPath: '/top', hostPath: top, readOnly: false }], protectedDirs: [store], readOnlyDirs: [], launchPaths: [] });
  t.teardown(() => ctx.preopens.forEach((p) => fs.closeSync(p.fd)));
  const [[d]] = preopenedDirectories(ctx) as [Descriptor, string][];
  t.is(spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', late]).status, 0, 'mount -t tmpfs');
  const tmpfsDevice = fs.statSync(late).dev;
  // Entered and written as any folder: its device is looked at.
  (d.openAt({}, 'late/file', { create: true }, { write: true }) as unknown as Record<symbol, () => void>)[Symbol.for('dispose')]();
  t.is(spawnSync('umount', [late]).status, 0, 'umount');
  t.is(spawnSync('mount', ['-t', 'proc', 'proc', late]).status, 0, 'mount -t proc');
  t.is(fs.statSync(late).dev, tmpfsDevice, 'the procfs has the number the tmpfs had');
  t.is(codeOf(() => d.openAt(FOLLOW, 'late/self/environ', {}, READ)), 'access');
  t.is(codeOf(() => d.openAt({}, 'late', { directory: true }, READ)), 'access');
});

test('a device node is refused before it is opened: its driver never sees the open (O_TRUNC included)', (t) => {
  // Root's test: mknod needs it. Opening a device can act (a watchdog starts counting, a tape rewinds).
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-devopen-'));
  t.teardown(() => fs.rmSync(top, { recursive: true, force: true }));
  t.is(spawnSync('mknod', [path.join(top, 'null'), 'c', '1', '3']).status, 0, 'mknod');
  const ctx = createFsContext({ preopens: [{ guestPath: '/top', hostPath: top, readOnly: false }], protectedDirs: [store], readOnlyDirs: [], launchPaths: [] });
  t.teardown(() => ctx.preopens.forEach((p) => fs.closeSync(p.fd)));
  const [[d]] = preopenedDirectories(ctx) as [Descriptor, string][];
  const opens: string[] = [];
  const openSync = fs.openSync;
  fs.openSync = ((file: fs.PathLike, ...rest: unknown[]) => {
    opens.push(String(file));
    return (openSync as (...a: unknown[]) => number)(file, ...rest);
  }) as typeof fs.openSync;
  try {
    t.is(codeOf(() => d.openAt({}, 'null', { truncate: true }, { write: true })), 'access');
    t.is(codeOf(() => d.openAt({}, 'null', {}, READ)), 'access');
  } finally {
    fs.openSync = openSync;
  }
  t.deepEqual(opens.filter((f) => f.endsWith('/null')), []);
});

test("other plugins' grants are asked for at the first change of a name: every name on their way is pinned, the first missing one reserved", (t) => {
  // Another plugin's next run opens its grants by path: a plugin that may write the folder above
  // one could replace the symlink it names, or make the folder it names, as a link to anywhere.
  const top = path.join(base, 'others');
  fs.mkdirSync(path.join(top, 'real'), { recursive: true });
  fs.mkdirSync(path.join(top, 'free'));
  fs.symlinkSync('real', path.join(top, 'granted-link'));
  fs.mkdirSync(path.join(top, 'removed-meanwhile'));
  let asked = 0;
  let version = 'v1';
  const granted = [path.join(top, 'granted-link'), path.join(top, 'missing', 'deeper'), path.join(top, 'gone'), path.join(top, 'removed-meanwhile')];
  const others = createFsContext({
    preopens: [{ guestPath: '/top', hostPath: top, readOnly: false }],
    protectedDirs: [store],
    readOnlyDirs: [],
    launchPaths: [],
    otherGrants: {
      folders: () => {
        asked++;
        return granted;
      },
      version: () => version,
    },
  });
  const [[o]] = preopenedDirectories(others) as [Descriptor, string][];
  t.teardown(() => others.preopens.forEach((p) => fs.closeSync(p.fd)));
  o.openAt({}, 'real', { directory: true }, READ);
  t.is(asked, 0, 'reading and walking ask nothing');
  t.is(codeOf(() => o.unlinkFileAt('granted-link')), 'access');
  t.is(asked, 1);
  t.is(codeOf(() => o.renameAt('granted-link', o, 'moved')), 'access');
  t.is(codeOf(() => o.renameAt('real', o, 'moved')), 'access', 'what the link leads to is on the way too');
  t.is(codeOf(() => o.symlinkAt('real', 'missing')), 'access', 'the first missing name on the way');
  t.is(codeOf(() => o.createDirectoryAt('missing')), 'access');
  t.is(codeOf(() => o.symlinkAt('real', 'gone')), 'access');
  t.is(codeOf(() => o.renameAt('free', o, 'gone')), 'access');
  t.is(codeOf(() => o.openAt({}, 'gone', { create: true }, { write: true })), 'access');
  t.is(asked, 1, 'asked once while the grants stay as they are');
  // A granted folder removed by someone else while the run goes on is not made again as a link.
  fs.rmdirSync(path.join(top, 'removed-meanwhile'));
  t.is(codeOf(() => o.symlinkAt('real', 'removed-meanwhile')), 'access');
  // Names off those ways are as free as before.
  o.createDirectoryAt('elsewhere');
  o.symlinkAt('real', 'another-link');
  o.renameAt('free', o, 'free2');
  // A grant given while the run goes on is pinned from the next change on.
  granted.push(path.join(top, 'elsewhere'));
  version = 'v2';
  t.is(codeOf(() => o.renameAt('elsewhere', o, 'elsewhere2')), 'access');
  t.is(asked, 2);
  t.is(codeOf(() => o.renameAt('another-link', o, 'another-link2')), 'returned');
  t.is(fs.readlinkSync(path.join(top, 'granted-link')), 'real');
  t.false(fs.existsSync(path.join(top, 'missing')));
  t.false(fs.existsSync(path.join(top, 'gone')));
});

test('a grant through a link into /proc (/proc/self/cwd follows the process) is refused when the filesystem is checked', (t) => {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-cwdlink-'));
  t.teardown(() => fs.rmSync(top, { recursive: true, force: true }));
  fs.symlinkSync('/proc/self/cwd', path.join(top, 'abs'));
  fs.symlinkSync(`${'../'.repeat(top.split('/').length)}proc/self/cwd`, path.join(top, 'rel'));
  for (const link of ['abs', 'rel']) {
    t.throws(() => createFsContext({ preopens: [{ guestPath: '/g', hostPath: path.join(top, link), readOnly: true }], protectedDirs: [store], readOnlyDirs: [], launchPaths: [] }), {
      message: /is inside the kernel's own filesystems/,
    }, link);
  }
});

test('a grant whose way cannot be followed here (longer than PATH_MAX once its links are spelled out) is refused, though the kernel opens it', (t) => {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-longway-'));
  t.teardown(() => {
    removeLongWay(top);
    fs.rmSync(top, { recursive: true, force: true });
  });
  const { link } = makeLongWay(top);
  fs.closeSync(fs.openSync(link, 'r')); // the kernel opens it
  t.throws(() => createFsContext({ preopens: [{ guestPath: '/g', hostPath: link, readOnly: true }], protectedDirs: [store], readOnlyDirs: [], launchPaths: [] }), {
    message: `granted folder ${link} cannot be followed to its end (its links loop, make a path longer than the system allows, or name what is not UTF-8), so what it reaches cannot be checked`,
  });
});

test('a grant through a link whose target is not UTF-8 is refused: read as text it would name another path', (t) => {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-bytes-'));
  t.teardown(() => fs.rmSync(top, { recursive: true, force: true }));
  const odd = Buffer.concat([Buffer.from('b'), Buffer.from([0xff])]);
  fs.mkdirSync(Buffer.concat([Buffer.from(`${top}/`), odd]));
  fs.symlinkSync(Buffer.concat([odd, Buffer.from(`/${'../'.repeat(top.split('/').length + 1)}proc/self/cwd`)]), path.join(top, 'gx'));
  fs.closeSync(fs.openSync(path.join(top, 'gx'), 'r')); // the kernel follows the bytes to the cwd
  t.throws(() => createFsContext({ preopens: [{ guestPath: '/g', hostPath: path.join(top, 'gx'), readOnly: true }], protectedDirs: [store], readOnlyDirs: [], launchPaths: [] }), {
    message: `granted folder ${path.join(top, 'gx')} cannot be followed to its end (its links loop, make a path longer than the system allows, or name what is not UTF-8), so what it reaches cannot be checked`,
  });
});

test('a granted folder that is missing is refused when the run starts, with nothing left open', (t) => {
  const before = fs.readdirSync('/proc/self/fd').length;
  t.throws(() => openPreopens([
    { guestPath: '/root', hostPath: root, readOnly: false },
    { guestPath: '/gone', hostPath: path.join(base, 'gone'), readOnly: false },
  ]), { message: `granted folder ${path.join(base, 'gone')} does not exist` });
  t.is(fs.readdirSync('/proc/self/fd').length, before);
});

test('every name on the way to the store, a read-only grant or a launch file is pinned: entered, never renamed, removed or replaced', (t) => {
  // The next run finds them by path: a plugin that moved a folder on that path, or unlinked a
  // symlink on it, and planted a decoy would hand the next run a forged store or a writable grant.
  const top = path.join(base, 'pinned');
  fs.mkdirSync(path.join(top, 'home', '.local', 'share', 'kw'), { recursive: true });
  fs.mkdirSync(path.join(top, 'home', '.local', 'sibling'));
  fs.mkdirSync(path.join(top, 'home', 'p3', 'manifests'), { recursive: true });
  fs.mkdirSync(path.join(top, 'home', 'p2'));
  fs.mkdirSync(path.join(top, 'home', 'tools', 'bin'), { recursive: true });
  fs.writeFileSync(path.join(top, 'home', 'tools', 'bin', 'tool'), 'code');
  fs.symlinkSync('kw', path.join(top, 'home', '.local', 'share', 'kw-link'));
  // A chain of links: ln -> p2/x -> ../p3; the read-only grant is named through it.
  fs.symlinkSync('p2/x', path.join(top, 'home', 'ln'));
  fs.symlinkSync('../p3', path.join(top, 'home', 'p2', 'x'));
  const home = path.join(top, 'home');
  const pinned = createFsContext({
    preopens: [{ guestPath: '/home', hostPath: home, readOnly: false }],
    protectedDirs: [path.join(home, '.local', 'share', 'kw-link')],
    readOnlyDirs: [path.join(home, 'ln', 'manifests')],
    launchPaths: [path.join(home, 'tools', 'bin', 'tool')],
  });
  const [[h]] = preopenedDirectories(pinned) as [Descriptor, string][];
  t.teardown(() => pinned.preopens.forEach((p) => fs.closeSync(p.fd)));
  for (const name of ['.local', '.local/share', '.local/share/kw-link', 'ln', 'p2/x', 'p3', 'p3/manifests', 'tools', 'tools/bin', 'tools/bin/tool']) {
    t.is(codeOf(() => h.renameAt(name, h, 'moved')), 'access', `rename ${name}`);
  }
  t.is(codeOf(() => h.unlinkFileAt('ln')), 'access');
  t.is(codeOf(() => h.unlinkFileAt('.local/share/kw-link')), 'access');
  t.is(codeOf(() => h.removeDirectoryAt('p3/manifests')), 'access');
  t.is(codeOf(() => h.unlinkFileAt('tools/bin/tool')), 'access');
  h.createDirectoryAt('decoy');
  t.is(codeOf(() => h.renameAt('decoy', h, 'p2/x')), 'access', 'replacing a pinned link');
  t.is(codeOf(() => h.renameAt('decoy', h, '.local/share/kw-link')), 'access');
  // Pinned is not protected: the folders are entered and written as the grant allows.
  h.openAt({}, '.local/share/new-file', { create: true }, { write: true });
  t.true(fs.existsSync(path.join(home, '.local', 'share', 'new-file')));
  t.is(codeOf(() => h.openAt({}, '.local/share/kw', { directory: true }, READ)), 'access');
  t.is(codeOf(() => h.openAt({}, 'p3/manifests/new', { create: true }, { write: true })), 'read-only');
  // Names off those paths are as free as before.
  h.renameAt('.local/sibling', h, '.local/sibling2');
  h.renameAt('decoy', h, 'decoy2');
  t.true(fs.existsSync(path.join(home, '.local', 'sibling2')));
  t.true(fs.existsSync(path.join(home, 'ln', 'manifests')));
});
