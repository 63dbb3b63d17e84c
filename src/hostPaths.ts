import fs from 'node:fs';
import path from 'node:path';
import { WorkingFolderError } from './errors.js';

/** Host path helpers shared by the grant checks, the sandbox and the kubeconfig mirror. */

/** What a host file that is not a regular file is, in words, for a one-line error. */
export function fileKind(stat: Pick<fs.Stats, 'isDirectory' | 'isFIFO' | 'isCharacterDevice' | 'isBlockDevice' | 'isSocket'>): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'something else';
}

/** True when `child` is `parent` or below it (both absolute, compared as given). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  // A name that only starts with two dots (`..x`) is a name like any other (found by an attack).
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * The process's working folder; `undefined` when it was removed (getcwd fails with ENOENT), or a
 * WorkingFolderError when `required`.
 */
export function workingFolder(required: true): string;
export function workingFolder(required?: false): string | undefined;
export function workingFolder(required = false): string | undefined {
  try {
    return process.cwd();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (required) throw new WorkingFolderError('the folder krew-wasm was started in no longer exists', { hint: 'cd to a folder that exists and run it again' });
    return undefined;
  }
}

/**
 * `file` made absolute as path.resolve makes it, against the working folder, which must exist when
 * `file` is relative (a WorkingFolderError, never Node's own `uv_cwd` failure).
 */
export function resolvePath(file: string): string {
  return path.isAbsolute(file) ? path.resolve(file) : path.resolve(workingFolder(true), file);
}

/**
 * `file` made absolute by text only (`L/..` stays, to be walked from where the link L leads, as
 * the kernel walks it), against the working folder, which must exist when `file` is relative.
 */
export function absoluteByText(file: string): string {
  return path.isAbsolute(file) ? file : `${workingFolder(true)}${path.sep}${file}`;
}

/**
 * Whether a read failed because the process had no descriptor left: a plugin can hold them all
 * (attack 68), and what could not be read then says nothing of what is there. What krew-wasm keeps
 * from plugins is looked up at a run's first use of its files, after guest code started: such a
 * failure fails that use, never leaves an installation or a store out.
 */
export function noDescriptorLeft(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/** The real path of `file`, or `file` itself when it cannot be resolved (missing, say). */
export function realpathOr(file: string): string {
  try {
    return fs.realpathSync.native(file);
  } catch {
    return file;
  }
}

/** The real path of `file`, or undefined when it cannot be resolved (missing, a loop, too long). */
export function realpathOrUndefined(file: string): string | undefined {
  try {
    return fs.realpathSync.native(file);
  } catch {
    return undefined;
  }
}

/** The packages krew-wasm's bundles load from node_modules at run time (all else is bundled): pull's transpile and its glue trim. */
export const RUNTIME_PACKAGES = ['@bytecodealliance/jco-transpile', 'oxc-minify', 'acorn', 'acorn-walk'];

/** Where krew-wasm's code lies, as the sandbox must keep it: see krewWasmCode. */
export interface KrewWasmCode {
  /** Folders no plugin may reach (real paths). */
  dirs: string[];
  /** Paths the next start reads code through, as written: every name on their way is pinned. */
  pinnedPaths: string[];
  /** Paths that do not exist and must not come to: Node would look there for a package first. */
  reservedPaths: string[];
  /** pnpm's content-addressable stores among `dirs`: every package pnpm keeps, not only krew-wasm's. */
  packageStores: string[];
}

/**
 * krew-wasm's code outside any sandbox, besides the store: the running installation, every other
 * one the store's `kubectl-*` links or `setup --dir`'s links lead to (a second checkout, an older
 * npm prefix: the next run may start through it), the real folders of each one's bin/ and dist/
 * (either may be a symlink to elsewhere, through a chain of them), and the real node_modules
 * folders its run-time packages are found in (node_modules may be a symlink, or hoisted above the
 * installation; the whole folder, as those packages load their dependencies from it), both where
 * the package is found and where its real path lies (pnpm). Node looks for a package in each
 * node_modules folder from the installation up: one it would look in first, or the package's
 * folder in it, must not be made by a plugin (a monorepo's packages/node_modules, say).
 */
export function krewWasmCode(installDir: string | undefined, storeBinDir: string, otherLinks: string[] = []): KrewWasmCode {
  const installs = new Set<string>();
  if (installDir) installs.add(realpathOr(installDir));
  for (const target of [...linkTargets(storeBinDir), ...otherLinks]) {
    const real = realpathOr(target);
    if (path.basename(real) === 'krew-wasm.js' || path.basename(real) === 'kubectl-krew_wasm.js') installs.add(path.dirname(path.dirname(real)));
  }
  const dirs = new Set(installs);
  const pinnedPaths: string[] = [];
  const reservedPaths: string[] = [];
  for (const install of installs) {
    for (const part of ['bin', 'dist']) dirs.add(realpathOr(path.join(install, part)));
    pinnedPaths.push(path.join(install, 'bin', 'krew-wasm.js'), path.join(install, 'dist', 'wrapper', 'wrapper.js'), path.join(install, 'dist', 'bundle', 'main.js'));
    for (const pkg of RUNTIME_PACKAGES) {
      const search = packageSearch(install, pkg);
      // What exists of the folders searched first is pinned (never moved aside for one that holds
      // a package), and the first missing name of each is reserved.
      pinnedPaths.push(...search.searched);
      reservedPaths.push(...search.missing);
      if (!search.found) continue;
      pinnedPaths.push(path.join(search.found, pkg, 'package.json'));
      const real = realpathOr(path.join(search.found, pkg));
      dirs.add(realpathOr(search.found)).add(real).add(enclosingNodeModules(real, pkg));
    }
  }
  const packageStores = new Set<string>();
  const codeDirs = [...dirs];
  for (const dir of codeDirs) {
    const pnpm = pnpmFolders(dir);
    for (const folder of [...pnpm.folders, ...pnpm.stores]) dirs.add(folder);
    for (const store of pnpm.stores) packageStores.add(store);
  }
  // A store that holds krew-wasm's code itself is no store of other packages (a `.modules.yaml`
  // edited before its folder was kept from plugins may name any folder).
  const stores = [...packageStores].filter((store) => !codeDirs.some((dir) => isInside(dir, store)));
  return { dirs: [...dirs], pinnedPaths, reservedPaths, packageStores: stores };
}

/**
 * What pnpm keeps of an installation: when a folder lies in its virtual store
 * (`.pnpm/<id>/node_modules/<pkg>`; pnpm's default, global installs included), the whole virtual
 * store, where each package's dependencies have real folders of their own (oxc-minify's native
 * binding, jco's preview2-shim), and the node_modules folder whose `.modules.yaml` describes it;
 * and the content-addressable store that file names (`storeDir`), for a node_modules folder pnpm
 * made in any layout (`nodeLinker: hoisted` has no `.pnpm`): its files are hard links of every
 * installed file, krew-wasm's own included, and a plugin that could write or replace one there
 * rewrote the code the next pull (or the next `pnpm install`) ran (attacks 63 to 65).
 */
function pnpmFolders(realDir: string): { folders: string[]; stores: string[] } {
  const folders: string[] = [];
  const stores: string[] = [];
  const described = (modules: string) => {
    if (path.basename(modules) !== 'node_modules') return; // where pnpm writes it, and where krew-wasm's folders keep it
    const storeDir = pnpmStoreDir(path.join(modules, '.modules.yaml'));
    if (storeDir === undefined) return;
    folders.push(realpathOr(modules));
    stores.push(realpathOr(path.resolve(modules, storeDir)));
  };
  described(realDir);
  const parts = realDir.split(path.sep);
  const at = parts.lastIndexOf('.pnpm');
  if (at > 0) {
    const virtualStore = parts.slice(0, at + 1).join(path.sep);
    folders.push(virtualStore);
    // Beside it (`<root>/node_modules/.pnpm`), or in the node_modules beside it (pnpm 10's global `<dir>/.pnpm`).
    for (const modules of [path.dirname(virtualStore), path.join(path.dirname(virtualStore), 'node_modules')]) described(modules);
  }
  return { folders, stores };
}

/** `storeDir` of pnpm's `.modules.yaml` (JSON since pnpm 10, YAML before), or undefined. */
function pnpmStoreDir(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (noDescriptorLeft(error)) throw error;
    return undefined;
  }
  try {
    const storeDir = (JSON.parse(text) as { storeDir?: unknown }).storeDir;
    return typeof storeDir === 'string' && storeDir !== '' ? storeDir : undefined;
  } catch {
    return /^storeDir: *['"]?([^'"\n]+?)['"]? *$/m.exec(text)?.[1];
  }
}

/** The folders of krew-wasm's code (krewWasmCode's dirs), for the grant-time check. */
export function krewWasmCodeDirs(installDir: string | undefined, storeBinDir: string, otherLinks: string[] = []): string[] {
  return krewWasmCode(installDir, storeBinDir, otherLinks).dirs;
}

/**
 * Node's search for `pkg` from `dir` up (its ES module resolution: node_modules folders only): the
 * node_modules folder it is found in, and for each folder looked in before, `<folder>/node_modules/<pkg>`
 * (searched) and its first missing component, which a plugin must not create.
 */
function packageSearch(dir: string, pkg: string): { found?: string; searched: string[]; missing: string[] } {
  const searched: string[] = [];
  const missing: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    const modules = path.join(d, 'node_modules');
    if (fs.existsSync(path.join(modules, pkg))) return { found: modules, searched, missing };
    searched.push(path.join(modules, pkg));
    let first = modules;
    for (const part of pkg.split('/')) {
      if (!fs.existsSync(first)) break;
      first = path.join(first, part);
    }
    missing.push(first);
    if (path.dirname(d) === d) return { searched, missing };
  }
}

/** The node_modules folder a package's real folder sits in (its dependencies' links beside it, with pnpm), else the folder itself. */
function enclosingNodeModules(realPackageDir: string, pkg: string): string {
  const up = pkg.split('/').reduce((dir) => path.dirname(dir), realPackageDir);
  return path.basename(up) === 'node_modules' ? up : realPackageDir;
}

/**
 * Where the links in a folder point, each distinct target once. Every plugin run reads every link
 * of the store (a store of 100 plugins is 100 readlinks), and nearly all of them hold the same
 * target: each distinct text is resolved once, and names are joined as the plain entry names they
 * are (path.join and path.resolve per link were ~1 ms of a run with 100 plugins).
 */
function linkTargets(dir: string): Set<string> {
  const texts = new Set<string>();
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    if (noDescriptorLeft(error)) throw error;
    return texts;
  }
  for (const name of names) {
    try {
      texts.add(fs.readlinkSync(`${dir}/${name}`));
    } catch {
      // not a link
    }
  }
  return new Set([...texts].map((text) => path.resolve(dir, text)));
}

/**
 * Walks `file` as the kernel resolves it when it opens it: from `/`, each name looked up in the
 * folder reached so far, `..` to that folder's parent (the walk never stands in a symlink, so this
 * is the kernel's `..`), each symlink replaced by its target (40 at most, as Linux). `visit` is
 * called with each folder a name is looked up in, the name and, when it exists, its lstat; it ends
 * the walk by returning true, which the walk then returns. A missing name ends it with false. A way
 * this walk cannot follow to its end, which the kernel may (a path longer than PATH_MAX once its
 * links are expanded, a 41st link, a link whose target is not UTF-8, a lookup that fails otherwise),
 * ends it with `unfollowable`:
 * callers that decide what a path may reach refuse it (found by an attack). `file` is taken as
 * given: a path cleaned by text would go up from the link, not from where it leads.
 */
export function walksAsKernel<S extends { isSymbolicLink(): boolean }>(file: string, lstat: (p: string) => S, visit: (folder: string, stat: S | undefined, name: string) => boolean, unfollowable = false): boolean {
  const pending = file.split('/').filter(Boolean).reverse();
  let current = '/';
  let links = 0;
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (name === '.') continue;
    if (name === '..') {
      current = path.dirname(current);
      continue;
    }
    const next = path.join(current, name);
    let stat: S | undefined;
    try {
      stat = lstat(next);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return unfollowable;
      stat = undefined;
    }
    if (visit(current, stat, name)) return true;
    if (!stat) return false;
    if (!stat.isSymbolicLink()) {
      current = next;
      continue;
    }
    if (++links > 40) return unfollowable;
    let target: string;
    try {
      // As bytes: a target that is not UTF-8 would be read as another path (found by an attack).
      const bytes = fs.readlinkSync(next, { encoding: 'buffer' });
      target = bytes.toString('utf8');
      if (!Buffer.from(target, 'utf8').equals(bytes)) return unfollowable;
    } catch {
      return unfollowable;
    }
    if (target.startsWith('/')) current = '/';
    pending.push(...target.split('/').filter(Boolean).reverse());
  }
  return false;
}

/** How reachedThrough counts what it cannot be sure of (see there). */
export interface ReachOptions {
  /** The plugin's read-only grants: read-only through every grant that reaches them. */
  readOnlyDirs?: string[];
  /** A way the walk cannot follow counts as reached (default): false where being reached allows something. */
  unfollowableIsReached?: boolean;
  /** A symlink inside a read-only grant (or on the way to one) within a read-write grant counts as reached (default): it may have been planted while the folder was writable. */
  linksInReadOnlyAreReached?: boolean;
}

/**
 * The first of `dirs` (a plugin's read-write grants) in which resolving `file` as the kernel does
 * looks a name up, or undefined: there the plugin chooses what the name is (a symlink in place of a
 * credential file). Not a name in a folder inside one of its read-only grants, nor one on the way to
 * one, which the sandbox keeps (found by an attack), unless it is a symlink and `options` count it
 * (a link the plugin planted before the grant was made read-only: found by the next attack). The
 * path as given, never cleaned by text: `lnk/..` goes up from where the link leads (found by an
 * attack).
 */
export function reachedThrough(file: string, dirs: string[], options: ReachOptions = {}): string | undefined {
  const { readOnlyDirs = [], unfollowableIsReached = true, linksInReadOnlyAreReached = true } = options;
  if (dirs.length === 0) return undefined;
  const roots = dirs.map((dir) => [dir, realpathOr(dir)] as const);
  const readOnly = readOnlyDirs.map((dir) => realpathOr(dir));
  const absolute = absoluteByText(file);
  let through: string | undefined;
  // A name in a read-only folder, or on the way to one (the sandbox pins those: never renamed,
  // removed or made again), is not the plugin's to choose now.
  const kept = (folder: string, name: string) => readOnly.some((root) => isInside(folder, root) || isInside(root, path.join(folder, name)));
  const unfollowable = walksAsKernel(absolute, (p) => fs.lstatSync(p), (folder, stat, name) => {
    const fixed = kept(folder, name) && !(linksInReadOnlyAreReached && stat?.isSymbolicLink());
    through = fixed ? undefined : roots.find(([, root]) => isInside(folder, root))?.[0];
    return through !== undefined;
  }, true);
  return through ?? (unfollowable && unfollowableIsReached ? dirs[0] : undefined);
}
