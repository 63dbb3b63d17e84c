import type { AnyNode, Identifier, Pattern, Program } from 'acorn';
import type { full as fullWalk } from 'acorn-walk';

/**
 * The first name of jco's runtime that the component's own code takes in the glue, or undefined.
 * jco declares each exported function's wrapper under the export's name in camelCase, in the scope
 * of the host calls' trampolines (attack 79): an export named `rsc-table-remove` became a
 * `function rscTableRemove` there, and every trampoline that drops a handle called the plugin's
 * export instead of jco's function of that name, in the middle of a host call (the handle stayed
 * live, and uncounted by the handle limit); `get-error-payload` chose the value of every host
 * error, `get-current-task` broke the task stack. So a function or class of jco's runtime (one
 * declared at the top of the glue or of `instantiate`) may not be declared again anywhere in the
 * glue, under any kind of declaration; nor may any function or class anywhere take the name of
 * the runtime's variables (`handleTable0`, `memory0`). jco's own code declares local variables
 * named as the runtime's variables (`resolve`, `promise`, `dv`): those are left alone.
 */
export function runtimeNameTaken(tree: Program, full: typeof fullWalk): string | undefined {
  const tops = topLevelDeclarations(tree);
  const functions = new Set(tops.filter((d) => d.kind === 'function').map((d) => d.id.name));
  const variables = new Set(tops.filter((d) => d.kind === 'variable').map((d) => d.id.name));
  // Twice at the top: a wrapper declared beside jco's function would be the one that counts.
  const counts = new Map<string, number>();
  for (const { id } of tops) counts.set(id.name, (counts.get(id.name) ?? 0) + 1);
  for (const name of functions) if (counts.get(name)! > 1) return name;
  const own = new Set(tops.map((d) => d.id));
  let taken: string | undefined;
  full(tree, (node: AnyNode) => {
    if (taken) return;
    for (const { id, kind } of declarationsOf(node)) {
      if (own.has(id)) continue;
      if (functions.has(id.name) || (kind === 'function' && variables.has(id.name))) {
        taken = id.name;
        return;
      }
    }
  });
  return taken;
}

interface Declaration {
  id: Identifier;
  /** A function or class declaration, or a variable (a parameter or a `var`, `let`, `const`). */
  kind: 'function' | 'variable';
}

/** What the glue and its `instantiate` declare at their tops (their parameters aside): jco's runtime. */
function topLevelDeclarations(tree: Program): Declaration[] {
  const statements = tree.body.map((statement) => (statement.type === 'ExportNamedDeclaration' && statement.declaration ? statement.declaration : statement));
  const instantiate = statements.find((s) => s.type === 'FunctionDeclaration' && s.id?.name === 'instantiate');
  const body = instantiate?.type === 'FunctionDeclaration' ? instantiate.body.body : [];
  return [...statements, ...body].flatMap((statement): Declaration[] => {
    if ((statement.type === 'FunctionDeclaration' || statement.type === 'ClassDeclaration') && statement.id) return [{ id: statement.id, kind: 'function' }];
    if (statement.type === 'VariableDeclaration') return statement.declarations.flatMap((d) => patternNames(d.id)).map((id) => ({ id, kind: 'variable' }));
    return [];
  });
}

/** The names a node declares in its scope or its function's (a named function expression's own name included). */
function declarationsOf(node: AnyNode): Declaration[] {
  switch (node.type) {
    case 'FunctionDeclaration':
    case 'FunctionExpression':
    case 'ClassDeclaration':
    case 'ClassExpression': {
      const own: Declaration[] = node.id ? [{ id: node.id, kind: 'function' }] : [];
      const params = node.type === 'FunctionDeclaration' || node.type === 'FunctionExpression' ? node.params.flatMap(patternNames) : [];
      return [...own, ...params.map((id) => ({ id, kind: 'variable' as const }))];
    }
    case 'ArrowFunctionExpression':
      return node.params.flatMap(patternNames).map((id) => ({ id, kind: 'variable' }));
    case 'VariableDeclaration':
      return node.declarations.flatMap((d) => patternNames(d.id)).map((id) => ({ id, kind: 'variable' }));
    case 'CatchClause':
      return node.param ? patternNames(node.param).map((id) => ({ id, kind: 'variable' })) : [];
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
