/** @module Interface krew-wasm:outbound-http/outbound-http@0.1.0 **/
/**
 * Sends an HTTP request to the Kubernetes API server and returns its response.
 * Without a request config and an Authorization header, the host applies the
 * kubeconfig's credentials and CA for the selected cluster.
 */
export function request(req: HttpRequest, requestConfigId: string | undefined): Response;
/**
 * Stores a TLS configuration under `id` (or a new id) and returns the id.
 */
export function registerRequestConfig(config: RequestConfig, id: string | undefined): string;
export type HttpRequest = import('./krew-wasm-outbound-http-types.js').Request;
export type Response = import('./krew-wasm-outbound-http-types.js').Response;
export type HttpError = import('./krew-wasm-outbound-http-types.js').HttpError;
export type RequestConfig = import('./krew-wasm-outbound-http-types.js').RequestConfig;
