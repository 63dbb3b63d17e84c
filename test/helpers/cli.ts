import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { awaitBackgroundCompiles } from '../../testkit/backgroundCompiles.js';

/** Repository root (tests run from dist/test/helpers). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.join(ROOT, 'bin/krew-wasm.js');
export const FIXTURES = path.join(ROOT, 'test/fixtures/build');

/** What a finished process did. */
export interface Outcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** An isolated user: own HOME, store root, docker config and no kubeconfig, nothing of KREW_WASM_* leaking in. */
export interface Sandbox {
  home: string;
  root: string;
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

export function makeSandbox(extraEnv: NodeJS.ProcessEnv = {}): Sandbox {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-test-'));
  const home = path.join(base, 'home');
  const root = path.join(home, '.krew-wasm');
  fs.mkdirSync(home, { recursive: true });
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('KREW_WASM_') || k === 'KUBECONFIG' || k === 'DOCKER_CONFIG') continue;
    env[k] = v;
  }
  Object.assign(env, { HOME: home, KREW_WASM_ROOT: root, DOCKER_CONFIG: path.join(home, '.docker') }, extraEnv);
  const cleanup = () => {
    awaitBackgroundCompiles(root);
    fs.rmSync(base, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  };
  return { home, root, env, cleanup };
}

/** Runs a program to completion and collects its output. */
export function runProcess(
  file: string,
  args: string[],
  options: SpawnOptions & { input?: string | Buffer; timeoutMs?: number } = {},
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...options, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      recordMessages(stderr);
      resolve({ exitCode, signal, stdout, stderr });
    });
    child.stdin!.on('error', () => {});
    child.stdin!.end(options.input);
  });
}

/**
 * How a spawned child ended, once what it wrote to the pipes the test reads has all arrived:
 * 'exit' can come before the last chunk of stderr (on a loaded CI machine a run that exited 124
 * showed no error line yet). `unread` pipes are let go at exit, or they would hold 'close' forever.
 * Call it right after spawn.
 */
export function ended(child: ChildProcess, unread: { destroy(): void }[] = []): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  child.once('exit', () => unread.forEach((stream) => stream.destroy()));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
}

/**
 * Keeps every `krew-wasm:` line a process printed, when scripts/run-tests.sh asks for it
 * (KREW_WASM_TEST_MESSAGE_LOG, a folder): test/docs/errors.check.ts then checks that every
 * message docs/errors.md lists was printed by some test.
 */
function recordMessages(stderr: string): void {
  const dir = process.env.KREW_WASM_TEST_MESSAGE_LOG;
  if (!dir) return;
  const lines = stderr.split('\n').filter((l) => l.startsWith('krew-wasm:'));
  if (lines.length) fs.appendFileSync(path.join(dir, `${process.pid}.log`), `${lines.join('\n')}\n`);
}

/** `krew-wasm ARGS` in a sandbox. */
export function krewWasm(sb: Sandbox, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Outcome> {
  return runProcess(process.execPath, [BIN, ...args], { cwd: options.cwd ?? sb.home, env: { ...sb.env, ...options.env }, input: options.input });
}

/** Runs an installed plugin through its kubectl-* link, as kubectl would. */
export function runLink(sb: Sandbox, name: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Outcome> {
  const link = path.join(sb.root, 'bin', `kubectl-${name.replace(/-/g, '_')}`);
  return runProcess(link, args, { cwd: options.cwd ?? sb.home, env: { ...sb.env, ...options.env }, input: options.input });
}

/** A snapshot of every path under the store root with its type and size, for "store unchanged" checks. */
export function storeSnapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      const rel = path.relative(root, full);
      if (e.isDirectory()) {
        if (rel === 'tmp' || rel === 'lock') continue;
        out.push(`${rel}/`);
        walk(full);
      } else if (e.isSymbolicLink()) out.push(`${rel} -> ${fs.readlinkSync(full)}`);
      else out.push(`${rel} ${fs.statSync(full).size}`);
    }
  };
  walk(root);
  return out.sort();
}

/** Whether a command exists on PATH. */
export function hasCommand(name: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The one error line a failed command printed (progress lines aside); throws unless there is exactly one. */
export function theError(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('krew-wasm:'));
  if (lines.length !== 1) throw new Error(`expected exactly one error line, got:\n${stderr}`);
  if (stderr.includes('    at ')) throw new Error(`stack trace in:\n${stderr}`);
  return lines[0];
}

/**
 * `krew-wasm ARGS` with stdout and stderr on a pseudo-terminal, through util-linux `script`, as a
 * person at a terminal would run it; what the terminal showed is returned as stdout (CRLF as LF).
 */
export async function krewWasmInTerminal(sb: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, BIN, ...args].map(quote).join(' ');
  const full: NodeJS.ProcessEnv = { ...sb.env, TERM: 'xterm-256color', ...env };
  if (!('NO_COLOR' in env)) delete full.NO_COLOR;
  const r = await runProcess('script', ['-qefc', command, '/dev/null'], { cwd: sb.home, env: full });
  return { ...r, stdout: r.stdout.replace(/\r\n/g, '\n') };
}

/**
 * Real `kubectl ARGS` with the sandbox's krew-wasm bin folder first on PATH, as a user runs a
 * plugin. There is no fallback: when kubectl is missing the spawn fails and so does the test.
 */
export function kubectl(sb: Sandbox, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; pathPrefix?: string[] } = {}): Promise<Outcome> {
  const prefix = [...(options.pathPrefix ?? []), path.join(sb.root, 'bin')];
  const env = { ...sb.env, ...options.env, PATH: [...prefix, options.env?.PATH ?? sb.env.PATH ?? ''].join(path.delimiter) };
  return runProcess('kubectl', args, { cwd: options.cwd ?? sb.home, env, input: options.input });
}
