import type { AnyNode, AssignmentExpression, CallExpression, ClassDeclaration, NewExpression } from 'acorn';
import { glueTops, instantiateTop, isJspiTest, parseGlue, type ParsedGlue } from './glueSyntax.js';

/**
 * A synchronous task runtime for jco's glue. jco 1.35 writes the component model's async runtime
 * into the glue of every component, and a component that uses none of it still runs each host
 * call through it: a task (with two promises and their handlers), a subtask and a waitable per
 * call. Without it a million host calls take 0.38x the time, the JS test plugin's own run ~4 ms
 * less, and the smallest component's glue is 26 KB instead of 63 KB (bench/RESULTS.md, rounds
 * twenty-one and twenty-two).
 *
 * For a component whose glue only takes jco's synchronous path, its `AsyncTask`, `AsyncSubtask`,
 * `ComponentAsyncState` and `_lowerImportBackwardsCompat` are replaced by the classes and function
 * below, of the same names and the methods that path calls, with the same effects on it: the task
 * stack of each component instance (jco's own createNewCurrentTask, getCurrentTask and
 * clearCurrentTask, kept), a host call's result handed from its task to the subtask of the guest's
 * call, a host error rejecting the guest's task, a resolved task refusing a second resolution and
 * an exit without one, the may-leave check before each host call, and a trapped instance refusing
 * entry. Everything else of jco's runtime stays, among it post-return's may-leave and the store's
 * trap. What the sync path never reaches is left out: exclusive locks (jco enters a sync task
 * without one when it is held, so it never waits), suspended tasks and their tick loop,
 * cancellation, backpressure, callbacks, waitables, and the borrow scopes of tasks (only a lowered
 * borrow, which no glue here has, opens one). The glue's own calls on tasks, subtasks and a
 * component's state, its debug lines' arguments among them (evaluated whether or not JCO_DEBUG is
 * set), are each a method below; a glue that calls a method of jco's component state that the one
 * below does not have keeps jco's runtime (withSyncTaskRuntime).
 */
const SYNC_RUNTIME: Record<ReplacedDeclaration, string> = {
  AsyncTask: `class AsyncTask {
  static _ID = 0;
  #id; #componentIdx; #entryFnName; #resolved = false; #rejected = false; #exited = false; #errored = null;
  #parentSubtask = null; #latestSubtask = undefined; #onResolveHandlers = [];
  constructor(opts) {
    if (opts?.componentIdx === undefined) throw new TypeError('missing component id during task creation');
    if (opts.isAsync || opts.isManualAsync) throw new Error("an async task reached krew-wasm's synchronous task runtime");
    this.#id = ++AsyncTask._ID;
    this.#componentIdx = opts.componentIdx;
    this.#entryFnName = opts.entryFnName;
  }
  id() { return this.#id; }
  componentIdx() { return this.#componentIdx; }
  entryFnName() { return this.#entryFnName; }
  setReturnMemoryIdx() {}
  setReturnMemory() {}
  setCalleeIsAsync(value) { if (value) throw new Error("an async callee reached krew-wasm's synchronous task runtime"); }
  enterSync() { return true; }
  mayBlock() { return this.#resolved; }
  isResolvedState() { return this.#resolved; }
  isExited() { return this.#exited; }
  setErrored(err) { if (this.#errored === null) this.#errored = err; }
  setParentSubtask(subtask) {
    if (!(subtask instanceof AsyncSubtask)) return;
    if (this.#parentSubtask) throw new Error('parent subtask can only be set once');
    this.#parentSubtask = subtask;
  }
  getParentSubtask() { return this.#parentSubtask; }
  createSubtask() { return (this.#latestSubtask = new AsyncSubtask(this)); }
  getLatestSubtask() { return this.#latestSubtask; }
  registerOnResolveHandler(f) { this.#onResolveHandlers.push(f); }
  resolve(results) {
    if (this.#resolved) throw new Error(\`(component [\${this.#componentIdx}]) task [\${this.#id}] is already resolved\`);
    if (results.length > 1) throw new Error('unexpected number of results');
    this.#resolved = true;
    this.#onResolve(results[0]);
  }
  reject(err) {
    this.setErrored(err);
    if (this.#rejected) return;
    this.#rejected = true;
    if (this.#resolved) { this.#parentSubtask?.parentTask().reject(err); return; }
    this.#resolved = true;
    this.#onResolve(err);
  }
  #onResolve(value) {
    const handlers = this.#onResolveHandlers;
    this.#onResolveHandlers = [];
    for (const f of handlers) f(value);
    if (this.#rejected) this.#parentSubtask?.reject(value);
    else if (this.#parentSubtask && !this.#parentSubtask.isResolved()) this.#parentSubtask.onResolve(value);
  }
  exit() {
    if (this.#exited) throw new Error('task has already exited');
    if (!this.#resolved) throw new Error(\`(component [\${this.#componentIdx}]) task [\${this.#id}] exited without resolution\`);
    this.#exited = true;
    clearCurrentTask(this.#componentIdx, this.#id);
  }
}`,
  AsyncSubtask: `class AsyncSubtask {
  static _ID = 0;
  #id = ++AsyncSubtask._ID; #parentTask; #returned = false; #rejected = false; #result = undefined;
  constructor(parentTask) { this.#parentTask = parentTask; }
  id() { return this.#id; }
  componentIdx() { return this.#parentTask.componentIdx(); }
  parentTask() { return this.#parentTask; }
  isResolved() { return this.#returned || this.#rejected; }
  isReturned() { return this.#returned; }
  onResolve(value) {
    if (this.isResolved()) throw new Error('subtask has already been resolved');
    this.#result = value;
    this.#returned = true;
  }
  reject(err) {
    if (this.isResolved()) return;
    this.#rejected = true;
    this.#parentTask.reject(err);
  }
  getResult() {
    if (!this.#returned) throw new Error('subtask result has not been set');
    return this.#result;
  }
}`,
  // With no task ever suspended there is nothing to tick and no deadlock to find: jco's deadlock
  // check (kept) asks each state for pending work and suspended tasks, and finds none.
  ComponentAsyncState: `class ComponentAsyncState {
  #componentIdx; #errored = null; #trapped = false; #mayLeave = true;
  constructor(args) { this.#componentIdx = args.componentIdx; }
  componentIdx() { return this.#componentIdx; }
  get mayLeave() {
    const flags = INSTANCE_FLAGS.get(this.#componentIdx);
    return flags === undefined ? this.#mayLeave : flags.value === 1;
  }
  set mayLeave(value) {
    if (typeof value !== 'boolean') throw new TypeError('mayLeave must be a boolean');
    this.#mayLeave = value;
    const flags = INSTANCE_FLAGS.get(this.#componentIdx);
    if (flags !== undefined) flags.value = value ? 1 : 0;
  }
  errored() { return this.#errored !== null; }
  setErrored(err) {
    if (this.#errored) return;
    if (!err) {
      err = new Error('error elswehere (see other component instance error)');
      err.componentIdx = this.#componentIdx;
    }
    this.#errored = err;
  }
  markTrapped(err) {
    if (!(err instanceof WebAssemblyRuntimeError)) return false;
    err = _normalizeCoreTrap(err);
    this.#trapped = true;
    if (STORE_TRAP.error === null) STORE_TRAP.error = err;
    return true;
  }
  throwIfTrapped() {
    if (this.#trapped) throw new WebAssemblyRuntimeError('wasm trap: cannot enter component instance');
  }
  hasPendingSchedulerWork() { return false; }
  suspendedTaskMetas() { return [].values(); }
  runTickLoop() {}
}`,
  _lowerImportBackwardsCompat: `function _lowerImportBackwardsCompat(args, ...params) {
  const { componentIdx, isAsync, isManualAsync, funcTypeIsAsync, importFn } = args;
  if (isAsync || isManualAsync || funcTypeIsAsync) throw new Error("an async lowering reached krew-wasm's synchronous task runtime");
  _checkMayLeave(componentIdx);
  let meta = _getGlobalCurrentTaskMeta(componentIdx);
  let createdTask;
  if (!meta) {
    // A host call with no task of the guest's running: one made by instantiation (a start function).
    const [task, taskID] = createNewCurrentTask({ componentIdx, isAsync: false, isManualAsync: false, callingWasmExport: false });
    createdTask = task;
    createdTask.registerOnResolveHandler(() => { _clearCurrentTask({ taskID, componentIdx }); });
    _setGlobalCurrentTaskMeta({ componentIdx, taskID });
    meta = _getGlobalCurrentTaskMeta(componentIdx);
  }
  const task = getCurrentTask(componentIdx, meta.taskID)?.task;
  if (!task) throw new Error('invalid/missing async task');
  const subtask = task.createSubtask();
  createdTask?.enterSync();
  importFn(...params);
  if (!subtask.isReturned()) throw new Error('post-execution subtasks must either be async or returned');
  const result = subtask.getResult();
  // jco resolves the task it made here but never ends it: each stayed on the component's task
  // list, which every later host call searches, so N calls from a start function cost N² (attack 78).
  createdTask?.resolve([result]);
  createdTask?.exit();
  return result;
}`,
};

const REPLACED = ['AsyncTask', 'AsyncSubtask', 'ComponentAsyncState', '_lowerImportBackwardsCompat'] as const;
type ReplacedDeclaration = (typeof REPLACED)[number];

/** What the runtime above takes from the rest of jco's glue: a glue that does not declare each keeps jco's runtime. */
const RUNTIME_NEEDS = [
  'INSTANCE_FLAGS', 'STORE_TRAP', 'WebAssemblyRuntimeError', '_normalizeCoreTrap', '_checkMayLeave', 'clearCurrentTask', 'createNewCurrentTask',
  'getCurrentTask', '_clearCurrentTask', '_getGlobalCurrentTaskMeta', '_setGlobalCurrentTaskMeta',
];

/**
 * Every declaration jco 1.35 writes at the top of `instantiate` for a synchronous component: those
 * of the glues of every plugin in this repository (test fixtures, examples; C, JS and WAT, preview1
 * through the adapter). A glue that declares anything else uses a part of jco's runtime this list
 * was not made from (an async builtin: task.return, waitable sets, streams, futures) and keeps jco's
 * runtime whole.
 */
const SYNC_GLUE_DECLARATIONS = /* @__PURE__ */ new Set([
  'AsyncSubtask', 'AsyncTask', 'ComponentAsyncState', 'FutureValue', 'RepTable', 'Waitable',
  '_checkForDeadlock', '_checkMayLeave', '_clearCurrentTask', '_getGlobalCurrentTaskMeta', '_guardMayLeave',
  '_isValidNumericPrimitive', '_liftFlatBool', '_liftFlatBorrow', '_liftFlatEnum', '_liftFlatFlags', '_liftFlatFloat64',
  '_liftFlatList', '_liftFlatOption', '_liftFlatOwn', '_liftFlatRecord', '_liftFlatResult', '_liftFlatStringAny',
  '_liftFlatStringUTF16', '_liftFlatStringUTF8', '_liftFlatTuple', '_liftFlatU16', '_liftFlatU32', '_liftFlatU64',
  '_liftFlatU8', '_liftFlatVariant', '_lowerFlatBool', '_lowerFlatEnum', '_lowerFlatFlags', '_lowerFlatList',
  '_lowerFlatOption', '_lowerFlatOwn', '_lowerFlatRecord', '_lowerFlatResult', '_lowerFlatStringAny',
  '_lowerFlatStringUTF16', '_lowerFlatStringUTF8', '_lowerFlatTuple', '_lowerFlatU16', '_lowerFlatU32', '_lowerFlatU64',
  '_lowerFlatU8', '_lowerFlatVariant', '_lowerImportBackwardsCompat', '_normalizeCoreTrap',
  '_requireValidNumericPrimitive', '_setGlobalCurrentTaskMeta', '_suspendingImport', '_trackHostOperation',
  '_utf16AllocateAndEncode', '_utf8AllocateAndEncode', '_withGlobalCurrentTaskMeta', '_withGlobalCurrentTaskMetaAsync',
  'clampGuest', 'clearCurrentTask', 'createNewCurrentTask', 'fetchCompile', 'getCurrentTask', 'getErrorPayload',
  'getOrCreateAsyncState', 'lookupMemoriesForComponent', 'normalizeInstantiationError', 'promiseWithResolvers',
  'rscTableCreateOwn', 'rscTableRemove', 'runNext', 'throwInvalidBool', 'toUint16', 'toUint32', 'toUint64', 'toUint8',
]);

/**
 * What jco 1.35 declares for the component model's async built-ins (its intrinsics' names): the
 * state they make (waitable sets, stream and future ends, error contexts and their messages, task
 * contexts) stays in jco's tables, which no limit of krew-wasm's counts (attack 84: a million
 * waitable sets, 237 MB under --max-memory 64; error contexts keeping 60 MB messages each).
 */
const ASYNC_BUILTINS = /* @__PURE__ */ new Set([
  'WaitableSet', 'waitableSetNew', 'waitableSetWait', 'waitableSetPoll', 'waitableSetDrop', '_removeWaitableSet', 'waitableJoin',
  'contextSet', 'contextGet', 'taskReturn', 'subtaskDrop', 'asyncYield', 'subtaskCancel', 'taskCancel', 'backpressureSet',
  'backpressureInc', 'backpressureDec',
  '_prepareCall', '_asyncStartCall', '_syncStartCall', '_storeEventInComponentMemory',
  'GlobalErrorContextTable', 'ERR_CTX_TABLES', 'errCtxLocal', 'errCtxNew', 'errCtxDrop', 'errCtxTransfer', 'errCtxDebugMessage',
  'errCtxGetLocalTable', 'errCtxGlobalRefCountAdd', 'errCtxCreateLocalHandle', 'errCtxReserveGlobalRep',
  'STREAMS', 'STREAM_TABLES', 'createStream', 'getStreamEnd', 'addStreamEndToTable', 'deleteStreamEnd', 'removeStreamEndFromTable',
  'StreamEnd', 'InternalStream', 'StreamReadableEnd', 'StreamWritableEnd', 'HostStream', 'streamNew', 'streamNewFromLift',
  'streamRead', 'streamWrite', 'streamCancelRead', 'streamCancelWrite', 'streamDropReadable', 'streamDropWritable', 'streamTransfer',
  'FUTURES', 'FUTURE_TABLES', 'createFuture', 'getFutureEnd', 'addFutureEndToTable', 'removeFutureEndFromTable', 'FutureEnd',
  'HostFuture', 'InternalFuture', 'FutureWritableEnd', 'FutureReadableEnd', 'futureNew', 'futureNewFromLift', 'futureRead',
  'futureWrite', 'futureCancelRead', 'futureCancelWrite', 'futureDropReadable', 'futureDropWritable', 'futureTransfer',
]);

/**
 * The first async part of the component model that the glue uses, or undefined: one of jco's async
 * built-ins declared at the glue's tops, or a task, lift or lowering of the component's own code
 * (`instantiate`'s statements but jco's runtime declarations) not marked with a literal false. A
 * mark is an option of a call of jco's runtime (`createNewCurrentTask({ isAsync: false, ... })`,
 * `_lowerImportBackwardsCompat.bind(null, {...})`): a core import or an interface named `isAsync`
 * is a key of the same name elsewhere (attack 85). jco's JSPI test of a lowering
 * (`_trampolineN.manuallyAsync`) is no mark, and a trampoline marked for JSPI anywhere is one.
 */
function asyncPartUsed({ tree, simple }: ParsedGlue): string | undefined {
  const runtime = new Set<string>();
  for (const statement of glueTops(tree)) {
    const names = statement.type === 'VariableDeclaration' ? statement.declarations.map((d) => (d.id.type === 'Identifier' ? d.id.name : '')) : (statement.type === 'FunctionDeclaration' || statement.type === 'ClassDeclaration') && statement.id ? [statement.id.name] : [];
    const builtin = names.find((name) => ASYNC_BUILTINS.has(name));
    if (builtin) return builtin;
    if ((statement.type === 'FunctionDeclaration' || statement.type === 'ClassDeclaration') && statement.id) runtime.add(statement.id.name);
  }
  const callsRuntime = (callee: AnyNode) =>
    (callee.type === 'Identifier' && runtime.has(callee.name)) ||
    (callee.type === 'MemberExpression' && callee.object.type === 'Identifier' && runtime.has(callee.object.name) && !callee.computed && callee.property.type === 'Identifier' && callee.property.name === 'bind');
  let mark: string | undefined;
  const readOptions = (node: CallExpression | NewExpression) => {
    if (mark || !callsRuntime(node.callee as AnyNode)) return;
    for (const argument of node.arguments) {
      if (argument.type !== 'ObjectExpression') continue;
      for (const property of argument.properties) {
        if (property.type !== 'Property') continue;
        const key = property.key.type === 'Identifier' ? property.key.name : property.key.type === 'Literal' ? String(property.key.value) : undefined;
        if (key !== undefined && ASYNC_MARKS.has(key) && !(property.value.type === 'Literal' && property.value.value === false) && !isJspiTest(property.value)) mark = key;
      }
    }
  };
  // A trampoline marked for JSPI (jco's JSPI mode, which krew-wasm's transpile does not ask for):
  // refused wherever it is, so that reading the mark as no mark (isJspiTest) stays true.
  const marksTrampoline = (node: AssignmentExpression) => {
    mark ||= isJspiTest(node.left as AnyNode) && !(node.right.type === 'Literal' && node.right.value === false) ? 'manuallyAsync' : undefined;
  };
  simple(tree, { AssignmentExpression: marksTrampoline });
  // The component's own code: instantiate's statements but jco's runtime declarations.
  for (const statement of instantiateTop(tree).filter((s) => s.type !== 'FunctionDeclaration' && s.type !== 'ClassDeclaration')) {
    simple(statement as AnyNode, { CallExpression: readOptions, NewExpression: readOptions });
  }
  return mark;
}

/** The options by which jco marks a task, a lift or a lowering async. */
const ASYNC_MARKS = /* @__PURE__ */ new Set(['isAsync', 'isManualAsync', 'funcTypeIsAsync']);

/** The members of the component state above: what the rest of the glue may call on one. */
const STATE_MEMBERS = /* @__PURE__ */ new Set(['componentIdx', 'mayLeave', 'errored', 'setErrored', 'markTrapped', 'throwIfTrapped', 'hasPendingSchedulerWork', 'suspendedTaskMetas', 'runTickLoop']);

/**
 * jco's glue (its ES module, before minification) with the synchronous task runtime in place of
 * jco's async one, when the glue is a synchronous component's: it declares nothing beyond
 * SYNC_GLUE_DECLARATIONS, each replaced declaration once, and what the runtime takes from it
 * (RUNTIME_NEEDS); it uses no async part (asyncPartUsed: the component's own code marks every
 * task and lowering with a literal `false`); and no code outside the replaced declarations names a
 * member of jco's component state that the synchronous one lacks (a suspended task's, a lock's).
 * Otherwise, or when acorn cannot parse it, the glue as it was, with the async part it uses if
 * that is why.
 */
export async function withSyncTaskRuntime(esm: string): Promise<{ glue: string; asyncPart?: string }> {
  const parsed = await parseGlue(esm);
  if (!parsed) return { glue: esm };
  const asyncPart = asyncPartUsed(parsed);
  if (asyncPart) return { glue: esm, asyncPart };
  return { glue: esm.includes('class AsyncTask') ? synchronousGlue(esm, parsed) : esm };
}

function synchronousGlue(esm: string, { tree, simple }: ParsedGlue): string {
  const replaced = new Map<string, { start: number; end: number }[]>(REPLACED.map((name) => [name, []]));
  const declared = new Set<string>();
  const lacking = new Set<string>();
  const kept: AnyNode[] = [];
  for (const statement of instantiateTop(tree)) {
    if (statement.type === 'VariableDeclaration') {
      for (const { id } of statement.declarations) if (id.type === 'Identifier') declared.add(id.name);
    }
    if (statement.type === 'FunctionDeclaration' || statement.type === 'ClassDeclaration') {
      const name = statement.id!.name;
      if (!SYNC_GLUE_DECLARATIONS.has(name)) return esm;
      declared.add(name);
      const replacedAs = replaced.get(name);
      if (replacedAs) {
        replacedAs.push(statement);
        if (statement.type === 'ClassDeclaration' && name === 'ComponentAsyncState') jcoStateMembers(statement).forEach((member) => STATE_MEMBERS.has(member) || lacking.add(member));
        continue;
      }
      kept.push(statement);
      continue;
    }
    kept.push(statement);
  }
  if ([...replaced.values()].some((found) => found.length !== 1) || RUNTIME_NEEDS.some((name) => !declared.has(name))) return esm;
  // A call on a component's state the synchronous one cannot answer, wherever it is made.
  let callsLacking = false;
  for (const statement of kept) {
    simple(statement, {
      MemberExpression(node) {
        if (!node.computed && node.property.type === 'Identifier' && lacking.has(node.property.name)) callsLacking = true;
      },
    });
  }
  if (callsLacking) return esm;
  const edits = REPLACED.map((name) => ({ ...replaced.get(name)![0]!, text: SYNC_RUNTIME[name] }));
  edits.push(...unusedWithout(kept, replaced, simple).map((declaration) => ({ ...declaration, text: '' })));
  edits.sort((a, b) => b.start - a.start);
  let glue = esm;
  for (const { start, end, text } of edits) glue = glue.slice(0, start) + text + glue.slice(end);
  return glue;
}

/**
 * Classes of jco's runtime that only its async one uses (a task's waitables, a component's handle
 * tables): dropped when nothing left names them. oxc keeps an unused class whose static fields
 * it cannot prove pure (RepTable's `static FREE = Symbol(...)`).
 */
const ASYNC_ONLY_CLASSES = ['Waitable', 'RepTable', 'FutureValue'];

/** The declarations of ASYNC_ONLY_CLASSES that no code but the replaced declarations, and their own, names. */
function unusedWithout(kept: AnyNode[], replaced: Map<string, { start: number; end: number }[]>, simple: typeof import('acorn-walk').simple): { start: number; end: number }[] {
  const declarations = new Map<string, ClassDeclaration>();
  for (const node of kept) if (node.type === 'ClassDeclaration' && node.id && ASYNC_ONLY_CLASSES.includes(node.id.name)) declarations.set(node.id.name, node as ClassDeclaration);
  const named = new Set<string>();
  for (const node of kept) {
    simple(node, {
      Identifier(id) {
        const own = declarations.get(id.name);
        if (own && !(id.start >= own.start && id.end <= own.end)) named.add(id.name);
      },
    });
  }
  const runtime = Object.values(SYNC_RUNTIME).join('\n');
  return [...declarations].filter(([name]) => !named.has(name) && !runtime.includes(name)).map(([, node]) => node);
}

/** The names of a class's public members, static ones included: what code outside it can call. */
function jcoStateMembers(declaration: ClassDeclaration): string[] {
  const names: string[] = [];
  for (const member of declaration.body.body) {
    if ((member.type === 'MethodDefinition' || member.type === 'PropertyDefinition') && !member.computed && member.key.type === 'Identifier' && member.key.name !== 'constructor') names.push(member.key.name);
  }
  return names;
}
