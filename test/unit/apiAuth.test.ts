import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TransientDependencyError } from '../../src/domain/errors';
import { ApiAuthenticator, Forbidden, Unauthenticated, type ApiAuthSettings } from '../../src/http/auth';
import { assertLoopback } from '../support/loopback';

const TENANT = '0b6c4a2e-6f4e-4a55-9d61-7d1f0e6b2a10';
const OTHER_TENANT = '9a3b1c5d-2e4f-4a6b-8c7d-9e0f1a2b3c4d';
const OPERATOR_TENANT = '5e2a7b3c-1d4f-4a6e-9b8c-0f1e2d3c4b5a';
const PORTAL_APP = '3f1c6c1e-5a6b-4d0e-9b5e-2a9d8c7e6f10';
const CALLER_OID = '7d0c9a1e-3b2f-4c5d-8e6f-1a2b3c4d5e6f';

interface SigningKey {
  kid: string;
  privateKey: KeyLike;
  jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/** A loopback JWKS endpoint whose key set a test can rotate, counting fetches. */
let server: Server;
let published: JWK[] = [];
let fetches = 0;
let jwksUri: string;

beforeAll(async () => {
  server = createServer((_request, response) => {
    fetches += 1;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUri = assertLoopback(`http://127.0.0.1:${(server.address() as AddressInfo).port}/keys`);
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

// RSA key generation is slow: the keys are made once and each test starts from key-1 published.
let keys: Record<'first' | 'second' | 'third' | 'impostor', SigningKey>;
beforeAll(async () => {
  const [first, second, third, impostor] = await Promise.all([
    signingKey('key-1'),
    signingKey('key-2'),
    signingKey('key-3'),
    signingKey('key-1'),
  ]);
  keys = { first, second, third, impostor };
});

let current: SigningKey;
beforeEach(() => {
  current = keys.first;
  published = [current.jwk];
  fetches = 0;
});

function settings(overrides: Partial<ApiAuthSettings> = {}): ApiAuthSettings {
  return {
    audience: 'api://pki-siem-export',
    issuers: ['https://login.example.test/{tenantid}/v2.0'],
    jwksUri,
    requiredRole: 'SiemExport.Manage',
    allTenantsRole: 'SiemExport.AllTenants',
    operatorTenantId: OPERATOR_TENANT,
    operatorClientIds: [PORTAL_APP],
    ...overrides,
  };
}

async function token(
  options: {
    key?: SigningKey;
    tid?: string;
    issuer?: string;
    audience?: string;
    roles?: unknown;
    expiresIn?: string | number;
    claims?: Record<string, unknown>;
  } = {},
): Promise<string> {
  const key = options.key ?? current;
  const tid = options.tid ?? TENANT;
  return new SignJWT({
    tid,
    oid: CALLER_OID,
    ver: '2.0',
    roles: options.roles ?? ['SiemExport.Manage'],
    ...options.claims,
  })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .setIssuer(options.issuer ?? `https://login.example.test/${tid}/v2.0`)
    .setAudience(options.audience ?? 'api://pki-siem-export')
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h')
    .sign(key.privateKey);
}

async function refusal(authenticator: ApiAuthenticator, header: string | undefined): Promise<Error> {
  try {
    await authenticator.authenticate(header);
  } catch (error) {
    return error as Error;
  }
  throw new Error('the token was accepted');
}

describe('ApiAuthenticator', () => {
  it('accepts a valid token and reports the caller', async () => {
    const caller = await new ApiAuthenticator(settings()).authenticate(`Bearer ${await token()}`);
    expect(caller).toEqual({
      tenantId: TENANT,
      objectId: CALLER_OID,
      appId: undefined,
      roles: ['SiemExport.Manage'],
      allTenants: false,
    });
  });

  it('answers a missing or malformed header with a bare challenge or invalid_request', async () => {
    const authenticator = new ApiAuthenticator(settings());
    const missing = await refusal(authenticator, undefined);
    expect(missing).toBeInstanceOf(Unauthenticated);
    expect((missing as Unauthenticated).bearerError).toBeUndefined();
    expect(((await refusal(authenticator, 'Basic dXNlcjpwYXNz')) as Unauthenticated).bearerError).toBe(
      'invalid_request',
    );
    expect(((await refusal(authenticator, 'Bearer not-a-jwt')) as Unauthenticated).bearerError).toBe(
      'invalid_token',
    );
  });

  it('refuses a bad signature, an expired token, another audience or issuer, and a foreign tid in the issuer', async () => {
    const authenticator = new ApiAuthenticator(settings());
    const impostor = keys.impostor;
    const cases: Array<[string, string]> = [
      [await token({ key: impostor }), 'signature'],
      [await token({ expiresIn: Math.floor(Date.now() / 1000) - 600 }), 'expired'],
      [await token({ audience: 'api://someone-else' }), 'audience'],
      [await token({ issuer: 'https://evil.example.test/v2.0' }), 'issuer'],
      [await token({ issuer: `https://login.example.test/${OTHER_TENANT}/v2.0` }), 'issuer'],
    ];
    for (const [jwt, reason] of cases) {
      const error = await refusal(authenticator, `Bearer ${jwt}`);
      expect(error).toBeInstanceOf(Unauthenticated);
      expect(error.message).toContain(reason);
      expect(error.message).not.toContain(jwt);
    }
  });

  it('refuses tokens not signed with RS256', async () => {
    const secret = new TextEncoder().encode('a-shared-secret-that-is-long-enough-for-hs256');
    const hs = await new SignJWT({ tid: TENANT, roles: ['SiemExport.Manage'] })
      .setProtectedHeader({ alg: 'HS256', kid: 'key-1' })
      .setIssuer(`https://login.example.test/${TENANT}/v2.0`)
      .setAudience('api://pki-siem-export')
      .setExpirationTime('1h')
      .sign(secret);
    expect(await refusal(new ApiAuthenticator(settings()), `Bearer ${hs}`)).toBeInstanceOf(Unauthenticated);

    // Unsigned (alg: none), claiming every role from the operator's tenant.
    const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${part({ alg: 'none', typ: 'JWT' })}.${part({
      tid: OPERATOR_TENANT,
      azp: PORTAL_APP,
      ver: '2.0',
      roles: ['SiemExport.Manage', 'SiemExport.AllTenants'],
      iss: `https://login.example.test/${OPERATOR_TENANT}/v2.0`,
      aud: 'api://pki-siem-export',
      exp: Math.floor(Date.now() / 1000) + 3600,
    })}.`;
    expect(await refusal(new ApiAuthenticator(settings()), `Bearer ${unsigned}`)).toBeInstanceOf(
      Unauthenticated,
    );
  });

  it('forbids a valid token without the required app role', async () => {
    const error = await refusal(
      new ApiAuthenticator(settings()),
      `Bearer ${await token({ roles: ['Other'] })}`,
    );
    expect(error).toBeInstanceOf(Forbidden);
    expect((error as Forbidden).code).toBe('MissingAppRole');
  });

  it("lets a caller act for its own tenant, and for any only as the operator's allow-listed portal app", async () => {
    const authenticator = new ApiAuthenticator(settings());
    const own = await authenticator.authenticate(`Bearer ${await token()}`);
    expect(authenticator.authorizeTenant(own, TENANT.toUpperCase())).toBe('ownTenant');
    expect(() => authenticator.authorizeTenant(own, OTHER_TENANT)).toThrow(Forbidden);
    const bothRoles = ['SiemExport.Manage', 'SiemExport.AllTenants'];
    const portal = await authenticator.authenticate(
      `Bearer ${await token({ tid: OPERATOR_TENANT, roles: bothRoles, claims: { azp: PORTAL_APP.toUpperCase() } })}`,
    );
    expect(portal).toMatchObject({ appId: PORTAL_APP, allTenants: true });
    expect(authenticator.authorizeTenant(portal, OTHER_TENANT)).toBe('operator');

    // The attack of issue 13: a tenant of one's own, the app consented, the role self-assigned.
    const attacker = await authenticator.authenticate(
      `Bearer ${await token({ roles: bothRoles, claims: { azp: PORTAL_APP } })}`,
    );
    expect(attacker.allTenants).toBe(false);
    const refused = (() => {
      try {
        authenticator.authorizeTenant(attacker, OTHER_TENANT);
      } catch (error) {
        return error as Forbidden;
      }
      throw new Error('the attacker was allowed');
    })();
    expect(refused).toBeInstanceOf(Forbidden);
    expect(refused.code).toBe('TenantNotAllowed');
    expect(refused.message).toContain('may only manage its own export');
  });

  it('takes the calling app from azp in v2 tokens and appid in v1 tokens, never the other', async () => {
    const authenticator = new ApiAuthenticator(
      settings({
        issuers: ['https://login.example.test/{tenantid}/v2.0', 'https://sts.example.test/{tenantid}/'],
      }),
    );
    const bothRoles = ['SiemExport.Manage', 'SiemExport.AllTenants'];
    const v1 = await authenticator.authenticate(
      `Bearer ${await token({ tid: OPERATOR_TENANT, roles: bothRoles, issuer: `https://sts.example.test/${OPERATOR_TENANT}/`, claims: { ver: '1.0', appid: PORTAL_APP } })}`,
    );
    expect(v1).toMatchObject({ appId: PORTAL_APP, allTenants: true });
    const v2WithAppidOnly = await authenticator.authenticate(
      `Bearer ${await token({ tid: OPERATOR_TENANT, roles: bothRoles, claims: { appid: PORTAL_APP } })}`,
    );
    expect(v2WithAppidOnly).toMatchObject({ appId: undefined, allTenants: false });
    expect(() => authenticator.authorizeTenant(v2WithAppidOnly, OTHER_TENANT)).toThrow(
      expect.objectContaining({ code: 'OperatorAppNotAllowed' }) as Error,
    );
  });

  it('caches the key set and fetches it again when a token names a rotated-in key', async () => {
    const authenticator = new ApiAuthenticator(settings(), { jwksCooldownMs: 0 });
    await authenticator.authenticate(`Bearer ${await token()}`);
    await authenticator.authenticate(`Bearer ${await token()}`);
    expect(fetches).toBe(1);

    const next = keys.second;
    published = [current.jwk, next.jwk];
    await authenticator.authenticate(`Bearer ${await token({ key: next })}`);
    expect(fetches).toBe(2);

    // The retired key is gone from the set: its tokens stop working once the set is fetched again.
    published = [next.jwk];
    const later = keys.third;
    published = [next.jwk, later.jwk];
    await authenticator.authenticate(`Bearer ${await token({ key: later })}`);
    expect(await refusal(authenticator, `Bearer ${await token()}`)).toBeInstanceOf(Unauthenticated);
  });

  it('reports an unreachable key source as a dependency failure, not as a bad token', async () => {
    const authenticator = new ApiAuthenticator(settings({ jwksUri: 'http://127.0.0.1:1/keys' }));
    expect(await refusal(authenticator, `Bearer ${await token()}`)).toBeInstanceOf(TransientDependencyError);
  });
});
