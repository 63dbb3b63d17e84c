import fs from 'node:fs';

/**
 * Synchronous stdio for plugins. The shim writes plugin output with process.stdout.write, which
 * queues without limit when the reader is slow and is lost if the process exits; here a write
 * returns only once the bytes are in the pipe (real blocking semantics and back-pressure), and a
 * closed pipe (`kubectl foo | head`) ends the plugin quietly, as SIGPIPE ends `yes`.
 */

const SIGPIPE_EXIT = 141;
const pause = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `bytes` to `fd`, waiting out EAGAIN on non-blocking pipes. */
export function writeAllSync(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += fs.writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 1);
        continue;
      }
      if (code === 'EPIPE') process.exit(SIGPIPE_EXIT);
      throw error;
    }
  }
}

/** Reads up to `len` bytes from `fd`, blocking; an empty result means end of input. */
export function readSync(fd: number, len: number): Uint8Array {
  const buf = Buffer.allocUnsafe(Math.min(Number(len), 1 << 20));
  for (;;) {
    try {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      return buf.subarray(0, n);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 1);
        continue;
      }
      if (code === 'EOF') return new Uint8Array(0);
      throw error;
    }
  }
}

/** The methods of wasi:io/streams output-stream that stdout and stderr implement synchronously. */
export function syncOutputMethods(fd: number) {
  return {
    checkWrite(): bigint {
      return 1n << 20n;
    },
    write(contents: Uint8Array): void {
      writeAllSync(fd, contents);
    },
    blockingWriteAndFlush(contents: Uint8Array): void {
      writeAllSync(fd, contents);
    },
    flush(): void {},
    blockingFlush(): void {},
  };
}
