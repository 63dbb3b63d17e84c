import { InvalidPluginError } from '../errors.js';
import { unversioned } from './component.js';
import { COMPONENT_PREAMBLE, externDesc, externName, forEachSection, Reader, sortIndex } from './wasmReader.js';

/**
 * What a component's binary must look like before jco reads it.
 *
 * - Components nested more than MAX_NESTING deep are refused: jco's time and memory grow with the
 *   square of the depth (found by an attack: 240 KB of empty components nested 20,000 deep made
 *   `pull` take two minutes and 4 GB). Toolchains nest two or three levels.
 * - A component whose one instantiation makes more than MAX_CORE_INSTANCES core instances is
 *   refused: jco inlines every nested instantiation, and its glue grows with them (see walk).
 * - An interface the component both imports and exports is refused, `wasi:cli/run` above all:
 *   jco takes an import and an export of one name for one interface, typed by the import, so
 *   importing `wasi:cli/run` with an err payload got that payload lifted from an export that
 *   declared WASI's type (found by an attack). The host provides no `wasi:cli/run` to import.
 */
export const MAX_NESTING = 32;
/** Core instances one instantiation may make in all (wasm-tools allows 1,000 per component). */
export const MAX_CORE_INSTANCES = 1000;

/**
 * Checked before jco reads the component: a binary this cannot read is refused then, as what jco
 * would make of it is not known (an export name in a form this did not read hid a chain of 2^20
 * instances from the limits, found by an attack).
 */
export function checkComponentShape(component: Uint8Array): void {
  let shape: Shape;
  try {
    shape = readShape(component);
  } catch (error) {
    if (error instanceof InvalidPluginError) throw error;
    throw new InvalidPluginError(`cannot read the component's imports and exports: ${(error as Error).message}`);
  }
  if (shape.coreInstances > MAX_CORE_INSTANCES) {
    throw new InvalidPluginError(`the component makes more than ${MAX_CORE_INSTANCES} core instances when instantiated (its components instantiate components)`);
  }
  const run = shape.imports.find((name) => unversioned(name) === 'wasi:cli/run');
  if (run !== undefined) throw new InvalidPluginError(`the component imports ${run}, which a plugin exports and krew-wasm does not provide`);
  const exported = new Set(shape.exports.map(unversioned));
  const both = shape.imports.find((name) => exported.has(unversioned(name)));
  if (both !== undefined) throw new InvalidPluginError(`the component both imports and exports ${unversioned(both)}`);
}

export interface Shape {
  imports: string[];
  exports: string[];
  /** Core instances jco makes to instantiate the component once (it inlines every nested instantiation). */
  coreInstances: number;
}

/** The top-level import and export names, and how many core instances instantiating it makes. */
export function readShape(component: Uint8Array): Shape {
  const shape: Shape = { imports: [], exports: [], coreInstances: 0 };
  shape.coreInstances = walk(new Reader(component), [], shape);
  return shape;
}

const COMPONENT_SORT = 0x04;

/**
 * Walks one component definition; returns the core instances one instantiation of it makes: its
 * own, and for each component it instantiates, that component's (a component may instantiate one
 * it reaches by an outer alias any number of times: twice per level made 2^19 instances from
 * 1.4 KB, found by an attack). `enclosing` holds the component index spaces of the definitions
 * around it, each entry the core instances its component makes; counts stop above the limit.
 * Collects the imports and exports of the outermost one.
 */
function walk(r: Reader, enclosing: number[][], top: Shape | undefined): number {
  const depth = enclosing.length + 1;
  if (depth > MAX_NESTING) throw new InvalidPluginError(`the component nests components more than ${MAX_NESTING} deep`);
  const components: number[] = [];
  const spaces = [...enclosing, components];
  let instances = 0;
  const add = (n: number) => {
    instances = Math.min(instances + n, MAX_CORE_INSTANCES + 1);
  };
  forEachSection(r, COMPONENT_PREAMBLE, depth === 1 ? 'a component' : 'a nested component', (id, body) => {
    if (id === 2) add(coreInstantiations(body));
    else if (id === 4) components.push(walk(body, spaces, undefined));
    else if (id === 5) add(componentInstantiations(body, components));
    else if (id === 6) componentAliases(body, spaces);
    else if (id === 10) imports(body, top);
    else if (id === 11) exports(body, components, top);
  });
  return instances;
}

/** Core instance section: each `instantiate` makes an instance; a bag of exports does not. */
function coreInstantiations(r: Reader): number {
  let count = 0;
  for (let n = r.u32(); n > 0; n--) {
    const kind = r.byte();
    if (kind === 0x00) {
      count++;
      r.u32();
      for (let args = r.u32(); args > 0; args--) {
        r.name();
        r.byte();
        r.u32();
      }
    } else if (kind === 0x01) {
      for (let exports = r.u32(); exports > 0; exports--) {
        r.name();
        r.byte();
        r.u32();
      }
    } else {
      throw new Error(`unknown core instance kind 0x${kind.toString(16)}`);
    }
  }
  r.end();
  return count;
}

/** Instance section: each `instantiate` makes the instances of the component it names. */
function componentInstantiations(r: Reader, components: number[]): number {
  let count = 0;
  for (let n = r.u32(); n > 0; n--) {
    const kind = r.byte();
    if (kind === 0x00) {
      const made = components[r.u32()];
      if (made === undefined) throw new Error('an instantiation of an unknown component');
      count = Math.min(count + made, MAX_CORE_INSTANCES + 1);
      for (let args = r.u32(); args > 0; args--) {
        r.name();
        sortIndex(r);
      }
    } else if (kind === 0x01) {
      for (let exports = r.u32(); exports > 0; exports--) {
        externName(r);
        sortIndex(r);
      }
    } else {
      throw new Error(`unknown instance kind 0x${kind.toString(16)}`);
    }
  }
  r.end();
  return count;
}

/** Alias section: a component taken from an enclosing definition counts as that one. */
function componentAliases(r: Reader, spaces: number[][]): void {
  const own = spaces[spaces.length - 1]!;
  for (let n = r.u32(); n > 0; n--) {
    const sort = r.byte();
    if (sort === 0x00) r.byte(); // a core sort follows the core marker
    const target = r.byte();
    if (target === 0x00 || target === 0x01) {
      r.u32();
      r.name();
      // A component exported by an instance: what it makes is not known here.
      if (sort === COMPONENT_SORT) throw new InvalidPluginError('the component takes a component from an instance\'s exports, which krew-wasm does not run');
    } else if (target === 0x02) {
      const outward = r.u32();
      const index = r.u32();
      if (sort === COMPONENT_SORT) {
        const made = spaces[spaces.length - 1 - outward]?.[index];
        if (made === undefined) throw new Error('an alias of an unknown component');
        own.push(made);
      }
    } else {
      throw new Error(`unknown alias target 0x${target.toString(16)}`);
    }
  }
  r.end();
}

function imports(r: Reader, top: Shape | undefined): void {
  for (let n = r.u32(); n > 0; n--) {
    const name = externName(r);
    // A component imported (by a nested one, from an instantiation argument) would be instantiated
    // as often as its importer says, with what it makes known only to the one that passes it.
    if (r.peek() === COMPONENT_SORT) throw new InvalidPluginError('the component imports a component, which krew-wasm does not run');
    externDesc(r);
    top?.imports.push(name);
  }
  r.end();
}

function exports(r: Reader, components: number[], top: Shape | undefined): void {
  for (let n = r.u32(); n > 0; n--) {
    const name = externName(r);
    const sort = r.byte();
    if (sort === 0x00) r.byte(); // a core sort follows the core marker
    const index = r.u32();
    // An export is a new index of what it exports.
    if (sort === COMPONENT_SORT) components.push(components[index] ?? 0);
    if (r.byte() === 0x01) externDesc(r);
    top?.exports.push(name);
  }
  r.end();
}
