import fs from 'node:fs';
import nodePath from 'node:path';
import { walksAsKernel } from '../../hostPaths.js';
import { fsErrorCode } from './errors.js';

/**
 * Guest path resolution: the filesystem security boundary (model: wasmtime's cap-std).
 *
 * A guest path is resolved one component at a time, starting from a directory HANDLE (an open fd),
 * never from a path string: `/proc/self/fd/<fd>/<name>` makes the kernel look `name` up in that
 * very directory, as openat(2) would (Node has no openat), and O_NOFOLLOW keeps it from following
 * a link for us. Symlinks are read and expanded here, with a depth limit; `..` pops back to the
 * handle we came from and never goes above the descriptor the walk started at; a trailing slash
 * is never handed to the kernel (it would follow a final symlink). Each directory entered is
 * identified by device + inode, not by name: directories in `protectedIds` (the krew-wasm store,
 * krew-wasm itself) are never entered through any grant, and everything below a directory in
 * `readOnlyIds` is read-only through whichever preopen reaches it.
 *
 * Because a descriptor is a handle, deleting or renaming its directory and planting a symlink in
 * its place changes nothing for it: the stale-path class of escapes does not exist here. An
 * external process racing renames between two steps can make a step see a different directory,
 * but every step is still taken beneath a handle the walk holds (README, security model).
 */

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
/** The longest guest path walked (Linux's PATH_MAX): longer is `name-too-long`, as the kernel says. */
const MAX_PATH_LENGTH = 4096;
/** Symlinks expanded in one resolution before giving up with `loop` (Linux's own limit). */
const MAX_SYMLINKS = 40;

/** What a filesystem object is, independent of its name: `dev:ino`. */
export type Identity = string;

export function identityOf(stat: fs.BigIntStats): Identity {
  return `${stat.dev}:${stat.ino}`;
}

export function identityOfFd(fd: number): Identity {
  return identityOf(fs.fstatSync(fd, { bigint: true }));
}

/** A host path naming `name` inside the directory open as `dirFd` (see the module comment). */
export function at(dirFd: number, name: string): string {
  return `/proc/self/fd/${dirFd}/${name}`;
}

/** Run-wide rules the walker enforces on every directory it enters. */
export interface FsPolicy {
  /** Never entered, renamed, removed or opened through any grant. */
  protectedIds: ReadonlySet<Identity>;
  /** Roots of read-only grants: everything below them is read-only. */
  readOnlyIds: ReadonlySet<Identity>;
  /**
   * Entered freely, but never renamed, removed or replaced: every name on the way to a protected
   * or read-only directory and to krew-wasm's launch files. Rules are identities, but the next run
   * finds the store, krew-wasm and a read-only grant by path: moving a folder on that path (or
   * unlinking a symlink on it) and planting a decoy would hand the next run a forged store.
   */
  pinnedIds: ReadonlySet<Identity>;
  /**
   * Names that must not be made, as `<identity of the folder>/<name>` (reservedName): where Node
   * would look for krew-wasm's run-time packages before finding them (hostPaths.ts).
   */
  reservedNames: ReadonlySet<string>;
  /**
   * Devices of the kernel's own filesystems (/proc, /sys, /dev): nothing on them is entered or
   * opened through any grant. /proc/self/mem is the host process's memory: a plugin granted `/` or
   * `/proc` wrote Node's code through it (found by an attack).
   */
  kernelDevices: ReadonlySet<string>;
  /** Whether a file of more than one link is, under another name, a file of a protected directory (linkedFiles.ts). */
  isProtectedFile(stat: fs.BigIntStats): boolean;
}

/** Whether an identity is out of every grant: a protected directory, or on a kernel filesystem. */
export function isOutOfReach(id: Identity, policy: FsPolicy): boolean {
  return policy.protectedIds.has(id) || policy.kernelDevices.has(deviceOf(id));
}

/**
 * statfs types of the kernel's interfaces: procfs, sysfs, debugfs, tracefs, securityfs, cgroup and
 * cgroup2, bpf, configfs, binfmt_misc, pstore, efivarfs, fusectl, mqueue (other programs' message
 * queues), nsfs, rpc_pipefs, nfsd, selinuxfs, smackfs, resctrl. A procfs is one wherever it is
 * mounted (a chroot's /proc, a container's /host/proc): its device is its own, not /proc's (found
 * by an attack). hugetlbfs and tmpfs hold files, as a disk does, and are not on the list.
 */
const KERNEL_FS_TYPES = new Set([
  0x9fa0, 0x62656572, 0x64626720, 0x74726163, 0x73636673, 0x27e0eb, 0x63677270, 0xcafe4a11, 0x62656570, 0x42494e4d, 0x6165676c, 0xde5e81e4, 0x65735543,
  0x19800202, 0x6e736673, 0x67596969, 0x6e667364, 0xf97cff8c, 0x43415d53, 0x7655821,
]);

/**
 * What stands on the kernel's way to `hostPath`, walked as it walks it (hostPaths.ts walksAsKernel),
 * each folder a name is looked up in asked its filesystem's type: `kernel` when one of them is one
 * of the kernel's own interfaces (a link to `/proc/self/cwd` leads to whatever folder the process
 * that opens it stands in, not to a folder: found by an attack), `unfollowable` when the way cannot
 * be followed to its end here (links that make it longer than PATH_MAX, a name missing where the
 * kernel found one: what it reaches cannot be checked, found by attacks), else undefined. For a
 * folder that exists.
 */
export function wayProblem(hostPath: string, lstat: (p: string) => { isSymbolicLink(): boolean } = (p) => fs.lstatSync(p)): 'kernel' | 'unfollowable' | undefined {
  let kernel = false;
  let missing = false;
  const ended = walksAsKernel(nodePath.resolve(hostPath), lstat, (folder, stat) => {
    missing = stat === undefined;
    try {
      kernel = KERNEL_FS_TYPES.has(fs.statfsSync(folder).type);
    } catch {
      kernel = false; // gone meanwhile: the walk ends at it
    }
    return kernel;
  }, true);
  // A name missing on the way to a folder the kernel has just found is a way this walk and the
  // kernel read differently: not one to vouch for.
  return kernel ? 'kernel' : ended || missing ? 'unfollowable' : undefined;
}

/** Why a grant whose way cannot be followed to its end is refused. */
export const UNFOLLOWABLE = 'cannot be followed to its end (its links loop, make a path longer than the system allows, or name what is not UTF-8), so what it reaches cannot be checked';

/** The device part of an identity. */
export function deviceOf(id: Identity): string {
  return id.slice(0, id.indexOf(':'));
}

/**
 * Whether the object open as `fd` (identity `id`) is on one of the kernel's interfaces (statfs
 * through its handle). `besideDevice` is the device of an open folder it was reached from that is
 * known not to be: on that device it is on that folder's filesystem, and statfs is not asked (a
 * device number names one filesystem while any file of it is open). No answer is kept beyond
 * that: a device number is given again once its filesystem is unmounted, and a procfs mounted
 * after a tmpfs that had the number was entered as the tmpfs (found by an attack).
 */
export function onKernelFs(fd: number, id: Identity, besideDevice?: string): boolean {
  if (besideDevice !== undefined && besideDevice === deviceOf(id)) return false;
  try {
    return KERNEL_FS_TYPES.has(fs.statfsSync(`/proc/self/fd/${fd}`).type);
  } catch {
    return true; // a filesystem that cannot say what it is is not entered
  }
}

/** The key of a name in a folder, for FsPolicy.reservedNames. */
export function reservedName(dirId: Identity, name: string): string {
  return `${dirId}/${name}`;
}

/** A granted directory tree. `fd` is held for the whole run. */
export interface Preopen {
  guestPath: string;
  /** The granted host path (trusted: it comes from the user's grants, not from the guest). */
  hostPath: string;
  fd: number;
  readOnly: boolean;
}

/** Where a walk starts: a directory descriptor's handle, and the preopen it descends from. */
export interface WalkBase {
  fd: number;
  readOnly: boolean;
  preopen: Preopen;
}

/** Where a path ended: the directory holding the final entry, and its name (`.` for that directory itself). */
export interface Resolved {
  dirFd: number;
  name: string;
  /** The directory holding `name` is read-only (or, for `.`, is itself read-only). */
  readOnly: boolean;
  /** The path ended in a slash (or `/.`): it names a directory. */
  mustBeDir: boolean;
  /** The device of the directory holding `name`, on no kernel interface (onKernelFs). */
  dirDevice(): string;
  /** Closes the directories the walk opened. */
  release(): void;
}

interface Step {
  fd: number;
  owned: boolean;
  readOnly: boolean;
  /** Its device, once asked (stepDevice). */
  device?: string;
}

/** The device of a step's directory. */
function stepDevice(step: Step): string {
  return (step.device ??= deviceOf(identityOfFd(step.fd)));
}

/**
 * Resolves `path` relative to `base`. `follow` says whether a symlink in the final position is
 * expanded. Throws a WASI error-code string.
 */
export function walk(base: WalkBase, path: string, follow: boolean, policy: FsPolicy): Resolved {
  if (path.includes('\0')) throw 'invalid';
  if (path === '') throw 'no-entry';
  if (path.length > MAX_PATH_LENGTH) throw 'name-too-long';
  if (path.startsWith('/')) throw 'not-permitted';
  const stack: Step[] = [{ fd: base.fd, owned: false, readOnly: base.readOnly }];
  const release = () => {
    for (const step of stack.splice(1)) if (step.owned) fs.closeSync(step.fd);
  };
  try {
    const { name, mustBeDir } = resolveSteps(stack, base.preopen, path, follow, policy);
    const top = stack[stack.length - 1];
    return { dirFd: top.fd, name, readOnly: top.readOnly, mustBeDir, dirDevice: () => stepDevice(top), release };
  } catch (error) {
    release();
    throw typeof error === 'string' ? error : fsErrorCode(error);
  }
}

/** The walk proper; leaves the holding directory on top of `stack` and returns the final name. */
function resolveSteps(stack: Step[], preopen: Preopen, path: string, follow: boolean, policy: FsPolicy): { name: string; mustBeDir: boolean } {
  let mustBeDir = path.endsWith('/');
  const queue = withoutTrailingSlashes(path).split('/').reverse(); // next component = queue.pop()
  let expansions = 0;
  const expand = (target: string, wasLast: boolean) => {
    if (++expansions > MAX_SYMLINKS) throw 'loop';
    if (target === '') throw 'no-entry';
    if (target.startsWith('/')) {
      // An absolute link (a dotfile manager's ~/.kube/config, say) is followed only when it points
      // inside this preopen's granted host path, and then from the preopen's own handle.
      const root = preopen.hostPath.replace(/\/+$/, '');
      if (target !== root && !target.startsWith(`${root}/`)) throw 'not-permitted';
      for (const step of stack.splice(0)) if (step.owned) fs.closeSync(step.fd);
      stack.push({ fd: preopen.fd, owned: false, readOnly: preopen.readOnly });
      target = target.slice(root.length).replace(/^\/+/, '') || '.';
    }
    if (wasLast && target.endsWith('/')) mustBeDir = true;
    queue.push(...withoutTrailingSlashes(target).split('/').reverse());
  };
  for (;;) {
    const component = queue.pop() as string;
    const last = queue.every((c) => c === '' || c === '.');
    // `a/.` names the directory a itself, as `a/` does.
    if (last && queue.length > 0) mustBeDir = true;
    const top = stack[stack.length - 1];
    if (component === '' || component === '.') {
      if (last) return { name: '.', mustBeDir: true };
      continue;
    }
    if (component === '..') {
      if (stack.length === 1) throw 'not-permitted';
      const left = stack.pop() as Step;
      if (left.owned) fs.closeSync(left.fd);
      if (last) return { name: '.', mustBeDir: true };
      continue;
    }
    if (last) {
      const stat = lstatOrUndefined(at(top.fd, component));
      if (stat?.isSymbolicLink() && (follow || mustBeDir)) {
        expand(fs.readlinkSync(at(top.fd, component)), true);
        continue;
      }
      if (mustBeDir && stat && !stat.isDirectory()) throw 'not-directory';
      return { name: component, mustBeDir };
    }
    const fd = openDirectoryStep(top.fd, component);
    if (fd === 'symlink') {
      expand(fs.readlinkSync(at(top.fd, component)), false);
      continue;
    }
    const id = identityOfFd(fd);
    if (isOutOfReach(id, policy) || onKernelFs(fd, id, stepDevice(top))) {
      fs.closeSync(fd);
      throw 'access';
    }
    stack.push({ fd, owned: true, readOnly: top.readOnly || policy.readOnlyIds.has(id), device: deviceOf(id) });
  }
}

/** `p` without its trailing slashes (a loop: the regex /\/+$/ backtracks quadratically on `a////...x`). */
function withoutTrailingSlashes(p: string): string {
  let end = p.length;
  while (end > 0 && p.charCodeAt(end - 1) === 47) end--;
  return p.slice(0, end);
}

/** Opens a directory component without following it; `symlink` when it is a link to expand. */
function openDirectoryStep(dirFd: number, name: string): number | 'symlink' {
  try {
    return fs.openSync(at(dirFd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTDIR' && code !== 'ELOOP') throw error;
    if (lstatOrUndefined(at(dirFd, name))?.isSymbolicLink()) return 'symlink';
    throw 'not-directory';
  }
}

export function lstatOrUndefined(hostPath: string): fs.BigIntStats | undefined {
  try {
    return fs.lstatSync(hostPath, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Throws `access` when the entry `name` in `dirFd` is a protected directory (it may be missing). */
export function assertNotProtected(dirFd: number, name: string, policy: FsPolicy): void {
  if (policy.protectedIds.size === 0 && policy.kernelDevices.size === 0) return;
  const stat = lstatOrUndefined(at(dirFd, name));
  if (stat && isOutOfReach(identityOf(stat), policy)) throw 'access';
}

/** Throws `access` when a new entry `name` in `dirFd` (made, linked or renamed there) is one that must not exist. */
export function assertMayCreate(dirFd: number, name: string, policy: FsPolicy): void {
  if (policy.reservedNames.size === 0) return;
  if (policy.reservedNames.has(reservedName(identityOfFd(dirFd), name))) throw 'access';
}

/** Throws `access` when the entry `name` in `dirFd` may not be renamed, removed or replaced. */
export function assertMayDetach(dirFd: number, name: string, policy: FsPolicy): void {
  const stat = lstatOrUndefined(at(dirFd, name));
  if (!stat) return;
  const id = identityOf(stat);
  if (policy.protectedIds.has(id) || policy.pinnedIds.has(id)) throw 'access';
}
