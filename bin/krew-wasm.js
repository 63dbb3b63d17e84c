#!/usr/bin/env node
// krew-wasm is in wrapper mode exactly when it was started through a `kubectl-<name>` link
// (the basename of argv[1]) other than `kubectl-krew_wasm`, which is krew-wasm itself run by
// kubectl (`kubectl krew-wasm list`); anything else, an absolute path to krew-wasm included, is
// direct mode. Wrapper mode loads one CommonJS bundle and nothing of the CLI.
//
// CommonJS, not an ES module (bin/package.json): wrapper mode is start-up time of every plugin run,
// and on Node 20 an ES module entry costs its loader (~6 ms) and ES wrappers of each built-in it
// imports (bench/RESULTS.md). Both bundles are CommonJS files compiled with a V8 code cache.
'use strict';
const { basename } = require('node:path');

const invokedAs = basename(process.argv[1] ?? '');
const wrapperMode = /^kubectl-./.test(invokedAs) && !/^kubectl-krew_wasm(\.js)?$/.test(invokedAs);

function notBuilt(error) {
  const missing = error?.code === 'MODULE_NOT_FOUND' || error?.code === 'ERR_MODULE_NOT_FOUND' || error?.code === 'ENOENT';
  if (!missing || !String(error.message).includes('/dist/')) throw error;
  process.stderr.write('krew-wasm: error: krew-wasm is not built (run make build in its source folder)\n');
  process.exit(1);
}

// import() in code restored from a V8 code cache fails on Node 20 ("A dynamic import callback was
// not specified"): the bundles import ES modules through this one (src/builtin.ts, importModule).
globalThis[Symbol.for('krew-wasm.import')] = (specifier) => import(specifier);
// A sibling file of a bundle that only some runs load (the kubeconfig loader) is loaded with a code
// cache too; `variant` names the V8 flags the run had set by then (src/builtin.ts, requireSibling).
globalThis[Symbol.for('krew-wasm.load')] = (file, variant) => loadWithCodeCache(file, variant);

const dist = require('node:path').join(__dirname, '../dist');
let bundle;
try {
  bundle = loadWithCodeCache(wrapperMode ? `${dist}/wrapper/wrapper.js` : `${dist}/bundle/main.js`);
} catch (error) {
  notBuilt(error);
}
bundle.main();

/**
 * Loads a CommonJS bundle with a V8 code cache beside it: Node 20 keeps no compiled code between
 * runs, and compiling the bundles was ~6 ms of every plugin run and ~15 ms of every command
 * (bench/RESULTS.md). V8 checks only that a cache was made from a source of the same length, so
 * the cache is named by the bundle's build (a hash of its contents, its last line: see
 * scripts/bundle.mjs), its mtime (a bundle edited in place) and V8's version (two Node versions
 * sharing an installation keep their own); one V8 rejects anyway is ignored. When missing or
 * rejected it is written at exit, if the folder is writable, holding all the code the run compiled
 * (what a start needs is then compiled by no later one: ~4 ms of a plugin run). A run that changed
 * V8's flags (a big plugin) can only write the cache made as the bundle loaded, as V8 would reject
 * one made later: that one is kept as `-partial`, used until a run without flags writes the whole
 * one (else a big plugin run first after an install cost every later run ~3 ms). A file loaded
 * after the flags changed names them by `variant`, and keeps one cache per set of flags. It is code
 * as trusted as the bundle beside it, in krew-wasm's own folder, which no plugin may reach.
 */
function loadWithCodeCache(file, variant = '') {
  const fs = require('node:fs');
  const path = require('node:path');
  const vm = require('node:vm');
  // node:module's createRequire, without loading node:module (~0.4 ms; Node does not at start-up).
  const { createRequire } = module.constructor;
  const source = fs.readFileSync(file, 'utf8');
  const build = /\/\/ krew-wasm build ([0-9a-f]{16})\n$/.exec(source.slice(-40))?.[1] ?? 'unknown';
  const stem = `${path.basename(file)}.${build}-`;
  const suffix = `-v8-${process.versions.v8}.cache`;
  const base = `${file}.${build}-${Math.trunc(fs.statSync(file).mtimeMs)}${/^[0-9a-f]{8}$/.test(variant) ? `-${variant}` : ''}`;
  const whole = `${base}${suffix}`;
  const partial = `${base}-partial${suffix}`;
  let cachedData = readCache(fs, whole);
  const onlyPartial = !cachedData && (cachedData = readCache(fs, partial)) !== undefined;
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, createRequire(file), mod, file, path.dirname(file));
  const accepted = cachedData !== undefined && !script.cachedDataRejected;
  if (accepted && !onlyPartial) return mod.exports;
  const atLoad = accepted ? undefined : script.createCachedData();
  process.once('exit', () => {
    const flagsChanged = mod.exports.v8FlagsChanged?.() === true;
    if (flagsChanged && accepted) return; // the partial cache in use is what this run can make
    const target = flagsChanged ? partial : whole;
    const temp = `${target}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(temp, flagsChanged ? atLoad : script.createCachedData(), { flag: 'wx' }); // never through a planted name
      fs.renameSync(temp, target);
      if (!flagsChanged) fs.rmSync(partial, { force: true });
      // Caches of earlier builds of this bundle for this V8 are of no use any more.
      for (const name of fs.readdirSync(path.dirname(file))) {
        if (name.startsWith(`${path.basename(file)}.`) && name.endsWith(suffix) && !name.startsWith(stem)) fs.rmSync(path.join(path.dirname(file), name), { force: true });
      }
    } catch {
      try {
        fs.rmSync(temp, { force: true });
      } catch {}
    }
  });
  return mod.exports;
}

/** The cache's bytes when it is a regular file of a sane size (never a FIFO or a device to block on). */
function readCache(fs, cacheFile) {
  let fd;
  try {
    fd = fs.openSync(cacheFile, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW);
    const stat = fs.fstatSync(fd);
    const size = stat.size;
    if (!stat.isFile() || size > 64 * 1024 * 1024) return undefined;
    const bytes = Buffer.allocUnsafe(size);
    return fs.readSync(fd, bytes, 0, size, 0) === size ? bytes : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
