/** @module Interface krew-wasm:outbound-http/types@0.1.0 **/
/**
 * The HTTP status code.
 */
export type HttpStatus = number;
/**
 * The HTTP body.
 */
export type Body = Uint8Array;
/**
 * The HTTP headers represented as a list of (name, value) pairs.
 */
export type Headers = Array<[string, string]>;
/**
 * The HTTP query parameters, represented as a list of (name, value) pairs.
 */
export type Params = Array<[string, string]>;
/**
 * The HTTP URI of the current request.
 */
export type Uri = string;
/**
 * The HTTP method.
 * # Variants
 * 
 * ## `"get"`
 * 
 * ## `"post"`
 * 
 * ## `"put"`
 * 
 * ## `"delete"`
 * 
 * ## `"patch"`
 * 
 * ## `"head"`
 * 
 * ## `"options"`
 */
export type Method = 'get' | 'post' | 'put' | 'delete' | 'patch' | 'head' | 'options';
/**
 * An HTTP request.
 */
export interface Request {
  method: Method,
  uri: Uri,
  headers: Headers,
  params: Params,
  body?: Body,
}
/**
 * An HTTP response.
 */
export interface Response {
  status: HttpStatus,
  headers?: Headers,
  body?: Body,
}
/**
 * HTTP errors returned by the runtime.
 * # Variants
 * 
 * ## `"success"`
 * 
 * ## `"destination-not-allowed"`
 * 
 * ## `"invalid-cfg"`
 * 
 * ## `"invalid-url"`
 * 
 * ## `"request-error"`
 * 
 * ## `"runtime-error"`
 */
export type HttpError = 'success' | 'destination-not-allowed' | 'invalid-cfg' | 'invalid-url' | 'request-error' | 'runtime-error';
/**
 * A private key and X509 certificate used as a client certificate.
 */
export interface Identity {
  key: Uint8Array,
  cert: Uint8Array,
  ca: Uint8Array,
}
/**
 * The encoding of a certificate.
 * # Variants
 * 
 * ## `"der"`
 * 
 * ## `"pem"`
 */
export type CertificateEncoding = 'der' | 'pem';
/**
 * An X509 certificate.
 */
export interface Certificate {
  encoding: CertificateEncoding,
  data: Uint8Array,
}
/**
 * TLS configuration for requests.
 */
export interface RequestConfig {
  acceptInvalidHostnames: boolean,
  acceptInvalidCertificates: boolean,
  extraRootCertificates: Array<Certificate>,
  identity?: Identity,
}
