import http from 'node:http';
import https from 'node:https';
import { RegistryError, RegistryTransferError } from '../errors.js';
import { LocalFileError, readRegularFile } from '../store/fsutil.js';
import { backoffMs, DEFAULT_RETRY, isRetryable, type RetryNotice, type RetryPolicy } from './retry.js';

/** TLS, timing and retry settings for talking to one registry. */
export interface TransportOptions {
  plainHttp?: boolean;
  /** PEM file with extra CA certificates for the registry (`--ca-file`). */
  caFile?: string;
  /** Skip TLS verification (`--insecure`). */
  insecure?: boolean;
  /** Give up when no byte arrives for this long (Settings.registryIdleTimeoutMs). */
  idleTimeoutMs: number;
  /** Give up on one request, retries and body included, after this long (Settings.registryDeadlineMs). */
  deadlineMs: number;
  retry?: RetryPolicy;
  /** Told before each retry (the CLI prints `retrying (2/3) after <why>`). */
  onRetry?: (notice: RetryNotice) => void;
}

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  method: HttpMethod;
  url: URL;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

const MAX_CA_FILE_BYTES = 1024 * 1024;

/**
 * Sends registry requests. `send` is one HTTP exchange (no redirects, no auth, no retry) with an
 * idle timeout; `perform` runs one logical request (which may be several exchanges: auth,
 * redirects, the body) under one overall deadline and the one retry policy.
 */
export class Transport {
  private readonly ca?: Buffer;
  private readonly policy: RetryPolicy;
  // keep-alive agents of our own: the TLS options are this registry's, and close() ends them.
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent: https.Agent;

  constructor(readonly options: TransportOptions) {
    if (options.caFile) {
      try {
        this.ca = readRegularFile(options.caFile, MAX_CA_FILE_BYTES);
      } catch (error) {
        const why = error instanceof LocalFileError ? `it ${error.detail}` : (error as Error).message;
        throw new RegistryError(`cannot read CA file ${options.caFile}: ${why}`);
      }
    }
    this.policy = options.retry ?? DEFAULT_RETRY;
    this.httpsAgent = new https.Agent({ keepAlive: true, ca: this.ca, rejectUnauthorized: !options.insecure });
  }

  /** Scheme used for a registry host. */
  get scheme(): 'http' | 'https' {
    return this.options.plainHttp ? 'http' : 'https';
  }

  /**
   * Runs `attempt` (which sends and consumes one logical request) until it succeeds, a failure is
   * not retryable, the attempts are used up or the deadline passes. Only `repeatable` requests are
   * retried: a request whose repetition could do something twice is sent once.
   */
  async perform<T>(label: { method: string; url: URL }, attempt: (signal: AbortSignal) => Promise<T>, repeatable: boolean): Promise<T> {
    const started = performance.now();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.deadlineMs);
    timer.unref();
    const deadlineError = () => {
      const waited = performance.now() - started;
      return new RegistryTransferError(
        `${label.method} ${describeUrl(label.url)}: not finished within the deadline of ${formatDuration(this.options.deadlineMs)}`,
        { method: label.method, url: label.url, reason: 'deadline', retryable: false, why: 'deadline', waitedMs: waited },
        { hint: 'raise KREW_WASM_REGISTRY_DEADLINE_MS for very slow registries' },
      );
    };
    try {
      for (let n = 1; ; n++) {
        try {
          return await attempt(controller.signal);
        } catch (error) {
          if (controller.signal.aborted) throw deadlineError();
          if (!repeatable || !isRetryable(error) || n >= this.policy.attempts) throw error;
          this.options.onRetry?.({ attempt: n + 1, attempts: this.policy.attempts, why: (error as { why: string }).why });
          if (!(await sleep(backoffMs(this.policy, n + 1), controller.signal))) throw deadlineError();
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends one request and resolves with the response once its headers arrive. */
  send(req: HttpRequest, signal: AbortSignal): Promise<http.IncomingMessage> {
    const isHttps = req.url.protocol === 'https:';
    const idle = this.options.idleTimeoutMs;
    const started = performance.now();
    const headers: Record<string, string> = { 'User-Agent': 'krew-wasm', ...req.headers };
    if (req.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(req.body));
    const options: https.RequestOptions = {
      method: req.method,
      headers,
      timeout: idle,
      signal,
      agent: isHttps ? this.httpsAgent : this.httpAgent,
    };
    return new Promise((resolve, reject) => {
      let responded = false;
      const request = (isHttps ? https : http).request(req.url, options, (response) => {
        responded = true;
        armStallTimeout(response, req, idle);
        resolve(response);
      });
      // The socket's timeout also fires while a body streams: that is the stall timeout's case.
      request.on('timeout', () => {
        if (responded) return;
        const waited = performance.now() - started;
        request.destroy(new RegistryTransferError(
          `${req.method} ${describeUrl(req.url)}: no response within ${formatDuration(idle)} (waited ${formatDuration(waited)})`,
          { method: req.method, url: req.url, reason: 'no-response', retryable: false, why: 'no response', waitedMs: waited },
          { hint: 'check that the registry is up; KREW_WASM_REGISTRY_IDLE_TIMEOUT_MS sets how long to wait' },
        ));
      });
      request.on('error', (error) => reject(describeNetworkError(error, req)));
      request.end(req.body);
    });
  }

  /** Ends the kept-alive connections. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/**
 * Idle timeouts keep applying while the body streams: a stalled transfer fails (and may be
 * retried). The listener leaves with the response, since keep-alive sockets outlive it.
 */
function armStallTimeout(response: http.IncomingMessage, req: HttpRequest, idle: number): void {
  const socket = response.socket;
  const onIdle = () => response.destroy(new RegistryTransferError(
    `${req.method} ${describeUrl(req.url)}: transfer stalled for ${formatDuration(idle)}`,
    { method: req.method, url: req.url, reason: 'stalled', retryable: true, why: `transfer stalled for ${formatDuration(idle)}`, waitedMs: idle },
  ));
  socket.setTimeout(idle);
  socket.on('timeout', onIdle);
  response.once('close', () => {
    socket.off('timeout', onIdle);
    socket.setTimeout(0);
  });
}

/** Turns a socket-level failure into a typed error that says whether it is worth retrying. */
export function describeNetworkError(error: Error, req: HttpRequest): Error {
  if (error instanceof RegistryError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const where = `${req.url.protocol}//${req.url.host}`;
  const fail = (message: string, reason: RegistryTransferError['reason'], retryable: boolean, why: string, hint?: string) =>
    new RegistryTransferError(message, { method: req.method, url: req.url, reason, retryable, why }, { cause: error, hint });
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return fail(`cannot resolve registry host ${req.url.hostname}`, 'dns', false, 'host not found');
    case 'ECONNREFUSED':
      return fail(`cannot connect to ${where}: connection refused`, 'refused', true, 'connection refused');
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return fail(`${req.method} ${describeUrl(req.url)}: connection reset (${error.message})`, 'reset', true, 'connection reset');
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'CERT_HAS_EXPIRED':
      return fail(`TLS verification of ${where} failed: ${error.message}`, 'tls', false, 'TLS verification failed',
        'pass --ca-file with the registry CA, or --insecure to skip verification');
    case 'EPROTO':
      return fail(`TLS handshake with ${where} failed (is it plain HTTP? try --plain-http)`, 'tls', false, 'TLS handshake failed');
    default:
      return fail(`${req.method} ${describeUrl(req.url)} failed: ${error.message}`, 'other', false, error.message);
  }
}

/** A body that ended early (connection closed mid-transfer): retryable as a whole request. */
export function truncatedError(error: unknown, req: { method: string; url: URL }, what: string, noun = 'body'): Error {
  if (error instanceof RegistryError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNABORTED' || code === 'EPIPE' || code === 'ABORT_ERR') {
    return new RegistryTransferError(`${what}: connection closed before the whole ${noun} arrived`, {
      method: req.method, url: req.url, reason: 'truncated', retryable: true, why: 'connection closed mid-transfer',
    }, { cause: error });
  }
  return error as Error;
}

/** Reads a whole body, refusing more than `limit` bytes (counted as they arrive, not trusted from headers). */
export async function readBodyLimited(res: http.IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    res.destroy();
    throw new RegistryError(`${what}: response of ${declared} bytes exceeds the limit of ${limit}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      res.destroy();
      throw new RegistryError(`${what}: response exceeds the limit of ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Drains and discards a body so the socket can be reused or closed. */
export function discard(res: http.IncomingMessage): void {
  res.resume();
}

/** A URL for messages: no query string (signed storage URLs carry secrets there). */
export function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** `850 ms`, `1.5 s`, `30 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
