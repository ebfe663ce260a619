import { createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { HealthSignatureVerifier, PublicSigningKey } from '../domain/exportHealth/signing';

/**
 * Verifies health-row signatures with published public keys (a JWKS). The
 * algorithm must be the one the key is published for: a row cannot pick a
 * weaker one (RFC 8725 §3.1).
 */
export class JwksSignatureVerifier implements HealthSignatureVerifier {
  private readonly keys = new Map<string, { alg: string; key: KeyObject }>();

  constructor(jwks: { keys?: unknown }) {
    if (!Array.isArray(jwks.keys))
      throw new Error('The signing keys document has no "keys" array (not a JWKS).');
    for (const entry of jwks.keys as Array<Partial<PublicSigningKey>>) {
      if (typeof entry.kid !== 'string' || (entry.alg !== 'ES256' && entry.alg !== 'RS256')) continue;
      try {
        const key = createPublicKey({ key: entry as unknown as JsonWebKey, format: 'jwk' });
        this.keys.set(entry.kid, { alg: entry.alg, key });
      } catch {
        // A key this runtime cannot read verifies nothing; rows signed with it are reported as unverifiable.
      }
    }
  }

  get size(): number {
    return this.keys.size;
  }

  knows(kid: string): boolean {
    return this.keys.has(kid);
  }

  verify(kid: string, alg: string, input: Uint8Array, signature: string): Promise<boolean> {
    const entry = this.keys.get(kid);
    if (!entry || entry.alg !== alg) return Promise.resolve(false);
    const bytes = Buffer.from(signature, 'base64url');
    const key = alg === 'ES256' ? { key: entry.key, dsaEncoding: 'ieee-p1363' as const } : entry.key;
    try {
      return Promise.resolve(verify('sha256', input, key, bytes));
    } catch {
      return Promise.resolve(false);
    }
  }
}
