import vm from 'node:vm';
import { noDescriptorLeft } from '../hostPaths.js';
import type { CoreState, MemoryDef } from './coreState.js';
import { MAX_CHUNK } from './wasi/io.js';

/**
 * The limits of one run: `--max-memory` over everything the guest makes the host hold in wasm
 * memories and tables, and `--timeout` over the whole run.
 */

const WASM_PAGE = 64 * 1024;
/** What V8 holds per funcref table entry (the table slot plus its dispatch table entry), rounded up. */
const TABLE_ENTRY_BYTES = 32;
/** What V8 holds per table entry for each instance importing the table (its own dispatch table). */
const IMPORTED_TABLE_ENTRY_BYTES = 20;

/** Thrown when admitting an instance would exceed the memory cap. */
export class OverBudget extends Error {}

/** The memories and tables one instance imports from STATE_MODULE, made for it. */
export type StateImports = Record<string, WebAssembly.Memory | WebAssembly.Table>;

/**
 * Makes the memories and tables a core module defines (pull turned them into imports:
 * coreState.ts), each with its declared limits. Without `--max-memory` V8's own limits apply.
 * A memory already in `made` is taken as it is.
 */
export function makeState(state: CoreState, memoryMaximum: (m: MemoryDef) => number | undefined = (m) => m.maximum, made: StateImports = {}): StateImports {
  for (const m of state.memories) {
    if (made[m.name]) continue; // made ahead, with these limits (run.ts, fillMemoriesAhead)
    const maximum = memoryMaximum(m);
    made[m.name] = new WebAssembly.Memory(maximum === undefined ? { initial: m.initial, shared: m.shared } : { initial: m.initial, maximum, shared: m.shared });
  }
  for (const t of state.tables) {
    made[t.name] = new WebAssembly.Table(t.maximum === undefined ? { element: t.element, initial: t.initial } : { element: t.element, initial: t.initial, maximum: t.maximum });
  }
  return made;
}

/**
 * All memories and tables of all instances of one run, and what V8 keeps per instance, against
 * one cap. Every memory and table is made by the host with a maximum of its own, and the
 * maxima together, with what instances cost beyond them, never pass the cap: an instance that
 * would pass it is refused before it is made (OverBudget). V8's global limits are never lowered
 * once a memory exists (see coreState.ts).
 *
 * The share: the plan is the instances jco's glue makes of each core module (glue.ts); what the
 * cap leaves above everything's initial size is split evenly among the planned memories, as
 * growth room. Tables keep their initial size (no toolchain grows a component's tables, and each
 * instance importing a table holds a copy of its dispatch entries). An instance beyond the plan
 * gets its initial sizes only.
 */
export class MemoryBudget {
  private committed = 0;
  private readonly growthPages: number;
  /** Planned instances not made yet, by module. */
  private readonly unplanned = new Map<CoreState, number>();
  private readonly memories: { memory: WebAssembly.Memory; maximumPages: number }[] = [];

  constructor(readonly capBytes: number, plan: { state: CoreState; instances: number }[]) {
    let initial = 0;
    let count = 0;
    for (const { state, instances } of plan) {
      initial += instances * (fixedCost(state) + state.memories.reduce((sum, m) => sum + m.initial * WASM_PAGE, 0));
      count += instances * state.memories.length;
      this.unplanned.set(state, instances);
    }
    this.growthPages = count === 0 ? 0 : Math.floor(Math.max(0, capBytes - initial) / count / WASM_PAGE);
  }

  /** Flags for compilation: no single memory or table may start beyond the whole cap. */
  compileFlags(): string {
    return `--wasm-max-mem-pages=${Math.max(1, Math.floor(this.capBytes / WASM_PAGE))} --wasm-max-table-size=${Math.max(1, Math.floor(this.capBytes / TABLE_ENTRY_BYTES))}`;
  }

  /** Counts the instance about to be made, with the tables it imports, and makes its memories and tables. */
  admit(state: CoreState, imports: WebAssembly.Imports | undefined): StateImports {
    const left = this.unplanned.get(state) ?? 0;
    const planned = left > 0;
    if (planned) this.unplanned.set(state, left - 1);
    const capPages = Math.floor(this.capBytes / WASM_PAGE);
    const maximumOf = (m: MemoryDef) => Math.min(m.maximum ?? Infinity, capPages, m.initial + (planned ? this.growthPages : 0));
    let cost = fixedCost(state);
    for (const m of state.memories) cost += maximumOf(m) * WASM_PAGE;
    for (const { module, name } of state.tableImports) {
      const table = (imports?.[module] as Record<string, unknown> | undefined)?.[name];
      if (table instanceof WebAssembly.Table) cost += table.length * IMPORTED_TABLE_ENTRY_BYTES;
    }
    if (this.committed + cost > this.capBytes) throw new OverBudget(`instantiating needs ${this.committed + cost} bytes of memory and tables`);
    this.committed += cost;
    const made = makeState({ ...state, tables: state.tables.map((t) => ({ ...t, maximum: t.initial })) }, maximumOf);
    for (const m of state.memories) this.memories.push({ memory: made[m.name] as WebAssembly.Memory, maximumPages: maximumOf(m) });
    return made;
  }

  /** Whether a memory is near its maximum: a trap then is what a refused growth looks like from outside (malloc failing). */
  nearCap(): boolean {
    return this.memories.some(({ memory, maximumPages }) => memory.buffer.byteLength >= maximumPages * WASM_PAGE * 0.75);
  }
}

/** What an instance costs beyond its memories: its tables, at their initial size, and V8's per-instance state. */
function fixedCost(state: CoreState): number {
  return state.instanceBytes + state.tables.reduce((sum, t) => sum + t.initial * TABLE_ENTRY_BYTES, 0);
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

/**
 * The end of a run whose plugin holds every file descriptor the process may open, when an open the
 * host must make fails for it (EMFILE or ENFILE); undefined for any other failure.
 */
export function allDescriptorsHeld(error: unknown): HostLimitExceeded | undefined {
  return noDescriptorLeft(error) ? new HostLimitExceeded('it holds every file descriptor the process may open') : undefined;
}

/** Thrown when the plugin would hold more resource handles than a run may. */
export class TooManyHandles extends Error {
  /** Ends the run from inside a host call too (a preview1 path_open), never an error code the guest could go on past. */
  readonly hostControl = true;
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

  /**
   * ArrayBuffer.prototype.slice of a list the guest passes (`ptr, ptr + len * size`), counted, and
   * a trap when it is not within the memory, as the canonical ABI says: slice itself cut it short
   * silently (a write of 100 bytes from 4 before the end wrote 4 and succeeded: attack 75). The
   * glue reads the pointer as a signed i32: one past 2 GiB is taken unsigned here.
   */
  slice(buffer: ArrayBuffer, start: number, end: number): ArrayBuffer {
    const from = start >>> 0;
    const length = end - start;
    if (length < 0 || from + length > buffer.byteLength) throw new WebAssembly.RuntimeError('a list out of bounds of its memory');
    this.charge(length, buffer.byteLength);
    if (length <= MAX_CHUNK) return buffer.slice(from, from + length);
    // MAX_CHUNK at a time: one native copy of 2 GiB held a run 16 s past --timeout and Ctrl-C (attack 93).
    const copy = new Uint8Array(length);
    const source = new Uint8Array(buffer, from, length);
    for (let at = 0; at < length; at += MAX_CHUNK) copy.set(source.subarray(at, at + MAX_CHUNK), at);
    return copy.buffer;
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
