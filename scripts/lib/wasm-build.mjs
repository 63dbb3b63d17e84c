// Shared build steps for test plugins and examples: jco's wasm-tools and componentize-js.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';

// jco's tools run on the preview2 shim, which no longer preopens "/" (see shared notes/runtime.md).
_setPreopens({ '/': '/' });

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** True when `target` exists and is newer than every input. */
export function upToDate(target, ...inputs) {
  return fs.existsSync(target) && inputs.every((i) => fs.statSync(i).mtimeMs <= fs.statSync(target).mtimeMs);
}

/**
 * JS source -> component with `jco componentize` (StarlingMonkey) against a WIT world. fetch() over
 * wasi:http is left out unless `http` is asked for (it adds the wasi:http imports).
 */
export async function componentizeJs(source, target, { witPath, world, http = false }) {
  const { componentize } = await import('@bytecodealliance/componentize-js');
  const disableFeatures = http ? ['fetch-event'] : ['http', 'fetch-event'];
  const { component } = await componentize({ sourcePath: source, witPath, worldName: world, disableFeatures });
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, component);
}

/** Core-module WAT -> component: embed the world's metadata, then wrap (wasm-tools component new). */
export async function watToComponent(source, target, { witPath, world }) {
  const { parse, componentEmbed, componentNew } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  const core = await parse(fs.readFileSync(source, 'utf8'));
  const embedded = await componentEmbed({ binary: core, witPath, world });
  fs.writeFileSync(target, await componentNew(embedded, []));
}
