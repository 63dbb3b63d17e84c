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

export type WorkerCall =
  | { kind: 'http'; id: number; call: HttpCall }
  | { kind: 'exec'; id: number; exec: FrozenExec; limitMs: number }
  | { kind: 'cancel'; id: number };

export interface WorkerReply {
  id: number;
  result: HttpReply | ExecOutcome;
}

/** Slots of the Int32Array shared by both threads: worker loaded, replies posted (a counter), pid of a running exec plugin. */
export const SLOT = { ready: 0, replies: 1, execPid: 2 } as const;
export const SHARED_SLOTS = 3;
