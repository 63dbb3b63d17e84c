import type { ImageRun } from './dataImage.js';
import { FUNCTION_TYPE, leb128, MODULE_PREAMBLE, moduleSections, Reader, SECTION, SECTION_ORDER } from './wasmReader.js';

/**
 * The memories and tables of a component's core modules, made by the host, and what else an
 * instance makes V8 hold.
 *
 * `--max-memory` needs a maximum on every memory and table, chosen when it is made. V8 has one
 * other means, its global growth limits (`--wasm-max-mem-pages`, `--wasm-max-table-size`), and
 * lowering one below the size of a memory or table that exists makes V8 11.3 abort on that
 * memory's next growth, or write past a table's new backing store (found by an attack). So at pull,
 * every memory and table a core module defines becomes an import of STATE_MODULE (`memory0`,
 * `table0`, ...; index spaces list imports first, and these come after the module's own imports,
 * so every index stays what it was), and the host makes each one with its own maximum
 * (limits.ts). The host sees each of them, and nothing of a module grows out of its sight.
 *
 * Refused at pull, as no limit can count them: garbage-collected types (structs and arrays live in
 * Node's own heap; on Node 22 a plugin that kept allocating them ended the host with V8's fatal
 * out-of-memory error and a native stack dump), more than MAX_GLOBALS globals (V8 held ~2.5 KB per
 * global compiling a module: 1M globals in 5 MB took 2.5 GB on every run, found by an attack), and
 * tables of other element types than funcref and externref, 64-bit memories and custom page sizes,
 * which the JavaScript API cannot make.
 */
export const STATE_MODULE = 'krew-wasm:state';
/** Globals one core module may define. */
export const MAX_GLOBALS = 10_000;

export interface MemoryDef {
  /** Its import name in STATE_MODULE. */
  name: string;
  /** Pages. */
  initial: number;
  maximum?: number;
  shared: boolean;
}

export interface TableDef {
  name: string;
  /** Entries. */
  initial: number;
  maximum?: number;
  element: 'anyfunc' | 'externref';
}

/** What instantiating a (rewritten) core module makes the host hold. */
export interface CoreState {
  memories: MemoryDef[];
  tables: TableDef[];
  /** Its imports of other instances' tables: V8 keeps a dispatch table of the whole table for each. */
  tableImports: { module: string; name: string }[];
  /**
   * A bound on what V8 keeps per instance beyond memories and tables: its imports, functions,
   * exports, globals, element segments (a passive one becomes an array of its entries on first
   * use) and data segments. Each instance of a module pays it again (attacks held 3.2 GB under
   * 64 MiB with 400 instances of one 1 MB segment, 2 GB with 50 instances of 99,999 exports).
   */
  instanceBytes: number;
  /**
   * Where its data image goes in its first memory, when pull moved its data out of the module
   * (dataImage.ts): the image file's runs, in order.
   */
  dataImage?: ImageRun[];
}

/** Thrown at pull for a module whose memory no limit can count. */
export class UncountableModuleError extends Error {}

const TABLE = 0x01;
const MEMORY = 0x02;
const IMPORT_SECTION = SECTION.import;
const FUNCREF = 0x70;
const EXTERNREF = 0x6f;
/** Sections that come after the import section, by id. */
const AFTER_IMPORTS = new Set(SECTION_ORDER.slice(SECTION_ORDER.indexOf(IMPORT_SECTION) + 1));

/**
 * Per-instance bytes V8 keeps, measured by attacks on Node 20: per import (~78), per function
 * (its entries in the instance's tables), per export (V8 makes each exported function or global's
 * object eagerly: 38 MB an instance for 99,999 exports), per global and per element of a segment
 * (each function a segment or a global's initializer names becomes a JavaScript function object
 * of ~300-380 bytes when the guest takes a reference to it), per data segment.
 */
const COST = { import: 96, function: 8, export: 400, global: 400, element: 400, dataSegment: 16 };

interface Limits {
  flags: number;
  initial: number;
  maximum?: number;
}

function readLimits(r: Reader, of: 'memory' | 'table'): Limits {
  const flags = r.byte();
  if (flags & 0x04) throw new UncountableModuleError(`it defines a 64-bit ${of}`);
  if (flags & 0x08) throw new UncountableModuleError('it defines a memory with a custom page size');
  if (flags > 0x03) throw new Error(`unknown limits 0x${flags.toString(16)}`);
  const initial = r.u32();
  const maximum = flags & 0x01 ? r.u32() : undefined;
  return { flags, initial, maximum };
}

function elementType(r: Reader): 'anyfunc' | 'externref' {
  const type = r.byte();
  if (type === FUNCREF) return 'anyfunc';
  if (type === EXTERNREF) return 'externref';
  throw new UncountableModuleError('it defines a table of a reference type other than funcref and externref');
}

/**
 * The module as pull stores it: checked (see above), with every memory and table it defines an
 * import of STATE_MODULE. Throws UncountableModuleError for a module that is refused, Error for
 * one that cannot be read.
 */
export function importDefinedState(bytes: Uint8Array): Uint8Array {
  const sections = moduleSections(bytes);
  const added: Uint8Array[] = [];
  let importSection: Reader | undefined;
  const addImport = (name: string, kind: number, type: Uint8Array) => {
    added.push(encodeName(STATE_MODULE), encodeName(name), Uint8Array.of(kind), type);
  };
  let tables = 0;
  let memories = 0;
  for (const section of sections) {
    const { id } = section;
    const body = new Reader(section.body);
    if (id === SECTION.type) checkFunctionTypes(body);
    else if (id === IMPORT_SECTION) importSection = body;
    else if (id === SECTION.table) {
      for (let n = body.u32(); n > 0; n--) {
        // 0x40 0x00: a table with an initializer expression (function references).
        if (body.peek() === 0x40) throw new UncountableModuleError('it defines a table with an initializer expression');
        const at = body.position;
        elementType(body);
        readLimits(body, 'table');
        addImport(`table${tables++}`, TABLE, body.since(at));
      }
    } else if (id === SECTION.memory) {
      for (let n = body.u32(); n > 0; n--) {
        const at = body.position;
        readLimits(body, 'memory');
        addImport(`memory${memories++}`, MEMORY, body.since(at));
      }
    } else if (id === SECTION.global && body.u32() > MAX_GLOBALS) {
      throw new UncountableModuleError(`it defines more than ${MAX_GLOBALS} globals`);
    }
  }
  let oldCount = 0;
  let oldEntries: Uint8Array = new Uint8Array();
  if (importSection) {
    oldCount = importSection.u32();
    const at = importSection.position;
    for (let n = oldCount; n > 0; n--) {
      if (importSection.coreImport().module === STATE_MODULE) throw new UncountableModuleError(`it imports from ${STATE_MODULE}, krew-wasm's own name`);
    }
    oldEntries = importSection.since(at);
  }
  if (tables === 0 && memories === 0) return bytes;
  const content = Buffer.concat([leb128(oldCount + tables + memories), oldEntries, ...added]);
  const section = Buffer.concat([Uint8Array.of(IMPORT_SECTION), leb128(content.length), content]);
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  let placed = false;
  for (const s of sections) {
    if (s.id === SECTION.table || s.id === SECTION.memory) continue; // now imports
    if (s.id === IMPORT_SECTION) {
      parts.push(section);
      placed = true;
      continue;
    }
    if (!placed && AFTER_IMPORTS.has(s.id)) {
      parts.push(section);
      placed = true;
    }
    parts.push(bytes.subarray(s.start, s.end));
  }
  if (!placed) parts.push(section);
  return Buffer.concat(parts);
}

function checkFunctionTypes(r: Reader): void {
  for (let n = r.u32(); n > 0; n--) {
    if (r.byte() !== FUNCTION_TYPE) throw new UncountableModuleError('it defines garbage-collected types (structs or arrays), whose objects live in the host\'s own heap, where no limit can count them');
    for (let lists = 0; lists < 2; lists++) for (let count = r.u32(); count > 0; count--) r.valueType();
  }
}

function encodeName(name: string): Uint8Array {
  const encoded = new TextEncoder().encode(name);
  return Buffer.concat([leb128(encoded.length), encoded]);
}

/** The elements of all segments of an element section (wasm spec §5.5.12: flags 0 to 7). */
function elementCount(r: Reader): number {
  let elements = 0;
  for (let n = r.u32(); n > 0; n--) {
    const flags = r.u32();
    if (flags > 7) throw new Error(`unknown element segment 0x${flags.toString(16)}`);
    if (flags & 0x02 && !(flags & 0x01)) r.u32(); // a table index
    if (!(flags & 0x01)) constantExpression(r); // active: its offset
    if (flags & 0x03) {
      if (flags & 0x04) r.valueType(); // a reference type
      else r.byte(); // an element kind
    }
    const count = r.u32();
    elements += count;
    for (let i = 0; i < count; i++) {
      if (flags & 0x04) constantExpression(r);
      else r.u32();
    }
  }
  return elements;
}

/** Skips a constant expression: constants, global.get, ref.null, ref.func and extended-constant arithmetic, up to `end`. */
function constantExpression(r: Reader): void {
  for (;;) {
    const op = r.byte();
    if (op === 0x0b) return;
    if (op === 0x41 || op === 0x42) r.u64(); // a signed LEB skips as an unsigned one
    else if (op === 0x43) for (let i = 0; i < 4; i++) r.byte();
    else if (op === 0x44) for (let i = 0; i < 8; i++) r.byte();
    else if (op === 0x23 || op === 0xd2) r.u32();
    else if (op === 0xd0) r.s33();
    else if (op === 0xfd && r.u32() === 12) for (let i = 0; i < 16; i++) r.byte(); // v128.const
    else if (![0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e].includes(op)) throw new Error(`unknown constant instruction 0x${op.toString(16)}`);
  }
}

/** Decodes a name pull has checked: Buffer's decoder, as a run's first TextDecoder costs ~1 ms. */
function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
}

/** Reads a module pull stored (importDefinedState): what instantiating it makes the host hold. */
export function readCoreState(bytes: Uint8Array): CoreState {
  const state: CoreState = { memories: [], tables: [], tableImports: [], instanceBytes: 0 };
  const r = new Reader(bytes);
  r.expect(MODULE_PREAMBLE, 'a core module');
  while (!r.done()) {
    const id = r.byte();
    const size = r.u32();
    const body = r.sub(size);
    if (id === IMPORT_SECTION) {
      for (let n = body.u32(); n > 0; n--) {
        state.instanceBytes += COST.import;
        const moduleBytes = body.nameBytes();
        const nameBytes = body.nameBytes();
        const kind = body.byte();
        if (kind !== TABLE && kind !== MEMORY) {
          body.importDescription(kind);
          continue;
        }
        const [module, name] = [utf8(moduleBytes), utf8(nameBytes)];
        if (kind === TABLE) {
          const element = elementType(body);
          const { initial, maximum } = readLimits(body, 'table');
          if (module === STATE_MODULE) state.tables.push({ name, initial, maximum, element });
          else state.tableImports.push({ module, name });
        } else {
          const { flags, initial, maximum } = readLimits(body, 'memory');
          if (module === STATE_MODULE) state.memories.push({ name, initial, maximum, shared: (flags & 0x02) !== 0 });
        }
      }
    } else if (id === SECTION.function) {
      state.instanceBytes += COST.function * body.u32();
    } else if (id === 7) {
      state.instanceBytes += COST.export * body.u32();
    } else if (id === SECTION.global) {
      state.instanceBytes += COST.global * body.u32();
    } else if (id === 9) {
      state.instanceBytes += COST.element * elementCount(body);
    } else if (id === 11) {
      state.instanceBytes += COST.dataSegment * body.u32();
    } else if (id === SECTION.table || id === SECTION.memory) {
      throw new Error('a memory or table the module defines itself (the entry predates krew-wasm:state)');
    }
  }
  return state;
}
