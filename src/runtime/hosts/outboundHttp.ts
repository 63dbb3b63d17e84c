import type * as OutboundHttpApi from '../../../generated/interfaces/krew-wasm-outbound-http-outbound-http.js';
import type { HttpError, Request, RequestConfig, Response } from '../../../generated/interfaces/krew-wasm-outbound-http-types.js';
import { crypto } from '../../builtin.js';
import { isKrewWasmError } from '../../errors.js';
import type { TlsSettings } from '../../kube/credentials.js';
import type { NetworkContext } from '../../kube/networkContext.js';

/** Settings for the outbound-http host of one run. */
export interface OutboundHttpOptions {
  pluginName: string;
  /** Name the transport failure of a refused request in a note. */
  verbose: boolean;
  /** Where one-line notes for the user go (stderr). */
  note?: (line: string) => void;
}

/** Largest request body a plugin may send. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/**
 * Request configs a run may register, and the bytes of certificates and keys they may hold in all:
 * a plugin registers one or two; without a bound, registering in a loop grows the host without
 * end (each config is kept for the whole run).
 */
const MAX_REQUEST_CONFIGS = 64;
const MAX_REQUEST_CONFIG_BYTES = 4 * 1024 * 1024;

/** A request refused or failed, with the http-error jco hands to the guest as `err`. */
class HttpFailure {
  constructor(readonly payload: HttpError) {}
}

/**
 * The host side of krew-wasm:outbound-http, an adapter of that ABI onto the run's settled network
 * context (kube/networkContext.ts), which checks each request against the API server of the
 * selected cluster, adds the user's credentials when the plugin brings neither a request config
 * nor an Authorization header, and performs it synchronously for the guest on a worker thread.
 * Without a context (network not granted) every request is refused.
 */
export class OutboundHttpHost {
  private readonly configs = new Map<string, TlsSettings & { bytes: number }>();
  private configBytes = 0;
  private readonly notes = new Set<string>();

  constructor(private readonly context: NetworkContext | undefined, private readonly options: OutboundHttpOptions) {}

  request(req: Request, configId: string | undefined): Response {
    const name = this.options.pluginName;
    if (!this.context) this.refuse(`network access is not granted to plugin ${name} (krew-wasm grant ${name} --network api-server)`);
    const prepared = this.guarded(() => this.context!.prepare({ uri: req.uri, params: req.params, headers: req.headers, pluginTls: configId !== undefined }));
    if (!prepared.ok) {
      if (prepared.note) this.noteOnce(prepared.note);
      throw new HttpFailure(prepared.error);
    }
    let tls: TlsSettings | undefined;
    if (configId !== undefined) {
      const registered = this.configs.get(configId);
      if (!registered) throw new HttpFailure('invalid-cfg');
      // The plugin's own trust and identity, but the cluster's server name (tls-server-name) still applies.
      const { bytes: _bytes, ...settings } = registered;
      tls = { ...settings, servername: prepared.tls.servername };
    }
    if (req.body && req.body.length > MAX_BODY_BYTES) throw new HttpFailure('request-error');
    const reply = this.context!.send(prepared, { method: req.method, body: req.body, tls });
    if (!reply.ok) {
      if (this.options.verbose) this.noteOnce(`request to ${prepared.url.origin} failed: ${reply.message}`);
      throw new HttpFailure('request-error');
    }
    return { status: reply.status, headers: reply.headers, body: reply.body };
  }

  registerRequestConfig(config: RequestConfig, id: string | undefined): string {
    const name = this.options.pluginName;
    // A config only serves requests: without the network there is nothing to configure.
    if (!this.context) this.refuse(`network access is not granted to plugin ${name} (krew-wasm grant ${name} --network api-server)`);
    const bytes = configBytes(config);
    const replaced = id !== undefined ? this.configs.get(id) : undefined;
    if ((!replaced && this.configs.size >= MAX_REQUEST_CONFIGS) || this.configBytes - (replaced?.bytes ?? 0) + bytes > MAX_REQUEST_CONFIG_BYTES) {
      this.noteOnce(`plugin ${name} registered more request configs than a run may hold (${MAX_REQUEST_CONFIGS}, ${MAX_REQUEST_CONFIG_BYTES / 1024 / 1024} MiB of certificates and keys)`);
      throw new HttpFailure('invalid-cfg');
    }
    // node:crypto when a plugin registers a config (rare): loading it was ~3 ms of every run.
    const { createPrivateKey, randomUUID, X509Certificate } = crypto();
    let settings: TlsSettings;
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
      if (settings.key) createPrivateKey(settings.key);
    } catch {
      throw new HttpFailure('invalid-cfg');
    }
    const key = id ?? randomUUID();
    this.configBytes += bytes - (replaced?.bytes ?? 0);
    this.configs.set(key, { ...settings, bytes });
    return key;
  }

  /**
   * Credentials that cannot be had (a file that could not be read, a failing exec plugin) are one
   * note and `runtime-error` for the plugin, which goes on; any other krew-wasm error (the time
   * limit) ends the run.
   */
  private guarded<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      if (isKrewWasmError(error) && error.code === 'E_KUBECONFIG') {
        this.noteOnce(`${error.message}: requests of plugin ${this.options.pluginName} fail`);
        throw new HttpFailure('runtime-error');
      }
      throw error;
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
  return new (crypto().X509Certificate)(Buffer.from(der)).toString();
}

/**
 * Imports for `krew-wasm:outbound-http/*`, typed by the jco-generated bindings in generated/.
 * `context` is the run's settled network context (prepareNetworkContext), or undefined when the
 * plugin is not granted the network.
 */
export function createOutboundHttpImports(context: NetworkContext | undefined, options: OutboundHttpOptions): Record<string, unknown> {
  const host = new OutboundHttpHost(context, options);
  // jco turns a thrown value into the `err` case of the result; its payload is the http-error.
  // Our own errors (the time limit) are rethrown as they are: jco rethrows an Error without a
  // payload, so they end the run instead of becoming an answer the plugin could ignore.
  const unwrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (error) {
      if (error instanceof HttpFailure) throw error.payload;
      if (isKrewWasmError(error)) throw error;
      throw 'runtime-error' satisfies HttpError;
    }
  };
  const api: typeof OutboundHttpApi = {
    request: (req, configId) => unwrap(() => host.request(req, configId)),
    registerRequestConfig: (config, id) => unwrap(() => host.registerRequestConfig(config, id)),
  };
  return { 'krew-wasm:outbound-http/outbound-http': api, 'krew-wasm:outbound-http/types': {} };
}

function configBytes(config: RequestConfig): number {
  const identity = config.identity ? config.identity.key.length + config.identity.cert.length + config.identity.ca.length : 0;
  return identity + config.extraRootCertificates.reduce((sum, c) => sum + c.data.length, 0);
}
