import { printable, printableLine } from './printable.js';

/**
 * Every failure a user can meet is one of these classes. Services throw them; only the CLI's
 * BaseCommand and wrapper mode turn them into a one-line message (see formatError).
 * Codes are stable and append-only: tests and users may match on them.
 */
export class KrewWasmError extends Error {
  /** Stable machine-readable code, e.g. `E_INVALID_REFERENCE`. */
  readonly code: string = 'E_KREW_WASM';
  /** Process exit code used when this error ends a command. */
  readonly exitCode: number = 1;
  /** Optional next step shown after the message. */
  readonly hint?: string;

  constructor(message: string, options: { cause?: unknown; hint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/**
 * krew-wasm's own output could not be written where stdout goes (a full disk, a device that fails).
 * A reader that is gone (`krew-wasm list | head -1`) is not one: the rest is dropped quietly.
 */
export class OutputError extends KrewWasmError {
  override readonly code = 'E_OUTPUT';
}

/** The folder krew-wasm was started in was removed: a command's relative paths have nothing to resolve against. */
export class WorkingFolderError extends KrewWasmError {
  override readonly code = 'E_WORKING_FOLDER';
}

/** A reference that does not parse as registry/repository[:tag][@digest] or a supported local source. */
export class InvalidReferenceError extends KrewWasmError {
  override readonly code = 'E_INVALID_REFERENCE';
}

/** The registry answered with an error status, or could not be reached. */
export class RegistryError extends KrewWasmError {
  override readonly code = 'E_REGISTRY';
}

/** Credentials were missing, refused, or could not be obtained. */
export class AuthError extends KrewWasmError {
  override readonly code = 'E_AUTH';
}

/** Downloaded bytes did not match the digest or size the manifest promised. */
export class DigestMismatchError extends KrewWasmError {
  override readonly code = 'E_DIGEST_MISMATCH';
}

/** The artifact is not a wasm plugin we can install (media types, platform, bounds). */
export class UnsupportedArtifactError extends KrewWasmError {
  override readonly code = 'E_UNSUPPORTED_ARTIFACT';
}

/** The blob is not a wasm component or a WASI preview1 command module. */
export class InvalidPluginError extends KrewWasmError {
  override readonly code = 'E_INVALID_PLUGIN';
}

/** The named plugin is not installed, or its store entry is damaged. */
export class NotInstalledError extends KrewWasmError {
  override readonly code = 'E_NOT_INSTALLED';
}

/** A store mutation was refused: name clash, foreign file in the way, bad name. */
export class StoreConflictError extends KrewWasmError {
  override readonly code = 'E_STORE_CONFLICT';
}

/** The kubeconfig could not be read or does not name what was asked for. */
export class KubeconfigError extends KrewWasmError {
  override readonly code = 'E_KUBECONFIG';
}

/** The plugin trapped or failed while running. */
export class PluginRuntimeError extends KrewWasmError {
  override readonly code = 'E_PLUGIN_RUNTIME';
}

/** The exit status of a run that passed its --timeout, as timeout(1)'s. */
export const TIMEOUT_EXIT_CODE = 124;

/** The plugin ran past its granted time limit (exit 124, as timeout(1)). */
export class PluginTimeoutError extends KrewWasmError {
  override readonly code = 'E_PLUGIN_TIMEOUT';
  override readonly exitCode = TIMEOUT_EXIT_CODE;
}

/** The plugin needed more linear memory than granted (exit 125). */
export class PluginMemoryError extends KrewWasmError {
  override readonly code = 'E_PLUGIN_MEMORY';
  override readonly exitCode = 125;
}

/**
 * Whether a value is one of our errors. By shape, not instanceof: wrapper mode loads the
 * outbound-http host and the kubeconfig loader as separate bundles with their own copies of these classes.
 */
export function isKrewWasmError(error: unknown): error is KrewWasmError {
  return error instanceof Error && typeof (error as KrewWasmError).code === 'string' && (error as KrewWasmError).code.startsWith('E_')
    && typeof (error as KrewWasmError).exitCode === 'number';
}

/**
 * Turns any thrown value into the single line a user sees (no stack unless verbose). `subject`
 * names what failed when one command does several things (`pull a b c`: the source).
 */
export function formatError(error: unknown, verbose: boolean, subject?: string): string {
  if (verbose && error instanceof Error && error.stack) return `krew-wasm: ${printable(error.stack)}`;
  if (isKrewWasmError(error)) {
    const hint = error.hint ? ` (${oneLine(error.hint)})` : '';
    const message = oneLine(error.message);
    const about = subject && !message.includes(subject) ? `${oneLine(subject)}: ` : '';
    return `krew-wasm: error: ${about}${message}${hint}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `krew-wasm: internal error: ${oneLine(message)} (run with KREW_WASM_VERBOSE=1 for details)`;
}

/** Exit code for a thrown value. */
export function exitCodeOf(error: unknown): number {
  return isKrewWasmError(error) ? error.exitCode : 1;
}

/**
 * A message as the one line a user sees: printable (it quotes registries, artifacts and components:
 * src/printable.ts), and cut at MAX_MESSAGE characters.
 */
function oneLine(text: string): string {
  const line = printableLine(text);
  return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE)}…` : line;
}

/** Longer than any message krew-wasm writes itself with the longest path Linux allows in it. */
const MAX_MESSAGE = 8192;

/** A plugin's grants cannot be applied: a granted folder is missing, or lies inside krew-wasm's own files. */
export class GrantError extends KrewWasmError {
  override readonly code = 'E_GRANT';
}

/** The command line itself is wrong: unknown command or option, missing or malformed value (exit 2, as most CLIs). */
export class CliUsageError extends KrewWasmError {
  override readonly code = 'E_USAGE';
  override readonly exitCode = 2;
}

/** The one wording of "not installed", wherever a name is looked up (CLI, store, wrapper mode). */
export function notInstalledError(names: string[]): NotInstalledError {
  const quoted = names.map((n) => `"${n}"`).join(', ');
  const what = names.length === 1 ? `plugin ${quoted} is not installed` : `plugins ${quoted} are not installed`;
  const install = names.length === 1 ? `, or install it with krew-wasm pull <reference> --name ${names[0]}` : '';
  return new NotInstalledError(what, { hint: `see krew-wasm list${install}` });
}

/** The first non-blank line of what a library threw (tools put their details on the lines after it). */
export function firstLineOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').find((l) => l.trim().length > 0)?.trim() ?? 'unknown error';
}

/** A file system error code in words, for messages about files the user named. */
export function fileProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT': return 'does not exist';
    case 'EACCES': case 'EPERM': return 'cannot be read (permission denied)';
    case 'EISDIR': return 'is a folder, not a file';
    case 'ENOTDIR': return 'is not a folder';
    case 'ELOOP': return 'is a symbolic link loop';
    case 'ENAMETOOLONG': return 'is too long a path';
    default: return `cannot be read (${code ?? (error instanceof Error ? error.message : String(error))})`;
  }
}

/** One entry of a registry's `errors[]` body (distribution spec, "Error Codes"), e.g. `MANIFEST_UNKNOWN`. */
export interface RegistryErrorDetail {
  code: string;
  message?: string;
}

/**
 * The registry, or a server it redirected to, answered with an error status. Keeps what oras-go's
 * errcode.ErrorResponse keeps (method, URL, status, the registry's `errors[]`), so callers decide
 * on facts rather than on message text. `retryable` is the one retry policy's verdict.
 */
export class RegistryResponseError extends RegistryError {
  readonly method: string;
  /** The request URL without its query (signed storage URLs carry secrets there). */
  readonly url: string;
  readonly status: number;
  readonly errors: RegistryErrorDetail[];
  readonly retryable: boolean;
  /** Short cause for a retry notice, e.g. `status 503 (UNAVAILABLE)`. */
  readonly why: string;

  constructor(
    message: string,
    details: { method: string; url: URL | string; status: number; errors?: RegistryErrorDetail[]; retryable: boolean } = { method: '', url: '', status: 0, retryable: false },
    options: { cause?: unknown; hint?: string } = {},
  ) {
    super(message, options);
    this.method = details.method;
    this.url = withoutQuery(details.url);
    this.status = details.status;
    this.errors = details.errors ?? [];
    this.retryable = details.retryable;
    const codes = this.errors.map((e) => e.code).filter(Boolean).join(', ');
    this.why = `status ${details.status}${codes ? ` (${codes})` : ''}`;
  }
}

/** How a registry transfer failed before a complete answer arrived. */
export type TransferFailure =
  | 'dns' | 'refused' | 'reset' | 'tls' | 'no-response' | 'stalled' | 'deadline' | 'truncated' | 'size' | 'redirect' | 'other';

/**
 * The registry could not be reached, did not answer in time, or a transfer broke off. `waitedMs`
 * says how long krew-wasm waited when it gave up on time.
 */
export class RegistryTransferError extends RegistryError {
  readonly method: string;
  readonly url: string;
  readonly reason: TransferFailure;
  readonly retryable: boolean;
  readonly waitedMs?: number;
  /** Short cause for a retry notice, e.g. `connection refused`. */
  readonly why: string;

  constructor(
    message: string,
    details: { method: string; url: URL | string; reason: TransferFailure; retryable: boolean; why: string; waitedMs?: number } = { method: '', url: '', reason: 'other', retryable: false, why: message },
    options: { cause?: unknown; hint?: string } = {},
  ) {
    super(message, options);
    this.method = details.method;
    this.url = withoutQuery(details.url);
    this.reason = details.reason;
    this.retryable = details.retryable;
    this.waitedMs = details.waitedMs;
    this.why = details.why;
  }
}

/** A receipt under receipts/ failed its check (syntax, digests, known fields, grant schema); nothing of it is used. */
export class DamagedReceiptError extends KrewWasmError {
  override readonly code = 'E_DAMAGED_RECEIPT';
  /** The plugin name (the receipt's file name). */
  readonly pluginName: string;

  constructor(message: string, options: { pluginName?: string; cause?: unknown; hint?: string } = {}) {
    super(message, options);
    this.pluginName = options.pluginName ?? '';
  }
}

/** Several independent operations ran (`pull a b c`, `upgrade`) and at least one failed; each was reported. */
export class PartialFailureError extends KrewWasmError {
  override readonly code = 'E_PARTIAL_FAILURE';
}

function withoutQuery(url: URL | string): string {
  const text = String(url);
  const cut = text.search(/[?#]/);
  return cut >= 0 ? text.slice(0, cut) : text;
}
