import type { Program } from 'acorn';
import { importModule } from '../builtin.js';

/**
 * jco's glue (an ES module) as acorn's syntax tree, with acorn-walk's simple walker for it; undefined
 * when acorn cannot parse it. Loaded at pull only: runs never parse the glue.
 */
export async function parseGlue(esm: string): Promise<{ tree: Program; simple: typeof import('acorn-walk').simple } | undefined> {
  const { parse } = await importModule<typeof import('acorn')>('acorn');
  const { simple } = await importModule<typeof import('acorn-walk')>('acorn-walk');
  try {
    return { tree: parse(esm, { ecmaVersion: 'latest', sourceType: 'module' }), simple };
  } catch {
    return undefined;
  }
}
