#!/usr/bin/env node
// Bundles src/main.ts into dist/bundle/ with esbuild, split by dynamic import: wrapper mode loads
// one small chunk (no CLI framework, OCI client or transpiler), direct mode loads the CLI chunk.
// Node resolves and evaluates one module per file, so fewer files is a faster start (bench/).
// The jco and shim packages stay external: they are loaded from node_modules only when needed.
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/main.ts', httpWorker: 'src/runtime/hosts/httpWorker.ts' },
  outdir: 'dist/bundle',
  entryNames: '[name]',
  // Chunks sit beside the entries: the outbound-http chunk finds httpWorker.js as ./httpWorker.js.
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  external: ['@bytecodealliance/*'],
  // clipanion is CommonJS and requires Node built-ins; give ESM chunks a require() to do it with.
  banner: { js: "import { createRequire as __krewCreateRequire } from 'node:module'; const require = __krewCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
