#!/usr/bin/env node
// krew-wasm is in wrapper mode exactly when it was started through a `kubectl-<name>` link
// (the basename of argv[1]) other than `kubectl-krew_wasm`, which is krew-wasm itself run by
// kubectl (`kubectl krew-wasm list`); anything else, an absolute path to krew-wasm included, is
// direct mode. Wrapper mode loads one self-contained file and nothing of the CLI.
import { basename } from 'node:path';

const invokedAs = basename(process.argv[1] ?? '');
const wrapperMode = /^kubectl-./.test(invokedAs) && !/^kubectl-krew_wasm(\.js)?$/.test(invokedAs);
let entry;
try {
  entry = await import(wrapperMode ? '../dist/wrapper/wrapper.js' : '../dist/bundle/main.js');
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('/dist/')) throw error;
  process.stderr.write('krew-wasm: error: krew-wasm is not built (run make build in its source folder)\n');
  process.exit(1);
}
await entry.main();
