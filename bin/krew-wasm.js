#!/usr/bin/env node
// krew-wasm is in wrapper mode exactly when it was started through a `kubectl-<name>` link
// (the basename of argv[1]) other than `kubectl-krew_wasm`, which is krew-wasm itself run by
// kubectl (`kubectl krew-wasm list`); anything else, an absolute path to krew-wasm included, is
// direct mode. Wrapper mode loads one CommonJS bundle and nothing of the CLI.
//
// CommonJS, not an ES module (bin/package.json): wrapper mode is start-up time of every plugin run,
// and on Node 20 an ES module entry costs its loader (~6 ms) and ES wrappers of each built-in it
// imports (bench/RESULTS.md). The CLI is one CommonJS file too, compiled with a V8 code cache.
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

if (wrapperMode) {
  let wrapper;
  try {
    wrapper = require('../dist/wrapper/wrapper.js');
  } catch (error) {
    notBuilt(error);
  }
  wrapper.main();
} else {
  let cli;
  try {
    cli = loadWithCodeCache(require('node:path').join(__dirname, '../dist/bundle/main.js'));
  } catch (error) {
    notBuilt(error);
  }
  cli.main();
}

/**
 * Loads a CommonJS bundle with a V8 code cache beside it: Node 20 keeps no compiled code between
 * runs, and compiling the CLI bundle was ~15 ms of every command (bench/RESULTS.md). The cache is
 * named by the bundle's size and mtime (V8 checks only the source's length), so a rebuilt bundle
 * never meets an old cache, and by V8's version, so that two Node versions sharing an installation
 * do not replace each other's; one V8 rejects anyway is ignored. It is written at exit when
 * missing or rejected and the folder is writable (`make build` writes it by running `list`): it
 * is code as trusted as the bundle beside it, in krew-wasm's own folder, which no plugin may reach.
 * Not when the run changed V8 flags (`run` of a big plugin): V8 would reject a cache made then.
 */
function loadWithCodeCache(file) {
  const fs = require('node:fs');
  const vm = require('node:vm');
  const { createRequire } = require('node:module');
  const { size, mtimeMs } = fs.statSync(file);
  const cacheFile = `${file}.${size}-${Math.trunc(mtimeMs)}-v8-${process.versions.v8}.cache`;
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {}
  const source = fs.readFileSync(file, 'utf8');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
  });
  // import() in code restored from a cache fails on Node 20: the bundle imports through this one (src/builtin.ts).
  globalThis[Symbol.for('krew-wasm.import')] = (specifier) => import(specifier);
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, createRequire(file), mod, file, require('node:path').dirname(file));
  if (!cachedData || script.cachedDataRejected) {
    process.once('exit', () => {
      if (mod.exports.v8FlagsChanged?.()) return;
      const temp = `${cacheFile}.${process.pid}.tmp`;
      try {
        fs.writeFileSync(temp, script.createCachedData());
        fs.renameSync(temp, cacheFile);
      } catch {
        try { fs.rmSync(temp, { force: true }); } catch {}
      }
    });
  }
  return mod.exports;
}
