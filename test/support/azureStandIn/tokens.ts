import { randomBytes } from 'node:crypto';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type KeyLike,
} from 'jose';

interface SigningKey {
  kid: string;
  privateKey: KeyLike;
  publicJwk: JWK;
}

export type VerifyFailure =
  | { reason: 'malformed'; detail: string }
  | { reason: 'unknownKey'; kid: string | undefined }
  | { reason: 'badSignature' }
  | { reason: 'expired'; expiredAt: Date }
  | { reason: 'notYetValid'; notBefore: Date };

export type VerifyResult = { ok: true; claims: JWTPayload } | { ok: false; failure: VerifyFailure };

/**
 * The keys Entra signs tokens with. One is active (signs by default); every
 * published key is in the JWKS and verifies. Adding a key and retiring the old
 * one is what key rotation looks like to a relying party.
 */
export class KeyRing {
  private readonly published = new Map<string, SigningKey>();
  private activeKid = '';

  static async create(): Promise<KeyRing> {
    const ring = new KeyRing();
    await ring.addKey(true);
    return ring;
  }

  async addKey(activate: boolean): Promise<string> {
    const key = await newSigningKey();
    this.published.set(key.kid, key);
    if (activate || !this.activeKid) this.activeKid = key.kid;
    return key.kid;
  }

  retire(kid: string): boolean {
    if (kid === this.activeKid) {
      throw new Error(`Key ${kid} is the active signing key; activate another key before retiring it.`);
    }
    return this.published.delete(kid);
  }

  get active(): string {
    return this.activeKid;
  }

  publishedKids(): string[] {
    return [...this.published.keys()];
  }

  has(kid: string): boolean {
    return this.published.has(kid);
  }

  jwks(): JSONWebKeySet {
    return { keys: [...this.published.values()].map((key) => key.publicJwk) };
  }

  async sign(claims: JWTPayload, kid = this.activeKid): Promise<string> {
    const key = this.published.get(kid);
    if (!key) throw new Error(`No published signing key ${kid}.`);
    return signWith(key, claims);
  }

  /** Signs with a fresh key no JWKS publishes: what a forged or foreign token looks like. */
  async signWithUnpublishedKey(claims: JWTPayload): Promise<{ token: string; kid: string }> {
    const key = await newSigningKey();
    return { token: await signWith(key, claims), kid: key.kid };
  }

  /** Signature and lifetime only; the caller checks issuer, audience and tenant with its own wording. */
  async verify(token: string): Promise<VerifyResult> {
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
      decodeJwt(token);
    } catch (error) {
      return { ok: false, failure: { reason: 'malformed', detail: (error as Error).message } };
    }
    if (!kid || !this.published.has(kid)) return { ok: false, failure: { reason: 'unknownKey', kid } };
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(this.jwks()), {
        algorithms: ['RS256'],
        clockTolerance: 0,
      });
      return { ok: true, claims: payload };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        const exp = Number(error.payload.exp ?? 0);
        return { ok: false, failure: { reason: 'expired', expiredAt: new Date(exp * 1000) } };
      }
      if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'nbf') {
        const nbf = Number(error.payload.nbf ?? 0);
        return { ok: false, failure: { reason: 'notYetValid', notBefore: new Date(nbf * 1000) } };
      }
      if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
        return { ok: false, failure: { reason: 'badSignature' } };
      }
      return { ok: false, failure: { reason: 'malformed', detail: (error as Error).message } };
    }
  }
}

async function newSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  const kid = randomBytes(15).toString('base64url');
  const publicJwk = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' };
  return { kid, privateKey, publicJwk };
}

function signWith(key: SigningKey, claims: JWTPayload): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid })
    .sign(key.privateKey);
}

/** Human text for a verification failure, used in 401 messages. */
export function describeFailure(failure: VerifyFailure): string {
  switch (failure.reason) {
    case 'malformed':
      return `The access token is malformed: ${failure.detail}.`;
    case 'unknownKey':
      return `The access token is signed by a key ('${failure.kid ?? '<no kid>'}') that is not published in the issuer's signing keys.`;
    case 'badSignature':
      return 'The access token signature is invalid.';
    case 'expired':
      return `The access token expiry UTC time '${failure.expiredAt.toISOString()}' is earlier than current UTC time '${new Date().toISOString()}'.`;
    case 'notYetValid':
      return `The access token is not valid before '${failure.notBefore.toISOString()}'.`;
  }
}

/** Audiences compare without trailing slashes (Entra issues `https://management.azure.com/` for v1 resources). */
export function normalizeAudience(audience: string): string {
  return audience.replace(/\/+$/, '').toLowerCase();
}
