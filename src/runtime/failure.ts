import { isKrewWasmError, NotInstalledError, PluginMemoryError, PluginRuntimeError, PluginTimeoutError, type KrewWasmError } from '../errors.js';
import { printable, shortened } from '../printable.js';
import { HostLimitExceeded, Interrupted, LiftTooLarge, OverBudget, TooManyHandles } from './limits.js';
import { ExitSignal } from './wasi/index.js';

// How a run's end becomes what the user sees: an exit code, or one error of one line, whatever
// the plugin threw, trapped on or returned.

/** The plugin a message names, and how its entry is repaired. */
export interface PluginRef {
  /** Shown in messages. */
  pluginName: string;
  /** Hint for a damaged entry, e.g. the pull command that repairs it. */
  repairHint?: string;
}

/** A failure while the plugin was being instantiated (a trap in a start function, a link error). */
class StartFailure extends Error {
  constructor(override readonly cause: unknown) {
    super('start failure');
  }
}

/** What went wrong while instantiating, as a start failure, except what ends a run anyway. */
export function asStartFailure(error: unknown): unknown {
  const passes = error instanceof ExitSignal || error instanceof Interrupted || error instanceof OverBudget || isKrewWasmError(error);
  return passes ? error : new StartFailure(error);
}

/** What a failure is classified against. */
export interface FailureContext {
  pluginName: string;
  limits: { timeoutMs?: number; maxMemoryMiB?: number };
  /** Whether the plugin's memories are near the cap (a refused growth leaves no other trace). */
  nearMemoryCap(): boolean;
}

/**
 * What a thrown value means for the run: an exit code (the plugin ended itself, or the user
 * pressed Ctrl-C) or the one error the user sees. Pure apart from asking about memory.
 */
export function classifyFailure(error: unknown, ctx: FailureContext): { exit: number } | { error: KrewWasmError } {
  const name = ctx.pluginName;
  if (error instanceof ExitSignal) return { exit: error.code };
  if (error instanceof Interrupted) {
    if (error.why === 'interrupted') return { exit: 130 }; // as a shell reports SIGINT
    return { error: new PluginTimeoutError(`plugin ${name} exceeded its time limit of ${(ctx.limits.timeoutMs ?? 0) / 1000} s`, { hint: `krew-wasm grant ${name} --timeout <seconds>` }) };
  }
  if (isKrewWasmError(error)) return { error };
  if (error instanceof HostLimitExceeded) {
    return { error: new PluginRuntimeError(`plugin ${name} failed: ${error.message}, the most a run may`) };
  }
  if (error instanceof TooManyHandles) {
    return { error: new PluginRuntimeError(`plugin ${name} failed: it holds more than ${error.limit} resource handles (streams, descriptors, pollables, requests) at once, the most a run may`) };
  }
  if (error instanceof LiftTooLarge) {
    return { error: new PluginRuntimeError(`plugin ${name} failed: one host call passed ${mib(error.liftedBytes)} MiB of arguments, more than its ${mib(error.memoryBytes)} MiB of memory holds (lists or strings that overlap); the call was refused`) };
  }
  const memoryError = () => new PluginMemoryError(`plugin ${name} exceeded its memory limit of ${ctx.limits.maxMemoryMiB} MiB`, {
    cause: error,
    hint: `krew-wasm grant ${name} --max-memory <MiB>`,
  });
  if (error instanceof OverBudget) return { error: memoryError() };
  // Near the cap first: an allocator that found no room returns a pointer past the memory, and the
  // glue's read of it is out of bounds (attack 77), where the cap is what the user can change.
  if (ctx.limits.maxMemoryMiB && (ctx.nearMemoryCap() || declaredBeyondEngineLimit(error))) return { error: memoryError() };
  // A growth far beyond the cap in one step is refused while memory is still small: say so.
  const hint = ctx.limits.maxMemoryMiB ? `memory is capped at ${ctx.limits.maxMemoryMiB} MiB: krew-wasm grant ${name} --max-memory <MiB>` : undefined;
  if (isGlueOutOfBounds(error)) return { error: new PluginRuntimeError(`plugin ${name} trapped: out of bounds memory access`, { cause: error, hint }) };
  if (error instanceof StartFailure) {
    return { error: new PluginRuntimeError(`plugin ${name} failed to start: ${describe(error.cause)}`, { cause: error.cause, hint: error.cause instanceof WebAssembly.RuntimeError ? hint : undefined }) };
  }
  if (error instanceof WebAssembly.RuntimeError) {
    return { error: new PluginRuntimeError(`plugin ${name} trapped: ${error.message}`, { cause: error, hint }) };
  }
  if (error instanceof WebAssembly.CompileError || error instanceof WebAssembly.LinkError) {
    return { error: new PluginRuntimeError(`plugin ${name} failed to start: ${describe(error)}`, { cause: error }) };
  }
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return { error: new PluginRuntimeError(`plugin ${name} trapped: call stack exhausted`, { cause: error }) };
  }
  if (isRunErrResult(error)) return { exit: 1 };
  return { error: new PluginRuntimeError(`plugin ${name} failed: ${describe(error)}`, { cause: error }) };
}

/**
 * A read of guest memory in jco's glue past the end of the memory: a string or a list whose
 * pointer and length do not fit, or a pointer past 2 GiB, which the glue reads as a negative i32.
 * The canonical ABI traps there; V8 throws its typed array and DataView bounds errors (attack 76:
 * they ended the run as "failed" with their text).
 */
function isGlueOutOfBounds(error: unknown): boolean {
  return error instanceof RangeError && /^(Start offset -?\d+ is outside the bounds of the buffer|Offset is outside the bounds of the DataView|Invalid typed array length: \d+)$/.test(error.message);
}

/**
 * V8's refusal to compile a module whose declared table or memory is bigger than the engine allows.
 * Under --max-memory the allowed size is the cap's (MemoryBudget.compileFlags sets
 * --wasm-max-table-size), and Node 24's V8 checks a table's declared size against it when it
 * compiles, where Node 20's and 22's leave it to the budget at instantiation: the cap refused it.
 */
function declaredBeyondEngineLimit(error: unknown): boolean {
  return error instanceof WebAssembly.CompileError && /\binitial (table|memory) size \(\d+ (elements|pages)\) is larger than implementation limit\b/.test(error.message);
}

/** jco throws the err payload of `run`'s result; for `result` without payload that is undefined, possibly wrapped. */
function isRunErrResult(error: unknown): boolean {
  if (error === undefined) return true;
  return error instanceof Error && error.name === 'ComponentError' && (error as { payload?: unknown }).payload === undefined;
}

/** The run's entry is damaged: why, and how to repair it. */
export function damaged(req: PluginRef, why: string): NotInstalledError {
  return new NotInstalledError(`plugin ${req.pluginName} is damaged: ${why}`, { hint: req.repairHint });
}

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}

/**
 * One line of what failed. What a plugin threw or returned is its own text: at most 200 characters
 * of it, control characters (a terminal's escape sequences) as `?`, and a payload too big to print
 * (an attack's err payload passed V8's string limit) said so.
 */
export function describe(error: unknown): string {
  let text: string;
  try {
    text = error instanceof Error ? error.message : typeof error === 'object' && error !== null ? JSON.stringify(error) : String(error);
  } catch {
    return '(a value too large to show)';
  }
  // Cut first: the text can be as large as the plugin's memory (128 MiB of control characters,
  // replaced whole, exhausted Node's heap; found by an attack).
  const head = text.slice(0, 201);
  const line = printable(head.split('\n')[0]!);
  return shortened(line, 200);
}
