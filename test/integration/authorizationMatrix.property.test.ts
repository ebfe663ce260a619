import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AzureStandInAdmin, type StandInInfo } from '../support/azureStandIn';
import { applySettings, forwarderSettings } from '../support/forwarderApp';
import { registerCustomerApp } from '../support/forwarderWorld';
import {
  invokeHttp,
  listFunctions,
  startFunctionApp,
  type HttpInvocationResult,
} from '../support/functionsHost';

/**
 * The authorization matrix of issue 13 as a property: random callers × every route × every method,
 * through the registered functions with real tokens from the Azure stand-in's Entra, against a
 * reference decision written out below. It must fail when any part of the cross-tenant rule (home
 * tenant, allow-listed app, role) is dropped from src/http/auth.ts.
 */

const azure = new AzureStandInAdmin(inject('azureStandInUrl'));
const MANAGE = 'SiemExport.Manage';
const ALL_TENANTS = 'SiemExport.AllTenants';
const OPERATOR_TENANT = randomUUID();
const PORTAL_APP = randomUUID();
const OTHER_APP = randomUUID();
/** v1 tokens come from sts.windows.net; the API accepts both issuer forms in this test. */
const V1_ISSUER = 'https://sts.windows.net/{tenantid}/';

/** The routes and the methods each is registered for; any other method is not routed (404). */
const ROUTES: Record<string, { path: string; methods: string[] }> = {
  siemConnection: { path: '/siem/connection', methods: ['POST'] },
  siemSettings: { path: '/siem', methods: ['GET', 'PUT', 'DELETE'] },
  siemParked: { path: '/siem/parked', methods: ['GET'] },
  siemReplay: { path: '/siem/replay', methods: ['POST'] },
};
const METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH'];

type TenantChoice = 'route' | 'operator' | 'other';
type AppChoice = 'portal' | 'other' | 'none';

interface Caller {
  tid: TenantChoice;
  version: '1.0' | '2.0';
  /** The app in the claim this token version names the caller with (azp for v2, appid for v1). */
  app: AppChoice;
  /** The same or another app in the claim the version does not use (appid in v2, azp in v1). */
  otherClaimApp: AppChoice;
  roles: string[];
  /** The roles are sent as delegated scopes (`scp`) instead of the `roles` claim. */
  rolesAsScopes: boolean;
  upperTid: boolean;
}

type Expected =
  { status: 404 } | { status: 403; code: string } | { allowed: true; access: 'ownTenant' | 'operator' };

/** The reference decision, written out independently of src/http/auth.ts. */
function reference(caller: Caller, registered: boolean): Expected {
  if (!registered) return { status: 404 };
  const roles = caller.rolesAsScopes ? [] : caller.roles;
  if (!roles.includes(MANAGE)) return { status: 403, code: 'MissingAppRole' };
  if (caller.tid === 'route') return { allowed: true, access: 'ownTenant' };
  if (caller.tid !== 'operator') return { status: 403, code: 'TenantNotAllowed' };
  if (caller.app !== 'portal') return { status: 403, code: 'OperatorAppNotAllowed' };
  if (!roles.includes(ALL_TENANTS)) return { status: 403, code: 'AllTenantsRoleRequired' };
  return { allowed: true, access: 'operator' };
}

const callerArbitrary: fc.Arbitrary<Caller> = fc.record({
  tid: fc.constantFrom<TenantChoice>('route', 'operator', 'other'),
  version: fc.constantFrom<'1.0' | '2.0'>('1.0', '2.0'),
  app: fc.constantFrom<AppChoice>('portal', 'other', 'none'),
  otherClaimApp: fc.constantFrom<AppChoice>('portal', 'other', 'none'),
  roles: fc.subarray([MANAGE, ALL_TENANTS, 'Something.Else']),
  rolesAsScopes: fc.boolean(),
  upperTid: fc.boolean(),
});

let info: StandInInfo;
let restore: () => void;

beforeAll(async () => {
  info = await azure.info();
  const app = await registerCustomerApp(azure);
  restore = applySettings(
    forwarderSettings({
      azuriteConnectionString: inject('azuriteConnectionString'),
      serviceBusConnectionString: inject('serviceBusConnectionString'),
      queueName: 'authorization-matrix-unused',
      info,
      app,
      overrides: {
        API_ISSUERS: `${info.issuerTemplate},${V1_ISSUER}`,
        API_REQUIRED_ROLE: MANAGE,
        API_ALL_TENANTS_ROLE: ALL_TENANTS,
        // Upper case on purpose: the comparison must not depend on how the operator typed it.
        API_OPERATOR_TENANT_ID: OPERATOR_TENANT.toUpperCase(),
        API_OPERATOR_CLIENT_IDS: PORTAL_APP.toUpperCase(),
      },
    }),
  );
  await startFunctionApp({
    entryPoints: [
      'src/functions/siemConnection.ts',
      'src/functions/siemSettings.ts',
      'src/functions/siemParked.ts',
      'src/functions/siemReplay.ts',
    ],
  });
});

afterAll(() => restore());

function appId(choice: AppChoice): string | undefined {
  return choice === 'portal' ? PORTAL_APP : choice === 'other' ? OTHER_APP : undefined;
}

async function tokenFor(caller: Caller, routeTenant: string): Promise<string> {
  const base =
    caller.tid === 'route' ? routeTenant : caller.tid === 'operator' ? OPERATOR_TENANT : randomUUID();
  const tid = caller.upperTid ? base.toUpperCase() : base.toLowerCase();
  const [usedClaim, unusedClaim] = caller.version === '2.0' ? ['azp', 'appid'] : ['appid', 'azp'];
  const used = appId(caller.app);
  const unused = appId(caller.otherClaimApp);
  const minted = await azure.mintToken({
    tenantId: tid,
    ...(caller.rolesAsScopes
      ? { scopes: caller.roles.join(' ') || 'user_impersonation' }
      : { roles: caller.roles }),
    issuer: caller.version === '2.0' ? `${info.baseUrl}/${tid}/v2.0` : V1_ISSUER.replace('{tenantid}', tid),
    claims: {
      ver: caller.version,
      ...(used ? { [usedClaim]: used } : {}),
      ...(unused ? { [unusedClaim]: unused } : {}),
    },
  });
  return minted.token;
}

function loggedFields(result: HttpInvocationResult, message: string): Record<string, unknown> | undefined {
  const line = result.logs.find((log) => log.message.startsWith(`${message} {`));
  return line ? (JSON.parse(line.message.slice(message.length + 1)) as Record<string, unknown>) : undefined;
}

describe('authorization matrix', () => {
  it('covers every HTTP route the app registers', () => {
    const http = listFunctions()
      .filter((f) => f.triggerType.toLowerCase() === 'httptrigger')
      .map((f) => f.name)
      .sort();
    expect(http).toEqual(Object.keys(ROUTES).sort());
  });

  it('decides every caller × route × method as the reference table does', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        callerArbitrary,
        fc.constantFrom(...Object.keys(ROUTES)),
        fc.constantFrom(...METHODS),
        fc.boolean(),
        async (caller, routeName, method, upperRoute) => {
          const route = ROUTES[routeName] as { path: string; methods: string[] };
          const routeTenant = randomUUID();
          const pathTenant = upperRoute ? routeTenant.toUpperCase() : routeTenant;
          const token = await tokenFor(caller, routeTenant);
          const result = await invokeHttp({
            method,
            path: `/api/tenants/${pathTenant}${route.path}`,
            headers: { authorization: `Bearer ${token}` },
            // Not a workable request: an allowed caller is answered by the handler's own validation,
            // so the matrix never provisions anything.
            ...(method === 'GET' || method === 'DELETE' ? {} : { json: { parkedIds: ['none'] } }),
          });
          const expected = reference(caller, route.methods.includes(method));
          if ('allowed' in expected) {
            // Past authorization the handler answers (here mostly its own validation, 4xx), never 401/403/5xx.
            expect([401, 403], result.text()).not.toContain(result.status);
            expect(result.status, result.text()).toBeLessThan(500);
            const logged =
              loggedFields(result, 'Request answered') ?? loggedFields(result, 'Request refused');
            expect(logged).toMatchObject({ access: expected.access, callerTenantId: tokenTenant(token) });
            return;
          }
          expect(result.status, result.text()).toBe(expected.status);
          if (expected.status === 404) {
            expect(result.functionName).toBeUndefined();
            return;
          }
          expect(result.headers.get('content-type')).toBe('application/problem+json');
          const problem = result.json<{ code: string; detail: string }>();
          expect(problem.code).toBe(expected.code);
          expect(problem.detail.length).toBeGreaterThan(20);
          // What the caller did and why it was refused, with who it was: never the token.
          expect(loggedFields(result, 'Request refused')).toMatchObject({
            status: 403,
            code: expected.code,
            callerTenantId: tokenTenant(token),
          });
          expect(result.logs.map((log) => log.message).join('\n')).not.toContain(token);
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** The token's tid as the API reports callers: lower case. */
function tokenTenant(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    tid: string;
  };
  return payload.tid.toLowerCase();
}
