import fs from 'node:fs';
import path from 'node:path';
import { isKrewWasmError, KubeconfigError } from '../errors.js';
import { reachedThrough, resolvePath } from '../hostPaths.js';
import { readCredentialFile as readFile } from './boundedRead.js';
import type { ExecConfig, Selection } from './kubeconfig.js';

/** TLS settings of a connection to the API server, as plain data (they cross to the HTTP worker). */
export interface TlsSettings {
  ca?: string[];
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  servername?: string;
  checkHostname: boolean;
}

/** What a file was when the run started: any later write changes its ctime, any replacement its inode. */
export interface FileIdentity {
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

/** An exec credential plugin exactly as configured before the run: the worker runs only this. */
export interface FrozenExec {
  /** The command as written in the kubeconfig (messages and argv[0]). */
  command: string;
  /** The program found when the run started (PATH looked up then), or undefined when there was none. */
  path?: string;
  /** The program's identity then: it is not run if it changed since. */
  identity?: FileIdentity;
  args: string[];
  /** The whole environment of the child, KUBERNETES_EXEC_INFO included. */
  env: Record<string, string>;
  apiVersion: string;
  interactiveMode?: string;
}

/**
 * The selected user's and cluster's credentials, read once before the plugin starts: literal
 * values, the contents of token/certificate/key/CA files, and the exec plugin's description.
 * A file that could not be read is kept as the error, reported when a request needs it.
 */
export interface SettledCredentials {
  /** CA and server-name settings every request to this cluster uses. */
  clusterTls: TlsSettings;
  clusterError?: KubeconfigError;
  /** The user's static credentials. */
  authorization?: string;
  cert?: string;
  key?: string;
  userError?: KubeconfigError;
  exec?: FrozenExec;
}

const DEFAULT_EXEC_API_VERSION = 'client.authentication.k8s.io/v1';

/**
 * Reads every credential the selected context names (see SettledCredentials). `writable`: the
 * folders the plugin may write, for the user's credentials and for the cluster's, each when no
 * kubeconfig file the plugin may write picks them (networkContext.ts). No file is read, and no exec
 * plugin run, whose path looks a name up in one of them: there the plugin chooses what the name is,
 * and a symlink in place of the token file, to a file the plugin cannot read, made its requests
 * carry another user's token (found by an attack).
 */
export async function settleCredentials(selection: Selection, env: NodeJS.ProcessEnv, writable: { user: string[]; cluster: string[]; readOnly?: string[] } = { user: [], cluster: [] }): Promise<SettledCredentials> {
  const { cluster, user } = selection;
  const refuseUser = refusingReachable(writable.user, writable.readOnly);
  const reading = (refuse: Refuse) => (file: string, what: string) => {
    refuse(file, what);
    return readFile(file, what);
  };
  const readClusterFile = reading(refusingReachable(writable.cluster, writable.readOnly));
  const readCredentialFile = reading(refuseUser);
  const settled: SettledCredentials = {
    clusterTls: { rejectUnauthorized: !cluster.insecureSkipTlsVerify, servername: cluster.tlsServerName, checkHostname: true },
  };
  try {
    const ca = cluster.certificateAuthorityData
      ? decodePem(cluster.certificateAuthorityData, 'certificate-authority-data')
      : cluster.certificateAuthority ? await readClusterFile(cluster.certificateAuthority, 'certificate-authority') : undefined;
    if (ca) settled.clusterTls.ca = [ca];
  } catch (error) {
    settled.clusterError = asKubeconfigError(error);
  }
  try {
    // As client-go (HasCertAuth): a client certificate is presented only when its key is given too.
    const certGiven = user.clientCertificateData !== undefined || user.clientCertificate !== undefined;
    const keyGiven = user.clientKeyData !== undefined || user.clientKey !== undefined;
    if (certGiven && keyGiven) {
      settled.cert = user.clientCertificateData ? decodePem(user.clientCertificateData, 'client-certificate-data')
        : pemOf(await readCredentialFile(user.clientCertificate!, 'client-certificate'), `client-certificate ${user.clientCertificate}`, CERTIFICATE_PEM, 'certificate');
      settled.key = user.clientKeyData ? decodePem(user.clientKeyData, 'client-key-data')
        : pemOf(await readCredentialFile(user.clientKey!, 'client-key'), `client-key ${user.clientKey}`, PRIVATE_KEY_PEM, 'private key');
    }
    if (user.tokenFile) settled.authorization = `Bearer ${await bearerToken(user.tokenFile, user.token, refuseUser)}`;
    else if (user.token) settled.authorization = `Bearer ${user.token}`;
    else if (user.username !== undefined || user.password !== undefined) {
      settled.authorization = `Basic ${Buffer.from(`${user.username ?? ''}:${user.password ?? ''}`).toString('base64')}`;
    } else if (user.exec) {
      settled.exec = await freezeExec(user.exec, selection, settled.clusterTls.ca?.[0], env, refuseUser);
    }
  } catch (error) {
    settled.userError = asKubeconfigError(error);
  }
  return settled;
}

/**
 * As client-go: a token file's content wins over `token` whenever it can be read, and `token` is
 * what is sent when it cannot (client-go's BearerTokenFile "takes precedence over BearerToken").
 */
async function bearerToken(tokenFile: string, token: string | undefined, refuse: Refuse): Promise<string> {
  // Refused before the fallback to `token`: a file the plugin may redirect is said, never skipped.
  refuse(tokenFile, 'tokenFile');
  try {
    return (await readFile(tokenFile, 'tokenFile')).trim();
  } catch (error) {
    if (token) return token;
    throw error;
  }
}

/** The exec plugin's command (looked up on PATH now), arguments and environment, as client-go would run them. */
async function freezeExec(exec: ExecConfig, selection: Selection, caPem: string | undefined, env: NodeJS.ProcessEnv, refuse: Refuse): Promise<FrozenExec> {
  const apiVersion = exec.apiVersion ?? DEFAULT_EXEC_API_VERSION;
  const spec: Record<string, unknown> = { interactive: false };
  if (exec.provideClusterInfo) {
    const c = selection.cluster;
    spec.cluster = {
      server: c.server,
      'tls-server-name': c.tlsServerName,
      'insecure-skip-tls-verify': c.insecureSkipTlsVerify,
      'certificate-authority-data': caPem ? Buffer.from(caPem).toString('base64') : undefined,
      'proxy-url': c.proxyUrl,
      'disable-compression': c.disableCompression || undefined,
      config: c.execExtension,
    };
  }
  // No prototype: an exec env name `__proto__` is a variable like any other.
  const childEnv: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  for (const e of exec.env ?? []) childEnv[e.name] = e.value;
  childEnv.KUBERNETES_EXEC_INFO = execInfoJson({ apiVersion, kind: 'ExecCredential', spec }, selection.clusterName);
  const found = await findProgram(exec.command, env.PATH ?? '');
  if (found) refuse(found.path, 'exec credential plugin', '; it was not run');
  return {
    command: exec.command,
    path: found?.path,
    identity: found?.identity,
    args: exec.args ?? [],
    env: childEnv,
    apiVersion,
    interactiveMode: exec.interactiveMode,
  };
}

/**
 * The most KUBERNETES_EXEC_INFO may hold, in bytes: Linux takes no environment string longer than
 * 128 KiB (MAX_ARG_STRLEN, its name included), so a longer one could never reach the exec plugin.
 */
const MAX_EXEC_INFO_BYTES = 128 * 1024 - 'KUBERNETES_EXEC_INFO='.length - 1;

/**
 * KUBERNETES_EXEC_INFO as JSON. The cluster's exec extension is YAML as written, whose aliases
 * JSON writes out in full: 100 nested aliases would be 2^100 values (an alias bomb planted in a
 * kubeconfig), and one long string aliased many times gigabytes, so what is written is counted as
 * it is written (each string at up to 6 bytes a character, escaped) and bounded.
 */
function execInfoJson(info: unknown, clusterName: string): string {
  const refused = (why: string) => new KubeconfigError(`the client.authentication.k8s.io/exec extension of cluster "${clusterName}" cannot be given to its exec credential plugin: ${why}`);
  let bytes = 0;
  try {
    const json = JSON.stringify(info, (key, value: unknown) => {
      bytes += key.length * 6 + 8 + (typeof value === 'string' ? value.length * 6 : 0);
      if (bytes > MAX_EXEC_INFO_BYTES * 6) throw refused(`it is larger than ${MAX_EXEC_INFO_BYTES} bytes, more than an environment variable may hold`);
      return value;
    });
    if (Buffer.byteLength(json) > MAX_EXEC_INFO_BYTES) throw refused(`it is larger than ${MAX_EXEC_INFO_BYTES} bytes, more than an environment variable may hold`);
    return json;
  } catch (error) {
    if (error instanceof KubeconfigError) throw error;
    if (error instanceof TypeError) throw refused('it refers to itself (a recursive YAML alias)'); // JSON.stringify's circular structure
    throw refused('it is nested too deeply'); // RangeError: the call stack
  }
}

/** Finds a program as execvp would (a name with a slash as is, else the first executable on PATH). */
async function findProgram(command: string, searchPath: string): Promise<{ path: string; identity: FileIdentity } | undefined> {
  // Absolute: the program is run by this path, never looked up on PATH again (a `.` entry found it
  // in the cwd, where the run then took the plugin's program from a writable folder earlier on PATH:
  // found by an attack).
  const candidates = command.includes('/') ? [resolvePath(command)] : searchPath.split(path.delimiter).filter(Boolean).map((dir) => resolvePath(path.join(dir, command)));
  for (const candidate of candidates) {
    try {
      await fs.promises.access(candidate, fs.constants.X_OK);
      const identity = await fileIdentity(candidate);
      if (identity) return { path: candidate, identity };
    } catch {
      // not here: try the next PATH entry
    }
  }
  return undefined;
}

/** The identity of a regular file (following symlinks), or undefined when it is something else. */
export async function fileIdentity(file: string): Promise<FileIdentity | undefined> {
  const st = await fs.promises.stat(file, { bigint: true });
  if (!st.isFile()) return undefined;
  return { dev: String(st.dev), ino: String(st.ino), size: String(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs) };
}

/** Throws when the plugin may redirect a credential file's (or program's) path (see settleCredentials). */
type Refuse = (file: string, what: string, outcome?: string) => void;

function refusingReachable(writableDirs: string[], readOnlyDirs: string[] = []): Refuse {
  return (file, what, outcome = '') => {
    const dir = reachedThrough(file, writableDirs, { readOnlyDirs });
    if (dir !== undefined) throw new KubeconfigError(`${what} ${file} is reached through ${dir}, a folder the plugin may write${outcome}`);
  };
}

const CERTIFICATE_PEM = /-----BEGIN CERTIFICATE-----/;
const PRIVATE_KEY_PEM = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/;

/**
 * A credential file's PEM text, when it holds what it is for: TLS refuses anything else when the
 * request's connection is made, far from the file's name.
 */
function pemOf(text: string, what: string, pem: RegExp, holds: string): string {
  if (!pem.test(text)) throw new KubeconfigError(`${what} holds no PEM-encoded ${holds}`);
  return text;
}

function decodePem(data: string, what: string): string {
  const text = Buffer.from(data, 'base64').toString('utf8');
  if (!text.includes('-----BEGIN')) throw new KubeconfigError(`${what} is not base64-encoded PEM`);
  return text;
}

function asKubeconfigError(error: unknown): KubeconfigError {
  return isKrewWasmError(error) && error.code === 'E_KUBECONFIG' ? (error as KubeconfigError) : new KubeconfigError((error as Error).message, { cause: error });
}
