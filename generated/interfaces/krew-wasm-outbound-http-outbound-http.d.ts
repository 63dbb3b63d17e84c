/** @module Interface krew-wasm:outbound-http/outbound-http@0.1.0 **/
/**
 * Sends an HTTP request to the Kubernetes API server and returns its response.
 * The uri is the server's URL or below it; a uri that is a path (`/api/v1/pods`) is taken
 * relative to the server URL of the selected kubeconfig cluster. Without a request config
 * and an Authorization header, the host applies the kubeconfig's credentials and CA.
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
