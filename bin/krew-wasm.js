#!/usr/bin/env node
// krew-wasm is in wrapper mode exactly when it was started through a `kubectl-<name>` link
// (the basename of argv[1]) other than `kubectl-krew_wasm`, which is krew-wasm itself run by
// kubectl (`kubectl krew-wasm list`); anything else, an absolute path to krew-wasm included, is
// direct mode. Wrapper mode loads one CommonJS bundle and nothing of the CLI.
//
// CommonJS, not an ES module (bin/package.json): wrapper mode is start-up time of every plugin run,
// and on Node 20 an ES module entry costs its loader (~6 ms) and ES wrappers of each built-in it
// imports (bench/RESULTS.md); the CLI, whose start matters less, stays an ES module bundle.
'use strict';
const { basename } = require('node:path');

const invokedAs = basename(process.argv[1] ?? '');
const wrapperMode = /^kubectl-./.test(invokedAs) && !/^kubectl-krew_wasm(\.js)?$/.test(invokedAs);

function notBuilt(error) {
  const missing = error?.code === 'MODULE_NOT_FOUND' || error?.code === 'ERR_MODULE_NOT_FOUND';
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
  import('../dist/bundle/main.js').then((cli) => cli.main(), notBuilt);
}
