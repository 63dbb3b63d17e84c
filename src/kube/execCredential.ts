/**
 * Runs an exec credential plugin (client.authentication.k8s.io ExecCredential) from its frozen
 * description, bounded: it runs in its own process group, which is ended as a whole at the time
 * limit; its output is capped; a background child it leaves holding stdout does not hold us.
 * Runs in the HTTP worker (never on the main thread: the guest waits there on Atomics.wait).
 */
import { spawn } from 'node:child_process';
import { fileIdentity, type FileIdentity, type FrozenExec } from './credentials.js';

/** What an exec plugin handed back (its ExecCredential status). */
export interface ExecStatus {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  expirationTimestamp?: string;
}

export type ExecOutcome = { ok: true; status: ExecStatus } | { ok: false; message: string };

/** Largest ExecCredential an exec plugin may print. */
export const MAX_EXEC_OUTPUT_BYTES = 1024 * 1024;
/** How long stdout may stay open after the plugin exited (a background child may hold it forever). */
const STDOUT_GRACE_MS = 200;

/** Hooks that let the main thread end the process group itself (at its deadline, or when it exits). */
export interface ExecHooks {
  spawned(pid: number): void;
  ended(): void;
}

export async function runExecCredential(exec: FrozenExec, limitMs: number, hooks: ExecHooks): Promise<ExecOutcome> {
  const name = `exec credential plugin ${exec.command}`;
  if (!exec.path || !exec.identity) return { ok: false, message: `${name} was not found when the plugin started` };
  if (exec.interactiveMode === 'Always') return { ok: false, message: `${name} needs a terminal (interactiveMode: Always), which krew-wasm does not give credential plugins` };
  let now: FileIdentity | undefined;
  try {
    now = await fileIdentity(exec.path);
  } catch {
    now = undefined;
  }
  if (!now || !sameFile(now, exec.identity)) {
    const where = exec.path === exec.command ? '' : ` (${exec.path})`;
    return { ok: false, message: `${name}${where} changed after the plugin started; it was not run` };
  }
  const result = await spawnBounded(exec, limitMs, hooks);
  if (!result.ok) return { ok: false, message: `${name} ${result.message}` };
  return parseExecCredential(result.stdout, exec, name);
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

type Spawned = { ok: true; stdout: string } | { ok: false; message: string };

function spawnBounded(exec: FrozenExec, limitMs: number, hooks: ExecHooks): Promise<Spawned> {
  return new Promise((resolve) => {
    let settled = false;
    const chunks: Buffer[] = [];
    let size = 0;
    let exitStatus: string | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    // detached: the plugin leads a process group of its own, so that the group can be ended as a whole.
    const child = spawn(exec.path!, exec.args, { argv0: exec.command, env: exec.env, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const finish = (outcome: Spawned) => {
      if (settled) return;
      settled = true;
      clearTimeout(limitTimer);
      clearTimeout(graceTimer);
      child.stdout?.destroy();
      hooks.ended();
      resolve(outcome);
    };
    const limitTimer = setTimeout(() => {
      killGroup();
      finish({ ok: false, message: `did not finish within ${formatSeconds(limitMs)}; its process group was ended` });
    }, limitMs);
    if (child.pid) hooks.spawned(child.pid);
    child.on('error', (error) => finish({ ok: false, message: `could not run: ${(error as NodeJS.ErrnoException).code ?? error.message}` }));
    child.stdout!.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_EXEC_OUTPUT_BYTES) {
        killGroup();
        finish({ ok: false, message: `printed more than ${MAX_EXEC_OUTPUT_BYTES} bytes; its process group was ended` });
        return;
      }
      chunks.push(chunk);
    });
    const done = () => {
      if (exitStatus === undefined) return;
      if (exitStatus !== 'ok') finish({ ok: false, message: exitStatus });
      else finish({ ok: true, stdout: Buffer.concat(chunks).toString('utf8') });
    };
    child.stdout!.on('end', done);
    child.on('exit', (code, signal) => {
      exitStatus = code === 0 ? 'ok' : signal ? `was ended by ${signal}` : `exited with status ${code}`;
      hooks.ended();
      // Normally stdout ends with the process; a background child that inherited it may keep it
      // open for ever, so what arrived within a short grace is the answer. (setImmediate: after a
      // stalled event loop, timers run before pending reads; the check phase runs after them.)
      graceTimer = setTimeout(() => setImmediate(done), STDOUT_GRACE_MS);
      if (child.stdout!.readableEnded) done();
    });
  });
}

function parseExecCredential(stdout: string, exec: FrozenExec, name: string): ExecOutcome {
  let parsed: { apiVersion?: unknown; kind?: unknown; status?: unknown };
  try {
    parsed = JSON.parse(stdout);
  } catch {
    return { ok: false, message: `${name} printed something that is not an ExecCredential` };
  }
  if (parsed?.kind !== 'ExecCredential' || typeof parsed.status !== 'object' || parsed.status === null) {
    return { ok: false, message: `${name} returned no ExecCredential status` };
  }
  if (parsed.apiVersion !== undefined && parsed.apiVersion !== exec.apiVersion) {
    return { ok: false, message: `${name} returned apiVersion ${String(parsed.apiVersion)}, expected ${exec.apiVersion}` };
  }
  const s = parsed.status as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
  const status: ExecStatus = {
    token: str(s.token),
    clientCertificateData: str(s.clientCertificateData),
    clientKeyData: str(s.clientKeyData),
    expirationTimestamp: str(s.expirationTimestamp),
  };
  if (!status.token && !(status.clientCertificateData && status.clientKeyData)) {
    return { ok: false, message: `${name} returned neither a token nor a client certificate and key` };
  }
  return { ok: true, status };
}

function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
