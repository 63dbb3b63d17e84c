import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isInside, krewWasmCode, reachedThrough } from '../src/hostPaths.js';

test('isInside: a folder and what is below it, not its parent nor its neighbours; a name starting with two dots is a name', (t) => {
  t.true(isInside('/a/b', '/a/b'));
  t.true(isInside('/a/b/c', '/a/b'));
  t.true(isInside('/a/b/..x', '/a/b'), '..x is a child of /a/b');
  t.true(isInside('/a/b/..x/y', '/a/b'));
  t.false(isInside('/a', '/a/b'));
  t.false(isInside('/a/bc', '/a/b'));
  t.false(isInside('/a/c/..x', '/a/b'));
  t.false(isInside('/x/y', '/a/b'));
});

test('reachedThrough: the grant a path looks a name up in, links followed as the kernel does; a way it cannot follow is reached only when it counts', (t) => {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-reached-'));
  t.teardown(() => fs.rmSync(top, { recursive: true, force: true }));
  const grant = path.join(top, 'grant');
  const other = path.join(top, 'other');
  fs.mkdirSync(grant);
  fs.mkdirSync(other);
  fs.writeFileSync(path.join(other, 'token'), 't');
  fs.symlinkSync(path.join(grant, 'token'), path.join(other, 'via-grant'));
  fs.symlinkSync(Buffer.concat([Buffer.from('b'), Buffer.from([0xff]), Buffer.from('/x')]), path.join(other, 'odd'));
  t.is(reachedThrough(path.join(other, 'token'), [grant]), undefined);
  t.is(reachedThrough(path.join(grant, 'token'), [grant]), grant);
  t.is(reachedThrough(path.join(other, 'via-grant'), [grant]), grant, 'a link in another folder that leads into the grant');
  t.is(reachedThrough(path.join(other, 'odd'), [grant]), grant, 'a link that is not UTF-8 cannot be followed: reached');
  t.is(reachedThrough(path.join(other, 'odd'), [grant], { unfollowableIsReached: false }), undefined, 'unless that allows something');
  t.is(reachedThrough(path.join(grant, 'token'), []), undefined);
  fs.mkdirSync(path.join(grant, 'ro', 'deep'), { recursive: true });
  const readOnlyDirs = [path.join(grant, 'ro')];
  t.is(reachedThrough(path.join(grant, 'ro', 'deep', 'config'), [grant], { readOnlyDirs }), undefined, 'a read-only grant inside, and the names on the way to it, are kept');
  t.is(reachedThrough(path.join(grant, 'other', 'config'), [grant], { readOnlyDirs }), grant);
  // A link in the read-only folder may have been planted while it was writable (found by an attack).
  fs.symlinkSync(path.join(other, 'token'), path.join(grant, 'ro', 'planted'));
  t.is(reachedThrough(path.join(grant, 'ro', 'planted'), [grant], { readOnlyDirs }), grant);
  t.is(reachedThrough(path.join(grant, 'ro', 'planted'), [grant], { readOnlyDirs, linksInReadOnlyAreReached: false }), undefined, 'unless that allows something');
});

test("krewWasmCode: the store a node_modules/.modules.yaml names is kept and left out of the hard-link walk, unless it holds krew-wasm's code (attack 66)", (t) => {
  const top = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-pnpm-')));
  t.teardown(() => fs.rmSync(top, { recursive: true, force: true }));
  const install = path.join(top, 'app');
  const modules = path.join(install, 'node_modules');
  fs.mkdirSync(path.join(modules, 'acorn'), { recursive: true });
  const store = path.join(top, 'store');
  fs.mkdirSync(store);
  fs.writeFileSync(path.join(modules, '.modules.yaml'), JSON.stringify({ nodeLinker: 'hoisted', storeDir: store }));
  const code = krewWasmCode(install, path.join(top, 'no-bin'));
  t.true(code.dirs.includes(store));
  t.deepEqual(code.packageStores, [store]);
  // Named before its folder was kept from plugins, a "store" around krew-wasm's code is walked all the same.
  fs.writeFileSync(path.join(modules, '.modules.yaml'), JSON.stringify({ storeDir: top }));
  const forged = krewWasmCode(install, path.join(top, 'no-bin'));
  t.true(forged.dirs.includes(top));
  t.deepEqual(forged.packageStores, []);
  // YAML, as pnpm wrote it before version 10.
  fs.writeFileSync(path.join(modules, '.modules.yaml'), `layoutVersion: 5\nstoreDir: ${store}\n`);
  t.deepEqual(krewWasmCode(install, path.join(top, 'no-bin')).packageStores, [store]);
});

test('krewWasmCode: with no descriptor left (a plugin holds them all), looking up the installations the store links lead to fails, never leaves one out', (t) => {
  // Looked up at a run's first use of its files, after guest code started (attack 68's descriptors, held with sockets say).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-fds-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const storeBin = path.join(dir, 'bin');
  fs.mkdirSync(storeBin);
  fs.mkdirSync(path.join(dir, 'second', 'bin'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'second', 'bin', 'krew-wasm.js'), '');
  fs.symlinkSync(path.join(dir, 'second', 'bin', 'krew-wasm.js'), path.join(storeBin, 'kubectl-x'));
  const module = new URL('../src/hostPaths.js', import.meta.url).href;
  const setupModule = new URL('../src/store/setupLinks.js', import.meta.url).href;
  const setupLinksFile = path.join(dir, 'setup-links');
  fs.writeFileSync(setupLinksFile, `${path.join(dir, 'elsewhere', 'kubectl-krew_wasm')}\n`);
  const script = `const { krewWasmCode } = await import(${JSON.stringify(module)});
const { readSetupLinks } = await import(${JSON.stringify(setupModule)});
const fs = await import('node:fs');
const found = (r) => r.dirs.includes(${JSON.stringify(path.join(dir, 'second'))});
const before = found(krewWasmCode(undefined, ${JSON.stringify(storeBin)}));
const held = [];
try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch {}
let after;
try { after = found(krewWasmCode(undefined, ${JSON.stringify(storeBin)})) ? 'found' : 'left out'; } catch (e) { after = e.code; }
let setup;
try { setup = readSetupLinks({ setupLinksFile: ${JSON.stringify(setupLinksFile)} }).length; } catch (e) { setup = e.code; }
for (const fd of held) fs.closeSync(fd);
process.stdout.write(JSON.stringify({ before, held: held.length > 0, after, setup }));`;
  const out = execFileSync('sh', ['-c', 'ulimit -n 64 && exec "$0" --input-type=module -e "$1"', process.execPath, script], { encoding: 'utf8' });
  // And the links `setup --dir` made, read at that first use too (attack 71).
  t.deepEqual(JSON.parse(out), { before: true, held: true, after: 'EMFILE', setup: 'EMFILE' });
});
