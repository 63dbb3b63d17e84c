import { isKrewWasmError } from '../../errors.js';

/**
 * WASI error values as the guest receives them. jco turns a thrown string into the `err` case of
 * a `result<_, error-code>`; anything else thrown from a host call is a host failure, so every
 * host function converts Node's errors here, at the boundary, once.
 */

/** wasi:filesystem/types error-code. */
export type FsErrorCode =
  | 'access' | 'would-block' | 'already' | 'bad-descriptor' | 'busy' | 'deadlock' | 'quota' | 'exist'
  | 'file-too-large' | 'illegal-byte-sequence' | 'in-progress' | 'interrupted' | 'invalid' | 'io'
  | 'is-directory' | 'loop' | 'too-many-links' | 'message-size' | 'name-too-long' | 'no-device' | 'no-entry'
  | 'no-lock' | 'insufficient-memory' | 'insufficient-space' | 'not-directory' | 'not-empty' | 'not-recoverable'
  | 'unsupported' | 'no-tty' | 'no-such-device' | 'overflow' | 'not-permitted' | 'pipe' | 'read-only'
  | 'invalid-seek' | 'text-file-busy' | 'cross-device';

const ERRNO: Record<string, FsErrorCode> = {
  EACCES: 'access', EAGAIN: 'would-block', EWOULDBLOCK: 'would-block', EALREADY: 'already', EBADF: 'bad-descriptor',
  EBUSY: 'busy', EDEADLK: 'deadlock', EDQUOT: 'quota', EEXIST: 'exist', EFBIG: 'file-too-large',
  EILSEQ: 'illegal-byte-sequence', EINPROGRESS: 'in-progress', EINTR: 'interrupted', EINVAL: 'invalid', EIO: 'io',
  EISDIR: 'is-directory', ELOOP: 'loop', EMLINK: 'too-many-links', EMSGSIZE: 'message-size',
  ENAMETOOLONG: 'name-too-long', ENODEV: 'no-device', ENOENT: 'no-entry', ENOLCK: 'no-lock',
  ENOMEM: 'insufficient-memory', ENOSPC: 'insufficient-space', ENOTDIR: 'not-directory', ENOTEMPTY: 'not-empty',
  ENOTRECOVERABLE: 'not-recoverable', ENOTSUP: 'unsupported', EOPNOTSUPP: 'unsupported', ENOTTY: 'no-tty',
  ENXIO: 'no-such-device', EOVERFLOW: 'overflow', EPERM: 'not-permitted', EPIPE: 'pipe', EROFS: 'read-only',
  ESPIPE: 'invalid-seek', ETXTBSY: 'text-file-busy', EXDEV: 'cross-device',
};

/** Node error -> WASI error-code; anything unknown is `io` (never a crash of the run). */
export function fsErrorCode(error: unknown): FsErrorCode {
  if (typeof error === 'string') return error as FsErrorCode;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code && ERRNO[code]) return ERRNO[code];
  // Node rejects some arguments before any syscall (a NUL byte in a path, say): the guest gave bad input.
  if (code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_OUT_OF_RANGE') return 'invalid';
  return 'io';
}

/**
 * Whether a thrown value must pass through untouched: our own control flow (exit, limits), or a
 * krew-wasm failure that ends the run (a grant found unusable at the filesystem's first use:
 * preopens.ts DeferredFs), not a WASI error.
 */
export function isHostControl(error: unknown): boolean {
  return (error !== null && typeof error === 'object' && (error as { hostControl?: unknown }).hostControl === true) || isKrewWasmError(error);
}

/** Runs a host operation and throws only WASI error-codes (or host control signals) to the guest. */
export function guarded<T>(operation: () => T): T {
  try {
    return operation();
  } catch (error) {
    if (isHostControl(error)) throw error;
    throw fsErrorCode(error);
  }
}
