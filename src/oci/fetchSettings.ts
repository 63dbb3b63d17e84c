import type { Settings } from '../settings.js';
import type { FetchOptions } from './fetch.js';
import { DEFAULT_BOUNDS } from './manifest.js';

// A module of its own: every registry command builds its options at start-up, and fetch.ts
// brings the HTTP transport (node:https, TLS) that only a command that transfers needs.

/** The parts of FetchOptions that come from Settings: transfer timeouts and the blob size bound. */
export function fetchSettings(settings: Pick<Settings, 'registryIdleTimeoutMs' | 'registryDeadlineMs' | 'maxBlobBytes'>): Pick<FetchOptions, 'idleTimeoutMs' | 'deadlineMs' | 'bounds'> {
  return {
    idleTimeoutMs: settings.registryIdleTimeoutMs,
    deadlineMs: settings.registryDeadlineMs,
    bounds: { ...DEFAULT_BOUNDS, maxBlobBytes: settings.maxBlobBytes },
  };
}
