import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import {
  SigningKeyUnavailableError,
  type HealthSigner,
  type PublicSigningKey,
  type SigningAlgorithm,
  type SigningKeyDirectory,
} from '../domain/exportHealth/signing';

/**
 * Signs health rows with a key this process holds: a PEM from the settings
 * (development) or one generated at start (sandbox). The key id is the key's
 * RFC 7638 JWK thumbprint, so the same key always has the same id. Production
 * uses KeyVaultHealthSigner: a private key must not sit in app settings there.
 */
export class LocalHealthSigner implements HealthSigner, SigningKeyDirectory {
  private constructor(
    private readonly privateKey: KeyObject,
    private readonly current: PublicSigningKey,
    private readonly previous: readonly PublicSigningKey[],
  ) {}

  /** A new P-256 key (sandbox, tests). */
  static async generate(previous: readonly PublicSigningKey[] = []): Promise<LocalHealthSigner> {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return LocalHealthSigner.fromKey(privateKey, previous);
  }

  /** From a PKCS#8 / SEC1 PEM (EC P-256 signs ES256, RSA signs RS256). */
  static async fromPem(pem: string, previous: readonly PublicSigningKey[] = []): Promise<LocalHealthSigner> {
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch (error) {
      throw new SigningKeyUnavailableError(
        'HEALTH_SIGNING_PRIVATE_KEY is not a readable PEM private key; heartbeats stop until it is fixed.',
        { cause: error },
      );
    }
    return LocalHealthSigner.fromKey(key, previous);
  }

  private static async fromKey(
    privateKey: KeyObject,
    previous: readonly PublicSigningKey[],
  ): Promise<LocalHealthSigner> {
    const algorithm = algorithmOf(privateKey);
    const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint(jwk, 'sha256');
    const current = publicKeyFrom(jwk, kid, algorithm);
    return new LocalHealthSigner(
      privateKey,
      current,
      previous.filter((key) => key.kid !== kid),
    );
  }

  currentKey(): Promise<{ keyId: string; algorithm: SigningAlgorithm }> {
    return Promise.resolve({ keyId: this.current.kid, algorithm: this.current.alg });
  }

  sign(keyId: string, algorithm: SigningAlgorithm, input: Uint8Array): Promise<Uint8Array> {
    if (keyId !== this.current.kid || algorithm !== this.current.alg) {
      return Promise.reject(
        new SigningKeyUnavailableError(`Key ${keyId} (${algorithm}) is not the key this signer holds.`),
      );
    }
    // JWS ES256 wants r||s (IEEE P1363), not DER (RFC 7518 §3.4).
    const options =
      algorithm === 'ES256' ? { key: this.privateKey, dsaEncoding: 'ieee-p1363' as const } : this.privateKey;
    return Promise.resolve(sign('sha256', input, options));
  }

  publicKeys(): Promise<PublicSigningKey[]> {
    return Promise.resolve([this.current, ...this.previous]);
  }
}

function algorithmOf(key: KeyObject): SigningAlgorithm {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048)
    return 'RS256';
  throw new SigningKeyUnavailableError(
    'HEALTH_SIGNING_PRIVATE_KEY must be an EC P-256 key (ES256) or an RSA key of at least 2048 bits (RS256).',
  );
}

export function publicKeyFrom(jwk: JWK, kid: string, alg: SigningAlgorithm): PublicSigningKey {
  const key: PublicSigningKey = { kty: String(jwk.kty), kid, alg, use: 'sig' };
  if (jwk.crv) key.crv = jwk.crv;
  if (jwk.x) key.x = jwk.x;
  if (jwk.y) key.y = jwk.y;
  if (jwk.n) key.n = jwk.n;
  if (jwk.e) key.e = jwk.e;
  return key;
}
