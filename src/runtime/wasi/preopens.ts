import fs from 'node:fs';
import path from 'node:path';
import { GrantError } from '../../errors.js';
import { walksAsKernel } from '../../hostPaths.js';
import type { FsContext } from './filesystem.js';
import { protectedFileCheck } from './linkedFiles.js';
import { deviceOf, identityOf, identityOfFd, onKernelFs, reservedName, UNFOLLOWABLE, wayProblem, type Identity, type Preopen } from './walk.js';

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
  /**
   * The process's working folder, preopened as `.`: opened as the folder the process stands in,
   * never by its path (`hostPath`, what getcwd named), whose names another run of a plugin may have
   * replaced with a symlink meanwhile: the working folder is pinned for no other run, and a
   * plugin allowed to write HOME turned the `.` of a run started in ~/w into `/` (attack 105).
   * Refused unless its handle lies inside the preopen of this host path (HOME).
   */
  workingFolderWithin?: string;
}

/** The filesystem rules of one run, as host paths (turned into identities here). */
export interface FsSetup {
  preopens: PreopenSpec[];
  /** Directories no walk may enter: the krew-wasm store and krew-wasm's own code. */
  protectedDirs: string[];
  /** Files outside them that are code the host runs (a Node in `~/.local/bin`): not written or truncated, by any name. */
  protectedFiles?: string[];
  /** Roots of read-only grants: read-only through every preopen that reaches them. */
  readOnlyDirs: string[];
  /**
   * Paths the next run is started and configured through (the kubectl-<name> link, Node): with
   * the protected and read-only directories, every name on their way is pinned (walk.ts FsPolicy).
   */
  launchPaths: string[];
  /** Paths that must not come to exist (hostPaths.ts krewWasmCode): a plugin may not make them. */
  reservedPaths?: string[];
  /**
   * Paths a later start looks up, as written (`..` and symlinks left to the walk, as the kernel
   * takes them: a PATH folder's `node`): every name on their way is pinned and may not be made
   * again, nor the first missing one, as for `otherGrants`.
   */
  searchedPaths?: string[];
  /** Folders inside `protectedDirs` whose files are not krew-wasm's, left out of the walk for their other names (linkedFiles.ts). */
  linkWalkSkips?: string[];
  /**
   * The folders the next runs of other plugins open by path (their grants, HOME), asked for at
   * this run's first change of a name and again when `version` changes: every name on their way
   * is pinned and may not be made again, nor the first missing one. Else a plugin allowed to
   * write HOME replaced a symlink another plugin's grant names (or made the missing folder it
   * names) with a link to any folder, and that plugin's next run opened it (found by an attack).
   */
  otherGrants?: { folders(): string[]; version(): string };
}

const { O_RDONLY, O_DIRECTORY } = fs.constants;
/**
 * Linux's O_PATH (Node names no constant for it): a handle that only locates, needing search
 * permission on the way but not read permission on the folder, as stat does.
 */
const O_PATH = 0o10000000;
/** More ancestors than a granted folder has (a path of PATH_MAX holds ~2,048 names; a deeper one, reached through symlinks, is refused). */
const MAX_DEPTH = 4096;

/** The rules a run's preopens are checked against (FsSetup without the preopens). */
export type FsRules = Omit<FsSetup, 'preopens'>;

/** A granted directory, open: the handle is held for the run. */
export interface OpenedPreopen {
  spec: PreopenSpec;
  fd: number;
}

/**
 * Opens the preopened directories and resolves the protected and read-only directories to
 * identities, at once (the tests' and the tools' form; a run defers the second half: DeferredFs).
 * Throws a GrantError for a grant that cannot be applied, with nothing left open.
 */
export function createFsContext(setup: FsSetup): FsContext {
  const opened = openPreopens(setup.preopens);
  try {
    return checkPreopens(opened, setup);
  } catch (error) {
    closePreopens(opened);
    throw error;
  }
}

/**
 * Opens each granted directory (a handle each, held for the run). Host paths here are the user's
 * grants, trusted: they are resolved by the kernel. Throws a GrantError for one that does not
 * exist or cannot be opened, with none left open.
 */
export function openPreopens(specs: PreopenSpec[]): OpenedPreopen[] {
  const opened: OpenedPreopen[] = [];
  for (const spec of specs) {
    try {
      opened.push({ spec, fd: fs.openSync(spec.workingFolderWithin === undefined ? spec.hostPath : '.', O_RDONLY | O_DIRECTORY) });
    } catch (error) {
      closePreopens(opened);
      const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be opened (${(error as NodeJS.ErrnoException).code})`;
      throw new GrantError(`granted folder ${spec.hostPath} ${why}`);
    }
  }
  return opened;
}

export function closePreopens(opened: readonly OpenedPreopen[]): void {
  for (const { fd } of opened) fs.closeSync(fd);
}

/**
 * The filesystem of opened preopens under `rules`: the protected and read-only directories as
 * identities, each preopen refused when it lies inside a protected one and read-only when inside a
 * read-only one. Throws a GrantError for a grant that cannot be applied (the handles stay the
 * caller's to close).
 */
export function checkPreopens(opened: readonly OpenedPreopen[], rules: FsRules): FsContext {
  const protectedIds = identities(rules.protectedDirs);
  const readOnlyRoots = [...rules.readOnlyDirs, ...opened.filter((p) => p.spec.readOnly).map((p) => p.spec.hostPath)];
  // A read-only grant is the folder its handle holds (another plugin may retarget the symlink it
  // was named by since the run opened it: found by an attack), and what its path names now.
  const readOnlyIds = new Set([...identities(readOnlyRoots), ...opened.filter((p) => p.spec.readOnly).map((p) => identityOfFd(p.fd))]);
  // The lineages share most of their components (/, HOME, the installation): each is looked at once.
  const lstat = lstatOnce();
  // Every granted folder's way is pinned too: a plugin that could rename a folder above a grant (in
  // another, writable grant) and leave a symlink in its place had that grant follow it to any
  // folder on the next run (found by an attack).
  const grantedPaths = opened.map((p) => p.spec.hostPath);
  const pinned = [...rules.protectedDirs, ...readOnlyRoots, ...grantedPaths, ...rules.launchPaths, ...(rules.searchedPaths ?? [])];
  // Looked at when first asked (walk.ts assertMayDetach), that is before the plugin's first rename,
  // unlink or rmdir, the only operations that change which entry a path names: until then the
  // lineages are what they were at start, or longer where the plugin made a missing folder (pinned
  // too: stricter). ~0.5 ms (23 lstats) of every run of a plugin that never removes anything.
  let ownPinned: Set<Identity> | undefined;
  const ownReserved = reservedNames(rules.reservedPaths ?? []);
  // Other plugins' grants, and every name on their way, which must not be made again (someone may
  // remove one while this run goes on) any more than the first missing one: looked at at the first
  // change of either kind, so that both see the names as they were before it, and again whenever
  // the grants change meanwhile (found by an attack), as the names are then.
  let others: { version: string; pinned: Set<Identity>; reserved: Set<string> } | undefined;
  const withOthers = () => {
    const version = rules.otherGrants?.version() ?? '';
    if (others?.version === version) return others;
    const look = others ? lstatOnce() : lstat;
    const folders = rules.otherGrants?.folders() ?? [];
    ownPinned ??= new Set(pinned.flatMap((p) => pathLineage(p, lstat)));
    return (others = {
      version,
      pinned: new Set([...ownPinned, ...folders.flatMap((p) => pathLineage(p, look))]),
      reserved: new Set([...ownReserved, ...namesOnTheWay([...(rules.searchedPaths ?? []), ...folders], look)]),
    });
  };
  const kernel = kernelDevices();
  const preopens: Preopen[] = opened.map(({ spec, fd }) => {
    const { lineage, onKernel } = ancestorsOfFd(fd, spec.hostPath);
    if (!spec.internal && lineage.some((id) => protectedIds.has(id))) {
      // The user granted no working folder: it is where the run was started from.
      if (spec.workingFolderWithin !== undefined) throw new GrantError(`the working folder ${spec.hostPath} is inside krew-wasm's own files (its store or its code), which no plugin may reach`, { hint: 'run the plugin from another folder' });
      throw new GrantError(`granted folder ${spec.hostPath} is inside krew-wasm's own files (its store or its code), which no plugin may reach`);
    }
    if (spec.workingFolderWithin !== undefined && !insideOpened(lineage, opened, spec.workingFolderWithin)) {
      throw new GrantError(`the working folder ${spec.hostPath} was moved out of ${spec.workingFolderWithin} after the run started`);
    }
    const way = spec.internal ? undefined : wayProblem(spec.hostPath, lstat);
    if (onKernel || lineage.some((id) => kernel.has(deviceOf(id))) || way === 'kernel') {
      throw new GrantError(`granted folder ${spec.hostPath} is inside the kernel's own filesystems (/proc, /sys, /dev), which no plugin may reach`);
    }
    if (way === 'unfollowable') throw new GrantError(`granted folder ${spec.hostPath} ${UNFOLLOWABLE}`);
    const readOnly = spec.readOnly || lineage.some((id) => readOnlyIds.has(id));
    return { guestPath: spec.guestPath, hostPath: spec.hostPath, fd, readOnly };
  });
  const policy = {
    protectedIds,
    readOnlyIds,
    get pinnedIds() {
      return withOthers().pinned;
    },
    get reservedNames() {
      return withOthers().reserved;
    },
    kernelDevices: kernel,
    isProtectedFile: protectedFileCheck(rules.protectedDirs, rules.linkWalkSkips ?? [], rules.protectedFiles ?? []),
  };
  return { preopens, policy };
}

/** Whether a lineage holds the folder of the preopen opened at `hostPath` (its handle's, not what the path names now). */
function insideOpened(lineage: Identity[], opened: readonly OpenedPreopen[], hostPath: string): boolean {
  const outer = opened.find((p) => p.spec.hostPath === hostPath && p.spec.workingFolderWithin === undefined);
  return outer !== undefined && lineage.includes(identityOfFd(outer.fd));
}

/**
 * A run's filesystem between its start and the guest's first use of it: the granted directories
 * are open (a missing one ends the run before the plugin starts), and the guest sees their names;
 * the checks that need krew-wasm's own folders as identities (which installations the store's
 * links lead to, the packages they load: ~1 ms of lookups, hostPaths.ts krewWasmCode) wait for
 * `context()`. Every way to the host's files goes through `context()`: a descriptor is made only
 * from its preopens, and every walk takes its policy. Until then the plugin has reached no file,
 * so the checks see what they would have seen at start; a plugin that never touches a file (most
 * C and Rust plugins) does not pay for them (bench/RESULTS.md). A check that fails ends the run
 * at that first use with the same error, as a KrewWasmError (which no host call turns into an
 * errno: errors.ts isHostControl).
 */
export class DeferredFs {
  readonly guestPaths: readonly string[];
  private made?: FsContext;
  private failure?: unknown;

  constructor(
    private readonly opened: readonly OpenedPreopen[],
    private readonly rules: () => FsRules,
    /** What a failed check is reported as (a grant's repair hint). */
    private readonly reported: (error: unknown) => unknown = (error) => error,
  ) {
    this.guestPaths = opened.map((p) => p.spec.guestPath);
  }

  /**
   * Throws the error of a check that failed: it is the run's outcome whatever the guest did after
   * (a guest that could catch a host exception would otherwise end the run as it liked).
   */
  throwIfRefused(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** The checked filesystem; throws the grant's error, every time, when a check fails. */
  context(): FsContext {
    if (this.made) return this.made;
    if (this.failure !== undefined) throw this.failure;
    try {
      this.made = checkPreopens(this.opened, this.rules());
      return this.made;
    } catch (error) {
      // Whatever stopped the check (a folder above a grant the user may not search, no fd left)
      // ends the run as a refused grant: never an errno the guest could carry on after.
      this.failure = this.reported(error instanceof GrantError ? error : new GrantError(`the granted folders could not be checked: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`));
      throw this.failure;
    }
  }
}

/** The filesystems of /proc and /sys by their type (statfs), and /dev when it is a mount of its own. */
const KERNEL_FILESYSTEMS: [string, number | undefined][] = [['/proc', 0x9fa0], ['/sys', 0x62656572], ['/dev', undefined]];

/** The devices of the kernel's own filesystems (FsPolicy.kernelDevices), as identities name them. */
function kernelDevices(): Set<string> {
  const devices = new Set<string>();
  const rootDevice = fs.statSync('/', { bigint: true }).dev;
  for (const [dir, type] of KERNEL_FILESYSTEMS) {
    try {
      const device = fs.statSync(dir, { bigint: true }).dev;
      if (device !== rootDevice && (type === undefined || fs.statfsSync(dir).type === type)) devices.add(String(device));
    } catch {
      // not there: nothing of it to reach
    }
  }
  return devices;
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
  walksAsKernel(asWritten(hostPath), lstat, (_folder, stat) => {
    if (stat) ids.push(identityOf(stat));
    return false;
  });
  return ids;
}

/**
 * Every name on the way to each of `hostPaths`, walked as the kernel would, up to the first that
 * does not exist, as reservedName keys.
 */
function namesOnTheWay(hostPaths: string[], lstat: (p: string) => fs.BigIntStats): string[] {
  const names: string[] = [];
  for (const hostPath of hostPaths) {
    walksAsKernel(asWritten(hostPath), lstat, (folder, _stat, name) => {
      try {
        names.push(reservedName(identityOf(lstat(folder)), name));
      } catch {
        // its folder went away meanwhile: nothing is made in it
      }
      return false;
    });
  }
  return names;
}

/**
 * An absolute path as the kernel takes it, not cleaned by text: `a/link/../b` goes up from where
 * the link leads (attack 110).
 */
function asWritten(hostPath: string): string {
  return path.isAbsolute(hostPath) ? hostPath : path.resolve(hostPath);
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

/**
 * Identities of the directory open as `fd` and of each of its ancestors up to `/`, by handle: the
 * `..` of the directory itself, as the kernel finds it, whatever path it was opened by (O_PATH
 * handles: a folder above a grant may be searchable only, mode 0711, as it is for a path). Resolving
 * the granted path again instead let a plugin that swapped a symlink for the moment another run
 * opened its grant, and put it back before that run's first file use, have the check pass on the
 * folder the path names now while the handle stayed in the store (found by an attack).
 */
function ancestorsOfFd(fd: number, hostPath: string): { lineage: Identity[]; onKernel: boolean } {
  const ids = [identityOfFd(fd)];
  let onKernel = onKernelFs(fd, ids[0]);
  let current = fd;
  try {
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      const parent = fs.openSync(`/proc/self/fd/${current}/..`, O_PATH | O_DIRECTORY);
      if (current !== fd) fs.closeSync(current);
      current = parent;
      const id = identityOfFd(parent);
      if (id === ids[ids.length - 1]) return { lineage: ids, onKernel }; // `/` is its own parent
      // Beside the folder below it, open when this one was: on its device, on its filesystem.
      onKernel ||= onKernelFs(parent, id, deviceOf(ids[ids.length - 1]));
      ids.push(id);
    }
    throw new GrantError(`granted folder ${hostPath} lies more than ${MAX_DEPTH} folders deep`);
  } finally {
    if (current !== fd) fs.closeSync(current);
  }
}
