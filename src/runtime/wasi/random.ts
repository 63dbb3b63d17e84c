import { crypto } from '../../builtin.js';

/**
 * wasi:random. The guest picks how many bytes it wants and must get exactly that many, so the
 * length is bounded instead of clamped: asking for more than MAX_RANDOM_BYTES ends the run (a trap),
 * rather than making the host allocate whatever a hostile guest names.
 */
export const MAX_RANDOM_BYTES = 16 * 1024 * 1024;

function bytes(len: bigint): Uint8Array {
  if (len > BigInt(MAX_RANDOM_BYTES)) throw new RangeError(`the plugin asked for ${len} random bytes (at most ${MAX_RANDOM_BYTES} per call)`);
  return crypto().randomFillSync(new Uint8Array(Number(len)));
}

function u64(): bigint {
  return new DataView(crypto().randomFillSync(new Uint8Array(8)).buffer).getBigUint64(0);
}

/** Chosen at the first call, not at load: loading node:crypto is start-up time of every run. */
let seed: [bigint, bigint] | undefined;

export const random = { getRandomBytes: bytes, getRandomU64: u64 };
export const insecure = { getInsecureRandomBytes: bytes, getInsecureRandomU64: u64 };
export const insecureSeed = { insecureSeed: (): [bigint, bigint] => (seed ??= [u64(), u64()]) };
