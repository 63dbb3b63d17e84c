import { isKrewWasmError } from '../../../errors.js';
import type { NetworkContext } from '../../../kube/networkContext.js';
import { StreamFailure, type ByteSource } from '../../wasi/io.js';
import { waitUntil } from '../../wasi/wait.js';
import { StreamError, type HttpStream } from '../syncHttp.js';
import { MAX_OPEN_STREAMS, messageCost } from '../workerProtocol.js';
import {
  Fields, FutureIncomingResponse, holdBodyBytes, httpTypes, onBodyBytesPressure, IncomingBody, IncomingResponse, releaseBodyBytes, type ErrorCode, type Method,
  type OutgoingRequest, type RequestOptions, type ResponseState, type Scheme,
} from './types.js';

/**
 * Standard wasi:http (0.2.x) for plugins, under the same rules as krew-wasm:outbound-http: the
 * run's settled network context (kube/networkContext.ts) checks each request against the API server
 * of the selected cluster (scheme, host as written, port, path under the server's path), adds the
 * user's credentials when the request carries no Authorization, and applies the cluster's TLS
 * settings and proxy. A refused destination is `HTTP-request-denied`. Responses stream: the body is
 * an input-stream the guest reads as the server sends (a watch prints each event when it comes),
 * and request bodies stream to the server. A request without an authority goes to the API server,
 * so that a plugin need not know its URL (it is also in KREW_WASM_API_SERVER).
 */
export interface WasiHttpOptions {
  pluginName: string;
  verbose: boolean;
  note?: (line: string) => void;
}

const METHODS: Record<string, string> = { get: 'GET', head: 'HEAD', post: 'POST', put: 'PUT', delete: 'DELETE', connect: 'CONNECT', options: 'OPTIONS', trace: 'TRACE', patch: 'PATCH' };
const latin1 = new TextDecoder('latin1');
/** Why a request whose body the plugin dropped unfinished fails (its internal-error). */
const BODY_DROPPED = 'the request body was dropped before it was finished';
/**
 * Requests a plugin may have open at once (sent, and not over with all their bytes read, or
 * dropped): as many as the HTTP worker may have in hand, and never more. A new request waits while
 * the worker has that many, and the requests a plugin keeps are not let go of until it drops them:
 * past it, a request would wait for nothing until --timeout.
 */
export const MAX_OPEN_REQUESTS = MAX_OPEN_STREAMS;
const encoder = new TextEncoder();

/** The longest timer Node sets: a longer one fires at once (attack 69: a guest's 1e19 ns connect timeout failed after 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Nanoseconds (a wasi:clocks duration) to milliseconds, at least 1, at most what a timer can wait. */
export const timeoutMs = (ns: bigint | undefined) => (ns === undefined ? undefined : Math.min(MAX_TIMER_MS, Math.max(1, Number(ns / 1_000_000n))));

export function createWasiHttpImports(context: NetworkContext | undefined, options: WasiHttpOptions): Record<string, unknown> {
  const notes = new Set<string>();
  const noteOnce = (line: string) => {
    if (notes.has(line)) return;
    notes.add(line);
    (options.note ?? ((l: string) => process.stderr.write(`krew-wasm: ${l}\n`)))(line);
  };
  const denied = (note?: string): never => {
    if (note) noteOnce(note);
    throw { tag: 'HTTP-request-denied' } satisfies ErrorCode;
  };

  // The run's requests: when their bodies would pass the bound on what the host holds, a write
  // waits for what is on its way to be written, taking in each request's acknowledgements (a
  // plugin that reads no response took none, and 16 uploads of 1 MiB ended the run: attack 72).
  const live = new Set<HttpStream>();
  onBodyBytesPressure((enough) => waitUntil(() => {
    let onTheirWay = 0;
    for (const stream of live) {
      if (stream.settle()) onTheirWay += stream.unwrittenBytes();
      else live.delete(stream);
    }
    return enough() || onTheirWay === 0;
  }, { maxSleepMs: 60_000 }));

  /** The requests that still hold a connection or response bytes; the others are let go of. */
  function openRequests(): number {
    for (const stream of live) if (!stream.holding()) live.delete(stream);
    return live.size;
  }

  /**
   * wasi:http/outgoing-handler.handle. A request it refuses is let go of: it took the guest's
   * handle, and what the request held (its fields, a body written before it was sent) counted
   * against the run's bounds for good, so that a plugin whose requests were denied was ended after
   * sixteen of 1 MiB (attack 95).
   */
  function handle(request: OutgoingRequest, requestOptions: RequestOptions | undefined): FutureIncomingResponse {
    try {
      return send(request, requestOptions);
    } catch (error) {
      request.letGo();
      throw error;
    }
  }

  function send(request: OutgoingRequest, requestOptions: RequestOptions | undefined): FutureIncomingResponse {
    const name = options.pluginName;
    if (!context) return denied(`network access is not granted to plugin ${name} (krew-wasm grant ${name} --network api-server)`);
    // A tunnel to somewhere the host never checks (through a proxy-url, to any host): not a request to the API server (attack 70).
    if (methodOf(request.method()).toUpperCase() === 'CONNECT') throw { tag: 'HTTP-request-method-invalid' } satisfies ErrorCode;
    const headers = request.sentHeaders().map(([n, v]): [string, string] => [n, latin1.decode(v)]);
    let prepared;
    try {
      prepared = context.prepare({ uri: uriOf(request), headers, pluginTls: false });
    } catch (error) {
      // The user's credentials could not be had (kube/networkContext.ts says why, once); the time limit ends the run.
      if (isKrewWasmError(error) && error.code === 'E_KUBECONFIG') {
        noteOnce(`${error.message}: requests of plugin ${name} fail`);
        throw { tag: 'internal-error', val: 'credentials unavailable' } satisfies ErrorCode;
      }
      throw error;
    }
    if (!prepared.ok) {
      if (prepared.error === 'invalid-url') throw { tag: 'HTTP-request-URI-invalid' } satisfies ErrorCode;
      return denied(prepared.note);
    }
    // Each request open holds a connection (~100 KB with TLS) and up to 1 MiB of response read ahead
    // of the plugin: 3,000 unread responses were 3.7 GB of host memory (attack 101).
    if (openRequests() >= MAX_OPEN_REQUESTS) {
      noteOnce(`plugin ${name} has ${MAX_OPEN_REQUESTS} HTTP requests open: a request past them fails (connection-limit-reached) until it drops one`);
      throw { tag: 'connection-limit-reached' } satisfies ErrorCode;
    }
    const body = request.takeBody();
    // Dropped unfinished before the request was sent: it would never end (attack 95), as WASI says it fails.
    if (body?.abandoned()) throw { tag: 'internal-error', val: BODY_DROPPED } satisfies ErrorCode;
    const stream = context.stream(prepared, {
      method: methodOf(request.method()),
      bodyFollows: body !== undefined,
      bodyLength: body?.finishedLength(),
      timeouts: { connectMs: timeoutMs(requestOptions?.connect), firstByteMs: timeoutMs(requestOptions?.firstByte), betweenBytesMs: timeoutMs(requestOptions?.betweenBytes) },
    });
    if (!stream) throw { tag: 'internal-error', val: 'the HTTP worker of krew-wasm did not start' } satisfies ErrorCode;
    // Body bytes, and the message each write is, count as held by the host (types.ts) until the worker has written them to the connection.
    stream.onBodyReleased = releaseBodyBytes;
    live.add(stream);
    stream.onClosed = () => live.delete(stream);
    body?.attach({
      write: (bytes) => {
        const cost = messageCost(bytes.length);
        holdBodyBytes(cost);
        try {
          stream.writeBody(bytes);
        } catch (error) {
          releaseBodyBytes(cost);
          throw error;
        }
      },
      finish: () => stream.endBody(),
      abort: () => stream.abort(BODY_DROPPED),
    });
    return new FutureIncomingResponse(responseState(stream, prepared.url.origin), false, () => stream.close());
  }

  /** Follows the stream until its head arrives; the failure of a request becomes its error-code. */
  function responseState(stream: HttpStream, origin: string): () => ResponseState {
    let state: ResponseState = { done: false };
    return () => {
      if (state.done) return state;
      const head = stream.response();
      if (!head) return state;
      if ('error' in head) {
        if (options.verbose) noteOnce(`request to ${origin} failed: ${head.error.message}`);
        state = { done: true, result: { tag: 'err', val: errorCode(head.error.code, head.error.message) } };
        stream.close(); // nothing more comes: the run holds nothing of it
        return state;
      }
      const fields = Fields.received(head.headers.map(([n, v]) => [n, encoder.encode(v)]));
      const incoming = new IncomingBody(bodySource(stream), () => undefined);
      state = { done: true, result: { tag: 'ok', val: new IncomingResponse(head.status, fields, incoming) } };
      return state;
    };
  }

  return {
    'wasi:http/types': httpTypes(),
    'wasi:http/outgoing-handler': { handle },
  };
}

/** The response body as a wasi:io input-stream source: bytes as they arrive, the worker wakes the waiter. */
function bodySource(stream: HttpStream): ByteSource {
  return {
    read(max: number) {
      try {
        return stream.read(max);
      } catch (error) {
        if (error instanceof StreamError) throw new StreamFailure(`${error.code}: ${error.message}`);
        throw error;
      }
    },
    ready: () => stream.readable(),
    polled: false,
    close: () => stream.close(),
  };
}

/** The request's URI as the policy reads it: absolute, or a path relative to the API server when there is no authority. */
function uriOf(request: OutgoingRequest): string {
  const path = request.pathWithQuery() ?? '/';
  const authority = request.authority();
  if (authority === undefined) return path.startsWith('/') ? path : `/${path}`;
  return `${schemeOf(request.scheme())}://${authority}${path.startsWith('/') ? path : `/${path}`}`;
}

function schemeOf(scheme: Scheme | undefined): string {
  if (!scheme || scheme.tag === 'HTTPS') return 'https';
  if (scheme.tag === 'other') return scheme.val;
  return 'http';
}

function methodOf(method: Method): string {
  return method.tag === 'other' ? method.val : METHODS[method.tag];
}

function errorCode(code: string, message: string): ErrorCode {
  return code === 'internal-error' ? { tag: code, val: message } : { tag: code };
}
