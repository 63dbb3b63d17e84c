import fs from 'node:fs';
import path from 'node:path';
import { GrantError } from '../../errors.js';
import { walksAsKernel } from '../../hostPaths.js';
import type { FsContext } from './filesystem.js';
import { identityOf, reservedName, type Identity, type Preopen } from './walk.js';

/** A directory to preopen: the guest sees `hostPath` as `guestPath`. */
export interface PreopenSpec {
  guestPath: string;
  hostPath: string;
  readOnly: boolean;
  /**
   * Made by krew-wasm itself for this plugin (its data folder, the kubeconfig mirror), which live
   * under the store: exempt from the "not inside a protected directory" check, and only there.
   */
  internal?: boolean;
}

/** The filesystem rules of one run, as host paths (turned into identities here). */
export interface FsSetup {
  preopens: PreopenSpec[];
  /** Directories no walk may enter: the krew-wasm store and krew-wasm's own code. */
  protectedDirs: string[];
  /** Roots of read-only grants: read-only through every preopen that reaches them. */
  readOnlyDirs: string[];
  /**
   * Paths the next run is started and configured through (the kubectl-<name> link, Node): with
   * the protected and read-only directories, every name on their way is pinned (walk.ts FsPolicy).
   */
  launchPaths: string[];
  /** Paths that must not come to exist (hostPaths.ts krewWasmCode): a plugin may not make them. */
  reservedPaths?: string[];
}

const { O_RDONLY, O_DIRECTORY } = fs.constants;

/**
 * Opens the preopened directories (a handle each, held for the run) and resolves the protected
 * and read-only directories to identities. Host paths here are the user's grants, trusted: they
 * are resolved by the kernel. Throws a GrantError for a grant that cannot be applied.
 */
export function createFsContext(setup: FsSetup): FsContext {
  const protectedIds = identities(setup.protectedDirs);
  const readOnlyRoots = [...setup.readOnlyDirs, ...setup.preopens.filter((p) => p.readOnly).map((p) => p.hostPath)];
  const readOnlyIds = identities(readOnlyRoots);
  // The lineages share most of their components (/, HOME, the installation): each is looked at once.
  const lstat = lstatOnce();
  // Every granted folder's way is pinned too: a plugin that could rename a folder above a grant (in
  // another, writable grant) and leave a symlink in its place had that grant follow it to any
  // folder on the next run (found by an attack).
  const grantedPaths = setup.preopens.map((p) => p.hostPath);
  const pinned = [...setup.protectedDirs, ...readOnlyRoots, ...grantedPaths, ...setup.launchPaths];
  // Looked at when first asked (walk.ts assertMayDetach), that is before the plugin's first rename,
  // unlink or rmdir, the only operations that change which entry a path names: until then the
  // lineages are what they were at start, or longer where the plugin made a missing folder (pinned
  // too: stricter). ~0.5 ms (23 lstats) of every run of a plugin that never removes anything.
  let pinnedIds: Set<Identity> | undefined;
  const pinnedOnce = () => (pinnedIds ??= new Set(pinned.flatMap((p) => pathLineage(p, lstat))));
  const preopens: Preopen[] = [];
  for (const spec of setup.preopens) {
    let fd: number;
    try {
      fd = fs.openSync(spec.hostPath, O_RDONLY | O_DIRECTORY);
    } catch (error) {
      const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be opened (${(error as NodeJS.ErrnoException).code})`;
      throw new GrantError(`granted folder ${spec.hostPath} ${why}`);
    }
    const lineage = ancestorsOf(spec.hostPath);
    if (!spec.internal && lineage.some((id) => protectedIds.has(id))) {
      fs.closeSync(fd);
      throw new GrantError(`granted folder ${spec.hostPath} is inside krew-wasm's own files (its store or its code), which no plugin may reach`);
    }
    const readOnly = spec.readOnly || lineage.some((id) => readOnlyIds.has(id));
    preopens.push({ guestPath: spec.guestPath, hostPath: spec.hostPath, fd, readOnly });
  }
  const policy = {
    protectedIds,
    readOnlyIds,
    get pinnedIds() {
      return pinnedOnce();
    },
    reservedNames: reservedNames(setup.reservedPaths ?? []),
  };
  return { preopens, policy };
}

function identities(paths: string[]): Set<Identity> {
  const ids = new Set<Identity>();
  for (const p of paths) {
    try {
      ids.add(identityOf(fs.statSync(p, { bigint: true })));
    } catch {
      // a protected or read-only folder that does not exist needs no protection
    }
  }
  return ids;
}

/** Each path's name in its folder, by the folder's identity (a folder that does not exist holds nothing to reserve). */
function reservedNames(paths: string[]): Set<string> {
  const names = new Set<string>();
  for (const p of paths) {
    try {
      names.add(reservedName(identityOf(fs.statSync(path.dirname(p), { bigint: true })), path.basename(p)));
    } catch {
      // its folder does not exist: a plugin would have to make the folder first, which is no code path
    }
  }
  return names;
}

/**
 * Identities of every entry the kernel passes through when it opens `hostPath`: `/`, each
 * component, and each symlink on the way together with the components of its target, expanded as
 * the kernel would (hostPaths.ts walksAsKernel). A missing component ends the lineage.
 */
function pathLineage(hostPath: string, lstat: (p: string) => fs.BigIntStats): Identity[] {
  const ids = [identityOf(lstat('/'))];
  walksAsKernel(path.resolve(hostPath), lstat, (_folder, stat) => {
    if (stat) ids.push(identityOf(stat));
    return false;
  });
  return ids;
}

/** lstat that answers each path once (a missing one keeps failing). */
function lstatOnce(): (p: string) => fs.BigIntStats {
  const seen = new Map<string, fs.BigIntStats | Error>();
  return (p) => {
    let known = seen.get(p);
    if (known === undefined) {
      try {
        known = fs.lstatSync(p, { bigint: true });
      } catch (error) {
        known = error as Error;
      }
      seen.set(p, known);
    }
    if (known instanceof Error) throw known;
    return known;
  };
}

/** A path's components, last first (the next one is pop()). */
/** Identities of a directory and each of its ancestors, up to `/`. */
function ancestorsOf(hostPath: string): Identity[] {
  const ids: Identity[] = [];
  let dir = fs.realpathSync(hostPath);
  for (;;) {
    ids.push(identityOf(fs.statSync(dir, { bigint: true })));
    const parent = path.dirname(dir);
    if (parent === dir) return ids;
    dir = parent;
  }
}
