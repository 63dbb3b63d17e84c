import { InvalidPluginError } from '../errors.js';
import { unversioned } from './component.js';
import { COMPONENT_PREAMBLE, externDesc, externName, forEachSection, Reader, sortIndex } from './wasmReader.js';

/**
 * What a component's binary must look like before jco reads it.
 *
 * - Components nested more than MAX_NESTING deep are refused: jco's time and memory grow with the
 *   square of the depth (found by an attack: 240 KB of empty components nested 20,000 deep made
 *   `pull` take two minutes and 4 GB). Toolchains nest two or three levels.
 * - An interface the component both imports and exports is refused, `wasi:cli/run` above all:
 *   jco takes an import and an export of one name for one interface, typed by the import, so
 *   importing `wasi:cli/run` with an err payload got that payload lifted from an export that
 *   declared WASI's type (found by an attack). The host provides no `wasi:cli/run` to import.
 */
export const MAX_NESTING = 32;

/**
 * Checked twice: before jco reads the component (what jco must not be given), where a binary this
 * cannot read is left to jco to refuse in its own words, and after jco has accepted it, when such
 * a binary is refused here.
 */
export function checkComponentShape(component: Uint8Array, { afterJco }: { afterJco: boolean }): void {
  let shape: { imports: string[]; exports: string[] };
  try {
    shape = readShape(component);
  } catch (error) {
    if (error instanceof InvalidPluginError) throw error;
    if (!afterJco) return;
    throw new InvalidPluginError(`cannot read the component's imports and exports: ${(error as Error).message}`);
  }
  const run = shape.imports.find((name) => unversioned(name) === 'wasi:cli/run');
  if (run !== undefined) throw new InvalidPluginError(`the component imports ${run}, which a plugin exports and krew-wasm does not provide`);
  const exported = new Set(shape.exports.map(unversioned));
  const both = shape.imports.find((name) => exported.has(unversioned(name)));
  if (both !== undefined) throw new InvalidPluginError(`the component both imports and exports ${unversioned(both)}`);
}

/** The top-level import and export names; nested components are only walked for their depth. */
function readShape(component: Uint8Array): { imports: string[]; exports: string[] } {
  const imports: string[] = [];
  const exports: string[] = [];
  forEachSection(new Reader(component), COMPONENT_PREAMBLE, 'a component', (id, body) => {
    if (id === 4) checkNesting(body, 2);
    else if (id === 10) {
      for (let n = body.u32(); n > 0; n--) {
        imports.push(externName(body));
        externDesc(body);
      }
      body.end();
    } else if (id === 11) {
      for (let n = body.u32(); n > 0; n--) {
        exports.push(externName(body));
        sortIndex(body);
        if (body.byte() === 0x01) externDesc(body);
      }
      body.end();
    }
  });
  return { imports, exports };
}

function checkNesting(component: Reader, depth: number): void {
  if (depth > MAX_NESTING) throw new InvalidPluginError(`the component nests components more than ${MAX_NESTING} deep`);
  forEachSection(component, COMPONENT_PREAMBLE, 'a nested component', (id, body) => {
    if (id === 4) checkNesting(body, depth + 1);
  });
}
