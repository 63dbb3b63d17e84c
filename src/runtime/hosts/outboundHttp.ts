import { randomUUID, X509Certificate } from 'node:crypto';
import type * as OutboundHttpApi from '../../../generated/interfaces/krew-wasm-outbound-http-outbound-http.js';
import type { HttpError, Request, RequestConfig, Response } from '../../../generated/interfaces/krew-wasm-outbound-http-types.js';
import { isKrewWasmError } from '../../errors.js';
import { clusterTls, userCredentials, type ConnectionSettings } from '../../kube/credentials.js';
import { loadKubeconfig, overridesFromArgs, selectCluster, type Selection } from '../../kube/kubeconfig.js';
import { checkDestination, resolveAgainstServer } from '../policy.js';
import { SyncHttpClient } from './syncHttp.js';
import type { WorkerRequest } from './httpWorker.js';

/** Settings for the outbound-http host of one run. */
export interface OutboundHttpOptions {
  network: 'api-server' | 'none';
  /** The plugin's own arguments: kubectl's --kubeconfig/--context/--cluster/--user arrive here. */
  args: string[];
  env: NodeJS.ProcessEnv;
  pluginName: string;
  /** Connect and first-byte timeout of a request. */
  timeoutMs: number;
  /** Largest response body handed to the plugin. */
  maxResponseBytes: number;
  /** Name the transport failure of a refused request in a note. */
  verbose: boolean;
  /** Where one-line notes for the user go (stderr). */
  note?: (line: string) => void;
}

/** Largest request body a plugin may send. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Headers the host owns: a plugin must not smuggle framing or retarget the virtual host. */
const HOST_OWNED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'proxy-authorization', 'proxy-connection']);

/** A request refused or failed, with the http-error jco hands to the guest as `err`. */
class HttpFailure {
  constructor(readonly payload: HttpError) {}
}

/**
 * The host side of krew-wasm:outbound-http: every request is checked against the selected
 * kubeconfig cluster's server (runtime/policy.ts), performed synchronously for the guest on a
 * worker thread, and, when the plugin brings neither a request config nor an Authorization
 * header, sent with the user's kubeconfig credentials and the cluster CA.
 */
export class OutboundHttpHost {
  private readonly configs = new Map<string, ConnectionSettings & { checkHostname: boolean }>();
  private selection?: Selection | null;
  private readonly notes = new Set<string>();
  private readonly client = new SyncHttpClient(new URL('./httpWorker.js', import.meta.url));

  constructor(private readonly options: OutboundHttpOptions) {
    // A plugin that imports outbound-http almost always makes a request: boot the worker early.
    if (options.network !== 'none') this.client.prestart();
  }

  request(req: Request, configId: string | undefined): Response {
    if (this.options.network === 'none') this.refuse('network access is not granted to this plugin (krew-wasm grants)');
    const selection = this.select();
    if (!selection) throw new HttpFailure('destination-not-allowed');
    const verdict = checkDestination(resolveAgainstServer(req.uri, selection.cluster.server), selection.cluster.server);
    if (!verdict.allowed) throw new HttpFailure(verdict.error);
    const url = verdict.url;
    for (const [name, value] of req.params) url.searchParams.append(name, value);
    if (req.body && req.body.length > MAX_BODY_BYTES) throw new HttpFailure('request-error');
    const headers = req.headers.filter(([name]) => !HOST_OWNED_HEADERS.has(name.toLowerCase()));
    const hasAuthorization = headers.some(([name]) => name.toLowerCase() === 'authorization');
    let tls: ConnectionSettings & { checkHostname?: boolean };
    if (configId !== undefined) {
      const config = this.configs.get(configId);
      if (!config) throw new HttpFailure('invalid-cfg');
      tls = config;
    } else if (hasAuthorization) {
      tls = this.guarded(() => clusterTls(selection.cluster));
    } else {
      tls = this.guarded(() => userCredentials(selection, this.options.env));
      if (tls.authorization) headers.push(['authorization', tls.authorization]);
    }
    const result = this.client.send({
      url: url.href,
      method: req.method,
      headers,
      body: req.body,
      tls: {
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        rejectUnauthorized: tls.rejectUnauthorized,
        servername: tls.servername,
        checkHostname: tls.checkHostname ?? true,
      },
      timeoutMs: this.options.timeoutMs,
      maxResponseBytes: this.options.maxResponseBytes,
    } satisfies Omit<WorkerRequest, 'signal'>);
    if (!result.ok) {
      if (this.options.verbose) this.noteOnce(`request to ${url.origin} failed: ${result.message}`);
      throw new HttpFailure('request-error');
    }
    return { status: result.status, headers: result.headers, body: result.body };
  }

  registerRequestConfig(config: RequestConfig, id: string | undefined): string {
    let settings: ConnectionSettings & { checkHostname: boolean };
    try {
      const ca = config.extraRootCertificates.map((c) => (c.encoding === 'pem' ? Buffer.from(c.data).toString('utf8') : derToPem(c.data)));
      if (config.identity?.ca.length) ca.push(Buffer.from(config.identity.ca).toString('utf8'));
      for (const pem of ca) new X509Certificate(pem); // throws on garbage
      settings = {
        ca: ca.length ? ca : undefined,
        cert: config.identity ? Buffer.from(config.identity.cert).toString('utf8') : undefined,
        key: config.identity ? Buffer.from(config.identity.key).toString('utf8') : undefined,
        rejectUnauthorized: !config.acceptInvalidCertificates,
        checkHostname: !config.acceptInvalidHostnames,
      };
      if (settings.cert) new X509Certificate(settings.cert);
    } catch {
      throw new HttpFailure('invalid-cfg');
    }
    const key = id ?? randomUUID();
    this.configs.set(key, settings);
    return key;
  }

  /** The selected cluster, loaded on the first request only: plugins that make none never need a kubeconfig. */
  private select(): Selection | undefined {
    if (this.selection !== undefined) return this.selection ?? undefined;
    try {
      const overrides = overridesFromArgs(this.options.args);
      const merged = loadKubeconfig(this.options.env, overrides);
      this.selection = merged ? selectCluster(merged, overrides) : null;
      if (!merged) this.noteOnce(`no kubeconfig found (KUBECONFIG or ~/.kube/config): requests of plugin ${this.options.pluginName} are refused`);
    } catch (error) {
      this.selection = null;
      this.noteOnce(`${(error as Error).message}: requests of plugin ${this.options.pluginName} are refused`);
    }
    return this.selection ?? undefined;
  }

  private guarded<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      if (isKrewWasmError(error)) this.noteOnce(error.message);
      throw new HttpFailure('runtime-error');
    }
  }

  private refuse(note: string): never {
    this.noteOnce(note);
    throw new HttpFailure('destination-not-allowed');
  }

  private noteOnce(line: string): void {
    if (this.notes.has(line)) return;
    this.notes.add(line);
    (this.options.note ?? ((l: string) => process.stderr.write(`krew-wasm: ${l}\n`)))(line);
  }
}

function derToPem(der: Uint8Array): string {
  return new X509Certificate(Buffer.from(der)).toString();
}

/** Imports for `krew-wasm:outbound-http/*`, typed by the jco-generated bindings in generated/. */
export async function createOutboundHttpImports(options: OutboundHttpOptions): Promise<Record<string, unknown>> {
  const host = new OutboundHttpHost(options);
  // jco turns a thrown value into the `err` case of the result; its payload is the http-error.
  const unwrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (error) {
      if (error instanceof HttpFailure) throw error.payload;
      throw 'runtime-error' satisfies HttpError;
    }
  };
  const api: typeof OutboundHttpApi = {
    request: (req, configId) => unwrap(() => host.request(req, configId)),
    registerRequestConfig: (config, id) => unwrap(() => host.registerRequestConfig(config, id)),
  };
  return { 'krew-wasm:outbound-http/outbound-http': api, 'krew-wasm:outbound-http/types': {} };
}
