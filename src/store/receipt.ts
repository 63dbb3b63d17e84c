import fs from 'node:fs';
import { normalizeGrants, type Grants } from '../grants.js';
import { atomicWriteFile } from './fsutil.js';

/** What was installed under a name; written last, so a receipt means "installed" (as in krew). */
export interface Receipt {
  apiVersion: 'krew-wasm/v1';
  name: string;
  /** The reference or local source the user pulled. */
  source: string;
  /** Digest of the resolved image manifest; absent for file:// sources. */
  manifestDigest?: string;
  /** Digest of the wasm layer; its hex names the store entry. */
  layerDigest: string;
  mediaTypes: { manifest?: string; config?: string; layer: string; artifactType?: string };
  /** Size of the wasm layer in bytes. */
  size: number;
  pulledAt: string;
  grants: Grants;
}

/** Reads and validates a receipt; undefined when it does not exist. Throws on a damaged one. */
export function readReceipt(file: string): Receipt | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const r = JSON.parse(text) as Receipt;
  if (r.apiVersion !== 'krew-wasm/v1' || typeof r.name !== 'string' || typeof r.layerDigest !== 'string') {
    throw new Error(`${file} is not a krew-wasm receipt`);
  }
  return { ...r, grants: normalizeGrants(r.grants) };
}

export function writeReceipt(file: string, receipt: Receipt): void {
  atomicWriteFile(file, `${JSON.stringify(receipt, null, 2)}\n`);
}

/** Hex part of a digest: the store entry's folder name. */
export function digestHex(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}
