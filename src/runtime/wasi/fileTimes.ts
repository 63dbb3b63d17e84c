import fs from 'node:fs';
import { builtin } from '../../builtin.js';

/** wasi:filesystem new-timestamp. */
export type NewTimestamp = { tag: 'no-change' } | { tag: 'now' } | { tag: 'timestamp'; val: { seconds: bigint; nanoseconds: number } };

/** What to set: an open file (fd-based) or an entry named in an open directory, never followed. */
export type TimesTarget = { fd: number } | { dirFd: number; name: string };

const TOUCH = '/usr/bin/touch';

/**
 * Sets a file's access and modification times. Node's fs takes float seconds and libuv truncates
 * them to microseconds on purpose (uv__fs_to_timespec), and it cannot leave one of the two times
 * unchanged: it rewrites it, truncated. So when a time carries nanoseconds below the microsecond,
 * or one time must stay as it is while it has such nanoseconds, coreutils' touch sets them (it
 * calls utimensat with the full timespec and UTIME_OMIT), given the file through this process's
 * /proc/<pid>/fd: the fd itself, or the entry in the open directory with -h (walk.ts has already
 * expanded the links to follow). Otherwise, and where touch is missing, Node's fs.
 */
export function setFileTimes(target: TimesTarget, atime: NewTimestamp, mtime: NewTimestamp, current: fs.BigIntStats): void {
  for (const ts of [atime, mtime]) if (ts.tag === 'timestamp' && ts.val.nanoseconds >= 1_000_000_000) throw 'invalid';
  if (needsNanoseconds(atime, current.atimeNs) || needsNanoseconds(mtime, current.mtimeNs)) {
    if (fs.existsSync(TOUCH)) return touch(target, atime, mtime);
  }
  const a = seconds(atime, current.atimeNs);
  const m = seconds(mtime, current.mtimeNs);
  if ('fd' in target) fs.futimesSync(target.fd, a, m);
  else fs.lutimesSync(`/proc/self/fd/${target.dirFd}/${target.name}`, a, m);
}

function needsNanoseconds(ts: NewTimestamp, currentNs: bigint): boolean {
  if (ts.tag === 'timestamp') return ts.val.nanoseconds % 1000 !== 0;
  return ts.tag === 'no-change' && currentNs % 1000n !== 0n;
}

function seconds(ts: NewTimestamp, currentNs: bigint): number {
  if (ts.tag === 'now') return Date.now() / 1000;
  if (ts.tag === 'no-change') return Number(currentNs) / 1e9;
  return Number(ts.val.seconds) + ts.val.nanoseconds / 1e9;
}

function touch(target: TimesTarget, atime: NewTimestamp, mtime: NewTimestamp): void {
  const file = 'fd' in target ? `/proc/${process.pid}/fd/${target.fd}` : `/proc/${process.pid}/fd/${target.dirFd}/${target.name}`;
  const noFollow = 'fd' in target ? [] : ['-h'];
  for (const [flag, ts] of [['-a', atime], ['-m', mtime]] as const) {
    if (ts.tag === 'no-change') continue;
    const when = ts.tag === 'now' ? [] : ['-d', `@${ts.val.seconds}.${String(ts.val.nanoseconds).padStart(9, '0')}`];
    const r = builtin<typeof import('node:child_process')>('node:child_process').spawnSync(TOUCH, ['-c', ...noFollow, flag, ...when, '--', file], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
    if (r.status !== 0) throw touchError(r.stderr ?? '');
  }
}

function touchError(stderr: string): string {
  if (/Permission denied/.test(stderr)) return 'access';
  if (/Operation not permitted/.test(stderr)) return 'not-permitted';
  if (/No such file/.test(stderr)) return 'no-entry';
  if (/Read-only file system/.test(stderr)) return 'read-only';
  return 'io';
}
