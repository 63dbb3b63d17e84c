/** The first 8 bytes of a component and of a core module (magic, version, layer). */
export const COMPONENT_PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
export const MODULE_PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** A core module's section ids (wasm spec §5.5.2). */
export const SECTION = { custom: 0, type: 1, import: 2, function: 3, table: 4, memory: 5, global: 6, export: 7, start: 8, element: 9, code: 10, data: 11, dataCount: 12, tag: 13 } as const;
/** The form of a function type, the only composite type a module may define (wasm spec §5.3.6; pull refuses others, coreState.ts). */
export const FUNCTION_TYPE = 0x60;
/** The order a core module's sections come in, by id (custom sections may come anywhere). */
export const SECTION_ORDER: readonly number[] = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];

/** Visits each section of a component or core module (both are preamble, then id-size-body). */
export function forEachSection(r: Reader, preamble: number[], what: string, visit: (id: number, body: Reader) => void): void {
  r.expect(preamble, what);
  while (!r.done()) {
    const id = r.byte();
    visit(id, r.sub(r.u32()));
  }
}

/**
 * A component import's or export's name (importname', exportname'): 0x00 and a name, or 0x01 and a
 * name, the older form of an interface name, which wasm-tools (in jco) still reads as the same.
 */
export function externName(r: Reader): string {
  const form = r.byte();
  if (form !== 0x00 && form !== 0x01) throw new Error(`unknown import or export name form 0x${form.toString(16)}`);
  return r.name();
}

/** A sort and an index into its space. */
export function sortIndex(r: Reader): void {
  if (r.byte() === 0x00) r.byte(); // a core sort follows the core marker
  r.u32();
}

/** externdesc: a sort and its type index, or a value or type bound. */
export function externDesc(r: Reader): void {
  const sort = r.byte();
  if (sort === 0x00) {
    r.expectByte(0x11, 'a core module type');
    r.u32();
  } else if (sort === 0x02) {
    r.byte(); // value bound: 0x00 value index, 0x01 value type; both one LEB
    r.u64();
  } else if (sort === 0x03) {
    if (r.byte() === 0x00) r.u32(); // type bound: eq index, or sub resource
  } else if (sort === 0x01 || sort === 0x04 || sort === 0x05) {
    r.u32();
  } else {
    throw new Error(`unknown import or export kind 0x${sort.toString(16)}`);
  }
}

/** An unsigned LEB128, as sizes and indices are written. */
export function leb128(value: number): Uint8Array {
  const out: number[] = [];
  do {
    let b = value & 0x7f;
    value = Math.floor(value / 128);
    if (value > 0) b |= 0x80;
    out.push(b);
  } while (value > 0);
  return Uint8Array.from(out);
}

/** An unsigned LEB128 of up to 32 bits written into `out` at `at`; returns where it ends. */
export function writeLeb128(out: Uint8Array, at: number, value: number): number {
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out[at++] = byte;
  } while (value !== 0);
  return at;
}

/** An unsigned LEB128 of up to 32 bits in exactly five bytes (a size written once what it sizes is). */
export function writePaddedLeb128(out: Uint8Array, at: number, value: number): void {
  for (let i = 0; i < 4; i++, value >>>= 7) out[at + i] = (value & 0x7f) | 0x80;
  out[at + 4] = value & 0x7f;
}

/** A signed LEB128 of an i32, as i32.const takes it. */
export function sleb128(value: number): Uint8Array {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    const done = (value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return Uint8Array.from(out);
  }
}

/** One section of a core module: its id, where it starts (its id byte) and ends in the module, and its body. */
export interface ModuleSection {
  id: number;
  start: number;
  end: number;
  body: Uint8Array;
}

/** A core module's sections, in order; throws for bytes that are not one. */
export function moduleSections(bytes: Uint8Array): ModuleSection[] {
  const r = new Reader(bytes);
  r.expect(MODULE_PREAMBLE, 'a core module');
  const sections: ModuleSection[] = [];
  while (!r.done()) {
    const start = r.position;
    const id = r.byte();
    const size = r.u32();
    const bodyStart = r.position;
    r.sub(size);
    sections.push({ id, start, end: r.position, body: bytes.subarray(bodyStart, r.position) });
  }
  return sections;
}

/** A bounds-checked cursor over wasm bytes: any overrun is an Error, never a silent misread. */
export class Reader {
  private at = 0;

  constructor(private readonly bytes: Uint8Array) {}

  /** How far into its bytes the cursor is. */
  get position(): number {
    return this.at;
  }

  /** The bytes from `start` up to the cursor. */
  since(start: number): Uint8Array {
    return this.bytes.subarray(start, this.at);
  }

  /** The bytes not read yet; the cursor moves to the end. */
  rest(): Uint8Array {
    const start = this.at;
    this.at = this.bytes.length;
    return this.bytes.subarray(start);
  }

  done(): boolean {
    return this.at >= this.bytes.length;
  }

  end(): void {
    if (!this.done()) throw new Error('a section is longer than its entries');
  }

  /** The next byte, not consumed. */
  peek(): number {
    if (this.at >= this.bytes.length) throw new Error('unexpected end');
    return this.bytes[this.at]!;
  }

  byte(): number {
    if (this.at >= this.bytes.length) throw new Error('unexpected end');
    return this.bytes[this.at++]!;
  }

  expectByte(value: number, what: string): void {
    if (this.byte() !== value) throw new Error(`malformed ${what}`);
  }

  expect(preamble: number[], what: string): void {
    for (const b of preamble) if (this.byte() !== b) throw new Error(`not ${what}`);
  }

  /** An unsigned LEB128 of up to 64 bits (limits may be 64-bit), as a number. */
  u64(): number {
    let result = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new Error('malformed integer');
  }

  u32(): number {
    const value = this.u64();
    if (value > 0xffffffff) throw new Error('malformed integer');
    return value;
  }

  /** A signed LEB128 of up to 32 bits (an i32.const), as a number. */
  s32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return shift + 7 < 32 && b & 0x40 ? result | (-1 << (shift + 7)) : result;
    }
    throw new Error('malformed integer');
  }

  /** A signed LEB128 (a heap type), skipped. */
  s33(): void {
    for (let i = 0; i < 5; i++) if ((this.byte() & 0x80) === 0) return;
    throw new Error('malformed integer');
  }

  sub(length: number): Reader {
    if (this.at + length > this.bytes.length) throw new Error('a section runs past the end');
    const reader = new Reader(this.bytes.subarray(this.at, this.at + length));
    this.at += length;
    return reader;
  }

  name(): string {
    return new TextDecoder('utf-8', { fatal: true }).decode(this.nameBytes());
  }

  /** A name's bytes, undecoded (a run reads names pull has checked; its first TextDecoder costs ~1 ms). */
  nameBytes(): Uint8Array {
    const length = this.u32();
    if (this.at + length > this.bytes.length) throw new Error('a name runs past the end');
    this.at += length;
    return this.bytes.subarray(this.at - length, this.at);
  }

  /** A value or reference type: one byte, or (ref null? heaptype). */
  valueType(): void {
    const b = this.byte();
    if (b === 0x63 || b === 0x64) this.s33();
  }

  /** Table or memory limits: flags (max, shared, 64-bit, page size), minimum, maximum, page size. Returns the minimum. */
  limits(): number {
    const flags = this.byte();
    if (flags > 0x0f) throw new Error(`unknown limits 0x${flags.toString(16)}`);
    const minimum = this.u64();
    if (flags & 0x01) this.u64();
    if (flags & 0x08) this.u32();
    return minimum;
  }

  /** One core import (wasm spec §5.5.5): its module, its name, and its kind (0 function, 1 table, 2 memory, 3 global, 4 tag). */
  coreImport(): { module: string; name: string; kind: number } {
    const module = this.name();
    const name = this.name();
    const kind = this.byte();
    this.importDescription(kind);
    return { module, name, kind };
  }

  /** Skips what follows an import's kind: a type index, a table or memory type, a global type, a tag. */
  importDescription(kind: number): void {
    if (kind === 0x00) this.u32(); // function: type index
    else if (kind === 0x01) {
      this.valueType(); // table: element type, limits
      this.limits();
    } else if (kind === 0x02) this.limits(); // memory
    else if (kind === 0x03) {
      this.valueType(); // global: type, mutability
      this.byte();
    } else if (kind === 0x04) {
      this.expectByte(0x00, 'a tag');
      this.u32();
    } else {
      throw new Error(`unknown import kind 0x${kind.toString(16)}`);
    }
  }
}
