import type { AnyNode, Identifier, Pattern, Program } from 'acorn';
import type { full as fullWalk } from 'acorn-walk';
import { glueTops, instanceTops } from './glueSyntax.js';

/**
 * The first name of jco's runtime that the component's own names take in the glue, or undefined.
 * jco declares each exported function's wrapper under the export's name in camelCase, and each
 * exported interface's object under the interface's, in the scope of the code that instantiates
 * the component and of its host-call trampolines (attack 79): an export named `rsc-table-remove`
 * became a `function rscTableRemove` there, and every trampoline that drops a handle called the
 * plugin's export instead of jco's function of that name, in the middle of a host call (the handle
 * stayed live, and uncounted by the handle limit); `get-error-payload` would have chosen the value
 * of every host error, an interface named `cur-resource-borrows` with a `push` would have been
 * handed every borrowed host object (attack 80). So, outside the runtime's own functions and
 * classes (jco's text whatever the component, whose locals reuse its variables' names: `resolve`,
 * `dv`): no declaration takes the name of a function or class of jco's runtime (declared at the
 * top of the glue or of `instantiate`) or of a global the glue uses (`console`, `undefined`); no
 * function, class, or variable made an object or a function takes the name of its variables; and
 * the tops declare no name twice.
 */
export function runtimeNameTaken(tree: Program, full: typeof fullWalk): string | undefined {
  const tops = topLevelDeclarations(tree);
  const counts = new Map<string, number>();
  for (const { id } of tops) counts.set(id.name, (counts.get(id.name) ?? 0) + 1);
  // The instance's variables (jco's handle tables, memories, exports, beside the component's own
  // wrappers and interface objects) are not the runtime's, but nothing nested may take their names
  // either: a method `handle-table0` of an exported resource became a function of that name whose
  // body, jco's, read it for the handle table (attack 82). A name at both tops is taken twice.
  const instance = declarationsAt(instanceTops(tree));
  for (const { id } of instance) counts.set(id.name, (counts.get(id.name) ?? 0) + 1);
  const atInstanceTop = new Set(instance.map((d) => d.id));
  for (const [name, count] of counts) if (count > 1) return name;
  const own = new Set(tops.map((d) => d.id));
  const functions = new Set(tops.filter((d) => d.node.type === 'FunctionDeclaration' || d.node.type === 'ClassDeclaration').map((d) => d.id.name));
  // What is walked: the tops' statements but the runtime's functions and classes, and `instantiate`,
  // whose own statements are among the tops (one walk of each, not a search of every node's place).
  const outsideHelpers = glueTops(tree).filter((s) => !((s.type === 'FunctionDeclaration' || s.type === 'ClassDeclaration') && s.id)) as AnyNode[];
  // The globals the glue reads (console, WebAssembly, setTimeout, undefined).
  const globals = new Set<string>();
  full(tree, (node: AnyNode, _state: unknown, type: string) => {
    if (node.type === 'Identifier' && type === 'Identifier' && GLOBAL_NAMES.has(node.name)) globals.add(node.name);
  });
  let taken: string | undefined;
  for (const statement of outsideHelpers) {
    full(statement, (node: AnyNode) => {
      if (taken) return;
      for (const { id, strict } of declaredOutsideHelpers(node)) {
        if (own.has(id)) continue;
        // A wrapper, an interface's object, a class: none may take a runtime name or a global. jco's
        // own locals (`let handle = obj[symbolRscHandle]`) may reuse a runtime variable's name.
        if (functions.has(id.name) || globals.has(id.name) || (strict && !atInstanceTop.has(id) && counts.has(id.name))) {
          taken = id.name;
          return;
        }
      }
    });
  }
  return taken;
}

/** The names of the script context the glue runs in: Node's globals and the language's. */
const GLOBAL_NAMES = new Set(Object.getOwnPropertyNames(globalThis));

/**
 * The names a node declares, each marked strict when the declaration is one jco makes from the
 * component's names (a function or class, declared or named as an expression, a variable made an
 * object, a function or a class), which may take no runtime name at all.
 */
function declaredOutsideHelpers(node: AnyNode): { id: Identifier; strict: boolean }[] {
  if (node.type === 'VariableDeclaration') {
    return node.declarations.flatMap((d) => {
      const made = d.init?.type === 'ObjectExpression' || d.init?.type === 'FunctionExpression' || d.init?.type === 'ArrowFunctionExpression' || d.init?.type === 'ClassExpression';
      return patternNames(d.id).map((id) => ({ id, strict: made }));
    });
  }
  // A function expression's own name too: jco names an exported resource's method after it
  // (`Thing.prototype.handleTable0 = function handleTable0(...)`), and inside that method, jco's
  // code, the name stood for the method instead of jco's handle table (attack 82).
  const named = node.type === 'FunctionDeclaration' || node.type === 'ClassDeclaration' || node.type === 'FunctionExpression' || node.type === 'ClassExpression';
  const own = named && node.id ? [{ id: node.id, strict: true }] : [];
  const rest = declaredBy(node).filter((id) => !own.some((o) => o.id === id));
  return [...own, ...rest.map((id) => ({ id, strict: false }))];
}

/** A name declared at a top of the glue, with the statement that declares it. */
interface Declaration {
  id: Identifier;
  node: AnyNode;
}

/** What the glue and its `instantiate` declare at their tops (their parameters aside): jco's runtime. */
function topLevelDeclarations(tree: Program): Declaration[] {
  return declarationsAt(glueTops(tree));
}

function declarationsAt(statements: AnyNode[]): Declaration[] {
  return statements.flatMap((statement): Declaration[] => {
    const node = statement as AnyNode;
    if ((statement.type === 'FunctionDeclaration' || statement.type === 'ClassDeclaration') && statement.id) return [{ id: statement.id, node }];
    if (statement.type === 'VariableDeclaration') return statement.declarations.flatMap((d) => patternNames(d.id)).map((id) => ({ id, node }));
    return [];
  });
}

/** The names a node declares: a function's or class's own name (an expression's included), its parameters, a declaration's or a catch clause's. */
function declaredBy(node: AnyNode): Identifier[] {
  switch (node.type) {
    case 'FunctionDeclaration':
    case 'FunctionExpression':
      return [...(node.id ? [node.id] : []), ...node.params.flatMap(patternNames)];
    case 'ClassDeclaration':
    case 'ClassExpression':
      return node.id ? [node.id] : [];
    case 'ArrowFunctionExpression':
      return node.params.flatMap(patternNames);
    case 'VariableDeclaration':
      return node.declarations.flatMap((d) => patternNames(d.id));
    case 'CatchClause':
      return node.param ? patternNames(node.param) : [];
    default:
      return [];
  }
}

function patternNames(pattern: Pattern): Identifier[] {
  switch (pattern.type) {
    case 'Identifier':
      return [pattern];
    case 'ObjectPattern':
      return pattern.properties.flatMap((p) => patternNames(p.type === 'RestElement' ? p.argument : p.value));
    case 'ArrayPattern':
      return pattern.elements.flatMap((p) => (p ? patternNames(p) : []));
    case 'RestElement':
      return patternNames(pattern.argument);
    case 'AssignmentPattern':
      return patternNames(pattern.left);
    default:
      return [];
  }
}
