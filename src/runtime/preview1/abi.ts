/**
 * The wasi_snapshot_preview1 ABI: numbers and record layouts (witx, `wasi_snapshot_preview1.witx`),
 * and the mapping from wasi:filesystem error-codes to preview1 errnos.
 */

export const ERRNO = {
  SUCCESS: 0, '2BIG': 1, ACCES: 2, AGAIN: 6, ALREADY: 7, BADF: 8, BUSY: 10, DEADLK: 16, DQUOT: 19, EXIST: 20,
  FAULT: 21, FBIG: 22, ILSEQ: 25, INPROGRESS: 26, INTR: 27, INVAL: 28, IO: 29, ISDIR: 31, LOOP: 32, MLINK: 34,
  MSGSIZE: 35, NAMETOOLONG: 37, NODEV: 43, NOENT: 44, NOLCK: 46, NOMEM: 48, NOSPC: 51, NOSYS: 52, NOTDIR: 54,
  NOTEMPTY: 55, NOTRECOVERABLE: 56, NOTSOCK: 57, NOTSUP: 58, NOTTY: 59, NXIO: 60, OVERFLOW: 61, PERM: 63, PIPE: 64,
  ROFS: 69, SPIPE: 70, TXTBSY: 74, XDEV: 75, NOTCAPABLE: 76,
} as const;

/** wasi:filesystem error-code -> errno (the table jco's and wasmtime's adapters use). */
const FROM_CODE: Record<string, number> = {
  access: ERRNO.ACCES, 'would-block': ERRNO.AGAIN, already: ERRNO.ALREADY, 'bad-descriptor': ERRNO.BADF, busy: ERRNO.BUSY,
  deadlock: ERRNO.DEADLK, quota: ERRNO.DQUOT, exist: ERRNO.EXIST, 'file-too-large': ERRNO.FBIG,
  'illegal-byte-sequence': ERRNO.ILSEQ, 'in-progress': ERRNO.INPROGRESS, interrupted: ERRNO.INTR, invalid: ERRNO.INVAL,
  io: ERRNO.IO, 'is-directory': ERRNO.ISDIR, loop: ERRNO.LOOP, 'too-many-links': ERRNO.MLINK, 'message-size': ERRNO.MSGSIZE,
  'name-too-long': ERRNO.NAMETOOLONG, 'no-device': ERRNO.NODEV, 'no-entry': ERRNO.NOENT, 'no-lock': ERRNO.NOLCK,
  'insufficient-memory': ERRNO.NOMEM, 'insufficient-space': ERRNO.NOSPC, 'not-directory': ERRNO.NOTDIR,
  'not-empty': ERRNO.NOTEMPTY, 'not-recoverable': ERRNO.NOTRECOVERABLE, unsupported: ERRNO.NOTSUP, 'no-tty': ERRNO.NOTTY,
  'no-such-device': ERRNO.NXIO, overflow: ERRNO.OVERFLOW, 'not-permitted': ERRNO.PERM, pipe: ERRNO.PIPE,
  'read-only': ERRNO.ROFS, 'invalid-seek': ERRNO.SPIPE, 'text-file-busy': ERRNO.TXTBSY, 'cross-device': ERRNO.XDEV,
};

export function errnoOf(code: string): number {
  return FROM_CODE[code] ?? ERRNO.IO;
}

export const FILETYPE = { UNKNOWN: 0, BLOCK_DEVICE: 1, CHARACTER_DEVICE: 2, DIRECTORY: 3, REGULAR_FILE: 4, SOCKET_STREAM: 6, SYMBOLIC_LINK: 7 } as const;

/** wasi:filesystem descriptor-type -> preview1 filetype. */
export function filetypeOf(type: string): number {
  switch (type) {
    case 'directory': return FILETYPE.DIRECTORY;
    case 'regular-file': return FILETYPE.REGULAR_FILE;
    case 'symbolic-link': return FILETYPE.SYMBOLIC_LINK;
    case 'character-device': return FILETYPE.CHARACTER_DEVICE;
    case 'block-device': return FILETYPE.BLOCK_DEVICE;
    case 'socket': return FILETYPE.SOCKET_STREAM;
    default: return FILETYPE.UNKNOWN;
  }
}

export const FDFLAGS = { APPEND: 1, DSYNC: 2, NONBLOCK: 4, RSYNC: 8, SYNC: 16 } as const;
export const OFLAGS = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 } as const;
export const LOOKUP_SYMLINK_FOLLOW = 1;
export const FSTFLAGS = { ATIM: 1, ATIM_NOW: 2, MTIM: 4, MTIM_NOW: 8 } as const;
export const WHENCE = { SET: 0, CUR: 1, END: 2 } as const;
export const CLOCK = { REALTIME: 0, MONOTONIC: 1, PROCESS_CPUTIME: 2, THREAD_CPUTIME: 3 } as const;
export const EVENTTYPE = { CLOCK: 0, FD_READ: 1, FD_WRITE: 2 } as const;
export const SUBCLOCKFLAGS_ABSTIME = 1;

/** Rights bits (witx `rights`). */
export const RIGHT = {
  FD_DATASYNC: 1n << 0n, FD_READ: 1n << 1n, FD_SEEK: 1n << 2n, FD_FDSTAT_SET_FLAGS: 1n << 3n, FD_SYNC: 1n << 4n,
  FD_TELL: 1n << 5n, FD_WRITE: 1n << 6n, FD_ADVISE: 1n << 7n, FD_ALLOCATE: 1n << 8n, PATH_CREATE_DIRECTORY: 1n << 9n,
  PATH_CREATE_FILE: 1n << 10n, PATH_LINK_SOURCE: 1n << 11n, PATH_LINK_TARGET: 1n << 12n, PATH_OPEN: 1n << 13n,
  FD_READDIR: 1n << 14n, PATH_READLINK: 1n << 15n, PATH_RENAME_SOURCE: 1n << 16n, PATH_RENAME_TARGET: 1n << 17n,
  PATH_FILESTAT_GET: 1n << 18n, PATH_FILESTAT_SET_SIZE: 1n << 19n, PATH_FILESTAT_SET_TIMES: 1n << 20n,
  FD_FILESTAT_GET: 1n << 21n, FD_FILESTAT_SET_SIZE: 1n << 22n, FD_FILESTAT_SET_TIMES: 1n << 23n, PATH_SYMLINK: 1n << 24n,
  PATH_REMOVE_DIRECTORY: 1n << 25n, PATH_UNLINK_FILE: 1n << 26n, POLL_FD_READWRITE: 1n << 27n, SOCK_SHUTDOWN: 1n << 28n,
  SOCK_ACCEPT: 1n << 29n,
} as const;

export const ALL_RIGHTS = (1n << 30n) - 1n;
/** What a file descriptor can do (no path operations). */
export const FILE_RIGHTS = RIGHT.FD_DATASYNC | RIGHT.FD_READ | RIGHT.FD_SEEK | RIGHT.FD_FDSTAT_SET_FLAGS | RIGHT.FD_SYNC
  | RIGHT.FD_TELL | RIGHT.FD_WRITE | RIGHT.FD_ADVISE | RIGHT.FD_ALLOCATE | RIGHT.FD_FILESTAT_GET
  | RIGHT.FD_FILESTAT_SET_SIZE | RIGHT.FD_FILESTAT_SET_TIMES | RIGHT.POLL_FD_READWRITE;
/** What a directory descriptor can do. */
export const DIRECTORY_RIGHTS = ALL_RIGHTS & ~(RIGHT.FD_READ | RIGHT.FD_WRITE | RIGHT.FD_SEEK | RIGHT.FD_TELL | RIGHT.FD_ALLOCATE
  | RIGHT.FD_FILESTAT_SET_SIZE | RIGHT.SOCK_SHUTDOWN | RIGHT.SOCK_ACCEPT);
/** What stdio can do. */
export const STDIO_RIGHTS = RIGHT.FD_READ | RIGHT.FD_WRITE | RIGHT.FD_FDSTAT_SET_FLAGS | RIGHT.FD_FILESTAT_GET | RIGHT.POLL_FD_READWRITE;

/** Record sizes in guest memory. */
export const SIZE = { FDSTAT: 24, FILESTAT: 64, PRESTAT: 8, DIRENT: 24, IOVEC: 8, SUBSCRIPTION: 48, EVENT: 32 } as const;
