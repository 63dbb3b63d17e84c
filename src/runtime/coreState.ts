import { leb128, MODULE_PREAMBLE, Reader } from './wasmReader.js';

/**
 * The memories and tables a core module defines, and making every one of them visible to the host.
 *
 * `--max-memory` (limits.ts) measures memories and tables through the objects an instance exports.
 * One a module keeps to itself can still grow, in its start function or later, and the host would
 * only know it by its declared size: at pull, each core module jco writes is given an export of
 * every memory and table it defines and does not export (the names are krew-wasm's own, which
 * jco's glue never reads), so that every one of them is measured as it is.
 *
 * Objects of garbage-collected types (the GC proposal's structs and arrays) live in Node's own
 * heap, which no cap can count: a module that defines such types is refused at pull. Node 20 cannot
 * compile them; on Node 22, which can, a plugin that kept allocating them ended the host with V8's
 * fatal out-of-memory error and a native stack dump, under --max-memory and --timeout alike.
 */

/** A memory or table a module defines (imported ones belong to the instance that defines them). */
export interface Defined {
  /** Its initial size: pages for a memory, entries for a table. */
  initial: number;
  /** The name of an export of it, if the module exports it. */
  exportName?: string;
}

/** What a core module defines that the memory cap counts. */
export interface CoreState {
  memories: Defined[];
  tables: Defined[];
}

const TABLE = 0x01;
const MEMORY = 0x02;
const EXPORT_SECTION = 7;
/** Sections that come after the export section, by id (wasm spec §5.5.2: start, element, data count, code, data). */
const AFTER_EXPORTS = new Set([8, 9, 10, 11, 12]);

/** A module's state and where its sections are, for writing exports back. */
interface Layout extends CoreState {
  sections: { id: number; start: number; end: number }[];
  exportNames: Set<string>;
  /** Imported memories and tables come first in their index spaces. */
  importedMemories: number;
  importedTables: number;
}

/** Function types are the only composite type a module may define (wasm spec §5.3.6: 0x60). */
const FUNCTION_TYPE = 0x60;

/** Refuses a module that defines garbage-collected types (struct 0x5f, array 0x5e, or rec/sub groups of them). */
export function checkNoGcTypes(bytes: Uint8Array): void {
  const r = new Reader(bytes);
  r.expect(MODULE_PREAMBLE, 'a core module');
  while (!r.done()) {
    const id = r.byte();
    const body = r.sub(r.u32());
    if (id !== 1) continue;
    for (let n = body.u32(); n > 0; n--) {
      if (body.byte() !== FUNCTION_TYPE) throw new GcTypesError();
      for (let results = 0; results < 2; results++) for (let count = body.u32(); count > 0; count--) body.valueType();
    }
  }
}

/** A module defines garbage-collected types. */
export class GcTypesError extends Error {
  constructor() {
    super('it defines garbage-collected types (structs or arrays), whose objects live in the host\'s own heap, where no limit can count them');
  }
}

/** Reads a core module's memory, table, import and export sections (no allocation by the guest). */
export function readCoreState(bytes: Uint8Array): CoreState {
  const { memories, tables } = readLayout(bytes);
  return { memories, tables };
}

function readLayout(bytes: Uint8Array): Layout {
  const layout: Layout = { memories: [], tables: [], sections: [], exportNames: new Set(), importedMemories: 0, importedTables: 0 };
  const exports: { name: string; kind: number; index: number }[] = [];
  const r = new Reader(bytes);
  r.expect(MODULE_PREAMBLE, 'a core module');
  while (!r.done()) {
    const start = r.position;
    const id = r.byte();
    const body = r.sub(r.u32());
    layout.sections.push({ id, start, end: r.position });
    if (id === 2) {
      for (let n = body.u32(); n > 0; n--) {
        const { kind } = body.coreImport();
        if (kind === TABLE) layout.importedTables++;
        else if (kind === MEMORY) layout.importedMemories++;
      }
    } else if (id === 4) {
      for (let n = body.u32(); n > 0; n--) {
        // 0x40 0x00: a table with an initializer expression (function references), which Node 20 does not run.
        if (body.peek() === 0x40) throw new Error('tables with initializer expressions are not supported');
        body.valueType();
        layout.tables.push({ initial: body.limits() });
      }
    } else if (id === 5) {
      for (let n = body.u32(); n > 0; n--) layout.memories.push({ initial: body.limits() });
    } else if (id === EXPORT_SECTION) {
      for (let n = body.u32(); n > 0; n--) exports.push({ name: body.name(), kind: body.byte(), index: body.u32() });
    }
  }
  for (const { name, kind, index } of exports) {
    layout.exportNames.add(name);
    const item = kind === TABLE ? layout.tables[index - layout.importedTables] : kind === MEMORY ? layout.memories[index - layout.importedMemories] : undefined;
    if (item && item.exportName === undefined) item.exportName = name;
  }
  return layout;
}

/**
 * The module with an export added for each memory and table it defines and does not export
 * (`krew-wasm:memory0`, `krew-wasm:table0`, ...; made unique against the module's own exports).
 * Returns the bytes themselves when there is nothing to add.
 */
export function exposeCoreState(bytes: Uint8Array): Uint8Array {
  const layout = readLayout(bytes);
  const added: Uint8Array[] = [];
  const addExports = (items: Defined[], kind: number, firstIndex: number, what: string) => {
    items.forEach((item, i) => {
      if (item.exportName !== undefined) return;
      let name = `krew-wasm:${what}${i}`;
      while (layout.exportNames.has(name)) name += '_';
      layout.exportNames.add(name);
      item.exportName = name;
      const encoded = new TextEncoder().encode(name);
      added.push(leb128(encoded.length), encoded, Uint8Array.of(kind), leb128(firstIndex + i));
    });
  };
  addExports(layout.memories, MEMORY, layout.importedMemories, 'memory');
  addExports(layout.tables, TABLE, layout.importedTables, 'table');
  if (added.length === 0) return bytes;

  const existing = layout.sections.find((s) => s.id === EXPORT_SECTION);
  let oldEntries: Uint8Array = new Uint8Array();
  if (existing) {
    const r = new Reader(bytes.subarray(existing.start, existing.end));
    r.byte();
    const body = r.sub(r.u32());
    body.u32(); // the old count
    oldEntries = body.rest();
  }
  const content = Buffer.concat([leb128(layout.exportNames.size), oldEntries, ...added]);
  const section = Buffer.concat([Uint8Array.of(EXPORT_SECTION), leb128(content.length), content]);
  if (existing) return Buffer.concat([bytes.subarray(0, existing.start), section, bytes.subarray(existing.end)]);
  const next = layout.sections.find((s) => AFTER_EXPORTS.has(s.id));
  const at = next ? next.start : bytes.length;
  return Buffer.concat([bytes.subarray(0, at), section, bytes.subarray(at)]);
}
