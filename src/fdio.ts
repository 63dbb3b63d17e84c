import fs from 'node:fs';

/**
 * The process's own standard fds, used without Node's stream classes: making process.stdout or
 * asking node:tty loads node:stream and node:net (~3 ms), which a plugin run or a `list` that
 * prints a few lines should not pay. Shared by the CLI's output (cli/stdio.ts) and the plugin's
 * stdio (runtime/wasi/stdio.ts).
 */

/**
 * Whether `fd` is a terminal. Not with node:tty, which loads node:net: on Linux a terminal is a
 * character device whose node is /dev/pts/N, /dev/ttyN or /dev/console.
 */
export function isTerminal(fd: number): boolean {
  try {
    if (!fs.fstatSync(fd).isCharacterDevice()) return false;
    return /^\/dev\/(pts\/\d+|tty\w*|console)$/.test(fs.readlinkSync(`/proc/self/fd/${fd}`));
  } catch {
    return false;
  }
}

/**
 * The most one write system call takes: a plugin's run is stopped (--timeout, Ctrl-C) between two,
 * never inside one, and one write of 2 GiB to a file (`kubectl foo > out`) held a run 13 s past
 * both (attack 93).
 */
export const MAX_WRITE_BYTES = 1024 * 1024;

/**
 * Writes all of `bytes` to `fd`, MAX_WRITE_BYTES at a time. A non-blocking pipe that is full
 * (EAGAIN) is waited on with `wait`, backing off from 1 ms to 20 ms, as Node has no poll(2); any
 * other error (EPIPE: the reader is gone) is thrown.
 */
export function writeAllSync(fd: number, bytes: Uint8Array, wait: (ms: number) => void = pause): void {
  let offset = 0;
  let backoff = 1;
  while (offset < bytes.length) {
    try {
      offset += fs.writeSync(fd, bytes, offset, Math.min(bytes.length - offset, MAX_WRITE_BYTES));
      backoff = 1;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      wait(backoff);
      backoff = Math.min(backoff * 2, 20);
    }
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for `ms` milliseconds. */
function pause(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
