import { HostLimitExceeded } from '../../limits.js';
import { aliasDispose, InputStream, OutputStream, Pollable, type ByteSink, type ByteSource } from '../../wasi/io.js';

/**
 * wasi:http/types resources (0.2.x). Requests are plain records the guest fills in; responses
 * and bodies stream through the sources and sinks given to them by the outgoing handler.
 */

export type Method = { tag: 'get' | 'head' | 'post' | 'put' | 'delete' | 'connect' | 'options' | 'trace' | 'patch' } | { tag: 'other'; val: string };
export type Scheme = { tag: 'HTTP' | 'HTTPS' } | { tag: 'other'; val: string };
/** wasi:http error-code: a variant; only the cases the host produces are spelled out. */
export type ErrorCode = { tag: string; val?: unknown };

/**
 * Header names a guest may not set (wasmtime's list): the host frames the message and owns the
 * connection. Content-Length may be set, and is recomputed by the host from the body it sends.
 */
const FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'host', 'http2-settings']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function headerError(tag: 'invalid-syntax' | 'forbidden' | 'immutable'): { tag: string } {
  return { tag };
}

function checkField(name: string, value?: Uint8Array): void {
  if (!TOKEN.test(name)) throw headerError('invalid-syntax');
  if (value && value.some((b) => b === 0 || b === 10 || b === 13)) throw headerError('invalid-syntax');
  if (FORBIDDEN.has(name.toLowerCase())) throw headerError('forbidden');
}

/**
 * Header bytes the guest may have the host hold at once, in all its live fields (each entry also
 * counts FIELD_ENTRY_OVERHEAD bytes, so a million empty entries count too). A fields resource
 * copies every value it is given, and each call stays within the plugin's memory: without a bound
 * on the sum, appending in a loop grows the host without end.
 */
export const MAX_FIELD_BYTES = 16 * 1024 * 1024;
const FIELD_ENTRY_OVERHEAD = 64;
let liveFieldBytes = 0;

const entryBytes = ([name, value]: [string, Uint8Array]) => name.length + value.length + FIELD_ENTRY_OVERHEAD;

/**
 * wasi:http/types.fields: ordered name/value pairs, names compared case-insensitively. Its bytes
 * count until nothing holds it: neither a handle of the guest's (its own, or the child a request's
 * `headers()` gives) nor a request it is the headers of, unsent. Counted by handle drops alone, a
 * plugin that dropped `headers()`'s child, or the request while keeping the child, had the bytes
 * it still reached uncounted: 4.6 GB of fields under --max-memory 16 (attack 93).
 */
export class Fields {
  private entriesList: [string, Uint8Array][] = [];
  private immutable = false;
  /** Bytes this fields counts in liveFieldBytes (received fields count none: the server sent them). */
  private counted = 0;
  private readonly guestMade: boolean;
  /**
   * Handles of it the guest holds: its own, and each `headers()` child (jco makes a new handle at
   * each call: attack 94 kept one of two, dropped the other, and the bytes went uncounted).
   */
  private guestHandles = 1;
  /** Requests holding it as their headers, unsent (a request's `headers()` can be another's). */
  private requests = 0;

  constructor(guestMade = true) {
    this.guestMade = guestMade;
  }

  static fromList(entries: [string, Uint8Array][]): Fields {
    const fields = new Fields();
    for (const [name, value] of entries) checkField(name, value);
    fields.add(entries.map(([n, v]) => [n, v]));
    return fields;
  }

  /** Headers the host received: no checks, and the guest cannot change them. */
  static received(entries: [string, Uint8Array][]): Fields {
    const fields = new Fields(false);
    fields.entriesList = entries;
    fields.immutable = true;
    return fields;
  }

  get(name: string): Uint8Array[] {
    const lower = name.toLowerCase();
    return this.entriesList.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
  }

  has(name: string): boolean {
    return this.get(name).length > 0;
  }

  set(name: string, values: Uint8Array[]): void {
    this.mutable();
    for (const value of values) checkField(name, value);
    checkField(name);
    this.delete(name);
    this.add(values.map((v) => [name, v]));
  }

  delete(name: string): void {
    this.mutable();
    const lower = name.toLowerCase();
    const kept = this.entriesList.filter(([n]) => n.toLowerCase() !== lower);
    this.entriesList = kept;
    this.recount();
  }

  append(name: string, value: Uint8Array): void {
    this.mutable();
    checkField(name, value);
    this.add([[name, value]]);
  }

  entries(): [string, Uint8Array][] {
    return this.entriesList.map(([n, v]) => [n, v]);
  }

  clone(): Fields {
    const copy = new Fields();
    copy.add(this.entries());
    return copy;
  }

  /** A request takes the fields as its headers (the guest's handle moves into it): frozen, and held by it. */
  adopt(): this {
    this.immutable = true;
    this.guestHandles = Math.max(0, this.guestHandles - 1);
    this.requests++;
    return this;
  }

  /** Given to the guest as a request's `headers()` child: one handle more. */
  lend(): this {
    this.guestHandles++;
    return this;
  }

  /** A request holding them was dropped, or sent. */
  requestGone(): void {
    this.requests = Math.max(0, this.requests - 1);
    this.releaseIfUnheld();
  }

  /** A guest handle of it is gone: dropped, or given to the host, which keeps nothing of it (trailers). */
  handleGone(): void {
    this.guestHandles = Math.max(0, this.guestHandles - 1);
    this.releaseIfUnheld();
  }

  [Symbol.for('dispose')](): void {
    this.handleGone();
  }

  /** Nothing reaches the fields any more: their bytes no longer count. */
  private releaseIfUnheld(): void {
    if (this.guestHandles > 0 || this.requests > 0) return;
    liveFieldBytes -= this.counted;
    this.counted = 0;
  }

  private add(entries: [string, Uint8Array][]): void {
    if (this.guestMade) {
      const bytes = entries.reduce((sum, e) => sum + entryBytes(e), 0);
      if (liveFieldBytes + bytes > MAX_FIELD_BYTES) {
        throw new HostLimitExceeded(`its HTTP header fields would hold more than ${MAX_FIELD_BYTES / 1024 / 1024} MiB`);
      }
      liveFieldBytes += bytes;
      this.counted += bytes;
    }
    for (const entry of entries) this.entriesList.push(entry); // not push(...entries): 200,000 arguments overflow the stack
  }

  private recount(): void {
    if (!this.guestMade) return;
    const bytes = this.entriesList.reduce((sum, e) => sum + entryBytes(e), 0);
    liveFieldBytes += bytes - this.counted;
    this.counted = bytes;
  }

  private mutable(): void {
    if (this.immutable) throw headerError('immutable');
  }
}

/** wasi:http/types.request-options: timeouts in nanoseconds (monotonic-clock duration). */
export class RequestOptions {
  connect?: bigint;
  firstByte?: bigint;
  betweenBytes?: bigint;
  connectTimeout(): bigint | undefined { return this.connect; }
  setConnectTimeout(d: bigint | undefined): void { this.connect = d; }
  firstByteTimeout(): bigint | undefined { return this.firstByte; }
  setFirstByteTimeout(d: bigint | undefined): void { this.firstByte = d; }
  betweenBytesTimeout(): bigint | undefined { return this.betweenBytes; }
  setBetweenBytesTimeout(d: bigint | undefined): void { this.betweenBytes = d; }
}

/**
 * Body bytes a guest may write before its request is sent: they wait in host memory, so they are
 * bounded as a sent body is (the stream's window); check-write says what is left. The most one
 * write may hand over once it is sent, too: what check-write ever says.
 */
const MAX_PENDING_BODY_BYTES = 1024 * 1024;
const MAX_BODY_WRITE_BYTES = 1024 * 1024;

/**
 * Request body bytes the host may hold for a guest at once, in all its requests: written before a
 * request was sent, or handed to a connection and not yet written to it (a server that does not
 * read). Each request's share is bounded (the window above), but not how many requests a plugin
 * makes or keeps unsent: 1 MiB in each of 3,000 unsent requests was 3 GB of host memory, with or
 * without a network grant (attack 69).
 */
export const MAX_HELD_BODY_BYTES = 16 * 1024 * 1024;
let heldBodyBytes = 0;

let relieve: ((enough: () => boolean) => void) | undefined;

/**
 * What waits, when the bound would be passed, for bytes on their way to a server to be written
 * (the worker acknowledges them), until `enough` or none is on its way: then what is held is
 * bodies never sent, and the run ends.
 */
export function onBodyBytesPressure(waitForWrites: (enough: () => boolean) => void): void {
  relieve = waitForWrites;
}

/**
 * Counts `bytes` more of request body held by the host: past MAX_HELD_BODY_BYTES the write waits
 * while bytes are on their way to a server (a plugin uploading faster than the network), and the
 * run ends when what is held is bodies never sent (HostLimitExceeded).
 */
export function holdBodyBytes(bytes: number): void {
  if (heldBodyBytes + bytes > MAX_HELD_BODY_BYTES) relieve?.(() => heldBodyBytes + bytes <= MAX_HELD_BODY_BYTES);
  if (heldBodyBytes + bytes > MAX_HELD_BODY_BYTES) {
    throw new HostLimitExceeded(`its HTTP request bodies would hold more than ${MAX_HELD_BODY_BYTES / 1024 / 1024} MiB not yet sent`);
  }
  heldBodyBytes += bytes;
}

/** Request body bytes the host no longer holds: written to the connection, or dropped. */
export function releaseBodyBytes(bytes: number): void {
  heldBodyBytes = Math.max(0, heldBodyBytes - bytes);
}

/** Where a sent request's body goes: the transport. */
interface BodyTarget extends ByteSink {
  finish(): void;
  /** The body will never be finished: the request fails. */
  abort(): void;
}

/** wasi:http/types.outgoing-body: the request body the guest writes. */
export class OutgoingBody {
  private stream?: OutputStream;
  finished = false;
  /**
   * Set by the handler once the request is sent: where the bytes go. Before that, bytes wait here,
   * in one buffer: an object a write was 200 bytes of host memory that no count saw, and a million
   * writes of one byte held 250 MB (attack 98).
   */
  private pending = new Uint8Array(0);
  private pendingBytes = 0;
  private target?: BodyTarget;
  /** Its request was dropped unsent, or it was dropped unfinished: no byte written to it can be sent. */
  private orphaned = false;

  write(): OutputStream {
    if (this.stream) throw undefined; // result<output-stream> with no error payload: only one stream per body
    const body = this;
    // check-write fails as a write would: a refused request's stream said 1 MiB could go.
    const writable = () => {
      if (body.finished) throw new Error('body finished');
      if (body.orphaned) throw new Error('the request of this body was dropped');
    };
    this.stream = new OutputStream({
      write(bytes: Uint8Array) {
        writable();
        // Nothing to send, and each write queued to a connection costs the host a message (attack 98).
        if (bytes.length === 0) return;
        if (body.target) {
          // WASI: a write may not exceed what check-write permitted; one that did was held whole, copied three times over (attack 69).
          if (bytes.length > MAX_BODY_WRITE_BYTES) throw new Error(`a write of ${bytes.length} bytes, more than check-write permits (${MAX_BODY_WRITE_BYTES})`);
          return body.target.write(bytes);
        }
        if (body.pendingBytes + bytes.length > MAX_PENDING_BODY_BYTES) throw new Error(`more than ${MAX_PENDING_BODY_BYTES} bytes of body written before the request was sent (check-write says how much may be)`);
        holdBodyBytes(bytes.length);
        body.keep(bytes);
      },
      capacity: () => {
        writable();
        return body.target ? (body.target.capacity?.() ?? MAX_BODY_WRITE_BYTES) : MAX_PENDING_BODY_BYTES - body.pendingBytes;
      },
      // A body that takes no byte more is ready: check-write then says why (a poll on it hung: attack 98).
      ready: () => body.finished || body.orphaned || (body.target ? (body.target.ready?.() ?? true) : body.pendingBytes < MAX_PENDING_BODY_BYTES),
    });
    return this.stream;
  }

  /** Appends to the bytes waiting for the request to be sent, growing their buffer by doubling (to MAX_PENDING_BODY_BYTES). */
  private keep(bytes: Uint8Array): void {
    const length = this.pendingBytes + bytes.length;
    if (length > this.pending.length) {
      // Never more than twice what it holds: the room left over is not counted.
      const grown = new Uint8Array(Math.min(MAX_PENDING_BODY_BYTES, Math.max(length, 2 * this.pending.length)));
      grown.set(this.pending.subarray(0, this.pendingBytes));
      this.pending = grown;
    }
    this.pending.set(bytes, this.pendingBytes);
    this.pendingBytes = length;
  }

  /** Dropped by the guest before it was finished: it can never be. */
  abandoned(): boolean {
    return this.orphaned && !this.finished;
  }

  /** Trailers are not sent (as outbound-http's): taken from the guest, they hold nothing (attack 96: they stayed counted). */
  static finish(body: OutgoingBody, trailers: Fields | undefined): void {
    trailers?.handleGone();
    body.finished = true;
    body.target?.finish();
  }

  /** Bytes written before the request was sent, when the guest finished the body by then: its length, known before it is sent. */
  finishedLength(): number | undefined {
    return this.finished && !this.target ? this.pendingBytes : undefined;
  }

  /** Connects the body to the transport: bytes written so far are sent first (held again there, until written). */
  attach(target: BodyTarget): void {
    this.target = target;
    const pending = this.pending.subarray(0, this.pendingBytes);
    this.discardPending();
    if (pending.length > 0) target.write(pending);
    if (this.finished) target.finish();
  }

  /**
   * The bytes written before sending, when they can no longer be sent: the guest dropped the body
   * unfinished, or dropped its request unsent. They no longer count, and are no longer held.
   */
  discardPending(): void {
    releaseBodyBytes(this.pendingBytes);
    this.pending = new Uint8Array(0);
    this.pendingBytes = 0;
  }

  /**
   * Its request is gone unsent: what was written is dropped, and no later write is held (attack
   * 70). Sent, and the body dropped unfinished: the request fails, as WASI says, where it went on
   * waiting for the rest of its body, its first-byte timeout never started (attack 93).
   */
  orphan(): void {
    this.orphaned = true;
    if (this.target) return this.target.abort();
    this.discardPending();
  }

  [Symbol.for('dispose')](): void {
    if (!this.finished) this.orphan();
  }
}

/** wasi:http/types.outgoing-request */
export class OutgoingRequest {
  private methodValue: Method = { tag: 'get' };
  private path?: string;
  private schemeValue?: Scheme;
  private authorityValue?: string;
  private bodyValue?: OutgoingBody;
  /** Its fields are still held by it: not sent, not refused, not dropped. */
  private holdsFields = true;

  constructor(private readonly headerFields: Fields) {
    headerFields.adopt();
  }

  body(): OutgoingBody {
    if (this.bodyValue) throw undefined;
    return (this.bodyValue = new OutgoingBody());
  }
  method(): Method { return this.methodValue; }
  setMethod(method: Method): void {
    if (method.tag === 'other' && !TOKEN.test(method.val)) throw undefined;
    this.methodValue = method;
  }
  pathWithQuery(): string | undefined { return this.path; }
  setPathWithQuery(path: string | undefined): void {
    if (path !== undefined && /[\s\u0000-\u001f\u007f]/.test(path)) throw undefined;
    this.path = path;
  }
  scheme(): Scheme | undefined { return this.schemeValue; }
  setScheme(scheme: Scheme | undefined): void { this.schemeValue = scheme; }
  authority(): string | undefined { return this.authorityValue; }
  setAuthority(authority: string | undefined): void {
    if (authority !== undefined && /[\s/?#@\u0000-\u001f\u007f]/.test(authority)) throw undefined;
    this.authorityValue = authority;
  }
  headers(): Fields { return this.headerFields.lend(); }
  /** The body resource, if the guest asked for one. */
  takeBody(): OutgoingBody | undefined { return this.bodyValue; }
  /** The header fields as the handler sends them; the request no longer holds them (the guest may, through a child). */
  sentHeaders(): [string, Uint8Array][] {
    const entries = this.headerFields.entries();
    this.letGoOfFields();
    return entries;
  }
  /**
   * Dropped unsent, or refused by the handler: its header fields (unless the guest holds them)
   * and the body written for it no longer count.
   */
  letGo(): void {
    this.letGoOfFields();
    this.bodyValue?.orphan();
  }
  [Symbol.for('dispose')](): void {
    this.letGo();
  }
  private letGoOfFields(): void {
    if (!this.holdsFields) return;
    this.holdsFields = false;
    this.headerFields.requestGone();
  }
}

/**
 * wasi:http/types.incoming-body. Its stream, once taken, ends the response when dropped; until
 * then the body does: dropped or finished, as the response and the future before it, dropped
 * before their child was taken. Else the response went on arriving for nobody, and its bytes stayed
 * queued for the whole run: 3 GB under --max-memory 16 from 3,000 dropped futures (attack 93).
 */
export class IncomingBody {
  private streamTaken = false;
  constructor(private readonly source: ByteSource, private readonly trailers: () => Fields | undefined) {}
  stream(): InputStream {
    if (this.streamTaken) throw undefined;
    this.streamTaken = true;
    return new InputStream(this.source);
  }
  static finish(body: IncomingBody): FutureTrailers {
    body.abandon();
    return new FutureTrailers(body.trailers());
  }
  /** No one will read the body: the response ends here (unless its stream was taken). */
  abandon(): void {
    if (!this.streamTaken) this.source.close?.();
  }
  [Symbol.for('dispose')](): void {
    this.abandon();
  }
}

/** wasi:http/types.future-trailers: trailers are not forwarded, so they are always ready and empty. */
export class FutureTrailers {
  private taken = false;
  constructor(private readonly trailers: Fields | undefined) {}
  subscribe(): Pollable {
    return new Pollable(() => true);
  }
  get() {
    if (this.taken) return { tag: 'err', val: undefined };
    this.taken = true;
    return { tag: 'ok', val: { tag: 'ok', val: this.trailers } };
  }
}

/** wasi:http/types.incoming-response */
export class IncomingResponse {
  private consumed = false;
  constructor(private readonly statusCode: number, private readonly headerFields: Fields, private readonly body: IncomingBody) {}
  status(): number { return this.statusCode; }
  headers(): Fields { return this.headerFields; }
  consume(): IncomingBody {
    if (this.consumed) throw undefined;
    this.consumed = true;
    return this.body;
  }
  [Symbol.for('dispose')](): void {
    if (!this.consumed) this.body.abandon();
  }
}

/** The state of a response the guest is waiting for. */
export type ResponseState = { done: false } | { done: true; result: { tag: 'ok'; val: IncomingResponse } | { tag: 'err'; val: ErrorCode } };

/** wasi:http/types.future-incoming-response */
export class FutureIncomingResponse {
  private taken = false;
  /**
   * `poll` returns the state now; `polled` says whether readiness must be found by trying;
   * `abandon` ends the request when the guest drops the future before taking its response.
   */
  constructor(private readonly pollState: () => ResponseState, private readonly polled = false, private readonly abandon?: () => void) {}
  subscribe(): Pollable {
    return new Pollable(() => this.pollState().done, { polled: this.polled });
  }
  get() {
    const state = this.pollState();
    if (!state.done) return undefined;
    if (this.taken) return { tag: 'err', val: undefined };
    this.taken = true;
    return { tag: 'ok', val: state.result };
  }
  [Symbol.for('dispose')](): void {
    if (!this.taken) this.abandon?.();
  }
}

/** Server-side resources: a kubectl plugin is never an HTTP server, but the glue destructures them. */
export class IncomingRequest {}
export class OutgoingResponse {}
export class ResponseOutparam {}

/** wasi:http/types.http-error-code: the HTTP error behind a stream error, if any. */
export function httpErrorCode(): ErrorCode | undefined {
  return undefined;
}

aliasDispose(Fields);
aliasDispose(OutgoingRequest);
aliasDispose(OutgoingBody);
aliasDispose(IncomingBody);
aliasDispose(IncomingResponse);
aliasDispose(FutureIncomingResponse);

/** The wasi:http/types import object. */
export function httpTypes(): Record<string, unknown> {
  return {
    Fields, RequestOptions, OutgoingBody, OutgoingRequest, IncomingBody, FutureTrailers, IncomingResponse,
    FutureIncomingResponse, IncomingRequest, OutgoingResponse, ResponseOutparam, httpErrorCode,
  };
}
