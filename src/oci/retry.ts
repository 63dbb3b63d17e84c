import { RegistryResponseError, RegistryTransferError } from '../errors.js';

/**
 * The one retry policy of registry requests: how many attempts in all, and the back-off between
 * them (exponential from `baseDelayMs`, capped at `maxDelayMs`, with jitter so that many clients
 * do not retry in step). Only errors that say `retryable` are retried, and only for requests the
 * caller marks as safe to repeat.
 */
export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 200, maxDelayMs: 3000 };

/** What a retry notice says: `retrying (2/3) after <why>`. */
export interface RetryNotice {
  /** The attempt about to start (2 for the first retry). */
  attempt: number;
  attempts: number;
  /** Short cause, e.g. `status 503 (UNAVAILABLE)` or `connection refused`. */
  why: string;
}

/** The line a retry notice becomes. */
export function formatRetryNotice(notice: RetryNotice): string {
  return `retrying (${notice.attempt}/${notice.attempts}) after ${notice.why}`;
}

/**
 * Whether the policy retries an error: statuses 408, 429 and 5xx, refused or reset connections,
 * transfers cut short or stalled. Not: 4xx answers, DNS and TLS failures, digest mismatches, a
 * registry that never answered (the user already waited the stated timeout), the deadline.
 */
export function isRetryable(error: unknown): boolean {
  return (error instanceof RegistryResponseError || error instanceof RegistryTransferError) && error.retryable;
}

/** Whether an answer with this status is worth asking again. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/** Delay before attempt `attempt` (2 = first retry). */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 2));
  return Math.round(exponential * (0.5 + Math.random() / 2));
}
