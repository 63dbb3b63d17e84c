import tls from 'node:tls';
import type { TlsSettings } from '../../kube/credentials.js';

/**
 * One TLS context for each set of trusted CAs and client credentials, made once: one a request was
 * ~1.2 ms of the HTTP worker and memory that only a collection gave back, and a plugin sending
 * requests and dropping them at once made the worker a backlog (attack 102).
 *
 * What is kept is bounded: a plugin may register 64 request configs holding 4 MiB of certificates
 * and keys in all (outboundHttp.ts), and replace one again and again, each time a new set of
 * settings. The least recently used go first, so the kubeconfig's and those in use stay.
 */
export class SecureContexts {
  private readonly contexts = new Map<string, tls.SecureContext>();
  private keyBytes = 0;

  constructor(private readonly maxContexts = 66, private readonly maxKeyBytes = 8 * 1024 * 1024) {}

  for(settings: Pick<TlsSettings, 'ca' | 'cert' | 'key'>): tls.SecureContext {
    const key = JSON.stringify([settings.ca ?? null, settings.cert ?? null, settings.key ?? null]);
    let context = this.contexts.get(key);
    if (context) this.contexts.delete(key); // set again below: the most recently used come last
    else {
      context = tls.createSecureContext({ ca: settings.ca, cert: settings.cert, key: settings.key });
      this.keyBytes += key.length;
    }
    this.contexts.set(key, context);
    for (const oldest of this.contexts.keys()) {
      if (this.contexts.size <= this.maxContexts && this.keyBytes <= this.maxKeyBytes) break;
      this.contexts.delete(oldest);
      this.keyBytes -= oldest.length;
    }
    return context;
  }

  /** How many contexts are kept, and the length of what they were made from. */
  get held(): { contexts: number; keyBytes: number } {
    return { contexts: this.contexts.size, keyBytes: this.keyBytes };
  }
}
