import fs from 'node:fs';
import path from 'node:path';
import { isKrewWasmError } from '../errors.js';
import { isInside, reachedThrough, realpathOr } from '../hostPaths.js';
import { makeTempDir } from '../store/fsutil.js';
import { KUBECONFIG_COPY_PREFIX } from '../store/store.js';
import { MAX_CREDENTIAL_FILE_BYTES, readRegularFileAs, type ReadFile } from './boundedRead.js';
import { CopyTooLarge, kubeconfigCopies, loadKubeconfig, overridesFromArgs, selectCluster, type Selection } from './kubeconfig.js';

/** Read-only preopens (guest path -> private host copy) and how to remove the copies. */
export interface KubeconfigMirror {
  preopens: Record<string, string>;
  cleanup(): void;
}

/**
 * For `--fs kubeconfig`: copies of the kubeconfig files in use, as krew-wasm reads them, with
 * every other user's credentials hidden (kubeconfigCopy.ts), and of the CA, client certificate,
 * key and token files that the SELECTED context's cluster and user name (after the plugin's own
 * --kubeconfig/--context/--cluster/--user), in a private folder that mirrors their directories;
 * each mirrored directory is preopened read-only at the original path, so the plugin sees those
 * files where kubectl would, and no other user's key or token, in a file or inline. Files are read
 * like every kubeconfig input: regular files only, bounded. Undefined without a kubeconfig.
 */
export async function mirrorKubeconfigFiles(env: NodeJS.ProcessEnv, args: string[], tmpDir: string, reach: { protectedDirs?: string[]; writableDirs?: string[] } = {}): Promise<KubeconfigMirror | undefined> {
  const { protectedDirs = [], writableDirs = [] } = reach;
  const overrides = overridesFromArgs(args);
  const copies: { file: string; bytes: Buffer }[] = [];
  try {
    const merged = await loadKubeconfig(env, overrides, { realPaths: true });
    if (!merged) return undefined;
    let selection: Selection | undefined;
    try {
      selection = selectCluster(merged, overrides);
    } catch (error) {
      if (!isKrewWasmError(error)) throw error; // no usable context: the plugin sees the kubeconfig alone, as kubectl would fail
    }
    kubeconfigCopies(merged, selection?.userName).forEach(({ bytes }, i) => {
      for (const file of placesOf(merged.sources[i].file, merged.sources[i].real)) copies.push({ file, bytes });
    });
    const kubeconfigs = new Set(merged.sources.map((source) => source.id));
    // A kubeconfig the plugin may write names whatever files it likes: then no credential file is
    // copied at all (the plugin reads that kubeconfig through its grant anyway; found by an attack).
    const chosenByPlugin = merged.files.some((file) => reachedThrough(file, writableDirs) !== undefined);
    const kernel = await kernelDevices();
    for (const written of selection && !chosenByPlugin ? selectedFiles(selection) : []) {
      // A path the plugin can redirect (a name looked up in a folder it may write: a symlink in
      // place of the token file) would copy whatever it points at (found by an attack).
      if (reachedThrough(written, writableDirs) !== undefined) continue;
      const read = await readCredential(written);
      // Judged by the file its one descriptor opened (its identity and the kernel's path for it),
      // never by the path again: another plugin may swap the file or a folder on its way at any
      // time (found by an attack). The copy is placed at that real path: a path as written may
      // climb out of the mirror's folder by text where the kernel follows a symlink (`L/../..`).
      // Left out: a file of krew-wasm's store or code; a kubeconfig file in use (named as the
      // token file, by any path or link: the other users' credentials in it); a file of the
      // kernel's, which says what the run itself holds (/proc/self/environ: the variables --env
      // keeps from the plugin); a file unlinked meanwhile.
      if (!read?.real || read.real.endsWith(' (deleted)') || kubeconfigs.has(read.id) || isKernelFile(read, kernel) || insideAny(read.real, protectedDirs)) continue;
      for (const file of placesOf(written, read.real)) copies.push({ file, bytes: read.bytes });
    }
  } catch (error) {
    // A broken kubeconfig, or one whose copies would be too large: the plugin sees none, as without one.
    if (isKrewWasmError(error) || error instanceof CopyTooLarge) return undefined;
    throw error;
  }
  return writeMirror(copies, tmpDir);
}

/**
 * Where a copy goes: at the kernel's path for the file read (never the path as written, which may
 * climb out of the mirror by text where the kernel follows a symlink: `L/../..`), and also where
 * the kubeconfig names it, when that path holds no `.` or `..` to read otherwise by text, so that a
 * token behind a symlink (a service account's `token -> ..data/token`) is found where kubectl
 * looks. The same bytes in both.
 */
function placesOf(written: string, real: string | undefined): string[] {
  const places = real === undefined ? [] : [real];
  if (written !== real && path.isAbsolute(written) && path.normalize(written) === written && !KERNEL_PATH.test(written)) places.push(written);
  return places;
}

/** A selected credential file as read, or undefined when it is missing, not a regular file or too big: the plugin does not see it, and fails as kubectl would. */
async function readCredential(file: string): Promise<ReadFile | undefined> {
  try {
    return await readRegularFileAs(file, 'kubeconfig file', MAX_CREDENTIAL_FILE_BYTES, { realPath: true });
  } catch {
    return undefined;
  }
}

/** Paths of the kernel's own files: no copy is read from them, nor placed at them. */
const KERNEL_PATH = /^\/(proc|sys|dev)(\/|$)/;

/** Whether a file read is one of /proc, /sys or /dev: by the kernel's path for it, and by the device it is on. */
function isKernelFile(read: ReadFile, kernelDevices: Set<string>): boolean {
  return KERNEL_PATH.test(read.real ?? '') || kernelDevices.has(read.id.slice(0, read.id.indexOf(':')));
}

/** The devices /proc, /sys and /dev are on, looked at once a mirror. */
async function kernelDevices(): Promise<Set<string>> {
  const devices = new Set<string>();
  for (const dir of ['/proc', '/sys', '/dev']) {
    try {
      devices.add(String((await fs.promises.stat(dir, { bigint: true })).dev));
    } catch {
      // not mounted here
    }
  }
  return devices;
}

function insideAny(file: string, dirs: string[]): boolean {
  const real = realpathOr(file);
  return dirs.some((dir) => isInside(real, realpathOr(dir)));
}

/** The files the selected cluster and user refer to. */
function selectedFiles(selection: Selection): string[] {
  const { cluster, user } = selection;
  return [cluster.certificateAuthority, user.clientCertificate, user.clientKey, user.tokenFile].filter((f): f is string => f !== undefined);
}

/** The deepest a mirrored file may lie (path components): far deeper than any kubeconfig keeps its files. */
const MAX_MIRRORED_DEPTH = 128;

function writeMirror(copies: { file: string; bytes: Buffer }[], tmpDir: string): KubeconfigMirror {
  // Under the store's tmp/, named by pid: if this process ends without its exit handlers (killed, or
  // Ctrl-C before plugin code ran), the next run or command removes it (removeLeftoverKubeconfigCopies).
  const root = makeTempDir(tmpDir, KUBECONFIG_COPY_PREFIX);
  fs.chmodSync(root, 0o700);
  const cleanup = () => fs.rmSync(root, { recursive: true, force: true });
  process.once('exit', cleanup);
  const preopens: Record<string, string> = {};
  // The kubeconfig copies come first and are never replaced: a credential file whose path (`..`
  // after a symlink, resolved as written) lands on a copy's name or under it is left out, as one
  // that cannot be read is (it ended the run with an internal error: found by an attack).
  for (const { file, bytes } of copies) {
    const dir = path.dirname(file);
    const mirrored = path.join(root, dir);
    // Never outside the mirror's folder, whatever the path (every path here is absolute and
    // normalized; this is the second line), nor deeper than a folder tree Node removes: at ~1,850
    // levels its recursive removal overflowed the stack, leaving the copies for good (an attack).
    if (!path.isAbsolute(file) || !isInside(mirrored, root) || file.split(path.sep).filter(Boolean).length > MAX_MIRRORED_DEPTH) continue;
    try {
      fs.mkdirSync(mirrored, { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(mirrored, path.basename(file)), bytes, { mode: 0o600, flag: 'wx' });
    } catch {
      continue;
    }
    preopens[dir] = mirrored;
  }
  return { preopens, cleanup };
}
