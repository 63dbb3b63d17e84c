import type { AnyNode, Program, Statement, ModuleDeclaration } from 'acorn';
import { importModule } from '../builtin.js';

/**
 * jco's glue (an ES module) as acorn's syntax tree, with acorn-walk's walkers for it; undefined
 * when acorn cannot parse it. Loaded at pull only: runs never parse the glue.
 */
export async function parseGlue(esm: string): Promise<ParsedGlue | undefined> {
  const { parse } = await importModule<typeof import('acorn')>('acorn');
  const { simple, full } = await importModule<typeof import('acorn-walk')>('acorn-walk');
  try {
    return { tree: parse(esm, { ecmaVersion: 'latest', sourceType: 'module' }), simple, full };
  } catch {
    return undefined;
  }
}

export interface ParsedGlue {
  tree: Program;
  simple: typeof import('acorn-walk').simple;
  full: typeof import('acorn-walk').full;
}

/**
 * The statements at the top of the glue (an export's declaration in place of the export) and at the
 * top of its `instantiate`: where jco declares its runtime.
 */
export function glueTops(tree: Program): (Statement | ModuleDeclaration)[] {
  const statements = programStatements(tree);
  return [...statements, ...instantiateBody(statements)];
}

/** The glue's own statements, an export's declaration in place of the export. */
function programStatements(tree: Program): (Statement | ModuleDeclaration)[] {
  return tree.body.map((statement) => (statement.type === 'ExportNamedDeclaration' && statement.declaration ? statement.declaration : statement));
}

/** The statements at the top of the glue's `instantiate`. */
export function instantiateTop(tree: Program): Statement[] {
  return instantiateBody(programStatements(tree));
}

function instantiateBody(statements: (Statement | ModuleDeclaration)[]): Statement[] {
  const instantiate = statements.find((s) => s.type === 'FunctionDeclaration' && s.id?.name === 'instantiate');
  return instantiate?.type === 'FunctionDeclaration' ? instantiate.body.body : [];
}

/**
 * The statements at the top of the generator that instantiates the component
 * (`let gen = (function* _initGenerator () {...})()` in `instantiate`), or none: where jco declares
 * the instance's variables (its handle tables, memories, exports) beside the component's own
 * wrappers, interface objects and resource classes.
 */
export function instanceTops(tree: Program): Statement[] {
  for (const statement of instantiateTop(tree)) {
    if (statement.type !== 'VariableDeclaration') continue;
    for (const { init } of statement.declarations) {
      if (init?.type === 'CallExpression' && init.callee.type === 'FunctionExpression' && init.callee.generator) return init.callee.body.body;
    }
  }
  return [];
}

/**
 * jco's JSPI test of a lowering, `_trampolineN.manuallyAsync`: jco marks a trampoline
 * (`_trampolineN.manuallyAsync = true`) only in its JSPI mode, which krew-wasm's transpile never
 * asks for, so the test reads undefined. A plugin's names cannot spell it: jco writes them as
 * quoted keys, or as identifiers made of a WIT name, which starts with a letter.
 */
export function isJspiTest(node: AnyNode): boolean {
  return node.type === 'MemberExpression' && !node.computed && node.object.type === 'Identifier' && /^_trampoline\d+$/.test(node.object.name) && node.property.type === 'Identifier' && node.property.name === 'manuallyAsync';
}
