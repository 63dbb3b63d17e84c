/**
 * Where long work reports how far it got. The CLI draws it on a terminal and ignores it
 * elsewhere; services and the OCI client only call it.
 */
export interface Progress {
  /** A transfer starts (or starts again after a retry): a label for the user and the bytes expected. */
  start(label: string, total: number): void;
  /** Bytes moved since the previous call. */
  advance(bytes: number): void;
  /** A phase without a byte count (e.g. `transpiling sha256:1234…`). */
  phase(label: string): void;
  /** The current transfer or phase is over. */
  end(): void;
}

/** Progress that goes nowhere. */
export const NO_PROGRESS: Progress = { start() {}, advance() {}, phase() {}, end() {} };
