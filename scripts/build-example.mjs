#!/usr/bin/env node
// make example: builds the example plugins (JS, `jco componentize` against the plugin world in wit/)
// into examples/build/<name>.wasm and lays each out as an OCI image layout (CNCF wasm artifact) in
// examples/build/<name>-layout, tag 1.0: the bundled sources `make demo` pulls from.
//   pods        kubectl pods [-n NS] [-A] [-l SEL]   krew-wasm:outbound-http
//   pods-watch  kubectl pods-watch                    fetch() over wasi:http, a streaming watch
import fs from 'node:fs';
import path from 'node:path';
import { componentizeJs, ROOT, upToDate } from './lib/wasm-build.mjs';

const { writeLayout } = await import('../dist/testkit/artifacts.js');
for (const [name, http] of [['pods', false], ['pods-watch', true]]) {
  const source = path.join(ROOT, `examples/${name}/${name}.js`);
  const wasm = path.join(ROOT, `examples/build/${name}.wasm`);
  const layout = path.join(ROOT, `examples/build/${name}-layout`);
  if (!upToDate(wasm, source, path.join(ROOT, 'wit/outbound-http.wit'))) {
    await componentizeJs(source, wasm, { witPath: path.join(ROOT, 'wit'), world: 'plugin', http });
    console.log(`built ${path.relative(ROOT, wasm)}`);
  }
  fs.rmSync(layout, { recursive: true, force: true });
  writeLayout(layout, '1.0', fs.readFileSync(wasm));
  console.log(`wrote OCI layout ${path.relative(ROOT, layout)} (tag 1.0)`);
}
