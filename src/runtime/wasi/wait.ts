/**
 * The one way a host call blocks. A guest import is synchronous (Node 20 has no JSPI), so a host
 * function that must wait cannot await: it sleeps on Atomics.wait. That matters for the limits:
 * V8's TerminateExecution (the `--timeout` watchdog and Ctrl-C, see runtime/run.ts) wakes a thread
 * sleeping in Atomics.wait, but cannot interrupt a blocking syscall. So host calls never make a
 * syscall that can block (stdio and FIFOs are opened non-blocking) and wait here instead.
 */

const wake = new Int32Array(new SharedArrayBuffer(4));

/** The longest pause waitUntil takes because its last look was slow (see there). */
const MAX_PACED_PAUSE_MS = 1000;

/** The shared word other threads (the HTTP worker) bump to wake a waiting host call at once. */
export function wakeWord(): Int32Array {
  return wake;
}

/** Sleeps up to `ms` milliseconds, or until someone bumps the wake word. */
export function sleep(ms: number): void {
  if (ms <= 0) return;
  Atomics.wait(wake, 0, Atomics.load(wake, 0), ms);
}

/**
 * Polls `ready` until it is true. Readiness of file descriptors cannot be awaited without poll(2),
 * which Node does not expose, so the sleep backs off from 1 ms to `maxSleepMs`; a worker that has
 * news bumps the wake word and ends the sleep early. `nextTimerMs` bounds the sleep by a timer.
 */
export function waitUntil(ready: () => boolean, options: { maxSleepMs?: number; nextTimerMs?: () => number | undefined } = {}): void {
  const maxSleep = options.maxSleepMs ?? 20;
  let backoff = 1;
  let lastLook = 0;
  for (;;) {
    const seen = Atomics.load(wake, 0);
    const started = process.hrtime.bigint();
    if (ready()) return;
    // Looks that themselves take long (a poll of tens of thousands of pollables) are made less
    // often: waiting takes a tenth of a core at most. Paced by the shorter of the last two looks,
    // so that one slow look (a collection, a Ctrl-Z during it) does not make the next wait long;
    // and at most a second.
    const looked = Number(process.hrtime.bigint() - started) / 1e6;
    const steady = Math.min(looked, lastLook);
    lastLook = looked;
    const timer = options.nextTimerMs?.();
    const pause = Math.max(backoff, Math.min(Math.ceil(steady * 9), MAX_PACED_PAUSE_MS));
    const ms = timer === undefined ? pause : Math.min(pause, Math.max(0, timer));
    if (ms > 0) Atomics.wait(wake, 0, seen, ms);
    backoff = Math.min(backoff * 2, maxSleep);
  }
}
