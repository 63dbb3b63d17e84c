#!/usr/bin/env node
// Builds the legacy wasi-outbound-http adapter from source (make build): WAT -> core module, with
// adapter.wit's world embedded as component-type metadata. The result is written next to the JS
// that loads it in each tree: dist/bundle/ (the installed CLI) and dist/src/runtime/legacy/ (tsc
// output, used by the tests). Never checked in: the WAT is the source.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// wasm-build.mjs also preopens "/" for jco's wasm-tools, which read the WIT folder through the shim.
import { ROOT } from '../../../scripts/lib/wasm-build.mjs';

// The file name runtime/legacy/adapter.ts reads.
const ADAPTER_FILE = 'wasi-outbound-http.adapter.wasm';
const here = path.join(ROOT, 'src/runtime/legacy');
const targets = [path.join(ROOT, 'dist/bundle', ADAPTER_FILE), path.join(ROOT, 'dist/src/runtime/legacy', ADAPTER_FILE)];

/** adapter.wit beside today's interface and the WASI packages it includes, as one WIT folder. */
function witDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-legacy-wit-'));
  fs.copyFileSync(path.join(here, 'adapter.wit'), path.join(dir, 'adapter.wit'));
  fs.cpSync(path.join(ROOT, 'wit/deps'), path.join(dir, 'deps'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'wit/outbound-http.wit'), path.join(dir, 'deps', 'outbound-http.wit'));
  return dir;
}

const { parse, componentEmbed } = await import('@bytecodealliance/jco-transpile/wasm-tools');
const wit = witDir();
try {
  const core = await parse(fs.readFileSync(path.join(here, 'wasi-outbound-http.wat'), 'utf8'));
  const adapter = await componentEmbed({ binary: core, witPath: wit, world: 'adapter' });
  for (const target of targets) {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, adapter);
  }
} finally {
  fs.rmSync(wit, { recursive: true, force: true });
}
