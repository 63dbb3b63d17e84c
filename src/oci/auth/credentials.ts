import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuthError } from '../../errors.js';

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
    try {
      config = JSON.parse(fs.readFileSync(file, 'utf8')) as DockerConfig;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') config = {};
      else throw new AuthError(`cannot read docker config ${file}: ${(error as Error).message}`);
    }
    return config;
  };
  return (registry) => {
    const cfg = load();
    const keys = registryKeys(registry);
    const helper = keys.map((k) => cfg.credHelpers?.[k]).find(Boolean);
    if (helper) return fromHelper(helper, registry, env);
    for (const key of keys) {
      const entry = cfg.auths?.[key];
      if (entry) return fromAuthEntry(entry, registry);
    }
    if (cfg.credsStore) return fromHelper(cfg.credsStore, registry, env, true);
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

function fromAuthEntry(entry: NonNullable<DockerConfig['auths']>[string], registry: string): Credential | undefined {
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

/** Runs `docker-credential-<helper> get` with the registry on stdin (docker-credential-helpers protocol). */
function fromHelper(helper: string, registry: string, env: NodeJS.ProcessEnv, optional = false): Credential | undefined {
  const program = `docker-credential-${helper}`;
  const result = spawnSync(program, ['get'], { input: registry, env, encoding: 'utf8', timeout: 30_000 });
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
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new AuthError(`credential helper ${program} printed something that is not JSON`);
  }
  if (parsed.Username === '<token>') return { identityToken: parsed.Secret };
  return { username: parsed.Username, password: parsed.Secret };
}
