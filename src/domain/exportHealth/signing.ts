import { DomainError } from '../errors';

/**
 * Signs health rows with a key the service holds. Production: a Key Vault key
 * (the private key never leaves the vault; the managed identity calls its
 * `sign` operation). Sandbox and tests: a generated or configured key.
 */
export interface HealthSigner {
  /** The key new rows are signed with (its JWKS `kid`) and its JWS algorithm. */
  currentKey(): Promise<{ keyId: string; algorithm: SigningAlgorithm }>;
  /** The JWS signature (RFC 7515/7518 encoding: r||s for ES256) over `input` with key `keyId`. */
  sign(keyId: string, algorithm: SigningAlgorithm, input: Uint8Array): Promise<Uint8Array>;
}

export type SigningAlgorithm = 'ES256' | 'RS256';

/** A public key as published at GET /api/siem/signing-keys. */
export interface PublicSigningKey {
  kty: string;
  kid: string;
  alg: SigningAlgorithm;
  use: 'sig';
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
}

/** The published keys: the current one first, then previous ones still needed to verify older rows. */
export interface SigningKeyDirectory {
  /**
   * `refresh`: a row names a key id the last answer did not hold (a rotation another instance saw
   * first): ask the key store again rather than serve a cached list, at most every 30 seconds.
   */
  publicKeys(options?: { refresh?: boolean }): Promise<PublicSigningKey[]>;
}

/** Checks one signature against the published keys. */
export interface HealthSignatureVerifier {
  /** Resolves true when `signature` (base64url) is valid for `input` under key `kid` with `alg`. */
  verify(kid: string, alg: string, input: Uint8Array, signature: string): Promise<boolean>;
  /** Whether a key with this id is published at all. */
  knows(kid: string): boolean;
}

/** The signing key is missing, unreadable or refused: heartbeats stop, the forwarder does not. */
export class SigningKeyUnavailableError extends DomainError {
  readonly code = 'SigningKeyUnavailable';
}
