import os from 'node:os';
import path from 'node:path';
import type { Grants } from '../grants.js';
import type { SandboxGrants } from '../runtime/wasi.js';

/** The host facts a run's sandbox is computed from. */
export interface HostContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/**
 * Turns a plugin's stored grants into the concrete WASI capabilities for one run: argv[0] is the
 * `kubectl-<name>` link, HOME is preopened at its own absolute path, the initial cwd is reported
 * only when it lies inside a preopen, and `.` maps to it so that older wasi-libc builds (which ignore
 * initial-cwd) can still use relative paths.
 */
export function sandboxFor(grants: Grants, argv0: string, args: string[], host: HostContext): SandboxGrants {
  const env = selectEnv(grants, host.env);
  const preopens: Record<string, string> = {};
  let initialCwd: string | undefined;
  if (grants.filesystem === 'home') {
    const home = path.resolve(host.env.HOME || os.homedir());
    preopens[home] = home;
    if (isInside(host.cwd, home)) {
      initialCwd = host.cwd;
      preopens['.'] = host.cwd;
    }
  }
  return { args: [argv0, ...args], env, preopens, initialCwd };
}

function selectEnv(grants: Grants, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (grants.env === 'all' || grants.env.includes(key)) out[key] = value;
  }
  return out;
}

/** True when `child` is `parent` or below it (both absolute). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
