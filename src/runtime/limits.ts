import { setV8Flags } from '../builtin.js';
import vm from 'node:vm';
import type { CoreState } from './coreState.js';

/**
 * The limits of one run: `--max-memory` over everything the guest makes the host hold in wasm
 * memories and tables, and `--timeout` over the whole run.
 */

const WASM_PAGE = 64 * 1024;
/** What V8 holds per funcref table entry (the table slot plus its dispatch table entry), rounded up. */
const TABLE_ENTRY_BYTES = 32;
/** Share of the growth budget given to tables; memories get the rest (heaps grow, tables rarely). */
const TABLE_SHARE = 1 / 8;

/** Thrown when admitting an instance would exceed the memory cap. */
export class OverBudget extends Error {}

/** One memory or table of the run: measured through its object once its instance exports it. */
class Slot {
  object?: WebAssembly.Memory | WebAssembly.Table;

  /** `bound`: its size (pages or entries) until it is measured: the most it may have grown to. */
  constructor(public bound: number, readonly exportName: string | undefined) {}

  size(): number {
    if (this.object instanceof WebAssembly.Memory) return this.object.buffer.byteLength / WASM_PAGE;
    if (this.object instanceof WebAssembly.Table) return this.object.length;
    return this.bound;
  }
}

/**
 * All linear memories and tables of all instances of one run, against one cap. V8 has one growth
 * limit for all memories and one for all tables (`--wasm-max-mem-pages`, `--wasm-max-table-size`,
 * read at each grow): a memory may grow to `max(its size, limit)`. The limits are set before each
 * instance is made (its start function, and the start functions after it, run under them) and
 * again once all exist, to the highest level at which every memory and table growing to it
 * together stays within the cap. An instance whose initial sizes do not fit is refused before it
 * is made. A memory or table the host cannot see is counted at the most it may have grown to;
 * `pull` has every core module export all of them (coreState.ts), so that none is counted so.
 */
export class MemoryBudget {
  private readonly memories: Slot[] = [];
  private readonly tables: Slot[] = [];
  private admitted: { memories: Slot[]; tables: Slot[] } = { memories: [], tables: [] };

  constructor(readonly capBytes: number) {}

  /** Flags for compilation: no single memory or table may start beyond the whole cap. */
  compileFlags(): string {
    return `--wasm-max-mem-pages=${Math.max(1, Math.floor(this.capBytes / WASM_PAGE))} --wasm-max-table-size=${Math.max(1, Math.floor(this.capBytes / TABLE_ENTRY_BYTES))}`;
  }

  /** Counts the instance about to be made and sets the limits it and every instance before it grow under. */
  admit(state: CoreState): void {
    this.admitted = {
      memories: state.memories.map((m) => new Slot(m.initial, m.exportName)),
      tables: state.tables.map((t) => new Slot(t.initial, t.exportName)),
    };
    this.memories.push(...this.admitted.memories);
    this.tables.push(...this.admitted.tables);
    this.setLimits(Math.max(0, ...state.memories.map((m) => m.initial)), Math.max(0, ...state.tables.map((t) => t.initial)));
  }

  /** Finds the admitted instance's memories and tables among its exports. */
  track(instance: WebAssembly.Instance): void {
    for (const slot of [...this.admitted.memories, ...this.admitted.tables]) {
      const value = slot.exportName === undefined ? undefined : instance.exports[slot.exportName];
      if (value instanceof WebAssembly.Memory || value instanceof WebAssembly.Table) slot.object = value;
    }
  }

  /** Once every instance exists: the limits again, from what the start functions left. */
  seal(): void {
    this.setLimits(0, 0);
  }

  /**
   * Gives the memories the growth budget's share (the tables the rest) by water level: the
   * highest limit L with sum(max(0, L - size)) within the share. New memories and tables need the
   * limit to reach their initial sizes, or V8 cannot make them.
   */
  private setLimits(newMemoryPages: number, newTableEntries: number): void {
    const memoryPages = this.memories.map((s) => s.size());
    const tableEntries = this.tables.map((s) => s.size());
    const used = sum(memoryPages) * WASM_PAGE + sum(tableEntries) * TABLE_ENTRY_BYTES;
    if (used > this.capBytes) throw new OverBudget(`instantiating needs ${used} bytes of memory and tables`);
    const budget = this.capBytes - used;
    const tableShare = this.memories.length === 0 ? 1 : this.tables.length === 0 ? 0 : TABLE_SHARE;
    const memoryLimit = waterLevel(memoryPages, Math.floor((budget * (1 - tableShare)) / WASM_PAGE));
    const tableLimit = waterLevel(tableEntries, Math.floor((budget * tableShare) / TABLE_ENTRY_BYTES));
    if (memoryLimit < newMemoryPages || tableLimit < newTableEntries) {
      throw new OverBudget('the memories and tables could together grow past the cap');
    }
    const flags: string[] = [];
    if (this.memories.length) flags.push(`--wasm-max-mem-pages=${memoryLimit}`);
    if (this.tables.length) flags.push(`--wasm-max-table-size=${tableLimit}`);
    if (flags.length) setV8Flags(flags.join(' '));
    for (const slot of this.memories) if (!slot.object) slot.bound = Math.max(slot.bound, memoryLimit);
    for (const slot of this.tables) if (!slot.object) slot.bound = Math.max(slot.bound, tableLimit);
  }

  /** A trap with memory near the cap is what a refused growth looks like from outside (malloc failing). */
  nearCap(): boolean {
    let bytes = 0;
    for (const slot of this.memories) if (slot.object) bytes += slot.size() * WASM_PAGE;
    return bytes >= this.capBytes * 0.75;
  }
}

/** The highest level L (an integer) with sum(max(0, L - size)) <= growth; unbounded with no sizes. */
export function waterLevel(sizes: number[], growth: number): number {
  const sorted = [...sizes].sort((a, b) => a - b);
  let below = 0;
  for (let k = 1; k <= sorted.length; k++) {
    below += sorted[k - 1]!;
    const level = Math.floor((growth + below) / k);
    if (k === sorted.length || level <= sorted[k]!) return level;
  }
  return Infinity;
}

function sum(values: number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
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
