import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CA_TABLE } from '../../src/domain/tableSchema';
import { invokeHttp, type HttpInvocationResult } from '../support/functionsHost';
import { connectionWorld } from '../support/connectionWorld';

/**
 * What Create Connection refuses before touching Azure: invalid input, missing or wrong tokens.
 * Shared set-up and the secret scan at the end: test/support/connectionWorld.ts.
 */
const { admin, OPERATOR_TENANT, PORTAL_APP, REQUIRED_ROLE, customer, token, createConnection, keep } =
  connectionWorld();

describe('input validation', () => {
  it('refuses invalid workspace resource IDs with 400 problem+json', async () => {
    const c = await customer();
    const bearer = await token(c.tenantId);
    const invalid = fc.oneof(
      fc.constant(`${c.workspaceId}/tables/${CA_TABLE}`),
      fc.constant(`${c.workspaceId}?api-version=2022-10-01`),
      fc.constant(c.workspaceId.replace('Microsoft.OperationalInsights', 'Microsoft.Insights')),
      fc.stringMatching(/^[A-Za-z0-9]{1,3}$/).map((name) => c.workspaceId.replace(/[^/]+$/, name)),
      fc.string({ maxLength: 60 }).filter((text) => !text.trim().startsWith('/subscriptions/')),
      fc
        .uuid()
        .map(
          (id) =>
            `/subscriptions/${id.slice(0, 8)}/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws-name`,
        ),
    );
    await fc.assert(
      fc.asyncProperty(invalid, async (workspaceResourceId) => {
        const result = await createConnection(
          c.tenantId,
          { workspaceResourceId, location: c.location },
          { bearer },
        );
        expect(result.status).toBe(400);
        expect(result.json()).toMatchObject({
          code: 'InvalidWorkspaceResourceId',
          field: 'workspaceResourceId',
        });
      }),
      { numRuns: 25 },
    );
    expect(await admin.requests({ tenantId: c.tenantId, face: 'arm' })).toEqual([]);
  });

  it('refuses unknown locations with 400 problem+json saying where to find the right one', async () => {
    const c = await customer();
    const bearer = await token(c.tenantId);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom('East US 9', 'us-east', 'Mars', ''),
          fc.stringMatching(/^[a-z]{3,12}[0-9]?$/).filter((name) => !/^(eastus|westus|centralus)/.test(name)),
        ),
        async (location) => {
          const result = await createConnection(
            c.tenantId,
            { workspaceResourceId: c.workspaceId, location },
            { bearer },
          );
          if (result.status === 200) return; // a random name that happens to be a real region
          expect(result.status).toBe(400);
          const problem = result.json<{ code: string; detail: string }>();
          expect(problem.code).toBe('InvalidLocation');
          expect(problem.detail).toContain('Location');
        },
      ),
      { numRuns: 25 },
    );
  });

  it('bounds the body, requires JSON and a GUID tenant', async () => {
    const c = await customer();
    const bearer = await token(c.tenantId);
    const large = await createConnection(
      c.tenantId,
      { workspaceResourceId: c.workspaceId, location: 'x'.repeat(20_000) },
      { bearer },
    );
    expect(large.status).toBe(413);
    const text = keep(
      await invokeHttp({
        method: 'POST',
        path: `/api/tenants/${c.tenantId}/siem/connection`,
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'text/plain' },
        body: 'workspaceResourceId=x',
      }),
    );
    expect(text.status).toBe(415);
    expect(text.headers.get('content-type')).toContain('application/problem+json');
    const notJson = keep(
      await invokeHttp({
        method: 'POST',
        path: `/api/tenants/${c.tenantId}/siem/connection`,
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: '{"workspaceResourceId":',
      }),
    );
    expect(notJson.status).toBe(400);
    expect(notJson.json()).toMatchObject({ code: 'InvalidJson' });
  });
});

describe('authentication and authorization', () => {
  async function attempt(tenantId: string, bearer: string | null): Promise<HttpInvocationResult> {
    return createConnection(
      tenantId,
      { workspaceResourceId: '/not-checked-before-auth', location: 'eastus' },
      { bearer },
    );
  }

  it('answers 401 with a Bearer challenge without a valid token', async () => {
    const c = await customer();
    const none = await attempt(c.tenantId, null);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');

    const cases = [
      ['bad signature', await token(c.tenantId, { unpublishedKey: true })],
      ['expired', await token(c.tenantId, { expiresInSeconds: -600 })],
      ['wrong audience', await token(c.tenantId, { audience: 'api://someone-else' })],
      ['wrong issuer', await token(c.tenantId, { issuer: 'https://attacker.example/v2.0' })],
      ['not a JWT', 'abc.def'],
    ] as const;
    for (const [, bearer] of cases) {
      const result = await attempt(c.tenantId, bearer);
      expect(result.status).toBe(401);
      expect(result.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
      expect(result.json()).toMatchObject({ code: 'Unauthenticated' });
    }
  });

  it('answers 403 for a token without the app role or for another tenant', async () => {
    const c = await customer();
    const other = await customer();
    const noRole = await attempt(c.tenantId, await token(c.tenantId, { roles: ['Something.Else'] }));
    expect(noRole.status).toBe(403);
    expect(noRole.json()).toMatchObject({ code: 'MissingAppRole' });

    const wrongTenant = await attempt(c.tenantId, await token(other.tenantId));
    expect(wrongTenant.status).toBe(403);
    expect(wrongTenant.json()).toMatchObject({ code: 'TenantNotAllowed' });

    // The all-tenants role from a customer's own tenant: its admins assigned it, so it grants nothing.
    const selfAssigned = await attempt(
      c.tenantId,
      await token(other.tenantId, { roles: [REQUIRED_ROLE, 'SiemExport.AllTenants'], clientId: PORTAL_APP }),
    );
    expect(selfAssigned.status).toBe(403);
    expect(selfAssigned.json()).toMatchObject({ code: 'TenantNotAllowed' });

    const portal = await attempt(
      c.tenantId,
      await token(OPERATOR_TENANT, { roles: [REQUIRED_ROLE, 'SiemExport.AllTenants'], clientId: PORTAL_APP }),
    );
    expect(portal.status).toBe(400);
  });
});
