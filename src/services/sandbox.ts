import fs from 'node:fs';
import path from 'node:path';
import { isKrewWasmError, StoreConflictError } from '../errors.js';
import { envAllows, type Grants } from '../grants.js';
import type { SandboxGrants } from '../runtime/wasi.js';
import type { Settings } from '../settings.js';
import { makeTempDir } from '../store/fsutil.js';
import { pluginNameFromLink } from '../store/paths.js';

/** The host facts a run's sandbox is computed from. */
export interface HostContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
  settings: Settings;
}

/** A sandbox and what must be undone after the run. */
export interface PreparedSandbox {
  sandbox: SandboxGrants;
  cleanup(): void;
}

/**
 * Turns a plugin's stored grants into the concrete capabilities of one run: argv[0] is the
 * `kubectl-<name>` link; HOME (when granted) is preopened at its own absolute path and the
 * initial cwd is reported only inside it (also as `.`, for wasi-libc builds that ignore
 * initial-cwd); `kubeconfig` exposes read-only copies of exactly the kubeconfig files and the files
 * they reference, at their own paths; extra folders and the data folder are preopened as granted.
 */
export async function prepareSandbox(grants: Grants, argv0: string, args: string[], host: HostContext, dirs: { dataDir: string; tmpDir: string }): Promise<PreparedSandbox> {
  const { dataDir } = dirs;
  const env = selectEnv(grants, host.env);
  const preopens: Record<string, string> = {};
  const readOnly: string[] = [];
  const cleanups: (() => void)[] = [];
  let initialCwd: string | undefined;
  const home = host.settings.home;
  if (grants.filesystem === 'home') {
    preopens[home] = home;
    if (isInside(host.cwd, home)) {
      initialCwd = host.cwd;
      preopens['.'] = host.cwd;
    }
  } else if (grants.filesystem === 'kubeconfig') {
    const mirror = await mirrorKubeconfigFiles(host.env, args, dirs.tmpDir);
    if (mirror) {
      cleanups.push(mirror.cleanup);
      for (const [guest, hostDir] of Object.entries(mirror.preopens)) {
        preopens[guest] = hostDir;
        readOnly.push(guest);
      }
    }
  }
  for (const dir of grants.dirs) {
    if (!fs.existsSync(dir.path)) throw new StoreConflictError(`granted folder ${dir.path} does not exist`, { hint: `krew-wasm revoke ${pluginNameFromLink(argv0) ?? argv0} --allow-dir ${dir.path}` });
    preopens[dir.path] = dir.path;
    if (dir.readOnly) readOnly.push(dir.path);
  }
  if (grants.dataDir) {
    fs.mkdirSync(dataDir, { recursive: true });
    preopens[dataDir] = dataDir;
    env.KREW_WASM_DATA_DIR = dataDir;
  }
  return {
    sandbox: {
      args: [argv0, ...args],
      env,
      preopens,
      readOnlyPreopens: readOnly,
      initialCwd,
      timeoutMs: grants.timeoutSeconds ? grants.timeoutSeconds * 1000 : undefined,
      maxMemoryMiB: grants.maxMemoryMiB,
    },
    cleanup: () => cleanups.forEach((c) => c()),
  };
}

/**
 * Copies the kubeconfig files in use, and the certificate, key and token files they name, into a
 * private folder that mirrors their directories; each mirrored directory is preopened read-only
 * at the original path, so the plugin sees those files where kubectl would and nothing beside them.
 */
async function mirrorKubeconfigFiles(env: NodeJS.ProcessEnv, args: string[], tmpDir: string): Promise<{ preopens: Record<string, string>; cleanup(): void } | undefined> {
  // Loaded only for this grant: the YAML parser is not on the start-up path of other plugins.
  const { loadKubeconfig, overridesFromArgs, referencedFiles } = await import('../kube/kubeconfig.js');
  let files: string[];
  try {
    const merged = loadKubeconfig(env, overridesFromArgs(args));
    if (!merged) return undefined;
    files = referencedFiles(merged);
  } catch (error) {
    if (isKrewWasmError(error)) return undefined; // a broken kubeconfig: the plugin sees none, as without one
    throw error;
  }
  // Under the store's tmp/, named by pid: if this process is killed, the next command removes it.
  const root = makeTempDir(tmpDir, 'kube');
  fs.chmodSync(root, 0o700);
  const cleanup = () => fs.rmSync(root, { recursive: true, force: true });
  process.once('exit', cleanup);
  const preopens: Record<string, string> = {};
  for (const file of files) {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch {
      continue; // a missing referenced file fails for the plugin as it would for kubectl
    }
    const dir = path.dirname(file);
    const mirrored = path.join(root, dir);
    fs.mkdirSync(mirrored, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(mirrored, path.basename(file)), bytes, { mode: 0o600 });
    preopens[dir] = mirrored;
  }
  return { preopens, cleanup };
}

function selectEnv(grants: Grants, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (envAllows(grants.env, key)) out[key] = value;
  }
  return out;
}

/** True when `child` is `parent` or below it (both absolute). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
