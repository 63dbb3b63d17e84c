#!/usr/bin/env node
// Bundles krew-wasm with esbuild into two trees (Node resolves and evaluates one module per file,
// so fewer files is a faster start; see bench/):
//   dist/wrapper/  wrapper mode, CommonJS: wrapper.js, and the kubeconfig loader and the stale-entry
//                  refresh as files required only by the runs that need them.
//   dist/bundle/   direct mode, CommonJS: main.js, one file with a V8 code cache (scripts/codecache.mjs).
// The jco and shim packages stay external: they are loaded from node_modules only when needed.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  external: ['@bytecodealliance/*'],
  logLevel: 'warning',
  // clipanion and yaml are CommonJS and require Node built-ins; give ESM output a require() for that.
  banner: { js: "import { createRequire as __krewCreateRequire } from 'node:module'; const require = __krewCreateRequire(import.meta.url);" },
};

/** In the wrapper bundle, the kubeconfig loader and the stale-entry refresh stay separate files (see below). */
const separateFiles = {
  name: 'separate-files',
  setup(b) {
    b.onResolve({ filter: /^\.\/(kubeconfig|refreshEntry)\.js$/ }, (args) => (args.importer.endsWith('.ts') ? { path: args.path, external: true } : undefined));
  },
};

for (const dir of ['dist/bundle', 'dist/wrapper']) fs.rmSync(path.join(root, dir), { recursive: true, force: true });
/** CommonJS output: import.meta.url becomes the file's own URL (the adapters and the worker sit beside it). */
const commonJs = {
  format: 'cjs',
  define: { 'import.meta.url': '__krewImportMetaUrl' },
  banner: { js: "const __krewImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
};
// Direct mode: one CommonJS file, loaded by bin/krew-wasm.js with the V8 code cache that
// scripts/codecache.mjs makes (Node 20 caches no ES module code: as ES module chunks, `list` spent
// ~9 ms compiling them). One file, so every module exists once. The worker is a file of its own.
await build({
  ...common,
  ...commonJs,
  entryPoints: { main: 'src/main.ts', httpWorker: 'src/runtime/hosts/httpWorker.ts' },
  outdir: 'dist/bundle',
  entryNames: '[name]',
});
// Wrapper mode: CommonJS (dist/wrapper/package.json), as bin/krew-wasm.js; see there why. One
// bundle holds everything a run may need, so that each module (the wake word, the stream classes
// jco checks with instanceof) exists once. Two stateless parts are separate files, required only by
// the runs that need them: the kubeconfig loader with its YAML parser, and the stale-entry refresh
// with the transpiler. The HTTP worker is a file of its own, as a worker must be.
await build({
  ...common,
  ...commonJs,
  entryPoints: {
    wrapper: 'src/wrapper.ts',
    kubeconfig: 'src/kube/kubeconfig.ts',
    refreshEntry: 'src/services/refreshEntry.ts',
    httpWorker: 'src/runtime/hosts/httpWorker.ts',
  },
  outdir: 'dist/wrapper',
  entryNames: '[name]',
  plugins: [separateFiles],
});
for (const dir of ['dist/bundle', 'dist/wrapper']) fs.writeFileSync(path.join(root, dir, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
