import { setV8Flags } from '../builtin.js';
import vm from 'node:vm';

/**
 * The limits of one run: `--max-memory` over everything the guest makes the host hold in wasm
 * memories and tables, and `--timeout` over the whole run.
 */

const WASM_PAGE = 64 * 1024;
/** What V8 holds per funcref table entry (the table slot plus its dispatch table entry), rounded up. */
const TABLE_ENTRY_BYTES = 32;
/** Share of the growth budget given to tables; memories get the rest (heaps grow, tables rarely). */
const TABLE_SHARE = 1 / 8;

/** Memory and tables a core module defines (imported ones belong to the instance that defines them). */
export interface Footprint {
  /** The initial pages of each memory (a memory of 0 pages is a memory too: it may grow). */
  memoryPages: number[];
  tableEntries: number[];
}

/** Reads the memory and table sections of a core module binary (wasm spec §5.5): no allocation by the guest. */
export function declaredFootprint(bytes: Uint8Array): Footprint {
  const footprint: Footprint = { memoryPages: [], tableEntries: [] };
  let pos = 8; // magic + version
  const leb = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = bytes[pos++];
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
  };
  const limitsMin = (): number => {
    const flags = bytes[pos++];
    const min = leb();
    if (flags & 1) leb(); // max
    return min;
  };
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = leb();
    const end = pos + size;
    if (id === 4) {
      for (let count = leb(); count > 0; count--) {
        if (bytes[pos] === 0x40) throw new Error('tables with initializer expressions are not supported');
        pos++; // reftype
        footprint.tableEntries.push(limitsMin());
      }
    } else if (id === 5) {
      for (let count = leb(); count > 0; count--) footprint.memoryPages.push(limitsMin());
    }
    pos = end;
  }
  return footprint;
}

/** Thrown when admitting an instance would exceed the memory cap. */
export class OverBudget extends Error {}

/**
 * All linear memories and tables of all instances of one run, against one cap. Each instance's
 * declared initial sizes are admitted BEFORE it is instantiated (so sixteen instances of one big
 * module are refused at the one that crosses the cap, not after allocating all of them); once
 * every instance exists, V8's per-memory and per-table growth limits (read at grow time) are set
 * so that growing all of them together stays within the cap.
 */
export class MemoryBudget {
  private used = 0;
  private readonly memories: WebAssembly.Memory[] = [];
  private memoryCount = 0;
  private tableCount = 0;
  private smallestMemoryPages = Infinity;
  private smallestTable = Infinity;

  constructor(readonly capBytes: number) {}

  /** Flags for compilation: no single memory or table may start beyond the whole cap. */
  compileFlags(): string {
    return `--wasm-max-mem-pages=${Math.max(1, Math.floor(this.capBytes / WASM_PAGE))} --wasm-max-table-size=${Math.max(1, Math.floor(this.capBytes / TABLE_ENTRY_BYTES))}`;
  }

  admit(footprint: Footprint): void {
    const bytes = footprint.memoryPages.reduce((sum, n) => sum + n * WASM_PAGE, 0) + footprint.tableEntries.reduce((sum, n) => sum + n * TABLE_ENTRY_BYTES, 0);
    if (this.used + bytes > this.capBytes) throw new OverBudget(`instantiating needs ${this.used + bytes} bytes of memory and tables`);
    this.used += bytes;
    // Every memory counts, one of 0 pages too: each gets its share of the growth (seal).
    for (const pages of footprint.memoryPages) {
      this.memoryCount++;
      this.smallestMemoryPages = Math.min(this.smallestMemoryPages, pages);
    }
    for (const entries of footprint.tableEntries) {
      this.tableCount++;
      this.smallestTable = Math.min(this.smallestTable, entries);
    }
  }

  track(instance: WebAssembly.Instance): void {
    for (const value of Object.values(instance.exports)) if (value instanceof WebAssembly.Memory) this.memories.push(value);
  }

  /**
   * Sets the growth limits. A memory may grow to `max(current, F)` pages, so with
   * F = smallest + budget / count the memories together grow by at most the budget.
   */
  seal(): void {
    const budget = Math.max(0, this.capBytes - this.used);
    const flags: string[] = [];
    if (this.memoryCount > 0) {
      const share = this.tableCount > 0 ? 1 - TABLE_SHARE : 1;
      flags.push(`--wasm-max-mem-pages=${Math.max(1, this.smallestMemoryPages + Math.floor((budget * share) / this.memoryCount / WASM_PAGE))}`);
    }
    if (this.tableCount > 0) {
      const share = this.memoryCount > 0 ? TABLE_SHARE : 1;
      flags.push(`--wasm-max-table-size=${Math.max(1, this.smallestTable + Math.floor((budget * share) / this.tableCount / TABLE_ENTRY_BYTES))}`);
    }
    if (flags.length) setV8Flags(flags.join(' '));
  }

  /** A trap with memory near the cap is what a refused growth looks like from outside (malloc failing). */
  nearCap(): boolean {
    const bytes = this.memories.reduce((sum, m) => sum + m.buffer.byteLength, 0);
    return bytes >= this.capBytes * 0.75;
  }
}

/** Why a guarded call did not return. */
export type Interruption = 'timeout' | 'interrupted';

const SLOT = '__krewWasmGuarded';
const script = new vm.Script(`${SLOT}()`, { filename: 'krew-wasm-guard' });

/**
 * The run's clock and Ctrl-C. Guest code (instantiation included: a core `start` function runs
 * there) is only ever called through `call`, under V8's watchdog, which terminates execution from
 * another thread, wakes a host call sleeping in Atomics.wait (runtime/wasi/wait.ts), and honours
 * SIGINT (breakOnSigint; with no SIGINT listener in the process, a signal before or after the call
 * meets Node's default action, see runPlugin; only one in the instant Node disarms its watchdog
 * is lost, as in plain Node: README, "What is not guaranteed"). Between
 * guarded calls (compiling, loading the glue), `within` lets the caller race a timer against the
 * awaited work.
 */
export class RunGuard {
  /** When the run must end, in performance.now() milliseconds (undefined: no limit). */
  readonly deadline?: number;

  constructor(readonly timeoutMs: number | undefined) {
    if (timeoutMs) this.deadline = performance.now() + timeoutMs;
  }

  remainingMs(): number | undefined {
    return this.deadline === undefined ? undefined : Math.max(1, Math.ceil(this.deadline - performance.now()));
  }

  /** Calls `fn` synchronously under the watchdog; rethrows its errors; an interruption becomes an Interrupted. */
  call<T>(fn: () => T): T {
    if (this.deadline !== undefined && performance.now() >= this.deadline) throw new Interrupted('timeout');
    (globalThis as Record<string, unknown>)[SLOT] = fn;
    try {
      return script.runInThisContext({ timeout: this.remainingMs(), breakOnSigint: true }) as T;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException)?.code;
      if (code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new Interrupted('timeout');
      if (code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED') throw new Interrupted('interrupted');
      throw error;
    } finally {
      delete (globalThis as Record<string, unknown>)[SLOT];
    }
  }

  /** Resolves with `work`, or rejects with an Interrupted('timeout') at the deadline. */
  async within<T>(work: Promise<T>): Promise<T> {
    const remaining = this.remainingMs();
    if (remaining === undefined) return work;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Interrupted('timeout')), remaining);
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The run ended by the clock or by Ctrl-C, not by the guest. */
export class Interrupted extends Error {
  constructor(readonly why: Interruption) {
    super(why);
  }
}

/** Thrown when one host call's arguments would copy more out of guest memory than the memory holds. */
export class LiftTooLarge extends Error {
  constructor(readonly liftedBytes: number, readonly memoryBytes: number) {
    super(`one host call's arguments come to ${liftedBytes} bytes, more than the ${memoryBytes} bytes of its memory`);
  }
}

/** Thrown when a plugin would make the host hold more of something than a run may (the message says what). */
export class HostLimitExceeded extends Error {
  readonly hostControl = true;
}

/** Thrown when the plugin would hold more resource handles than a run may. */
export class TooManyHandles extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} resource handles held at once`);
  }
}

/** What one call may copy beyond the size of the memory it reads from: the strings of other memories, rounding. */
const LIFT_SLACK_BYTES = 1024 * 1024;
/** What one lifted list element is counted as beyond its bytes: about what V8 spends on a small value. */
const ELEMENT_OVERHEAD_BYTES = 64;

/**
 * Resource handles (streams, pollables, descriptors, HTTP requests) a plugin may hold at once.
 * Each costs host memory --max-memory does not see, and a plugin gets them for free (get-stdout in
 * a loop), as a process gets file descriptors: this is its open-file limit.
 */
export const MAX_HANDLES = 100_000;

/**
 * Bounds on what jco's glue allocates on a plugin's behalf (glue.ts routes the glue through here).
 * Copies: the glue copies each host call's strings and byte lists out of guest memory, and they
 * may all point at the same bytes: 200,000 headers naming the same 8 MiB would be 3 TB of host
 * strings, and V8 aborts the whole process long before any limit acts. A call whose arguments do
 * not overlap copies at most what its memory holds, so that is the bound, with or without
 * --max-memory; the count restarts as each call enters. Handles: at most MAX_HANDLES live.
 */
export class GlueBudget {
  private lifted = 0;
  private handles = 0;

  /** A host call begins: its arguments are counted from zero. */
  enter(): void {
    this.lifted = 0;
  }

  charge(bytes: number, memoryBytes: number): void {
    this.lifted += bytes;
    if (this.lifted > memoryBytes + LIFT_SLACK_BYTES) throw new LiftTooLarge(this.lifted, memoryBytes);
  }

  /**
   * A list jco lifts element by element (its generic _liftFlatList, or a loop in a host call's
   * trampoline, for lists of records, tuples, variants, lists...; glue.ts): each element is counted as its size in guest memory plus what a JavaScript value
   * costs, so that lists aliasing the same bytes, or millions of empty elements, are refused
   * instead of filling the host heap (found by attacks: 64 KiB of guest memory made 4 GB of host
   * objects through nested lists, and 32 MiB made 1 GB through empty header fields).
   */
  elements(count: number, elementBytes: number, ctx: { memory?: { buffer?: ArrayBuffer } | null } | undefined): void {
    this.charge(count * (elementBytes + ELEMENT_OVERHEAD_BYTES), ctx?.memory?.buffer?.byteLength ?? 0);
  }

  /** ArrayBuffer.prototype.slice, counted. */
  slice(buffer: ArrayBuffer, start: number, end: number): ArrayBuffer {
    this.charge(Math.max(0, Math.min(end, buffer.byteLength) - start), buffer.byteLength);
    return buffer.slice(start, end);
  }

  /** A TextDecoder whose decode() is counted. */
  textDecoder(): typeof TextDecoder {
    const budget = this;
    return class CountedTextDecoder extends TextDecoder {
      override decode(input?: AllowSharedBufferSource, options?: TextDecodeOptions): string {
        if (input) budget.charge(input.byteLength, ArrayBuffer.isView(input) ? input.buffer.byteLength : input.byteLength);
        return super.decode(input, options);
      }
    };
  }

  /** The glue gives the plugin an owned handle. */
  handleCreated(): void {
    if (this.handles >= MAX_HANDLES) throw new TooManyHandles(MAX_HANDLES);
    this.handles++;
  }

  /** The plugin dropped a handle, or passed it to the host (an own<> argument). */
  handleRemoved(): void {
    if (this.handles > 0) this.handles--;
  }
}
