/**
 * What an installed plugin may touch. Stored with its receipt and applied on every run
 * (wasmtime-style explicit capabilities). The defaults match the original krew-wasm.
 */
export interface Grants {
  /** `home`: HOME read-write; `none`: no host filesystem. */
  filesystem: 'home' | 'none';
  /** `all` environment variables, or only the listed names. */
  env: 'all' | string[];
  /** `api-server`: outbound-http to the kubeconfig's API server; `none`: every request is refused. */
  network: 'api-server' | 'none';
}

export const DEFAULT_GRANTS: Grants = { filesystem: 'home', env: 'all', network: 'api-server' };

/** One line a user can read: what the plugin will be able to do. */
export function describeGrants(g: Grants): string {
  const fs = g.filesystem === 'home' ? 'home directory (read-write)' : 'no files';
  const env = g.env === 'all' ? 'all environment variables' : `environment ${g.env.length ? g.env.join(',') : '(none)'}`;
  const net = g.network === 'api-server' ? 'the Kubernetes API server of your kubeconfig' : 'no network';
  return `${fs}; ${env}; network: ${net}`;
}

/** Validates grants read from disk, filling defaults for missing fields. */
export function normalizeGrants(value: unknown): Grants {
  const g = (typeof value === 'object' && value !== null ? value : {}) as Partial<Grants>;
  return {
    filesystem: g.filesystem === 'none' ? 'none' : 'home',
    env: Array.isArray(g.env) ? g.env.filter((n): n is string => typeof n === 'string') : 'all',
    network: g.network === 'none' ? 'none' : 'api-server',
  };
}
