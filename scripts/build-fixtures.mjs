#!/usr/bin/env node
// Builds the test plugins from source (make fixtures): component-model WAT via jco's wasm-tools
// (embed + new), C via Debian's clang for wasm32-wasi (left as a preview1 core module: pull wraps
// it with the adapter), and JS via `jco componentize`. Outputs go to test/fixtures/build/ and are
// rebuilt only when a source is newer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';

// jco's wasm-tools runs on the shim, which no longer preopens "/" (see shared notes).
_setPreopens({ '/': '/' });

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'test/fixtures/src');
const out = path.join(root, 'test/fixtures/build');
fs.mkdirSync(out, { recursive: true });

const upToDate = (target, ...inputs) =>
  fs.existsSync(target) && inputs.every((i) => fs.statSync(i).mtimeMs <= fs.statSync(target).mtimeMs);

/** A WIT folder with the fixture worlds and the vendored WASI packages side by side. */
function witDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-fixtures-wit-'));
  fs.copyFileSync(path.join(root, 'test/fixtures/wit/fixtures.wit'), path.join(dir, 'fixtures.wit'));
  fs.cpSync(path.join(root, 'wit/deps'), path.join(dir, 'deps'), { recursive: true });
  return dir;
}

const wit = witDir();
const built = [];
try {
  const { parse, componentEmbed, componentNew } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  for (const file of fs.readdirSync(src).filter((f) => f.endsWith('.wat'))) {
    const target = path.join(out, file.replace(/\.wat$/, '.wasm'));
    if (upToDate(target, path.join(src, file), path.join(root, 'test/fixtures/wit/fixtures.wit'))) continue;
    const core = await parse(fs.readFileSync(path.join(src, file), 'utf8'));
    const embedded = await componentEmbed({ binary: core, witPath: wit, world: 'cli' });
    fs.writeFileSync(target, await componentNew(embedded, []));
    built.push(target);
  }

  for (const file of fs.readdirSync(src).filter((f) => f.endsWith('.c'))) {
    const target = path.join(out, file.replace(/\.c$/, '.core.wasm'));
    if (upToDate(target, path.join(src, file))) continue;
    execFileSync('clang', ['--target=wasm32-wasi', '--sysroot=/usr', '-Oz', '-Wl,--strip-all', '-o', target, path.join(src, file)], {
      stdio: 'inherit',
    });
    built.push(target);
  }

  for (const file of fs.readdirSync(src).filter((f) => f.endsWith('.js'))) {
    const target = path.join(out, file.replace(/\.js$/, '.wasm'));
    if (upToDate(target, path.join(src, file))) continue;
    const { componentize } = await import('@bytecodealliance/componentize-js');
    const { component } = await componentize({
      sourcePath: path.join(src, file),
      witPath: wit,
      worldName: 'js',
      disableFeatures: ['http', 'fetch-event'],
    });
    fs.writeFileSync(target, component);
    built.push(target);
  }
} finally {
  fs.rmSync(wit, { recursive: true, force: true });
}
console.log(built.length ? `built ${built.map((b) => path.relative(root, b)).join(', ')}` : 'fixtures up to date');
