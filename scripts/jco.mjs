#!/usr/bin/env node
// jco's command line, as the README's plugin-authoring steps use it:
//   node scripts/jco.mjs componentize pods.js --wit wit -n plugin -o pods.wasm
// jco's CLI runs its tools on preview2-shim, which no longer preopens "/" (0.26): given file paths,
// `jco componentize|types|new|embed` fail with "failed to get path metadata" (../shared notes,
// "jco CLI gotchas"). This gives the shim the root preopen, then runs jco's own CLI unchanged.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';

_setPreopens({ '/': '/' });
// jco's package exports only its API (dist/api.js); its CLI is dist/jco.js beside it.
const cli = path.join(path.dirname(fileURLToPath(import.meta.resolve('@bytecodealliance/jco'))), 'jco.js');
process.argv = [process.argv[0], cli, ...process.argv.slice(2)];
await import(pathToFileURL(cli).href);
