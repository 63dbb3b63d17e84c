#!/usr/bin/env node
// Bundles krew-wasm with esbuild into two trees (Node resolves and evaluates one module per file,
// so fewer files is a faster start; see bench/):
//   dist/wrapper/  wrapper mode: wrapper.js is self-contained; the outbound-http host, the network
//                  context, the kubeconfig mirror, the kubeconfig loader and the stale-entry refresh
//                  (which loads the transpiler) are separate files loaded only by the runs that need them.
//   dist/bundle/   direct mode: main.js and chunks split by dynamic import (pull, run, the CLI).
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

/**
 * In the wrapper tree, the lazily imported hosts are sibling files rather than inlined code, and
 * the kubeconfig loader (with the YAML parser) is one sibling shared by the network context and
 * the --fs kubeconfig mirror.
 */
const lazySiblings = {
  name: 'lazy-siblings',
  setup(b) {
    b.onResolve({ filter: /(hosts\/outboundHttp|kube\/(networkContext|mirror)|\/refreshEntry)\.js$/ }, (args) =>
      args.kind === 'dynamic-import' ? { path: `./${path.basename(args.path)}`, external: true } : undefined);
    b.onResolve({ filter: /^\.\/kubeconfig\.js$/ }, (args) =>
      args.importer.endsWith(path.join('src', 'kube', 'networkContext.ts')) || args.importer.endsWith(path.join('src', 'kube', 'mirror.ts'))
        ? { path: './kubeconfig.js', external: true } : undefined);
  },
};

for (const dir of ['dist/bundle', 'dist/wrapper']) fs.rmSync(path.join(root, dir), { recursive: true, force: true });
await build({
  ...common,
  entryPoints: { main: 'src/main.ts', httpWorker: 'src/runtime/hosts/httpWorker.ts' },
  outdir: 'dist/bundle',
  entryNames: '[name]',
  // Chunks sit beside the entries: the outbound-http chunk finds httpWorker.js as ./httpWorker.js.
  chunkNames: '[name]-[hash]',
  splitting: true,
});
await build({
  ...common,
  entryPoints: {
    wrapper: 'src/wrapper.ts',
    outboundHttp: 'src/runtime/hosts/outboundHttp.ts',
    networkContext: 'src/kube/networkContext.ts',
    mirror: 'src/kube/mirror.ts',
    kubeconfig: 'src/kube/kubeconfig.ts',
    refreshEntry: 'src/services/refreshEntry.ts',
    httpWorker: 'src/runtime/hosts/httpWorker.ts',
  },
  outdir: 'dist/wrapper',
  entryNames: '[name]',
  plugins: [lazySiblings],
});
