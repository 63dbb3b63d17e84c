import path from 'node:path';
import { CliUsageError } from './errors.js';
import { isInside } from './hostPaths.js';

/** An extra host directory granted to a plugin (`--allow-dir PATH[:ro]`). */
export interface DirGrant {
  path: string;
  readOnly: boolean;
}

/**
 * Which environment variables a plugin sees: every one but some (`--env all`, then `revoke --env A`),
 * or only the listed ones (`--env A,B`). Receipts written before this shape held `'all'` or a
 * list; normalizeGrants reads those as all-except nothing and only-the-list.
 */
export type EnvGrant = { mode: 'all-except'; names: string[] } | { mode: 'only'; names: string[] };

export const ALL_ENV: EnvGrant = { mode: 'all-except', names: [] };

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
  /** The environment variables the plugin sees. */
  env: EnvGrant;
  /** `api-server`: outbound-http to the kubeconfig's API server; `none`: every request is refused. */
  network: 'api-server' | 'none';
  /** Wall-clock limit of one run, in seconds. */
  timeoutSeconds?: number;
  /** Cap on the plugin's linear memory, in MiB. */
  maxMemoryMiB?: number;
}

export const DEFAULT_GRANTS: Grants = { filesystem: 'home', dirs: [], dataDir: false, env: ALL_ENV, network: 'api-server' };

/** A change asked for on the command line; absent fields stay as they are. */
export interface GrantChanges {
  filesystem?: Grants['filesystem'];
  addDirs?: DirGrant[];
  removeDirs?: string[];
  dataDir?: boolean;
  env?: EnvGrant;
  /** Hide these variables (from all, or from the listed ones). */
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
  if (c.env) next.env = { mode: c.env.mode, names: [...c.env.names] };
  if (c.removeEnv) next.env = hideEnv(next.env, c.removeEnv);
  if (c.network) next.network = c.network;
  if (c.timeoutSeconds !== undefined) next.timeoutSeconds = c.timeoutSeconds ?? undefined;
  if (c.maxMemoryMiB !== undefined) next.maxMemoryMiB = c.maxMemoryMiB ?? undefined;
  return next;
}

/** The grant without `names`: added to an all-except list, taken out of an only list. */
export function hideEnv(env: EnvGrant, names: string[]): EnvGrant {
  if (env.mode === 'all-except') return { mode: 'all-except', names: [...new Set([...env.names, ...names])] };
  return { mode: 'only', names: env.names.filter((n) => !names.includes(n)) };
}

/** Whether a plugin with this grant sees the variable `name`. */
export function envAllows(env: EnvGrant, name: string): boolean {
  return env.mode === 'all-except' ? !env.names.includes(name) : env.names.includes(name);
}

/** `all`, `none` or `A,B,...` (as `--env` takes it). */
export function parseEnvGrant(spec: string): EnvGrant {
  if (spec === 'all') return ALL_ENV;
  if (spec === 'none') return { mode: 'only', names: [] };
  return { mode: 'only', names: parseEnvNames(spec) };
}

/** A comma-separated list of variable names; a name with `=` or white space is refused. */
export function parseEnvNames(spec: string): string[] {
  const names = spec.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.find((n) => /[=\s\0]/.test(n));
  if (bad !== undefined) throw new CliUsageError(`invalid environment variable name "${bad}"`, { hint: 'give names only, comma-separated, e.g. --env KUBECONFIG,HOME' });
  return [...new Set(names)];
}

/** Parses `PATH[:ro|:rw]` into an absolute directory grant. */
export function parseDirGrant(spec: string, cwd: string): DirGrant {
  const m = /^(.*?)(?::(ro|rw))?$/.exec(spec) as RegExpExecArray;
  return { path: path.resolve(cwd, m[1]), readOnly: m[2] === 'ro' };
}

/**
 * Lines a user can read: what the plugin will be able to do. `kubeconfigs` are the user's
 * kubeconfig files: a read-write folder holding one is said to be able to change it, as a
 * kubeconfig names commands (exec credentials) that kubectl and krew-wasm run on the host.
 */
export function describeGrants(g: Grants, kubeconfigs: string[] = [], realPathOf: (dir: string) => string | undefined = (dir) => dir): string[] {
  const fs = {
    // Said where the grant is given: read-write HOME includes what other programs run or trust later.
    home: 'home directory (read-write: it can change files other programs run or trust, such as ~/.bashrc and ~/.kube/config; --fs kubeconfig or none to restrict)',
    kubeconfig: 'kubeconfig files only (read-only)',
    none: 'no files',
  }[g.filesystem];
  const lines = [`files: ${fs}`];
  const readOnly = g.dirs.filter((d) => d.readOnly).map((d) => d.path);
  for (const d of g.dirs) lines.push(`files: ${d.path} (${d.readOnly ? 'read-only' : describeWritable(d.path, kubeconfigs, readOnly)}${describeLink(d.path, realPathOf)})`);
  if (g.dataDir) lines.push('files: a private data directory (read-write, KREW_WASM_DATA_DIR)');
  lines.push(`environment: ${describeEnv(g.env)}`);
  lines.push(`network: ${g.network === 'api-server' ? 'the Kubernetes API server of your kubeconfig' : 'none'}`);
  if (g.timeoutSeconds) lines.push(`time limit: ${g.timeoutSeconds} s`);
  if (g.maxMemoryMiB) lines.push(`memory limit: ${g.maxMemoryMiB} MiB`);
  return lines;
}

/** A kubeconfig inside a read-only grant is read-only through every grant (preopens.ts): not said to be changeable (found by an attack). */
function describeWritable(dir: string, kubeconfigs: string[], readOnly: string[]): string {
  const held = kubeconfigs.find((file) => isInside(file, dir) && !readOnly.some((ro) => isInside(file, ro)));
  return held ? `read-write: it can change your kubeconfig ${held}, whose exec credentials kubectl and krew-wasm run; add :ro to restrict` : 'read-write';
}

/**
 * Where a granted path leads now when a link on it leads elsewhere: a run opens the folder the
 * path names when it starts, and a link someone (another plugin, before its runs pinned the way)
 * left there is what the grant then reaches.
 */
function describeLink(dir: string, realPathOf: (dir: string) => string | undefined): string {
  const real = realPathOf(dir);
  if (real === undefined) return '; where it leads cannot be resolved now';
  return real === dir ? '' : `; through a link, it is now ${shownPath(real)}`;
}

/** What a path may show as it is: ASCII's printable characters, and letters, marks, digits, punctuation and symbols. */
const SHOWN_AS_IS = /[\x20-\x7e\p{L}\p{M}\p{N}\p{P}\p{S}]/u;

/**
 * A path as it is when every character of it shows as itself, else quoted with the others escaped:
 * where a link leads is another plugin's choice, and a folder named with a terminal's escape
 * sequences would write to the terminal that shows it, one with invisible or right-to-left
 * characters would show as another path (found by an attack).
 */
function shownPath(p: string): string {
  if ([...p].every((c) => SHOWN_AS_IS.test(c))) return p;
  const unit = (c: string, k: number) => `\\u${c.charCodeAt(k).toString(16).padStart(4, '0')}`;
  const escaped = [...p].map((c) => (SHOWN_AS_IS.test(c) && c !== '"' && c !== '\\' ? c : Array.from({ length: c.length }, (_, k) => unit(c, k)).join(''))).join('');
  return `"${escaped}"`;
}

function describeEnv(env: EnvGrant): string {
  if (env.mode === 'all-except') return env.names.length ? `all variables except ${env.names.join(', ')}` : 'all variables';
  return env.names.length ? env.names.join(', ') : 'none';
}

/** Reads a stored env grant, migrating the old `'all'` and plain-list forms. */
function normalizeEnv(value: unknown): EnvGrant {
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((n): n is string => typeof n === 'string') : []);
  if (Array.isArray(value)) return { mode: 'only', names: strings(value) };
  const e = value as { mode?: unknown; names?: unknown } | null;
  if (e?.mode === 'only') return { mode: 'only', names: strings(e.names) };
  if (e?.mode === 'all-except') return { mode: 'all-except', names: strings(e.names) };
  // 'all', absent, or something we cannot read: the default, as before.
  return ALL_ENV;
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
    env: normalizeEnv(g.env),
    network: g.network === 'none' ? 'none' : 'api-server',
    timeoutSeconds: positive(g.timeoutSeconds),
    maxMemoryMiB: positive(g.maxMemoryMiB),
  };
}
