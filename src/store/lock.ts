import { crypto } from '../builtin.js';
import fs from 'node:fs';
import path from 'node:path';
import { StoreConflictError } from '../errors.js';
import { processAlive } from './fsutil.js';

const OWNER_FILE = 'owner';
const POLL_MS = 25;
const DEFAULT_WAIT_MS = 120_000;
/** A lock folder without an owner file older than this was abandoned between mkdir and write. */
const ORPHAN_AGE_MS = 10_000;

/**
 * Serializes store mutations across processes. `mkdir` is atomic on every local filesystem; the
 * owner's pid inside lets the next process take over a lock whose holder was killed (SIGKILL).
 */
export async function withStoreLock<T>(lockDir: string, fn: () => Promise<T> | T, waitMs = DEFAULT_WAIT_MS): Promise<T> {
  await acquire(lockDir, waitMs);
  try {
    return await fn();
  } finally {
    release(lockDir);
  }
}

async function acquire(lockDir: string, waitMs: number): Promise<void> {
  fs.mkdirSync(path.dirname(lockDir), { recursive: true });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, OWNER_FILE), String(process.pid));
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (isStale(lockDir)) {
      breakStaleLock(lockDir);
      continue;
    }
    if (Date.now() > deadline) {
      throw new StoreConflictError(`the store is locked by another krew-wasm process (${lockDir})`, {
        hint: 'wait for it to finish, or remove the lock folder if no krew-wasm is running',
      });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS + Math.random() * POLL_MS));
  }
}

function readOwner(lockDir: string): number | undefined {
  try {
    return Number(fs.readFileSync(path.join(lockDir, OWNER_FILE), 'utf8'));
  } catch {
    return undefined;
  }
}

function isStale(lockDir: string): boolean {
  const owner = readOwner(lockDir);
  if (owner !== undefined && owner > 0) return !processAlive(owner);
  try {
    return Date.now() - fs.statSync(lockDir).mtimeMs > ORPHAN_AGE_MS;
  } catch {
    return false; // released meanwhile
  }
}

/** Moves the stale lock aside under a unique name (only one contender's rename wins), then deletes it. */
function breakStaleLock(lockDir: string): void {
  const aside = `${lockDir}.stale-${process.pid}-${crypto().randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(lockDir, aside);
  } catch {
    return; // someone else broke or released it first
  }
  const owner = readOwner(aside);
  if (owner !== undefined && processAlive(owner)) {
    // We raced a fresh holder: give its lock back rather than steal it.
    try {
      fs.renameSync(aside, lockDir);
      return;
    } catch {
      // The lock was re-taken meanwhile; the fresh holder keeps running under its own mutual exclusion.
    }
  }
  fs.rmSync(aside, { recursive: true, force: true });
}

function release(lockDir: string): void {
  if (readOwner(lockDir) === process.pid) fs.rmSync(lockDir, { recursive: true, force: true });
}
