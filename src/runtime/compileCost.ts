import { MODULE_PREAMBLE, Reader } from './wasmReader.js';

/**
 * What compiling a core module costs V8, bounded at pull.
 *
 * V8's baseline compiler (Liftoff) keeps a copy of the function's whole frame (its parameters and
 * locals) for every block, loop, if and try it opens, until the function is compiled: a function
 * of 50,000 locals and 4,000 loops, 12 KB of wasm, took 2.4 GB to compile, 20,000 loops ended the
 * host with V8's fatal out-of-memory error, and a compile cannot be interrupted by `--timeout`
 * (found by an attack). Node compiles at every run, so pull refuses a function whose frame size
 * times its control instructions passes MAX_FRAME_COPIES (~48 MB at V8's ~12 bytes a slot). Real
 * toolchains stay far below: StarlingMonkey's largest is ~118 locals.
 */
export const MAX_FRAME_COPIES = 4_000_000;

/** Thrown when a function would cost V8 too much to compile. */
export class CompileCostError extends Error {}

/**
 * Checks every function body of a core module: (parameters + locals) x (control instructions + 1)
 * within MAX_FRAME_COPIES. Throws CompileCostError for one past it, Error for a body it cannot read.
 */
export function checkCompileCost(bytes: Uint8Array): void {
  const r = new Reader(bytes);
  r.expect(MODULE_PREAMBLE, 'a core module');
  const params: number[] = [];
  const functionTypes: number[] = [];
  let importedFunctions = 0;
  while (!r.done()) {
    const id = r.byte();
    const body = r.sub(r.u32());
    if (id === 1) {
      for (let n = body.u32(); n > 0; n--) {
        if (body.byte() !== 0x60) throw new Error('a type that is not a function type');
        let count = 0;
        for (let p = body.u32(); p > 0; p--, count++) body.valueType();
        for (let results = body.u32(); results > 0; results--) body.valueType();
        params.push(count);
      }
    } else if (id === 2) {
      for (let n = body.u32(); n > 0; n--) if (body.coreImport().kind === 0x00) importedFunctions++;
    } else if (id === 3) {
      for (let n = body.u32(); n > 0; n--) functionTypes.push(body.u32());
    } else if (id === 10) {
      let index = 0;
      for (let n = body.u32(); n > 0; n--, index++) {
        const code = body.sub(body.u32());
        let frame = params[functionTypes[index] ?? -1] ?? 0;
        for (let groups = code.u32(); groups > 0; groups--) {
          frame += code.u32();
          code.valueType();
        }
        const controls = countControls(code);
        if (frame * (controls + 1) > MAX_FRAME_COPIES) {
          throw new CompileCostError(`its function ${importedFunctions + index} has ${frame} locals and ${controls} blocks, loops and ifs: compiling it would take V8 about ${Math.round((frame * controls * 12) / (1024 * 1024))} MiB`);
        }
      }
    }
  }
}

/** Opcode classes by their immediates; OTHER is decoded one by one. */
const NONE = 0;
const LEB = 1;
const TWO_LEBS = 2;
const MEMARG = 3;
const CONTROL = 4;
const OTHER = 5;
const OPCODE = (() => {
  const table = new Uint8Array(256).fill(OTHER);
  const set = (kind: number, ...ops: number[]) => ops.forEach((op) => (table[op] = kind));
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  set(NONE, 0x00, 0x01, 0x05, 0x0a, 0x0b, 0x0f, 0x19, 0x1a, 0x1b, ...range(0x45, 0xc4), 0xd1, 0xd3, 0xd4);
  // throw, rethrow, catch; br, br_if; calls; delegate; local, global and table get/set; memory.size and
  // grow; ref.null, ref.func, br_on_null, br_on_non_null; i32.const, i64.const (signed LEBs).
  set(LEB, 0x07, 0x08, 0x09, 0x0c, 0x0d, 0x10, 0x12, 0x14, 0x15, 0x18, ...range(0x20, 0x26), 0x3f, 0x40, 0xd0, 0xd2, 0xd5, 0xd6, 0x41, 0x42);
  set(TWO_LEBS, 0x11, 0x13);
  set(MEMARG, ...range(0x28, 0x3e));
  set(CONTROL, 0x02, 0x03, 0x04, 0x06);
  return table;
})();

/**
 * Counts the block, loop, if, try and try_table instructions of a function body (its expression),
 * on the bytes directly: a cursor object per byte made the 12.5 MB StarlingMonkey module take
 * 0.4 s to scan.
 */
function countControls(code: Reader): number {
  const bytes = code.rest();
  const end = bytes.length;
  let pos = 0;
  const byte = (): number => {
    if (pos >= end) throw new Error('unexpected end');
    return bytes[pos++]!;
  };
  /** Skips a LEB128 (unsigned or signed, up to 64 bits). */
  const leb = (): void => {
    for (let i = 0; i < 10; i++) if ((byte() & 0x80) === 0) return;
    throw new Error('malformed integer');
  };
  const u32 = (): number => {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new Error('malformed integer');
  };
  /** A value type: one byte, or (ref null? ht); a block type too (0x40, or a type index: one s33). */
  const valueType = (): void => {
    const b = byte();
    if (b === 0x63 || b === 0x64) leb();
    else if (b & 0x80) leb();
  };
  const memarg = (): void => {
    const align = u32();
    if (align & 0x40) leb(); // a memory index (multi-memory)
    leb();
  };
  let controls = 0;
  while (pos < end) {
    const op = bytes[pos++]!;
    const kind = OPCODE[op]!;
    if (kind === NONE) continue;
    if (kind === LEB) leb();
    else if (kind === MEMARG) memarg();
    else if (kind === CONTROL) {
      controls++;
      valueType();
    } else if (kind === TWO_LEBS) {
      leb();
      leb();
    } else if (op === 0x43) pos += 4;
    else if (op === 0x44) pos += 8;
    else if (op === 0x1f) {
      controls++;
      valueType();
      for (let n = u32(); n > 0; n--) {
        if (byte() <= 0x01) leb(); // catch and catch_ref name a tag
        leb(); // the label
      }
    } else if (op === 0x0e) {
      for (let n = u32(); n > 0; n--) leb();
      leb();
    } else if (op === 0x1c) {
      for (let n = u32(); n > 0; n--) valueType();
    } else if (op === 0xfc) {
      const sub = u32();
      if (sub === 8 || sub === 10 || sub === 12 || sub === 14) {
        leb();
        leb();
      } else if (sub === 9 || sub === 11 || sub === 13 || (sub >= 15 && sub <= 17)) {
        leb();
      } else if (sub > 7) {
        throw new Error(`unknown instruction 0xfc ${sub}`);
      }
    } else if (op === 0xfd) {
      // SIMD: loads and stores take a memory argument (lane ones a lane too), const and shuffle 16 bytes, lane ops a lane.
      const sub = u32();
      if (sub <= 11 || sub === 92 || sub === 93) memarg();
      else if (sub === 12 || sub === 13) pos += 16;
      else if (sub >= 21 && sub <= 34) pos += 1;
      else if (sub >= 84 && sub <= 91) {
        memarg();
        pos += 1;
      }
    } else if (op === 0xfe) {
      if (u32() === 0x03) pos += 1; // atomic.fence
      else memarg();
    } else if (op === 0xfb) {
      throw new Error('a garbage-collection instruction');
    } else {
      throw new Error(`unknown instruction 0x${op.toString(16)}`);
    }
  }
  if (pos > end) throw new Error('unexpected end');
  return controls;
}
