import os from 'node:os';
import path from 'node:path';
import { AuthError } from '../../errors.js';
import { LocalFileError, readRegularText } from '../../store/fsutil.js';
import { builtin } from '../../builtin.js';

/** Credentials for one registry: username/password, or an identity (refresh) token. */
export interface Credential {
  username?: string;
  password?: string;
  identityToken?: string;
}

/** Looks up credentials by registry host; never talks HTTP (see authClient for that). */
export type CredentialFunc = (registry: string) => Credential | undefined;

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** docker's config.json is small; a bigger one (or a FIFO, a device) is refused rather than read. */
const MAX_DOCKER_CONFIG_BYTES = 1024 * 1024;
/** What a credential helper may print. */
const MAX_HELPER_OUTPUT_BYTES = 1024 * 1024;
/** docker's own rule for helper names: they become part of a program name, never a path. */
const HELPER_NAME = /^[A-Za-z0-9._-]+$/;

/** Location of docker's config.json: $DOCKER_CONFIG/config.json or ~/.docker/config.json. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG || path.join(env.HOME || os.homedir(), '.docker');
  return path.join(dir, 'config.json');
}

/** Credentials from docker's config: credHelpers, then auths, then credsStore (docker's own order). */
export function dockerCredentials(env: NodeJS.ProcessEnv = process.env): CredentialFunc {
  let config: DockerConfig | undefined;
  const load = (): DockerConfig => {
    if (config) return config;
    const file = dockerConfigPath(env);
    let text: string;
    try {
      text = readRegularText(file, MAX_DOCKER_CONFIG_BYTES);
    } catch (error) {
      if (error instanceof LocalFileError && error.reason === 'missing') return (config = {});
      throw new AuthError(`cannot read docker config: ${(error as Error).message}`, { hint: 'DOCKER_CONFIG names the folder of config.json' });
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      config = parsed as DockerConfig;
    } catch (error) {
      throw new AuthError(`cannot read docker config ${file}: ${(error as Error).message}`);
    }
    return config;
  };
  return (registry) => {
    const cfg = load();
    const keys = registryKeys(registry);
    const helper = keys.map((k) => cfg.credHelpers?.[k]).find(Boolean);
    if (helper) return fromHelper(checkHelperName(helper, 'credHelpers', env), registry, env);
    for (const key of keys) {
      const entry: unknown = cfg.auths?.[key];
      if (entry) return fromAuthEntry(entry, registry);
    }
    if (cfg.credsStore) return fromHelper(checkHelperName(cfg.credsStore, 'credsStore', env), registry, env, true);
    return undefined;
  };
}

/** The keys docker may have stored a registry under. */
function registryKeys(registry: string): string[] {
  if (registry === 'docker.io' || registry === 'registry-1.docker.io' || registry === 'index.docker.io') {
    return ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'];
  }
  return [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
}

function fromAuthEntry(value: unknown, registry: string): Credential | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const raw = value as Record<string, unknown>;
  const text = (key: string) => (typeof raw[key] === 'string' ? (raw[key] as string) : undefined);
  const entry = { auth: text('auth'), username: text('username'), password: text('password'), identitytoken: text('identitytoken') };
  if (entry.identitytoken) return { identityToken: entry.identitytoken, username: entry.username };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new AuthError(`docker config: the auth entry for ${registry} is not base64 of user:password`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username || entry.password) return { username: entry.username, password: entry.password };
  return undefined;
}

/** A helper name becomes `docker-credential-<name>` on PATH: letters, digits, `.`, `_` and `-` only, never a path. */
function checkHelperName(name: unknown, field: string, env: NodeJS.ProcessEnv): string {
  if (typeof name === 'string' && HELPER_NAME.test(name)) return name;
  throw new AuthError(`docker config ${dockerConfigPath(env)}: ${field} names the credential helper ${JSON.stringify(name)}, which is not a helper name (letters, digits, '.', '_' and '-' only)`);
}

/** Runs `docker-credential-<helper> get` with the registry on stdin (docker-credential-helpers protocol). */
function fromHelper(helper: string, registry: string, env: NodeJS.ProcessEnv, optional = false): Credential | undefined {
  const program = `docker-credential-${helper}`;
  const result = builtin<typeof import('node:child_process')>('node:child_process').spawnSync(program, ['get'], { input: registry, env, encoding: 'utf8', timeout: 30_000, maxBuffer: MAX_HELPER_OUTPUT_BYTES });
  // A helper that exits without reading its stdin leaves EPIPE behind: its exit status still speaks.
  if (result.error && !((result.error as NodeJS.ErrnoException).code === 'EPIPE' && result.status !== null)) {
    if (optional && (result.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AuthError(`credential helper ${program} failed: ${result.error.message}`);
  }
  if (result.status !== 0) {
    // Helpers answer "credentials not found in native keychain" for unknown hosts: anonymous then.
    if (/not found/i.test(result.stdout + result.stderr)) return undefined;
    throw new AuthError(`credential helper ${program} exited with ${result.status}: ${(result.stderr || result.stdout).trim()}`);
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(result.stdout);
    if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
  } catch {
    throw new AuthError(`credential helper ${program} printed something that is not JSON`);
  }
  const username = typeof parsed.Username === 'string' ? parsed.Username : undefined;
  const secret = typeof parsed.Secret === 'string' ? parsed.Secret : undefined;
  if (username === '<token>') return { identityToken: secret };
  return { username, password: secret };
}
