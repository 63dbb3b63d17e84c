import { builtin } from './builtin.js';
import path from 'node:path';
import { resolvePath } from './hostPaths.js';

/**
 * Everything krew-wasm reads from its own environment variables, read once at start-up and passed
 * down (as Yarn's Configuration is). No other module reads `KREW_WASM_*`; a plugin's environment
 * (what it is granted) is a different thing and is not read from here.
 */
export interface Settings {
  /** The store root (`KREW_WASM_ROOT`, default `~/.krew-wasm`), absolute. */
  root: string;
  /** The user's home directory (`HOME`, else the OS's idea of it), absolute. */
  home: string;
  /** Stack traces with errors, transport details of failed plugin requests (`KREW_WASM_VERBOSE=1`). */
  verbose: boolean;
  /** Start-up phase times on stderr in wrapper mode (`KREW_WASM_TRACE=1`). */
  trace: boolean;
  /** `pull` prints download, transpile and commit times (`KREW_WASM_TIMINGS=1`). */
  timings: boolean;
  /** Registry transfers: give up when no byte arrives for this long (`KREW_WASM_REGISTRY_IDLE_TIMEOUT_MS`, 30 s). */
  registryIdleTimeoutMs: number;
  /** Registry transfers: overall deadline of one request, body included (`KREW_WASM_REGISTRY_DEADLINE_MS`, 10 min). */
  registryDeadlineMs: number;
  /** Largest wasm layer `pull` accepts (`KREW_WASM_MAX_BLOB_BYTES`, 512 MiB). */
  maxBlobBytes: number;
  /** Plugin requests: time limit of one request, connect to last byte (`KREW_WASM_HTTP_TIMEOUT_MS`, 60 s). */
  pluginHttpTimeoutMs: number;
  /** Largest response body a plugin receives through outbound-http (`KREW_WASM_MAX_RESPONSE_BYTES`, 64 MiB). */
  maxResponseBytes: number;
  /** Kubeconfig credentials (reading the files, an exec plugin) without a --timeout: give up after this (`KREW_WASM_CREDENTIAL_TIMEOUT_MS`, 60 s). */
  credentialTimeoutMs: number;
  /** V8 flags for plugin runs replacing the automatic choice (`KREW_WASM_V8_FLAGS`). */
  v8Flags?: string;
}

export const DEFAULTS = {
  registryIdleTimeoutMs: 30_000,
  registryDeadlineMs: 10 * 60_000,
  maxBlobBytes: 512 * 1024 * 1024,
  pluginHttpTimeoutMs: 60_000,
  maxResponseBytes: 64 * 1024 * 1024,
  credentialTimeoutMs: 60_000,
} as const;

/** Reads the settings from an environment (process.env by default). Malformed numbers fall back to defaults. */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  const home = resolvePath(env.HOME || builtin<typeof import('node:os')>('node:os').homedir());
  const flag = (name: string) => env[name] === '1' || env[name] === 'true';
  const positive = (name: string, fallback: number) => {
    const value = Number(env[name]);
    return Number.isSafeInteger(value) && value > 0 ? value : fallback;
  };
  return {
    root: env.KREW_WASM_ROOT ? resolvePath(env.KREW_WASM_ROOT) : path.join(home, '.krew-wasm'),
    home,
    verbose: flag('KREW_WASM_VERBOSE'),
    trace: flag('KREW_WASM_TRACE'),
    timings: flag('KREW_WASM_TIMINGS'),
    // KREW_WASM_HTTP_TIMEOUT_MS once meant both timeouts; it still sets the registry's idle timeout when the new name is unset.
    registryIdleTimeoutMs: positive('KREW_WASM_REGISTRY_IDLE_TIMEOUT_MS', positive('KREW_WASM_HTTP_TIMEOUT_MS', DEFAULTS.registryIdleTimeoutMs)),
    registryDeadlineMs: positive('KREW_WASM_REGISTRY_DEADLINE_MS', DEFAULTS.registryDeadlineMs),
    maxBlobBytes: positive('KREW_WASM_MAX_BLOB_BYTES', DEFAULTS.maxBlobBytes),
    pluginHttpTimeoutMs: positive('KREW_WASM_HTTP_TIMEOUT_MS', DEFAULTS.pluginHttpTimeoutMs),
    maxResponseBytes: positive('KREW_WASM_MAX_RESPONSE_BYTES', DEFAULTS.maxResponseBytes),
    credentialTimeoutMs: positive('KREW_WASM_CREDENTIAL_TIMEOUT_MS', DEFAULTS.credentialTimeoutMs),
    v8Flags: env.KREW_WASM_V8_FLAGS || undefined,
  };
}
