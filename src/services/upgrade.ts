import { resolveArtifact, type FetchOptions } from '../oci/fetch.js';
import { isPinned, parseSource } from '../oci/reference.js';
import type { Receipt, ReceiptTransport } from '../store/receipt.js';
import type { PluginStore } from '../store/store.js';
import { pullPlugin } from './pull.js';

/** Where an installed plugin stands against its source. */
export type PluginStatus = 'up-to-date' | 'outdated' | 'pinned';

export interface PluginCheck {
  name: string;
  source: string;
  status: PluginStatus;
  /** The digest installed: the image manifest's (the one list shows), or the layer's for a file. */
  installed: string;
  /** The digest the source names now (absent when pinned). */
  available?: string;
  /** For an upgrade: the image manifest to install, exactly the one compared. */
  pin?: string;
}

/**
 * Re-resolves a receipt's source (registry tag, layout tag, file) without downloading the layer,
 * and compares what it names now with what is installed. A source pinned by digest is never
 * compared: it names one content forever.
 */
export async function checkPlugin(receipt: Receipt, fetch: FetchOptions): Promise<PluginCheck> {
  const installed = receipt.manifestDigest ?? receipt.layerDigest;
  const base = { name: receipt.name, source: receipt.source, installed };
  const source = parseSource(receipt.source);
  if (isPinned(source)) return { ...base, status: 'pinned' };
  const now = await resolveArtifact(source, fetch);
  const available = now.manifestDigest ?? now.layer.digest;
  return { ...base, status: available === installed ? 'up-to-date' : 'outdated', available, pin: now.manifestDigest };
}

/**
 * Installs what an outdated plugin's source names now: pulled by the digest that was compared,
 * verified, swapped in atomically under the store lock, grants kept; the old entry is collected
 * when no other plugin uses it. An entry already in the store for the new layer is reused.
 */
export async function upgradePlugin(store: PluginStore, receipt: Receipt, check: PluginCheck, fetch: FetchOptions, transport: ReceiptTransport | undefined, notify?: (line: string) => void): Promise<Receipt> {
  const { receipt: upgraded } = await pullPlugin(store, {
    reference: receipt.source,
    cwd: '/',
    name: receipt.name,
    force: true,
    freshEntry: false,
    fetch,
    transport,
    pin: check.pin,
    replacing: receipt,
    notify,
  });
  return upgraded;
}
