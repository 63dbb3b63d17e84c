import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { KubeconfigError } from '../errors.js';
import type { Cluster, ExecConfig, Selection, User } from './kubeconfig.js';

/** How to reach the API server: TLS material and the Authorization header, all as plain data. */
export interface ConnectionSettings {
  ca?: string[];
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  servername?: string;
  authorization?: string;
}

/** The cluster's CA and TLS settings alone (for requests whose plugin brings its own credentials). */
export function clusterTls(cluster: Cluster): ConnectionSettings {
  const ca = cluster.certificateAuthorityData
    ? [decodeBase64(cluster.certificateAuthorityData, 'certificate-authority-data')]
    : cluster.certificateAuthority
      ? [readFile(cluster.certificateAuthority, 'certificate-authority')]
      : undefined;
  return { ca, rejectUnauthorized: !cluster.insecureSkipTlsVerify, servername: cluster.tlsServerName };
}

/**
 * Everything kubectl would send for the selected user: token or tokenFile, client certificate,
 * basic auth, or an exec credential plugin (run once per process and cached until it expires).
 */
export function userCredentials(selection: Selection, env: NodeJS.ProcessEnv): ConnectionSettings {
  const settings = clusterTls(selection.cluster);
  const user = selection.user;
  let cert = user.clientCertificateData ? decodeBase64(user.clientCertificateData, 'client-certificate-data') : user.clientCertificate ? readFile(user.clientCertificate, 'client-certificate') : undefined;
  let key = user.clientKeyData ? decodeBase64(user.clientKeyData, 'client-key-data') : user.clientKey ? readFile(user.clientKey, 'client-key') : undefined;
  let authorization: string | undefined;
  if (user.token) authorization = `Bearer ${user.token}`;
  else if (user.tokenFile) authorization = `Bearer ${readFile(user.tokenFile, 'tokenFile').trim()}`;
  else if (user.username !== undefined || user.password !== undefined) {
    authorization = `Basic ${Buffer.from(`${user.username ?? ''}:${user.password ?? ''}`).toString('base64')}`;
  } else if (user.exec) {
    const status = execCredential(user.exec, selection, env);
    if (status.token) authorization = `Bearer ${status.token}`;
    cert = status.clientCertificateData ?? cert;
    key = status.clientKeyData ?? key;
  }
  return { ...settings, cert, key, authorization };
}

interface ExecStatus {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  expirationTimestamp?: string;
}

const execCache = new Map<string, ExecStatus>();

/** Runs an exec credential plugin (client.authentication.k8s.io ExecCredential), as client-go does. */
function execCredential(exec: ExecConfig, selection: Selection, env: NodeJS.ProcessEnv): ExecStatus {
  const cacheKey = JSON.stringify([exec, selection.clusterName]);
  const cached = execCache.get(cacheKey);
  if (cached && (!cached.expirationTimestamp || Date.parse(cached.expirationTimestamp) > Date.now())) return cached;
  const apiVersion = exec.apiVersion ?? 'client.authentication.k8s.io/v1';
  const info: Record<string, unknown> = { apiVersion, kind: 'ExecCredential', spec: { interactive: false } };
  if (exec.provideClusterInfo) {
    const c = selection.cluster;
    (info.spec as Record<string, unknown>).cluster = {
      server: c.server,
      'tls-server-name': c.tlsServerName,
      'insecure-skip-tls-verify': c.insecureSkipTlsVerify,
      'certificate-authority-data': c.certificateAuthorityData ?? (c.certificateAuthority ? Buffer.from(readFile(c.certificateAuthority, 'certificate-authority')).toString('base64') : undefined),
    };
  }
  const childEnv: NodeJS.ProcessEnv = { ...env, KUBERNETES_EXEC_INFO: JSON.stringify(info) };
  for (const e of exec.env ?? []) childEnv[e.name] = e.value;
  const result = spawnSync(exec.command, exec.args ?? [], { env: childEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 60_000 });
  if (result.error) throw new KubeconfigError(`exec credential plugin ${exec.command} could not run: ${result.error.message}`);
  if (result.status !== 0) throw new KubeconfigError(`exec credential plugin ${exec.command} exited with ${result.status}`);
  let parsed: { kind?: string; status?: ExecStatus };
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new KubeconfigError(`exec credential plugin ${exec.command} printed something that is not an ExecCredential`);
  }
  if (parsed.kind !== 'ExecCredential' || !parsed.status) {
    throw new KubeconfigError(`exec credential plugin ${exec.command} returned no ExecCredential status`);
  }
  execCache.set(cacheKey, parsed.status);
  return parsed.status;
}

function readFile(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new KubeconfigError(`cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function decodeBase64(data: string, what: string): string {
  const text = Buffer.from(data, 'base64').toString('utf8');
  if (!text.includes('-----BEGIN')) throw new KubeconfigError(`${what} is not base64-encoded PEM`);
  return text;
}

export type { User };
