/**
 * The messages between the main thread (syncHttp.ts) and the HTTP worker (httpWorker.ts). Every
 * call carries an id and every reply names it, so a reply the main thread stopped waiting for is
 * recognised and dropped instead of answering the next call.
 */
import type { FrozenExec, TlsSettings } from '../../kube/credentials.js';
import type { ExecOutcome } from '../../kube/execCredential.js';
import type { ProxySpec } from './proxyTunnel.js';

/** One request, already checked against the policy and given its credentials by the main thread. */
export interface HttpCall {
  url: string;
  method: string;
  headers: [string, string][];
  body?: Uint8Array;
  tls: TlsSettings;
  proxy?: ProxySpec;
  /** The main thread gives up after this; the worker's own socket timeouts are a little longer. */
  timeoutMs: number;
  maxResponseBytes: number;
}

export type HttpReply =
  | { ok: true; status: number; headers: [string, string][]; body: Uint8Array }
  | { ok: false; message: string };

/**
 * A streaming request (wasi:http): the response is delivered as events while it arrives, the
 * request body follows in `stream-body` messages when `bodyFollows`. Timeouts are the guest's
 * request-options (defaults from the host); no whole-response bound: back-pressure bounds memory.
 */
export interface StreamCall {
  url: string;
  method: string;
  headers: [string, string][];
  tls: TlsSettings;
  proxy?: ProxySpec;
  bodyFollows: boolean;
  /** The body's length, when the guest finished it before the request was sent; else it is sent chunked. */
  bodyLength?: number;
  connectTimeoutMs: number;
  firstByteTimeoutMs: number;
  /** Undefined: a quiet response (a watch) may stay open as long as the server keeps it. */
  betweenBytesTimeoutMs?: number;
}

/** What a streaming request reports, in order: head, data..., end; or error at any point; `written` acknowledges body bytes sent. */
export type StreamEvent =
  | { event: 'head'; status: number; headers: [string, string][] }
  /** `overhead`: what the chunk counts against the window beyond its bytes, acknowledged with its last byte read. */
  | { event: 'data'; chunk: Uint8Array; overhead: number }
  | { event: 'end' }
  | { event: 'error'; code: string; message: string }
  | { event: 'written'; bytes: number }
  /** The worker let go of a stream the main thread cancelled (its answer to every cancel). */
  | { event: 'cancelled' };

/**
 * What the worker sends ahead of what the guest has read, before it pauses the response: bytes of
 * response, each chunk counted in messageCost.
 */
export const STREAM_WINDOW_BYTES = 1024 * 1024;

/**
 * What a message between the threads that carries `bytes` (a response chunk, a request body write)
 * costs the host until it is taken: its bytes, and the message (1-2 KB measured). Windows counted in
 * bytes alone let a million one-byte messages be on their way at once: 413 MB for request body
 * writes (attack 99), 611 MB for a response sent a byte a chunk and left unread (attack 101).
 */
export function messageCost(bytes: number): number {
  return bytes + MESSAGE_OVERHEAD_BYTES;
}
export const MESSAGE_OVERHEAD_BYTES = 1024;

/**
 * Streams the worker may have in hand at once, dropped ones it has not let go of yet included: a
 * plugin that sent requests and dropped them at once made the worker a backlog of connections and
 * messages that grew by ~47 KB a request (attack 102). wasi:http refuses a request past this many
 * open (MAX_OPEN_REQUESTS, this same number); past it with dropped ones, a new one waits for the worker.
 */
export const MAX_OPEN_STREAMS = 64;

export type WorkerCall =
  | { kind: 'http'; id: number; call: HttpCall }
  | { kind: 'exec'; id: number; exec: FrozenExec; limitMs: number }
  | { kind: 'stream'; id: number; call: StreamCall }
  | { kind: 'stream-body'; id: number; chunk: Uint8Array }
  | { kind: 'stream-body-end'; id: number }
  | { kind: 'stream-ack'; id: number; bytes: number }
  | { kind: 'cancel'; id: number }
  /** Builds Node's root certificate store now (see httpWorker.ts), while the main thread compiles. */
  | { kind: 'warm-tls' };

export interface WorkerReply {
  id: number;
  result: HttpReply | ExecOutcome | StreamEvent;
}

/** Slots of the Int32Array shared by both threads: worker loaded, replies posted (a counter), pid of a running exec plugin. */
export const SLOT = { ready: 0, replies: 1, execPid: 2 } as const;
export const SHARED_SLOTS = 3;

/** Counts one more at `slot` of a word shared with the other thread, and wakes it if it waits there (Atomics.wait). */
export function bump(word: Int32Array, slot = 0): void {
  Atomics.add(word, slot, 1);
  Atomics.notify(word, slot);
}
