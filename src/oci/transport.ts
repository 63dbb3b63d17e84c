import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import { RegistryError } from '../errors.js';

/** TLS and timing settings for talking to one registry. */
export interface TransportOptions {
  plainHttp?: boolean;
  /** PEM file with extra CA certificates for the registry (`--ca-file`). */
  caFile?: string;
  /** Skip TLS verification (`--insecure`). */
  insecure?: boolean;
  /** Give up when no byte arrives for this long (Settings.registryIdleTimeoutMs). */
  idleTimeoutMs: number;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST';
  url: URL;
  headers?: Record<string, string>;
  body?: string;
}

/** Sends one request (no redirects, no auth) and resolves with the response once headers arrive. */
export class Transport {
  private readonly ca?: Buffer;

  constructor(readonly options: TransportOptions) {
    if (options.caFile) {
      try {
        this.ca = fs.readFileSync(options.caFile);
      } catch (error) {
        throw new RegistryError(`cannot read CA file ${options.caFile}: ${(error as Error).message}`);
      }
    }
  }

  /** Scheme used for a registry host. */
  get scheme(): 'http' | 'https' {
    return this.options.plainHttp ? 'http' : 'https';
  }

  get idleTimeoutMs(): number {
    return this.options.idleTimeoutMs;
  }

  send(req: HttpRequest): Promise<http.IncomingMessage> {
    const isHttps = req.url.protocol === 'https:';
    const client = isHttps ? https : http;
    const options: https.RequestOptions = {
      method: req.method,
      headers: { 'User-Agent': 'krew-wasm', ...req.headers },
      timeout: this.idleTimeoutMs,
    };
    if (isHttps) {
      if (this.ca) options.ca = this.ca;
      if (this.options.insecure) options.rejectUnauthorized = false;
    }
    return new Promise((resolve, reject) => {
      const request = client.request(req.url, options, (response) => {
        // Idle timeouts keep applying while the body streams: a stalled transfer fails.
        response.socket.setTimeout(this.idleTimeoutMs, () => {
          response.destroy(new RegistryError(`${req.method} ${req.url.href}: transfer stalled for ${this.idleTimeoutMs} ms`));
        });
        resolve(response);
      });
      request.on('timeout', () => {
        request.destroy(new RegistryError(`${req.method} ${req.url.href}: no response within ${this.idleTimeoutMs} ms`));
      });
      request.on('error', (error) => reject(describeNetworkError(error, req)));
      request.end(req.body);
    });
  }
}

function describeNetworkError(error: Error, req: HttpRequest): Error {
  if (error instanceof RegistryError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const where = `${req.url.protocol}//${req.url.host}`;
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new RegistryError(`cannot resolve registry host ${req.url.hostname}`, { cause: error });
    case 'ECONNREFUSED':
      return new RegistryError(`cannot connect to ${where}: connection refused`, { cause: error });
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'CERT_HAS_EXPIRED':
      return new RegistryError(`TLS verification of ${where} failed: ${error.message}`, {
        cause: error,
        hint: 'pass --ca-file with the registry CA, or --insecure to skip verification',
      });
    case 'EPROTO':
      return new RegistryError(`TLS handshake with ${where} failed (is it plain HTTP? try --plain-http)`, { cause: error });
    default:
      return new RegistryError(`${req.method} ${req.url.href} failed: ${error.message}`, { cause: error });
  }
}

/** Reads a whole body, refusing more than `limit` bytes. */
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
