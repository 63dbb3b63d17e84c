import fs from 'node:fs';
import path from 'node:path';

/** Host path helpers shared by the grant checks, the sandbox and the kubeconfig mirror. */

/** True when `child` is `parent` or below it (both absolute, compared as given). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The real path of `file`, or `file` itself when it cannot be resolved (missing, say). */
export function realpathOr(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return file;
  }
}
