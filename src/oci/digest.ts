import { createHash, type Hash } from 'node:crypto';
import { DigestMismatchError } from '../errors.js';

/** A parsed `algorithm:hex` content digest (OCI image spec, descriptor.md#digests). */
export interface Digest { algorithm: 'sha256' | 'sha512'; hex: string }

const DIGEST = /^(sha256):([a-f0-9]{64})$|^(sha512):([a-f0-9]{128})$/;

/** Parses a digest string, or returns undefined when it is not one we can verify. */
export function parseDigest(text: string): Digest | undefined {
  const m = DIGEST.exec(text);
  if (!m) return undefined;
  return m[1] ? { algorithm: 'sha256', hex: m[2] } : { algorithm: 'sha512', hex: m[4] };
}

/** sha256 digest string of some bytes. */
export function sha256Of(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Incrementally checks that a byte stream has exactly the expected digest and size. */
export class DigestVerifier {
  private readonly hash: Hash;
  private seen = 0;

  constructor(private readonly expected: Digest, private readonly expectedSize: number, private readonly what: string) {
    this.hash = createHash(expected.algorithm);
  }

  /** Feeds a chunk; throws as soon as more bytes arrive than the manifest declared. */
  update(chunk: Uint8Array): void {
    this.seen += chunk.length;
    if (this.seen > this.expectedSize) {
      throw new DigestMismatchError(`${this.what}: more than the declared ${this.expectedSize} bytes received`);
    }
    this.hash.update(chunk);
  }

  /** Throws unless size and digest both match. */
  finish(): void {
    if (this.seen !== this.expectedSize) {
      throw new DigestMismatchError(`${this.what}: size mismatch, expected ${this.expectedSize} bytes, got ${this.seen}`);
    }
    const actual = this.hash.digest('hex');
    if (actual !== this.expected.hex) {
      throw new DigestMismatchError(
        `${this.what}: digest mismatch, expected ${this.expected.algorithm}:${this.expected.hex}, got ${this.expected.algorithm}:${actual}`,
      );
    }
  }
}

/** Checks whole bytes against a digest string. */
export function verifyBytes(bytes: Uint8Array, digest: string, what: string): void {
  const parsed = parseDigest(digest);
  if (!parsed) throw new DigestMismatchError(`${what}: unsupported digest "${digest}"`);
  const verifier = new DigestVerifier(parsed, bytes.length, what);
  verifier.update(bytes);
  verifier.finish();
}
