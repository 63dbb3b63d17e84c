/** Settings for the outbound-http host of one run. */
export interface OutboundHttpOptions {
  network: 'api-server' | 'none';
  args: string[];
  env: NodeJS.ProcessEnv;
  pluginName: string;
}

/** Imports for `krew-wasm:outbound-http/*` (placeholder until the host lands: everything is refused). */
export async function createOutboundHttpImports(_options: OutboundHttpOptions): Promise<Record<string, unknown>> {
  const deny = (): never => { throw 'destination-not-allowed'; };
  return {
    'krew-wasm:outbound-http/types': {},
    'krew-wasm:outbound-http/outbound-http': { request: deny, registerRequestConfig: deny },
  };
}
