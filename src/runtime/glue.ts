import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { ENTRY_FILES } from '../store/entry.js';
import { atomicWriteCache } from '../store/fsutil.js';
import { importModule } from '../builtin.js';
import { GlueBudget } from './limits.js';
import { InvalidPluginError } from '../errors.js';
import { runtimeNameTaken } from './glueNames.js';
import type { AnyNode, CallExpression, Expression, IfStatement, MemberExpression, Program } from 'acorn';
import { glueTops, isJspiTest, parseGlue, type ParsedGlue } from './glueSyntax.js';
import { withSyncTaskRuntime } from './syncTasks.js';

/**
 * jco's glue as a classic script, so that V8 can keep a code cache of it: Node 20 has no compile
 * cache for ES modules, but vm.Script takes `cachedData`. Loading the 0.8 MB glue of a componentized
 * JS plugin drops from ~16-22 ms as a module to ~7 ms from the cache (bench/RESULTS.md).
 */
export const SCRIPT_FILE = ENTRY_FILES.script;
export const CACHE_FILE = ENTRY_FILES.codeCache;

type Instantiate = (...args: never[]) => Promise<Record<string, unknown>>;

/** What the script form is called with: the glue's URL, and the bound on what one host call copies. */
type GlueFactory = (url: string, textDecoder: typeof TextDecoder, budget: GlueBudget, console: Pick<Console, 'error' | 'debug' | 'log' | 'warn'>, jcoDebug: boolean) => Instantiate;

/**
 * The glue's console: quiet, because krew-wasm reports every failure itself, in one line (the glue
 * logs an "ERROR:" line before throwing). JCO_DEBUG keeps jco's own tracing for plugin authors.
 */
function glueConsole(jcoDebug: boolean): Pick<Console, 'error' | 'debug' | 'log' | 'warn'> {
  if (jcoDebug) return console;
  const quiet = () => {};
  return { error: quiet, debug: quiet, log: quiet, warn: quiet };
}

/**
 * jco's glue without the branches only JSPI takes, on the synchronous task runtime when the
 * component uses no async part of jco's (syncTasks.ts), minified as jco minifies it (transpile.js: oxc,
 * ES2019, names kept). For every import jco writes
 * `_trampolineN.manuallyAsync ? new WebAssembly.Suspending(<a lowering>) : <the same lowering>`,
 * where `_trampolineN` is a function the glue itself defines and never marks: the test is always
 * false, and the dead branch was 23% of a componentized JS plugin's minified glue (0.8 -> 0.6 MB),
 * which every run loads and the first run after a pull compiles (bench/RESULTS.md). Returns
 * undefined when oxc reports an error. Refused (InvalidPluginError) when acorn cannot read the glue,
 * when a name of the component takes the place of one of jco's runtime in it (glueNames.ts), or
 * when it passes handles between nested components or uses the component model's async parts.
 */
export async function minifiedGlue(esm: string): Promise<string | undefined> {
  const parsed = await parseGlue(esm);
  if (!parsed) throw new InvalidPluginError("jco's JavaScript for the component could not be read");
  const taken = runtimeNameTaken(parsed.tree, parsed.full);
  if (taken !== undefined) throw new InvalidPluginError(`a name of the component (an export's, a resource's) takes the place of jco's own ${taken} in the JavaScript jco makes for it: rename it`);
  if (passesResourcesInside(parsed.tree)) throw new InvalidPluginError('the component passes resource handles between components nested in it, which the JavaScript jco makes for it neither counts nor releases: compose it so that no handle crosses between them');
  const { minify } = await importModule<typeof import('oxc-minify')>('oxc-minify');
  const edited = withEdits(esm, [...jspiTestEdits(esm, parsed), ...createdRepsEdits(parsed), ...unknownBorrowEdits(parsed)]);
  const { glue: synchronous, asyncPart } = await withSyncTaskRuntime(edited);
  if (asyncPart) throw new InvalidPluginError(`the component uses the component model's async parts (async functions, streams, futures, waitable sets, error contexts: here jco's ${asyncPart}), which krew-wasm does not host: build it for WASI 0.2 without them`);
  const result = await minify('component.js', synchronous, { module: true, compress: { target: 'es2019' }, mangle: { keepNames: true } });
  return result.errors.length === 0 ? result.code : undefined;
}

/**
 * Whether jco wrote its transfer of handles between nested components (`resourceTransferBorrow`,
 * `resourceTransferOwn`). Those borrows go into a list nothing empties and a table no limit counts,
 * and a handle with bit 31 set passes for another (attack 83: 45 million borrows of stdout, 4.9 GB
 * of host memory under --max-memory 64; and jco's set of created reps, which the transfer reads,
 * must then stay and grow).
 */
function passesResourcesInside(tree: ParsedGlue['tree']): boolean {
  return glueTops(tree).some((s) => s.type === 'FunctionDeclaration' && /^resourceTransfer/.test(s.id?.name ?? ''));
}

/** A piece of the glue's text replaced: [start, end) becomes `text`. */
interface Edit {
  start: number;
  end: number;
  text: string;
}

/** The glue with its edits made, in one pass: a copy of the glue per edit was quadratic, minutes of pull for a component of many imports (attack 61). */
function withEdits(esm: string, edits: Edit[]): string {
  if (edits.length === 0) return esm;
  const pieces: string[] = [];
  let from = 0;
  for (const { start, end, text } of edits.sort((a, b) => a.start - b.start)) {
    pieces.push(esm.slice(from, start), text);
    from = end;
  }
  pieces.push(esm.slice(from));
  return pieces.join('');
}

/**
 * jco records every resource rep a handle table ever gave out (`table._createdReps.add(rep)` in
 * rscTableCreateOwn) in a set that nothing reads and nothing empties: a plugin that took and dropped
 * stdout in a loop grew the host's heap by ~90 bytes a handle, past any limit (6 million handles, 0.5
 * GB; attack 79), where Node ends the process with its out-of-memory report. The adds are taken
 * out unless jco's own code reads the set.
 */
function createdRepsEdits({ tree, simple }: ParsedGlue): Edit[] {
  const adds: Edit[] = [];
  const added = new Set<MemberExpression>();
  const mentions: MemberExpression[] = [];
  const isSet = (node: MemberExpression) => !node.computed && node.property.type === 'Identifier' && node.property.name === '_createdReps';
  // Only jco's own functions and classes count: elsewhere `_createdReps` can be a core name of the
  // plugin's (`exports1._createdReps`), which must not keep the set (attack 80).
  for (const statement of runtimeDeclarations(tree)) {
    simple(statement, {
      ExpressionStatement(node) {
        const call = node.expression;
        if (call.type === 'CallExpression' && call.arguments.length === 1 && call.callee.type === 'MemberExpression' && !call.callee.computed && call.callee.property.type === 'Identifier' && call.callee.property.name === 'add' && call.callee.object.type === 'MemberExpression' && isSet(call.callee.object)) {
          adds.push({ start: node.start, end: node.end, text: ';' });
          added.add(call.callee.object);
        }
      },
      MemberExpression(node) {
        if (isSet(node)) mentions.push(node);
      },
    });
  }
  return mentions.every((node) => added.has(node)) ? adds : [];
}

/** The functions and classes jco's runtime declares at the top of the glue and of `instantiate`. */
function runtimeDeclarations(tree: Program): AnyNode[] {
  return glueTops(tree).filter((s) => (s.type === 'FunctionDeclaration' || s.type === 'ClassDeclaration') && s.id?.name !== 'instantiate') as AnyNode[];
}

/**
 * A handle of a host resource that the plugin does not hold (never given, or dropped), borrowed or
 * passed owned, traps, as the canonical ABI says: jco's glue made an empty object of the resource's class for it
 * (`if (!rsc) { rsc = Object.create(OutputStream.prototype); ... }`) and called the host's method
 * on that (attack 79: it failed in the host, as a stream error the plugin could go on past). The
 * making of that object becomes a trap naming the handle.
 */
function unknownBorrowEdits({ tree, simple }: ParsedGlue): Edit[] {
  const edits: Edit[] = [];
  simple(tree, {
    IfStatement(node) {
      const handle = emptyResourceObjectHandle(node);
      if (!handle) return;
      // jco finds the handle's entry at (handle << 1) + 1 in 32 bits: one with bit 31 set (the guest's
      // i32 arrives negative) named the entry of the handle without it (attack 81).
      edits.push({ start: node.test.start, end: node.test.end, text: `(!${handle.rsc} || !(${handle.handle} > 0 && ${handle.handle} < 0x40000000))` });
      edits.push({ start: node.consequent.start, end: node.consequent.end, text: `{ throw new WebAssembly.RuntimeError(\`unknown handle index \${${handle.handle} >>> 0}\`); }` });
    },
  });
  return edits;
}

/**
 * The handle's variable when `node` is jco's `if (!rsc) { rsc = Object.create(C.prototype);
 * Object.defineProperty(rsc, symbolRscHandle, { ..., value: handle }); Object.defineProperty(rsc,
 * symbolRscRep, ...); }`, with no else (a borrow) or `else { captureTable.delete(rep); }` (an owned
 * argument, attack 80).
 */
function emptyResourceObjectHandle(node: IfStatement): { rsc: string; handle: string } | undefined {
  const { test, consequent, alternate } = node;
  // An owned argument's form goes on with `else { captureTable.delete(rep); }`.
  const owned = alternate?.type === 'BlockStatement' && alternate.body.length === 1 && alternate.body[0]!.type === 'ExpressionStatement' && alternate.body[0].expression.type === 'CallExpression' && alternate.body[0].expression.callee.type === 'MemberExpression' && !alternate.body[0].expression.callee.computed && alternate.body[0].expression.callee.property.type === 'Identifier' && alternate.body[0].expression.callee.property.name === 'delete';
  if ((alternate && !owned) || test.type !== 'UnaryExpression' || test.operator !== '!' || test.argument.type !== 'Identifier' || consequent.type !== 'BlockStatement' || consequent.body.length !== 3) return undefined;
  const rsc = test.argument.name;
  const [made, handleProperty, repProperty] = consequent.body.map((s) => (s.type === 'ExpressionStatement' ? s.expression : undefined));
  const isCall = (e: Expression | undefined, object: string, method: string): e is CallExpression =>
    e?.type === 'CallExpression' && e.callee.type === 'MemberExpression' && !e.callee.computed && e.callee.object.type === 'Identifier' && e.callee.object.name === object && e.callee.property.type === 'Identifier' && e.callee.property.name === method;
  if (made?.type !== 'AssignmentExpression' || made.left.type !== 'Identifier' || made.left.name !== rsc || !isCall(made.right, 'Object', 'create')) return undefined;
  const defines = (e: Expression | undefined, symbol: string) => isCall(e, 'Object', 'defineProperty') && e.arguments[0]?.type === 'Identifier' && e.arguments[0].name === rsc && e.arguments[1]?.type === 'Identifier' && e.arguments[1].name === symbol;
  if (!defines(handleProperty, 'symbolRscHandle') || !defines(repProperty, 'symbolRscRep')) return undefined;
  const descriptor = (handleProperty as CallExpression).arguments[2];
  const value = descriptor?.type === 'ObjectExpression' ? descriptor.properties.find((p) => p.type === 'Property' && !p.computed && p.key.type === 'Identifier' && p.key.name === 'value') : undefined;
  return value?.type === 'Property' && value.value.type === 'Identifier' ? { rsc, handle: value.value.name } : undefined;
}

/**
 * Each read of `_trampolineN.manuallyAsync` in the glue replaced by `false`, found in its syntax
 * tree (acorn): the same text in a string is a core name of the plugin's, which jco writes as a
 * property key, and rewriting it there made the glue bind another of the plugin's exports (attack
 * 60). None, keeping its branches, unless every mention of `manuallyAsync` is such a read:
 * a name that mentions it, or a glue that marks a trampoline (jco's JSPI mode, which the async
 * check then refuses: syncTasks.ts, asyncPartUsed).
 */
function jspiTestEdits(esm: string, { tree, simple }: ParsedGlue): Edit[] {
  const mentions = esm.split('manuallyAsync').length - 1;
  if (mentions === 0) return [];
  const reads: { start: number; end: number }[] = [];
  let written = false;
  simple(tree, {
    MemberExpression(node) {
      if (isJspiTest(node)) reads.push(node);
    },
    AssignmentExpression(node) {
      written ||= node.left.type === 'MemberExpression' && esm.slice(node.left.start, node.left.end).includes('manuallyAsync');
    },
  });
  if (written || reads.length !== mentions) return [];
  return reads.map(({ start, end }) => ({ start, end, text: 'false' }));
}

/** What `WebAssembly.promising` is in the script form: JSPI's when the engine has it, else identity. */
const PROMISING = "const __krewPromising = typeof WebAssembly.promising === 'function' ? WebAssembly.promising : (f) => f;";

/**
 * The loop of jco's generic list lifter (_liftFlatList's readValuesAndReset, minified):
 * `for(var i=0;i<len;i++){let ptr=base+i*elemSize;ctx.storagePtr=ptr;`.
 */
const LIST_LIFT_LOOP = /for\((var|let) ([\w$]+)=0;\2<([\w$]+);\2\+\+\)\{(?:let|const) ([\w$]+)=([\w$]+)\+\2\*([\w$]+);([\w$]+)\.storagePtr=\4;/g;
/**
 * The loop jco writes in a host call's trampoline to lift a list from guest memory:
 * `for(let i=0;i<len;i++){let ptr=base+i*16;` or, when an element starts with a variant,
 * `{let ptr=base+i*12,tag;`; its body reads the memory through `dataView(memory)`.
 */
const INLINE_LIST_LOOP = /for\(let ([\w$]+)=0;\1<([\w$]+);\1\+\+\)\{let ([\w$]+)=([\w$]+)\+\1\*(\d+(?:e\d+)?)[,;]/g;
/** Any counting loop over a length held in a variable: after the rewrites, none may be left uncounted. */
const UNCOUNTED_LOOP = /for\((?:var|let) ([\w$]+)=0;\1<[\w$]+;\1\+\+\)/;

/**
 * A function's parameter list in the rewrites below: no quote or backtick in it, so that a match
 * begun inside a string (a core name of the plugin's spelling `function trampoline1(`) cannot run
 * on into code and put a call there; and bounded, as a name of that text repeated made each match
 * scan to the name's end (attack 63). jco's longest lists are of 16 flat parameters.
 */
const PARAMS = "\\([^)`'\"]{0,1024}\\)";

/**
 * Rewrites jco's async-instantiation output (an ES module whose only module syntax is
 * `export function instantiate`, `export const _util` and `import.meta.url`) into a function
 * expression returning `instantiate`. What the glue allocates for the guest is counted by a
 * GlueBudget (limits.ts): its TextDecoder is a parameter, `<memory>.buffer.slice(` becomes
 * `__krewGlue.slice(<memory>.buffer, `, each host-call trampoline starts with
 * `__krewGlue.enter()`, the handle table's create and remove report to it, and every list jco lifts
 * element by element is counted (GlueBudget.elements). Returns undefined
 * when the output has another shape: such a component is refused (transpile.ts), as its copies
 * could not be bounded.
 *
 * `WebAssembly.promising(f)` becomes `__krewPromising(f)`, which is f itself where the engine has
 * no JSPI (Node 20), as jco's own `catch` makes it. jco calls it in a `try` inside its instantiate
 * generator, and the TypeError V8 throws there ("is not a function") names the call site by parsing
 * the whole generator again: ~3 ms per call for a componentized JS plugin's 0.2 MB glue and more
 * for bigger ones, two or three calls a run (bench/RESULTS.md).
 */
export function toScriptForm(esm: string): string | undefined {
  const body = esm
    .replace(/(^|[;}\s])export function instantiate\(/, '$1function instantiate(')
    .replace(/(^|[;}\s])export const _util=/, '$1const _util=')
    .replace(/import\.meta\.url/g, '__krewImportMetaUrl')
    .replace(/(?<![\w$.])([A-Za-z_$][\w$]*)\.buffer\.slice\(/g, '__krewGlue.slice($1.buffer,')
    .replace(new RegExp(`(trampoline\\d+\\s*=\\s*function\\s*${PARAMS}\\s*\\{|\\bfunction\\s+_?trampoline\\d+\\s*${PARAMS}\\s*\\{)`, 'g'), '$1__krewGlue.enter();')
    .replace(new RegExp(`\\bfunction\\s+rscTableCreateOwn\\s*${PARAMS}\\s*\\{`, 'g'), '$&__krewGlue.handleCreated();')
    // A handle past the table's end, or not above 0, traps before it is counted (below 2^30, as
    // jco doubles it in 32 bits: attack 81): jco's own check
    // let one past the end through as a borrow's removal, and the count of handles went down for
    // nothing (attack 80: a plugin then held 1.5 million).
    .replace(new RegExp(`\\bfunction\\s+rscTableRemove\\s*\\(\\s*([\\w$]+)\\s*,\\s*([\\w$]+)\\s*\\)\\s*\\{`, 'g'), '$&if(!($2>0&&$2<0x40000000&&($2<<1)+1<$1.length))throw new WebAssembly.RuntimeError(`unknown handle index ${$2>>>0}`);__krewGlue.handleRemoved();')
    .replace(/(?<![\w$.])WebAssembly\.promising\(/g, '__krewPromising(')
    // jco's _debugLog asks the environment at every call (~1,200 calls in a JS plugin's run, ~0.6 ms
    // of Node's env lookups): the run asks once.
    .replace(/globalThis\?\.process\?\.env\?\.JCO_DEBUG/g, '__krewJcoDebug')
    // Counted in the loop's own initializer, so that a loop that is the body of an `if` stays one statement.
    .replace(LIST_LIFT_LOOP, (loop: string, kind: string, i: string, len: string, _ptr: string, _base: string, size: string, ctx: string) =>
      loop.replace(`for(${kind} ${i}=0;`, `for(${kind} ${i}=(__krewGlue.elements(${len},${size},${ctx}),0);`))
    .replace(INLINE_LIST_LOOP, (loop: string, i: string, len: string, _ptr: string, _base: string, size: string, at: number, all: string) => {
      const memory = /dataView\(([\w$]+)\)/.exec(all.slice(at + loop.length, at + loop.length + 400))?.[1];
      return memory ? loop.replace(`for(let ${i}=0;`, `for(let ${i}=(__krewGlue.elements(${len},${size},{memory:${memory}}),0);`) : loop;
    });
  if (/\.buffer\.slice\(/.test(body)) return undefined; // a copy we could not route
  // A handle table's function of a shape the counting above did not match: its handles would go uncounted.
  const tableFunctions = (text: string) => (text.match(/\bfunction\s+rscTable(Remove|CreateOwn)\b/g) ?? []).length;
  if (tableFunctions(esm) !== (body.match(/__krewGlue\.handle(Removed|Created)\(\)/g) ?? []).length) return undefined;
  if (UNCOUNTED_LOOP.test(body)) return undefined; // a loop over a length that may be a list we could not count
  const source = `(function (__krewImportMetaUrl, TextDecoder, __krewGlue, console, __krewJcoDebug) {'use strict';\n${PROMISING}\n${body}\n;return instantiate;\n})`;
  try {
    const factory = new vm.Script(source).runInThisContext() as GlueFactory;
    const budget = new GlueBudget();
    return typeof factory('file:///', budget.textDecoder(), budget, glueConsole(false), false) === 'function' ? source : undefined;
  } catch {
    return undefined; // module syntax left, or a shape we do not know
  }
}

/** Loads the script form of the glue, with its code cache when there is a usable one. */
export function loadGlueScript(entryDir: string): { instantiate: Instantiate; saveCache(): void } {
  const file = path.join(entryDir, SCRIPT_FILE);
  const cacheFile = path.join(entryDir, CACHE_FILE);
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(fs.readFileSync(file, 'utf8'), { filename: file, cachedData });
  const budget = new GlueBudget();
  const jcoDebug = Boolean(process.env.JCO_DEBUG);
  const instantiate = (script.runInThisContext() as GlueFactory)(`file://${file}`, budget.textDecoder(), budget, glueConsole(jcoDebug), jcoDebug);
  const needsCache = !cachedData || script.cachedDataRejected === true;
  return {
    instantiate,
    // After a run the cache also holds the functions the run compiled. Best effort: a read-only
    // store or a concurrent writer only means the next run compiles again.
    saveCache: () => {
      if (!needsCache) return;
      try {
        atomicWriteCache(cacheFile, script.createCachedData(), { durable: true });
      } catch {
        // see above
      }
    },
  };
}

/**
 * How many times jco's instantiate makes an instance of each core module: its minified generator
 * names each module `v=getCoreModule(\`file\`)` and makes an instance with `yield i(yield v`. It
 * only plans --max-memory's shares (limits.ts): a count read wrong makes a plan less generous,
 * never a run hold more (an instance beyond the plan gets no growth room), and a glue of another
 * shape gives none, as if each module were instantiated once.
 */
export function instantiationCounts(glue: string): Record<string, number> {
  const counts: Record<string, number> = {};
  // Anchored on the left: a name's run of word characters was tried from each of its characters,
  // quadratic in a core name's length (a name of 80,000 characters: 14 s of pull; attack 62).
  for (const [, variable, file] of glue.matchAll(/(?<![\w$])([\w$]+)=getCoreModule\(`([^`]+)`\)/g)) {
    const made = glue.split(`(yield ${variable},`).length + glue.split(`(yield ${variable})`).length - 2;
    if (made > 0) counts[file!] = made;
  }
  return counts;
}
