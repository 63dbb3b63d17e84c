#!/usr/bin/env node
// Builds the adapters krew-wasm links into wrapped preview1 modules, from source (make build): each
// WAT -> core module, with its world of adapters.wit embedded as component-type metadata. Written
// next to the JS that loads them in each tree: dist/bundle/ (the installed CLI), dist/wrapper/ (a
// stale entry made again in wrapper mode) and dist/src/runtime/adapters/ (tsc output, used by the
// tests). Never checked in: the WAT is the source.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// wasm-build.mjs also preopens "/" for jco's wasm-tools, which read the WIT folder through the shim.
import { ROOT } from '../../../scripts/lib/wasm-build.mjs';

/** Adapter name (its file stem, as adapters/index.ts reads it) -> its world in adapters.wit. */
const ADAPTERS = { 'wasi-outbound-http': 'legacy-http', 'proc-exit': 'proc-exit' };
const here = path.join(ROOT, 'src/runtime/adapters');
const outDirs = [path.join(ROOT, 'dist/bundle'), path.join(ROOT, 'dist/wrapper'), path.join(ROOT, 'dist/src/runtime/adapters')];

/** adapters.wit beside today's interface and the WASI packages it uses, as one WIT folder. */
function witDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-adapters-wit-'));
  fs.copyFileSync(path.join(here, 'adapters.wit'), path.join(dir, 'adapters.wit'));
  fs.cpSync(path.join(ROOT, 'wit/deps'), path.join(dir, 'deps'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'wit/outbound-http.wit'), path.join(dir, 'deps', 'outbound-http.wit'));
  return dir;
}

// jco's prebuilt WASI preview1 command adapter (built by jco from wasmtime's source) is copied beside
// ours, so that the installed package wraps preview1 modules without jco, a development tool of
// hundreds of megabytes, among its dependencies.
const jcoLib = path.join(path.dirname(fileURLToPath(import.meta.resolve('@bytecodealliance/jco'))), '..', 'lib');
for (const dir of outDirs) {
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(jcoLib, 'wasi_snapshot_preview1.command.wasm'), path.join(dir, 'wasi-snapshot-preview1.adapter.wasm'));
}

const { parse, componentEmbed } = await import('@bytecodealliance/jco-transpile/wasm-tools');
const wit = witDir();
try {
  for (const [name, world] of Object.entries(ADAPTERS)) {
    const core = await parse(fs.readFileSync(path.join(here, `${name}.wat`), 'utf8'));
    const adapter = await componentEmbed({ binary: core, witPath: wit, world });
    for (const dir of outDirs) {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `${name}.adapter.wasm`), adapter);
    }
  }
} finally {
  fs.rmSync(wit, { recursive: true, force: true });
}
