import { readAdapter } from './index.js';
import { leb128 } from '../wasmReader.js';

/**
 * Exit codes of preview1 plugins. jco's preview1 command adapter reduces proc_exit(n) to ok/err,
 * so a C `exit(33)` exited 1; kubectl plugin callers rely on exit codes. The module's proc_exit
 * import is routed to our proc-exit adapter (proc-exit.wat) instead: a rename of the import's
 * module in the binary, before wit-component links the adapters.
 */
export const PROC_EXIT_MODULE = 'krew_wasm_proc_exit';

/** The adapter's bytes, to be linked in as the `krew_wasm_proc_exit` adapter of componentNew. */
export function readProcExitAdapter(): Uint8Array {
  return readAdapter('proc-exit');
}

/**
 * Returns the module with its `wasi_snapshot_preview1.proc_exit` import renamed to
 * PROC_EXIT_MODULE, or undefined when it does not import proc_exit (wasm spec §5.5.5).
 */
export function routeProcExit(bytes: Uint8Array): Uint8Array | undefined {
  const reader = new Reader(bytes, 8);
  while (reader.pos < bytes.length) {
    const sectionStart = reader.pos;
    const id = reader.byte();
    const size = reader.u32();
    const contentStart = reader.pos;
    if (id !== 2) {
      reader.pos = contentStart + size;
      continue;
    }
    const rewritten = rewriteImports(bytes.subarray(contentStart, contentStart + size));
    if (!rewritten) return undefined;
    return concat(bytes.subarray(0, sectionStart), Uint8Array.of(2), leb128(rewritten.length), rewritten, bytes.subarray(contentStart + size));
  }
  return undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The import section's content with proc_exit's module renamed, or undefined if there is no such import. */
function rewriteImports(section: Uint8Array): Uint8Array | undefined {
  const reader = new Reader(section, 0);
  const count = reader.u32();
  const parts: Uint8Array[] = [leb128(count)];
  let found = false;
  for (let i = 0; i < count; i++) {
    const moduleName = reader.name();
    const nameStart = reader.pos;
    const field = reader.name();
    reader.skipImportDescription();
    const rest = section.subarray(nameStart, reader.pos);
    if (moduleName === 'wasi_snapshot_preview1' && field === 'proc_exit') {
      found = true;
      parts.push(encodeName(PROC_EXIT_MODULE), rest);
    } else {
      parts.push(encodeName(moduleName), rest);
    }
  }
  return found ? concat(...parts) : undefined;
}

class Reader {
  constructor(private readonly bytes: Uint8Array, public pos: number) {}
  byte(): number {
    if (this.pos >= this.bytes.length) throw new Error('truncated wasm module');
    return this.bytes[this.pos++];
  }
  u32(): number {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
  }
  name(): string {
    const len = this.u32();
    const start = this.pos;
    this.pos += len;
    return decoder.decode(this.bytes.subarray(start, this.pos));
  }
  limits(): void {
    const flags = this.byte();
    this.u32();
    if (flags & 1) this.u32();
  }
  skipImportDescription(): void {
    const kind = this.byte();
    if (kind === 0x00) this.u32(); // function: type index
    else if (kind === 0x01) { this.byte(); this.limits(); } // table: reftype, limits
    else if (kind === 0x02) this.limits(); // memory
    else if (kind === 0x03) { this.byte(); this.byte(); } // global: valtype, mutability
    else if (kind === 0x04) { this.byte(); this.u32(); } // tag: attribute, type index
    else throw new Error(`unknown import kind ${kind}`);
  }
}

function encodeName(name: string): Uint8Array {
  const bytes = encoder.encode(name);
  return concat(leb128(bytes.length), bytes);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
