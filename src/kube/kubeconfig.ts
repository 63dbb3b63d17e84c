import path from 'node:path';
import { KubeconfigError } from '../errors.js';
import { MAX_KUBECONFIG_BYTES, readRegularFileAs } from './boundedRead.js';
import { kubeconfigFiles, type Overrides } from './kubeconfigFiles.js';
import { namedEntry, parseYaml, str, type Named } from './kubeconfigYaml.js';

export { kubeconfigFiles, type Overrides };
// Here, not imported from ./kubeconfigCopy.js by its users: in the wrapper this file is a sibling
// bundle (scripts/bundle.mjs), loaded only by the runs that read a kubeconfig.
export { CopyTooLarge, kubeconfigCopies } from './kubeconfigCopy.js';

/** A cluster entry with file references already resolved against the kubeconfig that named them. */
export interface Cluster {
  server: string;
  certificateAuthority?: string;
  certificateAuthorityData?: string;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  proxyUrl?: string;
  disableCompression?: boolean;
  /** The cluster's `client.authentication.k8s.io/exec` extension, as YAML read it: for exec plugins that ask for the cluster. */
  execExtension?: unknown;
}

/** The cluster extension client-go hands an exec plugin as `spec.cluster.config` (provideClusterInfo). */
const EXEC_EXTENSION = 'client.authentication.k8s.io/exec';

export interface ExecConfig {
  apiVersion?: string;
  command: string;
  args?: string[];
  env?: { name: string; value: string }[];
  provideClusterInfo?: boolean;
  interactiveMode?: string;
}

/** A user (AuthInfo) entry, file references resolved. */
export interface User {
  token?: string;
  tokenFile?: string;
  clientCertificate?: string;
  clientCertificateData?: string;
  clientKey?: string;
  clientKeyData?: string;
  username?: string;
  password?: string;
  exec?: ExecConfig;
}

/** What a plugin run talks to: the cluster and user of the selected context. */
export interface Selection {
  contextName?: string;
  clusterName: string;
  cluster: Cluster;
  userName?: string;
  user: User;
  namespace?: string;
  /** The kubeconfig files that were read, in precedence order. */
  files: string[];
  /**
   * Those of them that choose the user's credentials (`user`) and the cluster's (`cluster`, its CA):
   * each at or before the first file defining an entry that picks them (the user or cluster itself,
   * the context that names it unless --user or --cluster does, the current context unless --context
   * does), any of which, written, would define that entry first (first wins).
   */
  decidingFiles?: { user: string[]; cluster: string[] };
}

/** kubectl's flags that pick a kubeconfig, context, cluster or user (arrive as plugin arguments). */

/** The kubeconfig files in use, merged; `sources` keeps the bytes read, so nothing is read twice. */
export interface MergedKubeconfig {
  clusters: Map<string, Cluster>;
  users: Map<string, User>;
  contexts: Map<string, { cluster?: string; user?: string; namespace?: string }>;
  currentContext?: string;
  files: string[];
  /** The index in `files` of the file each entry (`cluster:<name>`, `user:…`, `context:…`, `current-context`) comes from. */
  definedIn: Map<string, number>;
  /** Each file as read, with its `<device>:<inode>` and the kernel's path for it when read from disk. */
  sources: { file: string; bytes: Buffer; id?: string; real?: string }[];
  /** Each source as parsed, in the same order (shared with nothing: never changed in place). */
  documents: Record<string, unknown>[];
}
type Merged = MergedKubeconfig;

/** Reads kubectl's selection flags out of a plugin's arguments (`--context x` and `--context=x`), up to `--`. */
export function overridesFromArgs(args: string[]): Overrides {
  const out: Overrides = {};
  const flags: Record<string, keyof Overrides> = { '--kubeconfig': 'kubeconfig', '--context': 'context', '--cluster': 'cluster', '--user': 'user' };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') break;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const key = flags[flag];
    if (!key) continue;
    const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (value !== undefined) out[key] = value; // the last one given wins, as in kubectl's flags
  }
  // An empty value is no override, as for kubectl (`--context=` is the current context).
  for (const key of Object.keys(out) as (keyof Overrides)[]) if (!out[key]) delete out[key];
  return out;
}

/**
 * Loads and merges kubeconfig files exactly as client-go does: missing files in KUBECONFIG are
 * skipped, the first file to define a cluster/user/context name wins, current-context is the
 * first non-empty one, and relative paths are resolved against the file that names them.
 * Each file is read once, only if it is a regular file of at most 16 MiB; with `realPaths`, each
 * source also says the kernel's path for the file read (the mirror places its copy there).
 * Resolves with undefined when there is no kubeconfig at all.
 */
export async function loadKubeconfig(env: NodeJS.ProcessEnv, overrides: Overrides = {}, options: { realPaths?: boolean } = {}): Promise<Merged | undefined> {
  const sources: { file: string; bytes: Buffer; id?: string; real?: string }[] = [];
  for (const file of kubeconfigFiles(env, overrides)) {
    try {
      sources.push({ file, ...(await readRegularFileAs(file, 'kubeconfig', MAX_KUBECONFIG_BYTES, { realPath: options.realPaths })) });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        if (!overrides.kubeconfig) continue;
        throw new KubeconfigError(`cannot read kubeconfig ${file}: ENOENT`);
      }
      throw error;
    }
  }
  return mergeKubeconfigs(sources);
}

/** Merges kubeconfig files already read (pure): see loadKubeconfig. */
export function mergeKubeconfigs(sources: { file: string; bytes: Buffer; id?: string; real?: string }[]): Merged | undefined {
  const merged: Merged = { clusters: new Map(), users: new Map(), contexts: new Map(), files: [], definedIn: new Map(), sources, documents: [] };
  for (const { file, bytes } of sources) {
    merged.files.push(file);
    merged.documents.push(mergeFile(merged, file, bytes.toString('utf8')));
  }
  return merged.files.length > 0 ? merged : undefined;
}

function mergeFile(merged: Merged, file: string, text: string): Record<string, unknown> {
  let doc: Record<string, unknown>;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new KubeconfigError(`kubeconfig ${file} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new KubeconfigError(`kubeconfig ${file} is not a mapping`);
  const dir = path.dirname(file);
  const index = merged.files.length - 1;
  const define = (key: string) => void (merged.definedIn.has(key) || merged.definedIn.set(key, index));
  for (const { name, value } of namedList<Record<string, unknown>>(doc.clusters, 'cluster', file)) {
    if (!merged.clusters.has(name)) merged.clusters.set(name, toCluster(value, dir));
    define(`cluster:${name}`);
  }
  for (const { name, value } of namedList<Record<string, unknown>>(doc.users, 'user', file)) {
    if (!merged.users.has(name)) merged.users.set(name, toUser(value, dir, `user "${name}" of kubeconfig ${file}`));
    define(`user:${name}`);
  }
  for (const { name, value } of namedList<Record<string, unknown>>(doc.contexts, 'context', file)) {
    if (!merged.contexts.has(name)) merged.contexts.set(name, { cluster: str(value.cluster), user: str(value.user), namespace: str(value.namespace) });
    define(`context:${name}`);
  }
  const current = str(doc['current-context']);
  if (!merged.currentContext && current) {
    merged.currentContext = current;
    define('current-context');
  }
  return doc;
}

/** Picks the cluster and user a run talks to, honouring --context/--cluster/--user. */
export function selectCluster(merged: Merged, overrides: Overrides = {}): Selection {
  const contextName = overrides.context ?? merged.currentContext;
  const context = contextName ? merged.contexts.get(contextName) : undefined;
  if (contextName && !context && !(overrides.cluster && overrides.context === undefined)) {
    throw new KubeconfigError(`context "${contextName}" does not exist in ${merged.files.join(', ')}`);
  }
  const clusterName = overrides.cluster ?? context?.cluster;
  if (!clusterName) throw new KubeconfigError(`no cluster selected: set current-context or pass --context/--cluster (${merged.files.join(', ')})`);
  const cluster = merged.clusters.get(clusterName);
  if (!cluster) throw new KubeconfigError(`cluster "${clusterName}" does not exist in ${merged.files.join(', ')}`);
  // As client-go: no cluster to talk to at all, whoever brings the TLS settings (found by an attack).
  if (cluster.insecureSkipTlsVerify && (cluster.certificateAuthority || cluster.certificateAuthorityData)) {
    throw new KubeconfigError(`cluster "${clusterName}" has both a certificate authority and insecure-skip-tls-verify: true, which kubectl refuses too (specifying a root certificates file with the insecure flag is not allowed)`);
  }
  const userName = overrides.user ?? context?.user;
  const user = userName ? merged.users.get(userName) : undefined;
  if (userName && !user) throw new KubeconfigError(`user "${userName}" does not exist in ${merged.files.join(', ')}`);
  const picking = (entry: string, override: string | undefined) => [entry, ...(override === undefined && contextName ? [`context:${contextName}`, ...(overrides.context === undefined ? ['current-context'] : [])] : [])];
  const decidedBy = (keys: string[]) => merged.files.slice(0, Math.max(...keys.map((key) => merged.definedIn.get(key) ?? -1)) + 1);
  return {
    contextName, clusterName, cluster, userName, user: user ?? {}, namespace: context?.namespace, files: merged.files,
    decidingFiles: { user: userName ? decidedBy(picking(`user:${userName}`, overrides.user)) : [], cluster: decidedBy(picking(`cluster:${clusterName}`, overrides.cluster)) },
  };
}

function namedList<T>(value: unknown, key: string, file: string): Named<T>[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new KubeconfigError(`kubeconfig ${file}: "${key}s" is not a list`);
  return value.flatMap((entry) => {
    const named = namedEntry<T>(entry, key);
    return named ? [named] : [];
  });
}

function toCluster(v: Record<string, unknown>, dir: string): Cluster {
  return {
    server: str(v.server) ?? '',
    certificateAuthority: resolvePath(str(v['certificate-authority']), dir),
    certificateAuthorityData: str(v['certificate-authority-data']),
    insecureSkipTlsVerify: v['insecure-skip-tls-verify'] === true,
    tlsServerName: str(v['tls-server-name']),
    proxyUrl: str(v['proxy-url']),
    disableCompression: v['disable-compression'] === true,
    execExtension: Array.isArray(v.extensions) ? v.extensions.find((e) => namedEntry(e, 'extension')?.name === EXEC_EXTENSION)?.extension : undefined,
  };
}

function toUser(v: Record<string, unknown>, dir: string, where: string): User {
  const exec = v.exec as Record<string, unknown> | undefined;
  const command = str(exec?.command);
  return {
    token: str(v.token),
    tokenFile: resolvePath(str(v.tokenFile), dir),
    clientCertificate: resolvePath(str(v['client-certificate']), dir),
    clientCertificateData: str(v['client-certificate-data']),
    clientKey: resolvePath(str(v['client-key']), dir),
    clientKeyData: str(v['client-key-data']),
    username: str(v.username),
    password: str(v.password),
    exec: exec && command
      ? {
          apiVersion: str(exec.apiVersion),
          // client-go resolves a relative command only when it names a path, not a PATH lookup.
          command: command.includes('/') ? (resolvePath(command, dir) as string) : command,
          args: execArgs(exec.args, where),
          env: execEnv(exec.env, where),
          provideClusterInfo: exec.provideClusterInfo === true,
          interactiveMode: str(exec.interactiveMode),
        }
      : undefined,
  };
}

/** An exec plugin's arguments: strings, as kubectl reads them (it refuses a kubeconfig with others). */
function execArgs(args: unknown, where: string): string[] | undefined {
  if (args === undefined || args === null) return undefined;
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw new KubeconfigError(`${where}: exec args must be a list of strings`);
  return args;
}

/** An exec plugin's extra environment: name and value strings, as kubectl reads them. */
function execEnv(env: unknown, where: string): { name: string; value: string }[] | undefined {
  if (env === undefined || env === null) return undefined;
  const valid = (e: unknown) => {
    const { name, value } = (typeof e === 'object' && e !== null ? e : {}) as { name?: unknown; value?: unknown };
    return typeof name === 'string' && (value === undefined || typeof value === 'string');
  };
  if (!Array.isArray(env) || !env.every(valid)) throw new KubeconfigError(`${where}: exec env must be a list of name and value strings`);
  return (env as { name: string; value?: string }[]).map((e) => ({ name: e.name, value: e.value ?? '' }));
}

/** As client-go's ResolvePath: a relative path is the kubeconfig's folder's, `~/` included (no shell expands it). */
function resolvePath(p: string | undefined, dir: string): string | undefined {
  if (!p) return undefined;
  return path.isAbsolute(p) ? p : path.join(dir, p);
}
