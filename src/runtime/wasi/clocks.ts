import { Pollable } from './io.js';

/** wasi:clocks: a monotonic clock in nanoseconds, the wall clock, and timers as pollables. */

const now = (): bigint => process.hrtime.bigint();

/** A pollable that becomes ready at monotonic instant `deadlineNs`. */
function timer(deadlineNs: bigint): Pollable {
  return new Pollable(() => now() >= deadlineNs, { deadlineNs, polled: false });
}

export const monotonicClock = {
  now,
  resolution: (): bigint => 1n,
  subscribeInstant: (when: bigint): Pollable => timer(when),
  subscribeDuration: (duration: bigint): Pollable => timer(now() + duration),
};

export const wallClock = {
  now(): { seconds: bigint; nanoseconds: number } {
    // performance.timeOrigin + now() keeps microseconds, where Date.now() has milliseconds.
    const ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    const seconds = ns / 1_000_000_000n;
    return { seconds, nanoseconds: Number(ns - seconds * 1_000_000_000n) };
  },
  resolution: () => ({ seconds: 0n, nanoseconds: 1000 }),
};
