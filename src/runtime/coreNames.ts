import { InvalidPluginError } from '../errors.js';
import { shortened } from '../printable.js';
import { COMPONENT_PREAMBLE, forEachSection, MODULE_PREAMBLE, Reader } from './wasmReader.js';

/**
 * The core-level names of a component, checked before jco writes them into JavaScript.
 *
 * jco's glue quotes core names (a core module's imports and exports, core instance arguments and
 * exports, aliases of core exports) as JavaScript string literals and keys, and in messages inside
 * template literals and comments, without escaping them: a core export named
 * `run'+(code)+'` became code run in the host process at every start (found by an attack). The
 * component model validates only component-level names (kebab-case, interface names), so the core
 * ones are checked here, from the binary, before anything is transpiled. Real toolchains name core
 * items with ASCII letters, digits and `_ - . : / @ # [ ] $`; what could end a string, a template
 * placeholder or a comment is refused: quotes, backticks, backslashes, braces, `*`, and control or
 * non-ASCII characters (U+2028 ends a `//` comment).
 */
const SAFE_NAME = /^[\x20-\x7e]*$/;
const UNSAFE_CHAR = /['"`\\{}*]/;

export function checkCoreNames(component: Uint8Array): void {
  let names: string[];
  try {
    names = coreNamesOf(component);
  } catch (error) {
    throw new InvalidPluginError(`cannot read the component's core names: ${(error as Error).message}`);
  }
  const bad = names.find((name) => !SAFE_NAME.test(name) || UNSAFE_CHAR.test(name));
  if (bad !== undefined) {
    const shown = JSON.stringify(shortened(bad, 60));
    throw new InvalidPluginError(`the component names a core item ${shown}: quotes, backticks, backslashes, braces, '*', control and non-ASCII characters are refused in core names (krew-wasm writes them into JavaScript)`);
  }
}

/** Every core-level name of a component and of the components and core modules nested in it. */
export function coreNamesOf(binary: Uint8Array): string[] {
  const names: string[] = [];
  walkComponent(new Reader(binary), names);
  return names;
}

function walkComponent(r: Reader, names: string[]): void {
  forEachSection(r, COMPONENT_PREAMBLE, 'a component', (id, body) => {
    if (id === 1) walkModule(body, names);
    else if (id === 2) coreInstances(body, names);
    else if (id === 4) walkComponent(body, names);
    else if (id === 6) aliases(body, names);
  });
}

/** Core instance section: instantiation arguments (import module names) and inline exports. */
function coreInstances(r: Reader, names: string[]): void {
  for (let n = r.u32(); n > 0; n--) {
    const kind = r.byte();
    if (kind === 0x00) {
      r.u32(); // module index
      for (let args = r.u32(); args > 0; args--) {
        names.push(r.name());
        r.expectByte(0x12, 'an instance argument');
        r.u32();
      }
    } else if (kind === 0x01) {
      for (let exports = r.u32(); exports > 0; exports--) {
        names.push(r.name());
        r.byte(); // core sort
        r.u32();
      }
    } else {
      throw new Error(`unknown core instance kind 0x${kind.toString(16)}`);
    }
  }
  r.end();
}

/** Alias section: the names of exports taken from instances (core ones are core names). */
function aliases(r: Reader, names: string[]): void {
  for (let n = r.u32(); n > 0; n--) {
    if (r.byte() === 0x00) r.byte(); // a core sort follows the core-sort marker
    const target = r.byte();
    if (target === 0x00 || target === 0x01) {
      r.u32();
      names.push(r.name());
    } else if (target === 0x02) {
      r.u32();
      r.u32();
    } else {
      throw new Error(`unknown alias target 0x${target.toString(16)}`);
    }
  }
  r.end();
}

/** A core module's import and export names. */
function walkModule(r: Reader, names: string[]): void {
  forEachSection(r, MODULE_PREAMBLE, 'a core module', (id, body) => {
    if (id === 2) moduleImports(body, names);
    else if (id === 7) moduleExports(body, names);
  });
}

function moduleImports(r: Reader, names: string[]): void {
  for (let n = r.u32(); n > 0; n--) {
    const { module, name } = r.coreImport();
    names.push(module, name);
  }
  r.end();
}

function moduleExports(r: Reader, names: string[]): void {
  for (let n = r.u32(); n > 0; n--) {
    names.push(r.name());
    r.byte(); // kind
    r.u32();
  }
  r.end();
}
