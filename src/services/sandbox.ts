import fs from 'node:fs';
import path from 'node:path';
import { StoreConflictError } from '../errors.js';
import type { Grants } from '../grants.js';
import type { SandboxGrants } from '../runtime/wasi.js';
import type { Settings } from '../settings.js';

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
 * initial-cwd); `kubeconfig` exposes read-only copies of the kubeconfig files in use and the files
 * the selected context names (kube/mirror.ts), at their own paths; extra folders and the data
 * folder are preopened as granted.
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
    const mirror = await (await import('../kube/mirror.js')).mirrorKubeconfigFiles(host.env, args, dirs.tmpDir);
    if (mirror) {
      cleanups.push(mirror.cleanup);
      for (const [guest, hostDir] of Object.entries(mirror.preopens)) {
        preopens[guest] = hostDir;
        readOnly.push(guest);
      }
    }
  }
  for (const dir of grants.dirs) {
    if (!fs.existsSync(dir.path)) throw new StoreConflictError(`granted folder ${dir.path} does not exist`, { hint: `krew-wasm revoke <name> --allow-dir ${dir.path}` });
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

function selectEnv(grants: Grants, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (grants.env === 'all' || grants.env.includes(key)) out[key] = value;
  }
  return out;
}

/** True when `child` is `parent` or below it (both absolute). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
