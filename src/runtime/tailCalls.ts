import { MODULE_PREAMBLE, Reader, SECTION } from './wasmReader.js';

/**
 * Whether a core module may loop through WebAssembly tail calls (`return_call`,
 * `return_call_indirect`, `return_call_ref`), which the V8 of Node 24 and 25 does not stop for its
 * watchdog: `--timeout` and Ctrl-C (RunGuard, limits.ts) cannot end such a loop there, where they
 * do on Node 20 and 22 (measured with plain Node's vm timeout; found by an attack). Read at pull,
 * so that a run on such a Node can refuse the plugin (compile.ts) instead of running it unbounded.
 *
 * Walks every instruction of every function body, skipping each one's immediates. An opcode it
 * does not know (a proposal newer than this walker) counts as a tail call: the answer is only ever
 * used to refuse, and only where V8 would not stop the loop.
 */
export function usesTailCalls(bytes: Uint8Array): boolean {
  const r = new Reader(bytes);
  r.expect(MODULE_PREAMBLE, 'a core module');
  while (!r.done()) {
    const id = r.byte();
    const body = r.sub(r.u32());
    if (id !== CODE_SECTION) continue;
    for (let n = body.u32(); n > 0; n--) {
      if (functionTailCalls(body.sub(body.u32()))) return true;
    }
  }
  return false;
}

const CODE_SECTION = SECTION.code;
const TAIL_CALLS = new Set([0x12, 0x13, 0x15]);

/** Whether one function body holds a tail call, or an instruction this walker cannot read. */
function functionTailCalls(f: Reader): boolean {
  for (let groups = f.u32(); groups > 0; groups--) {
    f.u32();
    f.valueType();
  }
  try {
    while (!f.done()) {
      const op = f.byte();
      if (TAIL_CALLS.has(op)) return true;
      if (!skipImmediates(op, f)) return true;
    }
  } catch {
    return true; // a body this walker misreads: an unknown encoding
  }
  return false;
}

/** Skips the immediates of the instruction `op`; false for an opcode this walker does not know. */
function skipImmediates(op: number, f: Reader): boolean {
  if (NO_IMMEDIATE.has(op) || (op >= 0x45 && op <= 0xc4)) return true;
  if (ONE_INDEX.has(op)) return f.u32(), true;
  if (op >= 0x28 && op <= 0x3e) return memarg(f), true;
  switch (op) {
    case 0x02: case 0x03: case 0x04: case 0x06: // block, loop, if, try: a block type
      return blockType(f), true;
    case 0x1f: // try_table: a block type, then its catch clauses
      blockType(f);
      for (let n = f.u32(); n > 0; n--) {
        const kind = f.byte();
        if (kind > 0x03) return false;
        if (kind <= 0x01) f.u32(); // catch and catch_ref name a tag
        f.u32(); // the label
      }
      return true;
    case 0x0e: // br_table: the labels, then the default
      for (let n = f.u32(); n > 0; n--) f.u32();
      return f.u32(), true;
    case 0x11: // call_indirect: type, table
      return f.u32(), f.u32(), true;
    case 0x1c: // select with types
      for (let n = f.u32(); n > 0; n--) f.valueType();
      return true;
    case 0x41: case 0x42: // i32.const, i64.const: a signed LEB128
      return signed(f), true;
    case 0x43:
      return skip(f, 4), true;
    case 0x44:
      return skip(f, 8), true;
    case 0xd0: // ref.null: a heap type
      return f.s33(), true;
    case 0xfb:
      return gcImmediates(f.u32(), f);
    case 0xfc:
      return miscImmediates(f.u32(), f);
    case 0xfd:
      return simdImmediates(f.u32(), f);
    case 0xfe:
      return atomicImmediates(f.u32(), f);
    default:
      return false;
  }
}

/**
 * unreachable, nop, else, throw_ref, end, return, catch_all, drop, select, ref.is_null, ref.eq,
 * ref.as_non_null.
 */
const NO_IMMEDIATE = new Set([0x00, 0x01, 0x05, 0x0a, 0x0b, 0x0f, 0x19, 0x1a, 0x1b, 0xd1, 0xd3, 0xd4]);
/**
 * catch, throw, rethrow (tag or depth), br, br_if, call, call_ref (type), delegate, local and global
 * get/set/tee, table.get/set, memory.size/grow, ref.func, br_on_null, br_on_non_null.
 */
const ONE_INDEX = new Set([0x07, 0x08, 0x09, 0x0c, 0x0d, 0x10, 0x14, 0x18, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x3f, 0x40, 0xd2, 0xd5, 0xd6]);

/** A block type: empty (0x40), a value type (one byte, or a reference type with its heap type), or a type index. */
function blockType(f: Reader): void {
  const first = f.peek();
  if (first === 0x63 || first === 0x64) return f.valueType();
  signed(f);
}

/** Alignment (bit 6: a memory index follows), then the offset (64 bits for memory64). */
function memarg(f: Reader): void {
  if (f.u32() & 0x40) f.u32();
  f.u64();
}

function signed(f: Reader): void {
  for (let i = 0; i < 10; i++) if ((f.byte() & 0x80) === 0) return;
  throw new Error('malformed integer');
}

function skip(f: Reader, n: number): void {
  for (let i = 0; i < n; i++) f.byte();
}

/** The 0xFB prefix: garbage collection (struct, array, i31, casts, extern conversions). */
function gcImmediates(sub: number, f: Reader): boolean {
  if ([0, 1, 6, 7, 11, 12, 13, 14, 16].includes(sub)) return f.u32(), true; // a type index
  if ([2, 3, 4, 5, 8, 9, 10, 17, 18, 19].includes(sub)) return f.u32(), f.u32(), true; // type and field, count, data, elem or type
  if (sub >= 20 && sub <= 23) return f.s33(), true; // ref.test, ref.cast (null): a heap type
  if (sub === 24 || sub === 25) return f.byte(), f.u32(), f.s33(), f.s33(), true; // br_on_cast(_fail)
  return sub === 15 || (sub >= 26 && sub <= 30); // array.len; extern/any conversions, i31
}

/** The 0xFC prefix: saturating truncations, bulk memory and table instructions. */
function miscImmediates(sub: number, f: Reader): boolean {
  if (sub <= 7) return true;
  if (sub === 8 || sub === 10 || sub === 12 || sub === 14) return f.u32(), f.u32(), true;
  if (sub === 9 || sub === 11 || sub === 13 || (sub >= 15 && sub <= 17)) return f.u32(), true;
  return false;
}

/** The 0xFD prefix: SIMD and relaxed SIMD. */
function simdImmediates(sub: number, f: Reader): boolean {
  if (sub <= 0x0b || sub === 0x5c || sub === 0x5d) return memarg(f), true; // loads and stores
  if (sub === 0x0c || sub === 0x0d) return skip(f, 16), true; // v128.const, i8x16.shuffle
  if (sub >= 0x15 && sub <= 0x22) return f.byte(), true; // extract and replace lane
  if (sub >= 0x54 && sub <= 0x5b) return memarg(f), f.byte(), true; // load and store lane
  return sub <= 0xff || (sub >= 0x100 && sub <= 0x113);
}

/** The 0xFE prefix: threads. */
function atomicImmediates(sub: number, f: Reader): boolean {
  if (sub === 0x03) return f.byte(), true; // atomic.fence
  if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) return memarg(f), true;
  return false;
}

/**
 * Whether this V8 leaves a tail-call loop running past its watchdog: V8 13 (Node 24) and 14
 * (Node 25) do, 11 (Node 20) and 12 (Node 22) stop it. Later versions are taken to be as the
 * last one measured until measured.
 */
export function watchdogMissesTailCalls(v8Version: string = process.versions.v8): boolean {
  return Number(/^(\d+)\./.exec(v8Version)?.[1] ?? 0) >= 13;
}
