/**
 * The settled network context of one plugin run: which kubeconfig files, context, cluster and
 * user (after the plugin's own --kubeconfig/--context/--cluster/--user), the API server and the
 * destination policy derived from it, the proxy, and the credential sources (token and file
 * contents, certificates, the exec plugin's description), all read once, before any guest code
 * runs. A plugin that rewrites ~/.kube/config or a token file during its run changes nothing of
 * this run: nothing is read from those files again. Exec plugins run at the first request that
 * needs them, from the frozen description, in the HTTP worker, bounded by the deadline.
 *
 * ABI-neutral: outbound-http (runtime/hosts/outboundHttp.ts) uses it, and so can wasi:http.
 */
import { isKrewWasmError, KubeconfigError, PluginTimeoutError, type KrewWasmError } from '../errors.js';
import { reachedThrough } from '../hostPaths.js';
import { checkDestination, resolveAgainstServer } from '../runtime/policy.js';
import { SyncWorker, type HttpStream } from '../runtime/hosts/syncHttp.js';
import type { ProxySpec } from '../runtime/hosts/proxyTunnel.js';
import type { HttpReply } from '../runtime/hosts/workerProtocol.js';
import { settleCredentials, type SettledCredentials, type TlsSettings } from './credentials.js';
import type { ExecOutcome, ExecStatus } from './execCredential.js';
import { loadKubeconfig, overridesFromArgs, selectCluster, type Selection } from './kubeconfig.js';

export interface NetworkContextOptions {
  /** The plugin's own arguments: kubectl's --kubeconfig/--context/--cluster/--user arrive here. */
  args: string[];
  /** The host's environment (KUBECONFIG, HOME, PATH and what an exec plugin inherits). */
  env: NodeJS.ProcessEnv;
  /** Named in notes and errors. */
  pluginName: string;
  /** The run's deadline, in performance.now() milliseconds: no wait goes past it (PluginTimeoutError). */
  deadline?: number;
  /** Limit of credential work (kubeconfig reading, an exec plugin) when the deadline is later or absent. */
  credentialTimeoutMs: number;
  /** Time limit of one request. */
  requestTimeoutMs: number;
  /** Largest response body. */
  maxResponseBytes: number;
  /** The run's HTTP worker, started already or left to start at the first request; else one is started here. */
  worker?: SyncWorker;
  /** The folders the plugin may write (its read-write grants), and those read-only inside them: see settle. */
  writableDirs?: string[];
  readOnlyDirs?: string[];
}

/** A request as a plugin asked for it, before the host had its say. */
export interface RequestShape {
  /** An absolute URL, or a path taken relative to the API server URL. */
  uri: string;
  params?: [string, string][];
  headers: [string, string][];
  /** The plugin brings its own TLS configuration (a client identity, its own CAs). */
  pluginTls?: boolean;
}

/** A request the host will send, or why not (`note`: one line for the user, printed once). */
export type Prepared = PreparedRequest | { ok: false; error: 'invalid-url' | 'destination-not-allowed'; reason: string; note?: string };

export interface PreparedRequest {
  ok: true;
  url: URL;
  /** The plugin's headers without those the host owns, plus the user's Authorization when the host adds it. */
  headers: [string, string][];
  tls: TlsSettings;
  proxy?: ProxySpec;
}

/** Headers the host owns: a plugin must not smuggle framing, retarget the virtual host, or talk to the proxy. */
const HOST_OWNED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'proxy-authorization', 'proxy-connection']);
const PROXY_SCHEMES = new Set(['http:', 'https:', 'socks5:']);
const WORKER_DID_NOT_START = 'the HTTP worker of krew-wasm did not start';
/** How long the main thread waits for the worker's answer after the worker's own limit. */
const WORKER_GRACE_MS = 1000;

interface Settled {
  selection: Selection;
  credentials: SettledCredentials;
  proxy?: ProxySpec;
}

/**
 * Reads and settles everything a run's requests need. Start it before compiling the plugin and
 * await it before instantiating: it overlaps with compilation, and the HTTP worker boots meanwhile.
 */
export async function prepareNetworkContext(options: NetworkContextOptions): Promise<NetworkContext> {
  if (options.deadline !== undefined && performance.now() >= options.deadline) throw timeoutError(options.pluginName, 'reading the kubeconfig');
  const worker = options.worker ?? startedWorker();
  const refused = (why: string) => `${why}: requests of plugin ${options.pluginName} are refused`;
  const limit = limitOf(options);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), Math.max(0, limit.at - performance.now()));
  });
  try {
    const outcome = await Promise.race([settle(options).then((s) => s, (e: unknown) => ({ error: e })), expired]);
    if (outcome === 'expired') {
      if (limit.isDeadline) throw timeoutError(options.pluginName, 'reading the kubeconfig');
      return new NetworkContext(options, worker, refused(`reading the kubeconfig took longer than ${options.credentialTimeoutMs / 1000} s`));
    }
    if (!outcome) return new NetworkContext(options, worker, refused('no kubeconfig found (KUBECONFIG or ~/.kube/config)'));
    if ('error' in outcome) {
      // By code, not instanceof: in the wrapper bundle the kubeconfig loader is a sibling file with its own copy of the classes.
      if (isKubeconfigError(outcome.error)) return new NetworkContext(options, worker, refused(outcome.error.message));
      throw outcome.error;
    }
    if (usesTls(outcome)) worker.warmTls();
    return new NetworkContext(options, worker, undefined, outcome);
  } finally {
    clearTimeout(timer);
  }
}

function startedWorker(): SyncWorker {
  const worker = new SyncWorker();
  worker.prestart();
  return worker;
}

async function settle(options: NetworkContextOptions): Promise<Settled | undefined> {
  const overrides = overridesFromArgs(options.args);
  const merged = await loadKubeconfig(options.env, overrides);
  if (!merged) return undefined;
  const selection = selectCluster(merged, overrides);
  // A plugin that may write a kubeconfig file that picks the user (or the cluster) chooses the
  // credentials its requests carry (the README says so, and pull, grant and info on such a grant);
  // one that may not may not choose them through a folder on the way to a credential file either
  // (credentials.ts). Only a file that picks them counts: a later one, whose entries the first ones
  // override, or one that picks the cluster alone, let a plugin that wrote it send the admin's
  // token (found by attacks); and only one known to be reached through the grants (a way the walk
  // cannot follow is not).
  const writable = options.writableDirs ?? [];
  const readOnly = options.readOnlyDirs ?? [];
  // Picking counts only what the plugin can change now: an unfollowable way or a link kept in a read-only grant is not.
  const picks = (files: string[] = []) => files.some((file) => reachedThrough(file, writable, { readOnlyDirs: readOnly, unfollowableIsReached: false, linksInReadOnlyAreReached: false }) !== undefined);
  const credentials = await settleCredentials(selection, options.env, {
    user: picks(selection.decidingFiles?.user) ? [] : writable,
    cluster: picks(selection.decidingFiles?.cluster) ? [] : writable,
    readOnly,
  });
  return { selection, credentials, proxy: proxyOf(selection, credentials) };
}

function usesTls(settled: Settled): boolean {
  return settled.selection.cluster.server.startsWith('https:') || settled.proxy?.url.startsWith('https:') === true;
}

function proxyOf(selection: Selection, credentials: SettledCredentials): ProxySpec | undefined {
  const proxyUrl = selection.cluster.proxyUrl;
  if (!proxyUrl) return undefined;
  let url: URL;
  try {
    url = new URL(proxyUrl);
  } catch {
    throw new KubeconfigError(`proxy-url "${proxyUrl}" of cluster "${selection.clusterName}" is not a URL`);
  }
  if (!PROXY_SCHEMES.has(url.protocol)) {
    throw new KubeconfigError(`proxy-url of cluster "${selection.clusterName}" has scheme ${url.protocol} (supported: http, https, socks5)`);
  }
  // As Go's transport: an https proxy is verified with the cluster's CA when it names one.
  return { url: url.href, ca: credentials.clusterTls.ca, rejectUnauthorized: credentials.clusterTls.rejectUnauthorized };
}

/** The settled context of one run (see prepareNetworkContext). */
export class NetworkContext {
  private exec?: { status?: ExecStatus; failure?: KubeconfigError };

  constructor(
    private readonly options: NetworkContextOptions,
    private readonly worker: SyncWorker,
    /** Why no request can go out (no kubeconfig, an unknown context...), as a one-line note. */
    readonly unavailable?: string,
    private readonly settled?: Settled,
  ) {}

  /**
   * The API server URL requests go to, when there is one, for the plugin to build URLs with: without
   * a user and password written in it, which kubectl sends as Basic credentials (attack 69).
   */
  get server(): string | undefined {
    const server = this.settled?.selection.cluster.server;
    return server === undefined ? undefined : withoutUserinfo(server);
  }

  /**
   * Checks a request against the policy and gives it the user's credentials when the plugin
   * brings none. Throws KubeconfigError when the credentials cannot be had (a file that could not
   * be read, a failing exec plugin), PluginTimeoutError when the deadline passes meanwhile.
   */
  prepare(shape: RequestShape): Prepared {
    if (!this.settled) return { ok: false, error: 'destination-not-allowed', reason: 'no API server', note: this.unavailable };
    const { selection, credentials, proxy } = this.settled;
    const verdict = checkDestination(resolveAgainstServer(shape.uri, selection.cluster.server), selection.cluster.server);
    if (!verdict.allowed) return { ok: false, error: verdict.error, reason: verdict.reason };
    const url = verdict.url;
    for (const [name, value] of shape.params ?? []) url.searchParams.append(name, value);
    const headers = shape.headers.filter(([name]) => !HOST_OWNED_HEADERS.has(name.toLowerCase()));
    // A plugin that brings its own TLS configuration does not need the cluster's CA file.
    if (credentials.clusterError && !shape.pluginTls) throw credentials.clusterError;
    const tls: TlsSettings = { ...credentials.clusterTls };
    const pluginAuthorization = headers.some(([name]) => name.toLowerCase() === 'authorization');
    if (!shape.pluginTls && !pluginAuthorization) {
      const user = this.userCredentials(credentials);
      tls.cert = user.cert;
      tls.key = user.key;
      if (user.authorization) headers.push(['authorization', user.authorization]);
    }
    return { ok: true, url, headers, tls, proxy };
  }

  /** Sends a prepared request (with the plugin's own TLS settings, if it brought some) and waits for the whole answer. */
  send(prepared: PreparedRequest, request: { method: string; body?: Uint8Array; tls?: TlsSettings }): HttpReply {
    const { requestTimeoutMs, maxResponseBytes, deadline } = this.options;
    const outcome = this.worker.call({
      kind: 'http',
      call: { url: prepared.url.href, method: request.method, headers: prepared.headers, body: request.body, tls: request.tls ?? prepared.tls, proxy: prepared.proxy, timeoutMs: requestTimeoutMs, maxResponseBytes },
    }, requestTimeoutMs, deadline);
    if (outcome.ok) return outcome.result as HttpReply;
    if (outcome.why === 'deadline') throw timeoutError(this.options.pluginName, `waiting for an answer from ${prepared.url.origin}`);
    if (outcome.why === 'no-worker' || outcome.why === 'worker-failed') return { ok: false, message: WORKER_DID_NOT_START };
    return { ok: false, message: `no answer within ${requestTimeoutMs} ms` };
  }

  /**
   * Starts a streaming request (wasi:http) for a prepared request: response events arrive as the
   * server sends them. `timeouts` are the guest's request-options; connect and first byte default to
   * the request timeout, between-bytes to none (a watch may stay quiet). Undefined when the worker
   * did not start.
   */
  stream(prepared: PreparedRequest, request: { method: string; bodyFollows: boolean; bodyLength?: number; timeouts: { connectMs?: number; firstByteMs?: number; betweenBytesMs?: number } }): HttpStream | undefined {
    const { requestTimeoutMs } = this.options;
    return this.worker.openStream({
      url: prepared.url.href,
      method: request.method,
      headers: prepared.headers,
      tls: prepared.tls,
      proxy: prepared.proxy,
      bodyFollows: request.bodyFollows,
      bodyLength: request.bodyLength,
      connectTimeoutMs: request.timeouts.connectMs ?? requestTimeoutMs,
      firstByteTimeoutMs: request.timeouts.firstByteMs ?? requestTimeoutMs,
      betweenBytesTimeoutMs: request.timeouts.betweenBytesMs,
    }, requestTimeoutMs);
  }

  /** Stops the worker (tests; a run simply exits). */
  close(): void {
    this.worker.close();
  }

  private userCredentials(credentials: SettledCredentials): { authorization?: string; cert?: string; key?: string } {
    if (credentials.userError) throw credentials.userError;
    if (!credentials.exec) return credentials;
    const status = this.execStatus(credentials);
    const decode = (data?: string) => (data ? (data.includes('-----BEGIN') ? data : Buffer.from(data, 'base64').toString('utf8')) : undefined);
    return {
      authorization: status.token ? `Bearer ${status.token}` : undefined,
      cert: decode(status.clientCertificateData) ?? credentials.cert,
      key: decode(status.clientKeyData) ?? credentials.key,
    };
  }

  /** The exec plugin's credential: cached until it expires; a failure is reported once and kept for the run. */
  private execStatus(credentials: SettledCredentials): ExecStatus {
    const cached = this.exec;
    if (cached?.failure) throw cached.failure;
    if (cached?.status && (!cached.status.expirationTimestamp || Date.parse(cached.status.expirationTimestamp) > Date.now())) return cached.status;
    const exec = credentials.exec!;
    const limit = limitOf(this.options);
    const limitMs = Math.max(0, limit.at - performance.now());
    const outcome = this.worker.call({ kind: 'exec', exec, limitMs }, limitMs + WORKER_GRACE_MS, this.options.deadline);
    if (!outcome.ok) {
      this.worker.endExecGroup();
      if (outcome.why === 'deadline') throw timeoutError(this.options.pluginName, `waiting for exec credential plugin ${exec.command}`);
      const why = outcome.why === 'timeout' ? `did not answer within ${Math.round(limitMs / 100) / 10} s` : `was not run: ${WORKER_DID_NOT_START}`;
      this.exec = { failure: new KubeconfigError(`exec credential plugin ${exec.command} ${why}`) };
      throw this.exec.failure;
    }
    const result = outcome.result as ExecOutcome;
    const { deadline } = this.options;
    if (!result.ok && deadline !== undefined && performance.now() >= deadline) throw timeoutError(this.options.pluginName, `waiting for exec credential plugin ${exec.command}`);
    this.exec = result.ok ? { status: result.status } : { failure: new KubeconfigError(result.message) };
    if (this.exec.failure) throw this.exec.failure;
    return this.exec.status!;
  }
}

function isKubeconfigError(error: unknown): error is KrewWasmError {
  return isKrewWasmError(error) && error.code === 'E_KUBECONFIG';
}

/** The earlier of the run's deadline and the credential limit from now. */
function limitOf(options: NetworkContextOptions): { at: number; isDeadline: boolean } {
  const own = performance.now() + options.credentialTimeoutMs;
  return options.deadline !== undefined && options.deadline <= own ? { at: options.deadline, isDeadline: true } : { at: own, isDeadline: false };
}

function timeoutError(pluginName: string, doing: string): PluginTimeoutError {
  return new PluginTimeoutError(`plugin ${pluginName} exceeded its time limit while ${doing}`, {
    hint: `krew-wasm grant ${pluginName} --timeout <seconds>`,
  });
}

/**
 * The server as written, without a `user:password@` in its authority, whichever form kubectl takes
 * it in (`https://u:p@host`, `//u:p@host`, `u:p@host:port`: attack 70).
 */
export function withoutUserinfo(server: string): string {
  return server.replace(/^((?:[A-Za-z][A-Za-z0-9+.-]*:)?\/\/)?[^/?#]*@/, '$1');
}
