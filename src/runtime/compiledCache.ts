import fs from 'node:fs';
import path from 'node:path';
import { builtin, legacyBinding } from '../builtin.js';
import { atomicWriteCache, LocalFileError, openRegularFile, readOpenedFileInto } from '../store/fsutil.js';

/**
 * A big plugin's hot functions compiled by TurboFan once, in a process of their own, and kept as
 * V8's own serialized module beside the core module (`plugin.core.wasm.compiled`): later runs
 * deserialize it instead of compiling.
 *
 * Why: Node 20 keeps no compiled wasm between processes, and a run of the 12.5 MB JS plugin waited
 * 25-35 ms for V8 to compile the ~400 functions its runs call (compilation hints: compileHints.ts)
 * while its main thread had nothing left to do. V8's serializer is reached through its test
 * functions (%SerializeWasmModule, %DeserializeWasmModule, with natives syntax on for the one
 * function that calls each: nativesFunction). It serializes TurboFan
 * code only (V8 11.3 aborts on Liftoff code): the hot functions are marked eager with TurboFan as
 * their tier (COMPILED_HINT), every other function stays lazy, and compiles at its first call as
 * in any run. Compiling them with TurboFan takes ~0.6-1 s, so it is done by a detached process
 * after a run (compileInBackground), never in one.
 *
 * V8 checks its version, the CPU's features and its flags before it takes a serialized module, and
 * nothing else: a file that is not what it wrote can crash the process. So the file starts with a
 * header naming what it was made from (the module's digest at pull, the hot list, the flags, V8's
 * version) and the CRC-32 of V8's bytes, all checked before V8 sees them; a file that does not
 * match is ignored (the run compiles, as without it). It is code as trusted as the glue beside it,
 * in krew-wasm's own store, which no plugin may reach.
 *
 * Used on V8 11.3 (Node 20) on x64, where it was measured, with zlib.crc32 (Node 20.15 and later).
 */

/** The hint byte of a function compiled ahead with TurboFan: eager (2), TurboFan as baseline (2 << 2) and top tier (2 << 4). */
export const COMPILED_HINT = 0x2a;
/** Modules smaller than this compile faster than their serialized form is read and checked. */
export const COMPILED_CACHE_MIN_BYTES = 1024 * 1024;
const HEADER_BYTES = 1024;
const FORMAT = 1;
/** V8's serialized form of a module is a few MiB (1.8 MiB for the JS plugin's 400 hot functions). */
const MAX_DATA_BYTES = 256 * 1024 * 1024;

/** Where a core module's compiled form is kept. */
export function compiledFile(entryDir: string, module: string): string {
  return path.join(entryDir, `${module}.compiled`);
}

/** Whether this Node keeps and takes compiled forms (see above). */
export function compiledCacheWorks(v8 = process.versions.v8, arch = process.arch, node = process.versions.node): boolean {
  const [major = 0, minor = 0] = node.split('.').map(Number);
  return v8.startsWith('11.3.') && arch === 'x64' && major === 20 && minor >= 15;
}

/**
 * Whether V8 runs this process's wasm with its trap handler, asked of V8 itself
 * (%IsWasmTrapHandlerEnabled). Code compiled with the trap handler leaves memory accesses to guard
 * pages, which memories of a process without it do not have, and V8 11.3 takes such a form there
 * all the same: a plugin's hot functions then read and wrote past its memory (attack 39). Node's
 * own spellings of `--disable-wasm-trap-handler` in NODE_OPTIONS (quotes, escapes) defeated reading
 * the options (attack 40). Forms are made only where it is on (compileCache.ts) and never taken
 * where it is off; false when V8 cannot be asked.
 */
export function trapHandlerOn(setFlags: (flags: string) => void): boolean {
  try {
    return nativesFunction<() => unknown>(setFlags, [], 'return %IsWasmTrapHandlerEnabled();')() === true;
  } catch {
    return false;
  }
}

/** What a compiled form was made from; a run takes it only when its own is the same. */
export interface CompiledKey {
  /** The module's sha256 at pull (meta.json's files). */
  module: string;
  /** The functions marked COMPILED_HINT (the entry's hot list for the module). */
  hot: readonly number[];
  /** The V8 flags the run set, in the order it set them. */
  flags: string;
  /** The V8 options the user gave Node (nodeV8Options), which the process that makes the form is started with. */
  nodeOptions?: readonly string[];
}

/**
 * The V8 options Node allows in NODE_OPTIONS that V8 counts in its flags' hash, each as a pattern
 * of its whole token: one of them (NODE_OPTIONS=--max-old-space-size=4096 is common) made V8
 * refuse every compiled form, which the process making it, started without the user's
 * environment, had made under V8's defaults. Only these, in these spellings, are passed on: the
 * others of NODE_OPTIONS run code (--require, --import), stop wasm (--jitless), or write files:
 * --perf-prof in the process's folder, and --perf-basic-prof /tmp/perf-<pid>.map, through a link
 * a plugin granted /tmp may have planted for a pid it can guess (attack 61). A spelling read wrong
 * only means the form is refused.
 */
const FORM_V8_OPTIONS = /^--(max-old-space-size|max-semi-space-size|stack-trace-limit)=[+-]?\d{1,9}$|^--(no-)?(expose-gc|interpreted-frames-native-stack)$/;

/**
 * The V8 options of FORM_V8_OPTIONS the user gave this Node, in NODE_OPTIONS (split as Node splits
 * it: spaces outside double quotes, a backslash escaping inside them) or on its command line,
 * `_` spelled `-` as V8 reads either, one of each name, sorted.
 */
export function nodeV8Options(nodeOptions = process.env.NODE_OPTIONS ?? '', execArgv: readonly string[] = process.execArgv): string[] {
  const byName = new Map<string, string>(); // the last of a name is the one V8 keeps
  for (const given of [...splitNodeOptions(nodeOptions), ...execArgv]) {
    const token = given.replace(/^--([\w-]+)/, (name) => name.replace(/_/g, '-'));
    if (FORM_V8_OPTIONS.test(token)) byName.set(token.split('=')[0]!.replace(/^--no-/, '--'), token);
  }
  // In one order: the same options in another order make the same flags; `--no-x`, V8's default for these, none.
  return [...byName.values()].filter((token) => !token.startsWith('--no-')).sort();
}

function splitNodeOptions(text: string): string[] {
  const tokens: string[] = [];
  let token = '';
  let quoted = false;
  let started = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted && c === '\\' && i + 1 < text.length) token += text[++i];
    else if (c === '"') [quoted, started] = [!quoted, true];
    else if (!quoted && c === ' ') {
      if (started) tokens.push(token);
      [token, started] = ['', false];
    } else [token, started] = [token + c, true];
  }
  if (started) tokens.push(token);
  return tokens;
}

interface Header {
  format: number;
  v8: string;
  /** Compiled with the trap handler, as every form is (trapHandlerOn). */
  trapHandler: 'on';
  module: string;
  hot: string;
  flags: string;
  /** Absent from a form made before they were named: one made without them. */
  nodeOptions?: string;
  size: number;
  crc: number;
}

/** The hot list as the header keeps it: FNV-1a of its indices (the list itself can be ~100 KB). */
function listDigest(hot: readonly number[]): string {
  let h = 0x811c9dc5;
  for (const i of hot) h = Math.imul(h ^ i, 0x01000193);
  return `${hot.length}:${(h >>> 0).toString(16)}`;
}

function headerOf(key: CompiledKey): Omit<Header, 'size' | 'crc'> {
  return { format: FORMAT, v8: process.versions.v8, trapHandler: 'on', module: key.module, hot: listDigest(key.hot), flags: key.flags, nodeOptions: (key.nodeOptions ?? []).join(' ') };
}

/** zlib's CRC-32, from the binding node:zlib wraps where Node gives it out (loading node:zlib was ~3 ms of a run). */
function crc32(bytes: Uint8Array): number {
  const binding = legacyBinding<{ crc32(data: Uint8Array, value: number): number }>('zlib', ['crc32']);
  return binding ? binding.crc32(bytes, 0) : builtin<{ crc32(data: Uint8Array): number }>('node:zlib').crc32(bytes);
}

/**
 * The module's compiled form, V8's bytes in a buffer of their own, when one was made from what
 * `key` names and is intact; else undefined, with why, and whether a new one should be made (none
 * was, or the one there was made from something else or is damaged; not for a file that is not a
 * regular file, which only its owner put there).
 */
export function readCompiled(entryDir: string, module: string, key: CompiledKey): { data?: ArrayBuffer; why?: string; remake?: boolean } {
  const file = compiledFile(entryDir, module);
  let opened: { fd: number; size: number };
  try {
    opened = openRegularFile(file, { followLinks: false });
  } catch (error) {
    const missing = error instanceof LocalFileError && error.reason === 'missing';
    return { why: missing ? 'none made' : error instanceof LocalFileError ? error.detail : (error as Error).message, remake: missing };
  }
  const size = opened.size - HEADER_BYTES;
  if (size <= 0 || size > MAX_DATA_BYTES) {
    fs.closeSync(opened.fd);
    return { why: `it is ${opened.size} bytes`, remake: true };
  }
  const head = Buffer.alloc(HEADER_BYTES);
  const data = new Uint8Array(new ArrayBuffer(size));
  try {
    readOpenedFileInto(file, opened.fd, [head, data]);
  } catch (error) {
    return { why: error instanceof LocalFileError ? error.detail : (error as Error).message };
  }
  let header: Header;
  try {
    header = JSON.parse(head.toString('utf8').trimEnd()) as Header;
  } catch {
    return { why: 'its header does not read', remake: true };
  }
  const expected = headerOf(key);
  const made = { ...header, nodeOptions: header.nodeOptions ?? '' };
  const differs = (Object.keys(expected) as (keyof typeof expected)[]).find((k) => made[k] !== expected[k]);
  if (differs) return { why: `made for another ${differs === 'hot' ? 'list of hot functions' : differs === 'nodeOptions' ? 'set of V8 options given to Node' : differs}`, remake: true };
  if (header.size !== size || header.crc !== crc32(data)) return { why: 'its bytes are not the ones it was made with', remake: true };
  return { data: data.buffer };
}

/**
 * The module V8 deserializes from `data` and the same wire bytes it was compiled from; `refused`
 * when V8 refuses it (other flags, another V8); `failed` when V8 could not be asked (code made from
 * strings disallowed: --disallow-code-generation-from-strings), which says nothing of the form.
 */
export function deserializeModule(data: ArrayBuffer, wire: Uint8Array, setFlags: (flags: string) => void): { module?: WebAssembly.Module; refused?: boolean } {
  let deserialize: (data: ArrayBuffer, wire: Uint8Array) => unknown;
  try {
    deserialize = nativesFunction(setFlags, ['data', 'wire'], 'return %DeserializeWasmModule(data, wire);');
  } catch {
    return {}; // the run compiles, as without it
  }
  const module = deserialize(data, wire);
  return module instanceof WebAssembly.Module ? { module } : { refused: true };
}

/** Serializes a module compiled from bytes whose hot functions are marked COMPILED_HINT and whose others are lazy, and keeps it beside the module. */
export function writeCompiled(entryDir: string, module: string, key: CompiledKey, compiled: WebAssembly.Module, setFlags: (flags: string) => void): void {
  const serialize = nativesFunction<(m: WebAssembly.Module) => ArrayBuffer>(setFlags, ['m'], 'return %SerializeWasmModule(m);');
  atomicWriteCache(compiledFile(entryDir, module), compiledFileBytes(key, new Uint8Array(serialize(compiled))), { durable: true });
}

/** A compiled form's file: its header, padded to HEADER_BYTES, then V8's bytes. */
export function compiledFileBytes(key: CompiledKey, data: Uint8Array): Buffer {
  const header = JSON.stringify({ ...headerOf(key), size: data.length, crc: crc32(data) } satisfies Header);
  if (header.length >= HEADER_BYTES) throw new Error('the header is too long');
  return Buffer.concat([Buffer.from(header.padEnd(HEADER_BYTES)), data]);
}

/**
 * After V8 refused a compiled form whose header matched (its flags differ in what the header does
 * not name: a V8 option given to Node that nodeV8Options does not pass on): the form is removed and
 * its marker left, so that no run reads it again nor starts another one that V8 would refuse as well.
 */
export function giveUpCompiled(entryDir: string, module: string): void {
  try {
    fs.writeFileSync(attemptFile(entryDir, module), 'refused\n', { flag: 'wx' });
    fs.rmSync(compiledFile(entryDir, module), { force: true });
  } catch {
    // a marker there already, or an entry the run cannot write: best effort, as the code cache
  }
}

/** The marker of a background compile of a module: made when it starts, removed when it wrote the compiled form; one left behind means it failed, and none is started again for that module. */
export function attemptFile(entryDir: string, module: string): string {
  return path.join(entryDir, `${module}.compiling`);
}

/**
 * Starts, once per module, a detached process that compiles the module's hot functions with
 * TurboFan and keeps the compiled form (compileCache.js beside the wrapper bundle): the run that
 * starts it does not wait for it. The marker is made here, exclusively: two runs never both start
 * one, and one that failed is never started again.
 */
export function compileInBackground(entryDir: string, modules: string[], key: Pick<CompiledKey, 'flags' | 'nodeOptions'>, script: string): void {
  const due = modules.filter((module) => {
    try {
      fs.writeFileSync(attemptFile(entryDir, module), `${process.pid}\n`, { flag: 'wx' });
      return true;
    } catch {
      return false;
    }
  });
  if (due.length === 0) return;
  const { spawn } = builtin<typeof import('node:child_process')>('node:child_process');
  // Nothing of the user's Node options or environment but the V8 options V8's flags' hash counts
  // (nodeV8Options): a preload (NODE_OPTIONS=--require) may be a file the plugin could rewrite
  // (found by the HTTP worker's test).
  const child = spawn(process.execPath, [...(key.nodeOptions ?? []), script, entryDir, key.flags, ...due], { detached: true, stdio: 'ignore', env: {}, cwd: '/' });
  child.on('error', () => {});
  child.unref();
  // The marker names the process that compiles (a failed one's names a process gone).
  for (const module of due) {
    try {
      fs.writeFileSync(attemptFile(entryDir, module), `${child.pid ?? ''}\n`);
    } catch {
      // the marker stays as made
    }
  }
}

/**
 * A function calling V8's test functions (`%Name(...)`), compiled with natives syntax on, which is
 * off again before anything else is compiled: no other code, the guest's glue included, can use it.
 */
export function nativesFunction<T>(setFlags: (flags: string) => void, params: string[], body: string): T {
  setFlags('--allow-natives-syntax');
  try {
    return new Function(...params, body) as T;
  } finally {
    setFlags('--no-allow-natives-syntax');
  }
}
