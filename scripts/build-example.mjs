#!/usr/bin/env node
// make example: builds examples/pods (JS, `jco componentize` against the plugin world in wit/)
// into examples/build/pods.wasm and lays it out as an OCI image layout (CNCF wasm artifact)
// in examples/build/layout, tag 1.0: the bundled source `make demo` pulls from.
import fs from 'node:fs';
import path from 'node:path';
import { componentizeJs, ROOT, upToDate } from './lib/wasm-build.mjs';

const source = path.join(ROOT, 'examples/pods/pods.js');
const wasm = path.join(ROOT, 'examples/build/pods.wasm');
const layout = path.join(ROOT, 'examples/build/layout');
if (!upToDate(wasm, source, path.join(ROOT, 'wit/outbound-http.wit'))) {
  await componentizeJs(source, wasm, { witPath: path.join(ROOT, 'wit'), world: 'plugin' });
  console.log(`built ${path.relative(ROOT, wasm)}`);
}
const { writeLayout } = await import('../dist/testkit/artifacts.js');
fs.rmSync(layout, { recursive: true, force: true });
writeLayout(layout, '1.0', fs.readFileSync(wasm));
console.log(`wrote OCI layout ${path.relative(ROOT, layout)} (tag 1.0)`);
