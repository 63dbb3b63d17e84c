import { httpTypes, type OutgoingRequest, type RequestOptions } from './types.js';

/**
 * Standard wasi:http for plugins (0.2.x): the types, and an outgoing handler. Until the handler is
 * wired to the API-server policy, every request is refused with the error-code a guest
 * understands, `HTTP-request-denied`, never a host crash.
 */
export function createWasiHttpImports(): Record<string, unknown> {
  return {
    'wasi:http/types': httpTypes(),
    'wasi:http/outgoing-handler': {
      handle(_request: OutgoingRequest, _options: RequestOptions | undefined): never {
        throw { tag: 'HTTP-request-denied' };
      },
    },
  };
}
