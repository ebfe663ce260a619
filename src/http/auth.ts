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
  /** The operator's home tenant, lower case: the only issuer of cross-tenant authority. */
  operatorTenantId: string;
  /** Client ids (lower case) of the operator apps that may act for any tenant. */
  operatorClientIds: string[];
}

export interface Caller {
  /** The caller's Entra tenant (`tid`), lower case. */
  tenantId: string;
  /** Object id (`oid`) of the user or service principal, for audit lines. */
  objectId: string | undefined;
  /** The calling application, lower case: `azp` of a v2 token, `appid` of a v1 token. */
  appId: string | undefined;
  /** App roles from the `roles` claim only; delegated scopes (`scp`) never count as roles. */
  roles: string[];
  /**
   * May act for any tenant: holds the all-tenants role AND the token comes from the operator's
   * home tenant AND the calling app is allow-listed. Roles alone prove nothing, since every
   * tenant's own admins assign roles in that tenant.
   */
  allTenants: boolean;
}

/** How a caller got the right to act for the route's tenant, or why not (a stable problem code). */
export type TenantAccess =
  | { allowed: true; via: 'ownTenant' | 'operator' }
  | { allowed: false; code: 'TenantNotAllowed' | 'OperatorAppNotAllowed' | 'AllTenantsRoleRequired' };

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
  private readonly operatorApps: ReadonlySet<string>;

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
    this.operatorApps = new Set(settings.operatorClientIds.map((id) => id.toLowerCase()));
  }

  /** Validates the Authorization header and requires the API's app role; throws Unauthenticated or Forbidden. */
  async authenticate(authorization: string | null | undefined): Promise<Caller> {
    const caller = await this.identify(authorization);
    this.requireRole(caller);
    return caller;
  }

  /** Validates the Authorization header (throws Unauthenticated) and says who is calling, roles unchecked. */
  async identify(authorization: string | null | undefined): Promise<Caller> {
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
    const tenantId = claimedTenant.toLowerCase();
    const appId = callingApp(payload);
    return {
      tenantId,
      // Only a GUID: the object id is stored with each change the caller makes.
      objectId:
        typeof payload.oid === 'string' && GUID.test(payload.oid) ? payload.oid.toLowerCase() : undefined,
      appId,
      roles,
      allTenants:
        roles.includes(this.settings.allTenantsRole) &&
        tenantId === this.settings.operatorTenantId.toLowerCase() &&
        appId !== undefined &&
        this.operatorApps.has(appId),
    };
  }

  /** Whether the caller may act for `tenantId`, and on what grounds. */
  tenantAccess(caller: Caller, tenantId: string): TenantAccess {
    if (caller.tenantId === tenantId.toLowerCase()) return { allowed: true, via: 'ownTenant' };
    if (caller.tenantId !== this.settings.operatorTenantId.toLowerCase())
      return { allowed: false, code: 'TenantNotAllowed' };
    if (caller.appId === undefined || !this.operatorApps.has(caller.appId))
      return { allowed: false, code: 'OperatorAppNotAllowed' };
    if (!caller.roles.includes(this.settings.allTenantsRole))
      return { allowed: false, code: 'AllTenantsRoleRequired' };
    return { allowed: true, via: 'operator' };
  }

  /** Throws Forbidden unless the caller holds the API's app role and may act for `tenantId`; returns how it may. */
  authorizeTenant(caller: Caller, tenantId: string): 'ownTenant' | 'operator' {
    this.requireRole(caller);
    const access = this.tenantAccess(caller, tenantId);
    if (access.allowed) return access.via;
    throw new Forbidden(this.refusal(access.code, caller), access.code);
  }

  private requireRole(caller: Caller): void {
    if (!caller.roles.includes(this.settings.requiredRole)) {
      throw new Forbidden(
        `The caller lacks the app role ${this.settings.requiredRole} required by this API: assign it to the calling user or app in its tenant's Enterprise applications.`,
        'MissingAppRole',
      );
    }
  }

  private refusal(code: Exclude<TenantAccess, { allowed: true }>['code'], caller: Caller): string {
    switch (code) {
      case 'TenantNotAllowed':
        return `This token's tenant may only manage its own export (tenant ${caller.tenantId}): sign in with the tenant named in the URL to manage that one.`;
      case 'OperatorAppNotAllowed':
        return `Only the operator's portal apps may manage other tenants, and this token's calling app (${caller.appId ?? 'none: the token has no azp or appid claim'}) is not one: call through the portal, or add the app's client id to API_OPERATOR_CLIENT_IDS.`;
      case 'AllTenantsRoleRequired':
        return `Managing another tenant needs the app role ${this.settings.allTenantsRole}: assign it to this app in the operator's tenant, or sign in with the tenant named in the URL.`;
    }
  }
}

/**
 * The calling application. Entra's v2 access tokens name it in `azp`, v1 tokens in `appid`
 * (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference); the
 * other claim is not trusted for that version, so a v2 token without `azp` has no calling app.
 */
function callingApp(payload: JWTPayload): string | undefined {
  const claim = payload.ver === '1.0' ? payload.appid : payload.azp;
  return typeof claim === 'string' && GUID.test(claim) ? claim.toLowerCase() : undefined;
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
