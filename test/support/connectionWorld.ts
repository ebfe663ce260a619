import { randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import type { ConnectionTestResult } from '../../src/domain/tenantConnection';
import { AzureStandInAdmin, type MintTokenInput, type RoleName, type SeededTenant } from './azureStandIn';
import { ALL_ROLES, configureConnectionApp, REQUIRED_ROLE } from './connectionApp';
import { invokeHttp, invokeTimer, type HttpInvocationResult } from './functionsHost';
import { assertLoopback } from './loopback';
import { documentedContentType, responseValidator } from './openApi';
import '../../src/functions/siemConnection';
import '../../src/functions/siemSettings';
import '../../src/functions/retestPendingConnections';

/**
 * Create Connection, Save changes and status through the registered functions
 * (invoked through the @azure/functions invocation model), against Azurite and
 * the HTTPS Azure stand-in (Entra, ARM, Logs Ingestion). Every response, log
 * line and stored entity is kept and scanned for secrets and tokens at the end
 * of the test file that calls connectionWorld().
 */

export interface Customer {
  tenant: SeededTenant;
  tenantId: string;
  workspaceId: string;
  resourceGroupId: string;
  location: string;
}

export interface ConnectionBody {
  state: string;
  test: ConnectionTestResult;
  dataCollectionRule?: { id: string; immutableId: string; logsIngestionEndpoint: string };
}

/** Registers the file's beforeAll (settings) and afterAll (secret scan) and returns the calls its tests make. */
export function connectionWorld() {
  const admin = new AzureStandInAdmin(inject('azureStandInUrl'));
  /** The operator's home tenant and its portal backend: the only caller that acts for other tenants. */
  const OPERATOR_TENANT = randomUUID();
  const PORTAL_APP = randomUUID();
  const TENANTS_TABLE = `Conn${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  let clientId: string;
  let clientSecret: string;
  const observed: string[] = [];

  beforeAll(async () => {
    assertLoopback(inject('azuriteTableEndpoint'));
    const app = await configureConnectionApp(admin, {
      azuriteConnectionString: inject('azuriteConnectionString'),
      tenantsTable: TENANTS_TABLE,
      operatorTenantId: OPERATOR_TENANT.toUpperCase(),
      extra: { API_OPERATOR_CLIENT_IDS: PORTAL_APP },
    });
    assertLoopback(app.info.baseUrl);
    ({ clientId, clientSecret } = app);
  });

  afterAll(async () => {
    // Nothing we answered, logged or stored may carry the customer app's secret or any token.
    const client = TableClient.fromConnectionString(inject('azuriteConnectionString'), TENANTS_TABLE, {
      allowInsecureConnection: true,
    });
    try {
      for await (const entity of client.listEntities()) {
        observed.push(
          JSON.stringify(entity, (_key, value: unknown) =>
            typeof value === 'bigint' ? String(value) : value,
          ),
        );
      }
    } catch (error) {
      // A file whose calls were all refused before any write never created the table: nothing stored to scan.
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    const everything = observed.join('\n');
    expect(everything.length).toBeGreaterThan(0);
    expect(everything).not.toContain(clientSecret);
    expect(everything).not.toMatch(/eyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]+/);
  });

  /** The pending-test re-run, fired as the host fires the timer (every minute in production). */
  async function fireRetestTimer(): Promise<void> {
    const result = await invokeTimer('retestPendingConnections');
    if (result.outcome !== 'completed') throw result.error;
  }

  async function customer(
    options: {
      roles?: RoleName[];
      location?: string;
      consent?: boolean;
      unregisteredProviders?: string[];
    } = {},
  ): Promise<Customer> {
    const tenant = await admin.seedTenant({
      consentApps: options.consent === false ? [] : [clientId],
      roles: options.roles ?? ALL_ROLES,
      workspace: { location: options.location ?? 'eastus' },
      ...(options.unregisteredProviders ? { unregisteredProviders: options.unregisteredProviders } : {}),
    });
    // Tables finish on the first status poll: the LRO is still awaited, just not for long.
    await admin.configure({ tenantId: tenant.tenantId, tableOperationPolls: 0, tableOperationMaxMs: 0 });
    return {
      tenant,
      tenantId: tenant.tenantId,
      workspaceId: tenant.workspace!.id,
      resourceGroupId: tenant.resourceGroup.id,
      location: tenant.workspace!.location,
    };
  }

  async function token(tenantId: string, overrides: Partial<MintTokenInput> = {}): Promise<string> {
    const minted = await admin.mintToken({ tenantId, roles: [REQUIRED_ROLE], ...overrides });
    return minted.token;
  }

  function keep(result: HttpInvocationResult): HttpInvocationResult {
    observed.push(result.text(), JSON.stringify([...result.headers.entries()]));
    for (const line of result.logs) observed.push(line.message);
    return result;
  }

  /** Checks the response against the OpenAPI document: documented status, content type and body schema. */
  function documented(result: HttpInvocationResult, method: string, route: string): HttpInvocationResult {
    const contentType = documentedContentType(method, route, result.status);
    expect(result.headers.get('content-type') ?? '').toContain(contentType ?? 'none');
    const validate = responseValidator(method, route, result.status);
    const body: unknown = result.json();
    if (!validate(body))
      throw new Error(
        `${method} ${route} ${result.status} body does not match the OpenAPI schema: ${JSON.stringify(validate.errors)}\n${result.text()}`,
      );
    return result;
  }

  const CONNECTION_ROUTE = '/tenants/{tenantId}/siem/connection';
  const SETTINGS_ROUTE = '/tenants/{tenantId}/siem';

  async function createConnection(
    tenantId: string,
    body: unknown,
    options: { bearer?: string | null; headers?: Record<string, string> } = {},
  ): Promise<HttpInvocationResult> {
    const bearer = options.bearer === undefined ? await token(tenantId) : options.bearer;
    const result = await invokeHttp({
      method: 'POST',
      path: `/api/tenants/${tenantId}/siem/connection`,
      headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...options.headers },
      json: body,
    });
    return documented(keep(result), 'POST', CONNECTION_ROUTE);
  }

  async function settings(
    method: 'GET' | 'PUT' | 'DELETE',
    tenantId: string,
    options: { json?: unknown; ifMatch?: string } = {},
  ): Promise<HttpInvocationResult> {
    const result = await invokeHttp({
      method,
      path: `/api/tenants/${tenantId}/siem`,
      headers: {
        authorization: `Bearer ${await token(tenantId)}`,
        ...(options.ifMatch ? { 'if-match': options.ifMatch } : {}),
      },
      ...(options.json !== undefined ? { json: options.json } : {}),
    });
    return documented(keep(result), method, SETTINGS_ROUTE);
  }

  function connect(c: Customer, location: string = c.location): Promise<HttpInvocationResult> {
    return createConnection(c.tenantId, { workspaceResourceId: c.workspaceId, location });
  }

  return {
    admin,
    OPERATOR_TENANT,
    PORTAL_APP,
    TENANTS_TABLE,
    REQUIRED_ROLE,
    ALL_ROLES,
    fireRetestTimer,
    customer,
    token,
    createConnection,
    settings,
    connect,
    keep,
  };
}
