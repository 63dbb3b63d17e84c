import fs from 'node:fs';
import path from 'node:path';
import { isKrewWasmError } from '../errors.js';
import { isInside, realpathOr } from '../hostPaths.js';
import { makeTempDir } from '../store/fsutil.js';
import { KUBECONFIG_COPY_PREFIX } from '../store/store.js';
import { MAX_CREDENTIAL_FILE_BYTES, readRegularFile } from './boundedRead.js';
import { CopyTooLarge, kubeconfigCopies, loadKubeconfig, overridesFromArgs, selectCluster, type Selection } from './kubeconfig.js';

/** Read-only preopens (guest path -> private host copy) and how to remove the copies. */
export interface KubeconfigMirror {
  preopens: Record<string, string>;
  cleanup(): void;
}

/**
 * For `--fs kubeconfig`: copies of the kubeconfig files in use, as krew-wasm reads them, with every
 * other user's credentials hidden (kubeconfigCopy.ts), and the CA, client certificate, key and token files that the SELECTED
 * context's cluster and user name (after the plugin's own --kubeconfig/--context/--cluster/--user),
 * into a private folder that mirrors their directories; each mirrored directory is preopened
 * read-only at the original path, so the plugin sees those files where kubectl would, and no other
 * user's key or token, in a file or inline. Files are read like every kubeconfig input: regular
 * files only, bounded. Undefined without a kubeconfig.
 */
export async function mirrorKubeconfigFiles(env: NodeJS.ProcessEnv, args: string[], tmpDir: string, protectedDirs: string[] = []): Promise<KubeconfigMirror | undefined> {
  const overrides = overridesFromArgs(args);
  const copies: { file: string; bytes: Buffer }[] = [];
  try {
    const merged = await loadKubeconfig(env, overrides);
    if (!merged) return undefined;
    let selection: Selection | undefined;
    try {
      selection = selectCluster(merged, overrides);
    } catch (error) {
      if (!isKrewWasmError(error)) throw error; // no usable context: the plugin sees the kubeconfig alone, as kubectl would fail
    }
    copies.push(...kubeconfigCopies(merged, selection?.userName));
    const kubeconfigs = new Set(await Promise.all(merged.files.map(fileId)));
    for (const written of selection ? selectedFiles(selection) : []) {
      // Mirrored at its real path, the one the kernel reads: a path as written may climb out of
      // the mirror's folder by text where the kernel follows a symlink (`L/../..`), which put a
      // file anywhere and a folder of it in the plugin's reach (found by an attack).
      const file = await realPath(written);
      if (file === undefined) continue; // missing: the plugin does not see it, and fails as kubectl would
      // A kubeconfig naming a file of krew-wasm's store or code does not make it readable, nor one
      // naming a kubeconfig file in use (as its token file, by any path or link) the other users'
      // credentials in it, nor one of the kernel's files, which say what the run itself holds
      // (/proc/self/environ: the variables --env keeps from the plugin; found by an attack).
      if (insideAny(file, protectedDirs) || isKernelFile(file) || kubeconfigs.has(await fileId(file))) continue;
      try {
        copies.push({ file, bytes: await readRegularFile(file, 'kubeconfig file', MAX_CREDENTIAL_FILE_BYTES) });
      } catch {
        // not a regular file or too big: the plugin does not see it, and fails as kubectl would
      }
    }
  } catch (error) {
    // A broken kubeconfig, or one whose copies would be too large: the plugin sees none, as without one.
    if (isKrewWasmError(error) || error instanceof CopyTooLarge) return undefined;
    throw error;
  }
  return writeMirror(copies, tmpDir);
}

/**
 * A file's device and inode (a hard link is the same file), or its path when it cannot be looked
 * at. Asynchronous, as every kubeconfig read: a hung filesystem must not block past --timeout.
 */
async function fileId(file: string): Promise<string> {
  try {
    const st = await fs.promises.stat(file, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch {
    return `path:${path.resolve(file)}`;
  }
}

/** Whether a file (a real path) is one of /proc, /sys or /dev. */
function isKernelFile(real: string): boolean {
  return /^\/(proc|sys|dev)(\/|$)/.test(real);
}

/** A file's real path, every symlink and `..` resolved as the kernel resolves them, or undefined when it cannot be had. */
async function realPath(file: string): Promise<string | undefined> {
  try {
    return await fs.promises.realpath(file);
  } catch {
    return undefined;
  }
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
    // normalized; this is the second line).
    if (!path.isAbsolute(file) || !isInside(mirrored, root)) continue;
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
