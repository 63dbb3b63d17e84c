#!/usr/bin/env node
// krew-wasm is in wrapper mode exactly when it was started through a `kubectl-<name>` link
// (the basename of argv[1]); anything else, an absolute path to krew-wasm itself included, is
// direct mode. Wrapper mode loads one self-contained file and nothing of the CLI.
import { basename } from 'node:path';

const wrapperMode = /^kubectl-./.test(basename(process.argv[1] ?? ''));
const { main } = await import(wrapperMode ? '../dist/wrapper/wrapper.js' : '../dist/bundle/main.js');
await main();
