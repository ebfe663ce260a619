import {
  createRemoteJWKSet,
  decodeJwt,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { TransientDependencyError } from '../domain/errors';
import { Forbidden, Unauthenticated } from './authErrors';

export { Forbidden, Unauthenticated };

/**
 * Bearer-token authentication of the portal's calls: an Entra access token
 * checked in code (signature against the JWKS, issuer, audience, expiry,
 * RS256, the required app role), then authorization for the route's tenant.
 */

export interface ApiAuthSettings {
  audience: string;
  /** Accepted issuers; `{tenantid}` stands for the token's own `tid`. */
  issuers: string[];
  jwksUri: string;
  requiredRole: string;
  allTenantsRole: string;
}

export interface Caller {
  /** The caller's Entra tenant (`tid`), lower case. */
  tenantId: string;
  /** Object id (`oid`) of the user or service principal, for audit lines. */
  objectId: string | undefined;
  roles: string[];
  /** Holds the all-tenants role: may act for any tenant (the portal backend). */
  allTenants: boolean;
}

export interface ApiAuthenticatorOptions {
  /** Inject keys directly (tests); by default a remote JWKS with caching and rotation. */
  keys?: JWTVerifyGetKey;
  /** How long fetched keys are trusted before the JWKS is fetched again. */
  jwksCacheMaxAgeMs?: number;
  /** Least time between two JWKS fetches triggered by unknown key ids (rotation). */
  jwksCooldownMs?: number;
  clockToleranceSeconds?: number;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_TOKEN_LENGTH = 16_384;

export class ApiAuthenticator {
  private readonly keys: JWTVerifyGetKey;
  private readonly clockTolerance: number;

  constructor(
    private readonly settings: ApiAuthSettings,
    options: ApiAuthenticatorOptions = {},
  ) {
    // jose refetches the JWKS when a token names a key id it does not know (key rotation),
    // at most once per cooldown, and otherwise serves keys from its cache.
    this.keys =
      options.keys ??
      createRemoteJWKSet(new URL(settings.jwksUri), {
        cacheMaxAge: options.jwksCacheMaxAgeMs ?? 10 * 60_000,
        cooldownDuration: options.jwksCooldownMs ?? 30_000,
        timeoutDuration: 5_000,
      });
    this.clockTolerance = options.clockToleranceSeconds ?? 60;
  }

  /** Validates the Authorization header; throws Unauthenticated or Forbidden. */
  async authenticate(authorization: string | null | undefined): Promise<Caller> {
    if (!authorization || authorization.trim() === '') {
      throw new Unauthenticated(
        'A bearer token is required: send Authorization: Bearer <Entra access token>.',
      );
    }
    const match = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(authorization);
    if (!match?.[1]) {
      throw new Unauthenticated('The Authorization header must be "Bearer <token>".', 'invalid_request');
    }
    const token = match[1];
    if (token.length > MAX_TOKEN_LENGTH)
      throw new Unauthenticated('The bearer token is too long.', 'invalid_token');

    let claimedTenant: unknown;
    try {
      claimedTenant = decodeJwt(token).tid;
    } catch {
      throw new Unauthenticated('The bearer token is not a JWT.', 'invalid_token');
    }
    if (typeof claimedTenant !== 'string' || !GUID.test(claimedTenant)) {
      throw new Unauthenticated('The bearer token has no tenant (tid) claim.', 'invalid_token');
    }
    // Substituting the claimed tid is safe: the issuer is then checked against the signed token.
    const issuers = this.settings.issuers.map((issuer) => issuer.replace(/\{tenantid\}/gi, claimedTenant));

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        algorithms: ['RS256'],
        audience: this.settings.audience,
        issuer: issuers,
        requiredClaims: ['exp', 'iss', 'aud', 'tid'],
        clockTolerance: this.clockTolerance,
      }));
    } catch (error) {
      if (isKeySourceFailure(error)) {
        // Our key source failed, not the caller's token: try again later, not "log in again".
        throw new TransientDependencyError(
          'The keys that sign bearer tokens could not be fetched. Try again shortly.',
          undefined,
          {
            cause: error,
          },
        );
      }
      throw new Unauthenticated(reasonFor(error as errors.JOSEError), 'invalid_token');
    }

    const claimedRoles: unknown = payload.roles;
    const roles = Array.isArray(claimedRoles)
      ? claimedRoles.filter((role): role is string => typeof role === 'string')
      : [];
    if (!roles.includes(this.settings.requiredRole)) {
      throw new Forbidden(
        `The caller lacks the app role ${this.settings.requiredRole} required by this API.`,
        'MissingAppRole',
      );
    }
    return {
      tenantId: claimedTenant.toLowerCase(),
      objectId: typeof payload.oid === 'string' ? payload.oid : undefined,
      roles,
      allTenants: roles.includes(this.settings.allTenantsRole),
    };
  }

  /** Throws Forbidden unless the caller may act for `tenantId`. */
  authorizeTenant(caller: Caller, tenantId: string): void {
    if (caller.allTenants || caller.tenantId === tenantId.toLowerCase()) return;
    throw new Forbidden(
      `The caller's tenant may not manage tenant ${tenantId}: sign in with that tenant, or use a caller holding the ${this.settings.allTenantsRole} role.`,
      'TenantNotAllowed',
    );
  }
}

/** A reason a caller can act on, never the token or key material. */
function reasonFor(error: errors.JOSEError): string {
  if (error instanceof errors.JWTExpired) return 'The bearer token has expired.';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'The bearer token was issued for another audience.';
    if (error.claim === 'iss') return 'The bearer token comes from an issuer this API does not accept.';
    if (error.claim === 'nbf') return 'The bearer token is not valid yet.';
    return `The bearer token's ${error.claim} claim is not acceptable.`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return 'The bearer token signature is not valid.';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'The bearer token is not signed with RS256.';
  if (error instanceof errors.JWKSNoMatchingKey) return 'The bearer token is signed with an unknown key.';
  return 'The bearer token is not valid.';
}

/** The JWKS endpoint timed out, answered non-200 or garbage, or could not be reached. */
function isKeySourceFailure(error: unknown): boolean {
  return (
    !(error instanceof errors.JOSEError) ||
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    error.code === 'ERR_JOSE_GENERIC'
  );
}
