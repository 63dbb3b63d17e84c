import path from 'node:path';

/** An extra host directory granted to a plugin (`--allow-dir PATH[:ro]`). */
export interface DirGrant {
  path: string;
  readOnly: boolean;
}

/**
 * What an installed plugin may touch. Stored with its receipt, applied on every run
 * (wasmtime-style explicit capabilities), changed with `krew-wasm grant` / `revoke`.
 * The defaults match the original krew-wasm: HOME read-write, all env, the API server.
 */
export interface Grants {
  /** `home`: HOME read-write; `kubeconfig`: only the kubeconfig files in use and the files they reference, read-only; `none`. */
  filesystem: 'home' | 'kubeconfig' | 'none';
  /** Extra directories, each at its own absolute path. */
  dirs: DirGrant[];
  /** A private writable directory under the store, announced in KREW_WASM_DATA_DIR. */
  dataDir: boolean;
  /** `all` environment variables, or only the listed names. */
  env: 'all' | string[];
  /** `api-server`: outbound-http to the kubeconfig's API server; `none`: every request is refused. */
  network: 'api-server' | 'none';
  /** Wall-clock limit of one run, in seconds. */
  timeoutSeconds?: number;
  /** Cap on the plugin's linear memory, in MiB. */
  maxMemoryMiB?: number;
}

export const DEFAULT_GRANTS: Grants = { filesystem: 'home', dirs: [], dataDir: false, env: 'all', network: 'api-server' };

/** A change asked for on the command line; absent fields stay as they are. */
export interface GrantChanges {
  filesystem?: Grants['filesystem'];
  addDirs?: DirGrant[];
  removeDirs?: string[];
  dataDir?: boolean;
  env?: Grants['env'];
  addEnv?: string[];
  removeEnv?: string[];
  network?: Grants['network'];
  timeoutSeconds?: number | null;
  maxMemoryMiB?: number | null;
}

/** Applies changes to a grant set (pure). */
export function applyGrantChanges(current: Grants, c: GrantChanges): Grants {
  const next: Grants = { ...current, dirs: [...current.dirs] };
  if (c.filesystem) next.filesystem = c.filesystem;
  for (const dir of c.addDirs ?? []) {
    next.dirs = next.dirs.filter((d) => d.path !== dir.path);
    next.dirs.push(dir);
  }
  if (c.removeDirs) next.dirs = next.dirs.filter((d) => !c.removeDirs!.includes(d.path));
  if (c.dataDir !== undefined) next.dataDir = c.dataDir;
  if (c.env) next.env = c.env;
  if (c.addEnv && next.env !== 'all') next.env = [...new Set([...next.env, ...c.addEnv])];
  if (c.removeEnv) next.env = (next.env === 'all' ? [] : next.env).filter((n) => !c.removeEnv!.includes(n));
  if (c.network) next.network = c.network;
  if (c.timeoutSeconds !== undefined) next.timeoutSeconds = c.timeoutSeconds ?? undefined;
  if (c.maxMemoryMiB !== undefined) next.maxMemoryMiB = c.maxMemoryMiB ?? undefined;
  return next;
}

/** Parses `PATH[:ro|:rw]` into an absolute directory grant. */
export function parseDirGrant(spec: string, cwd: string): DirGrant {
  const m = /^(.*?)(?::(ro|rw))?$/.exec(spec) as RegExpExecArray;
  return { path: path.resolve(cwd, m[1]), readOnly: m[2] === 'ro' };
}

/** Lines a user can read: what the plugin will be able to do. */
export function describeGrants(g: Grants): string[] {
  const fs = { home: 'home directory (read-write)', kubeconfig: 'kubeconfig files only (read-only)', none: 'no files' }[g.filesystem];
  const lines = [`files: ${fs}`];
  for (const d of g.dirs) lines.push(`files: ${d.path} (${d.readOnly ? 'read-only' : 'read-write'})`);
  if (g.dataDir) lines.push('files: a private data directory (read-write, KREW_WASM_DATA_DIR)');
  lines.push(`environment: ${g.env === 'all' ? 'all variables' : g.env.length ? g.env.join(', ') : 'none'}`);
  lines.push(`network: ${g.network === 'api-server' ? 'the Kubernetes API server of your kubeconfig' : 'none'}`);
  if (g.timeoutSeconds) lines.push(`time limit: ${g.timeoutSeconds} s`);
  if (g.maxMemoryMiB) lines.push(`memory limit: ${g.maxMemoryMiB} MiB`);
  return lines;
}

/** Validates grants read from disk, filling defaults for missing fields. */
export function normalizeGrants(value: unknown): Grants {
  const g = (typeof value === 'object' && value !== null ? value : {}) as Partial<Grants>;
  const positive = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined);
  return {
    filesystem: g.filesystem === 'none' || g.filesystem === 'kubeconfig' ? g.filesystem : 'home',
    dirs: Array.isArray(g.dirs)
      ? g.dirs.filter((d): d is DirGrant => typeof d?.path === 'string' && path.isAbsolute(d.path)).map((d) => ({ path: d.path, readOnly: d.readOnly === true }))
      : [],
    dataDir: g.dataDir === true,
    env: Array.isArray(g.env) ? g.env.filter((n): n is string => typeof n === 'string') : 'all',
    network: g.network === 'none' ? 'none' : 'api-server',
    timeoutSeconds: positive(g.timeoutSeconds),
    maxMemoryMiB: positive(g.maxMemoryMiB),
  };
}
