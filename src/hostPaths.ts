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

/** The packages krew-wasm's bundles load from node_modules at run time (all else is bundled). */
const RUNTIME_PACKAGES = ['@bytecodealliance/jco-transpile'];

/**
 * Folders of code krew-wasm runs outside any sandbox, besides the store: the running installation,
 * every other one the store's `kubectl-*` links lead to (a second checkout, an older npm prefix:
 * the next run may start through it), and for each, the real folder of the node_modules its
 * run-time packages are found in (node_modules may be a symlink to elsewhere, or hoisted above the
 * installation; the whole folder, as those packages load their own dependencies from it).
 */
export function krewWasmCodeDirs(installDir: string | undefined, storeBinDir: string): string[] {
  const installs = new Set<string>();
  if (installDir) installs.add(realpathOr(installDir));
  for (const target of linkTargets(storeBinDir)) {
    const real = realpathOr(target);
    if (path.basename(real) === 'krew-wasm.js' || path.basename(real) === 'kubectl-krew_wasm.js') installs.add(path.dirname(path.dirname(real)));
  }
  const dirs = new Set(installs);
  for (const install of installs) {
    for (const pkg of RUNTIME_PACKAGES) {
      const modules = nodeModulesHolding(install, pkg);
      if (modules) dirs.add(realpathOr(modules)).add(realpathOr(path.join(modules, pkg)));
    }
  }
  return [...dirs];
}

/** Where the links in a folder point (each distinct target once; a folder of 100 links costs 100 readlinks). */
function linkTargets(dir: string): Set<string> {
  const targets = new Set<string>();
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return targets;
  }
  for (const name of names) {
    try {
      targets.add(path.resolve(dir, fs.readlinkSync(path.join(dir, name))));
    } catch {
      // not a link
    }
  }
  return targets;
}

/** The node_modules folder Node's resolution finds `pkg` in, starting from `dir`, as require() would. */
function nodeModulesHolding(dir: string, pkg: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    const modules = path.join(d, 'node_modules');
    if (fs.existsSync(path.join(modules, pkg))) return modules;
    if (path.dirname(d) === d) return undefined;
  }
}
