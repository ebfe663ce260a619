import { randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { resetCompositionForTests } from '../../src/composition';
import { resetConfigForTests } from '../../src/config';
import { CONNECTION_TEST_EVENT_ID } from '../../src/domain/catalog';
import {
  CA_TABLE,
  CERTIFICATE_TABLE,
  PROVISIONED_TABLES,
  tablesApiColumns,
} from '../../src/domain/tableSchema';
import type { ConnectionTestResult } from '../../src/domain/tenantConnection';
import {
  AzureStandInAdmin,
  type MintTokenInput,
  type RoleName,
  type SeededTenant,
  type StandInInfo,
} from '../support/azureStandIn';
import { getFunction, invokeHttp, invokeTimer, type HttpInvocationResult } from '../support/functionsHost';
import { assertLoopback } from '../support/loopback';
import { documentedContentType, responseValidator } from '../support/openApi';
import '../../src/functions/siemConnection';
import '../../src/functions/siemSettings';
import '../../src/functions/retestPendingConnections';

/** The pending-test re-run, fired as the host fires the timer (every minute in production). */
async function fireRetestTimer(): Promise<void> {
  const result = await invokeTimer('retestPendingConnections');
  if (result.outcome !== 'completed') throw result.error;
}

/**
 * Create Connection, Save changes and status through the registered functions
 * (invoked through the @azure/functions invocation model), against Azurite and
 * the HTTPS Azure stand-in (Entra, ARM, Logs Ingestion). Every response, log
 * line and stored entity is kept and scanned for secrets and tokens at the end.
 */

const admin = new AzureStandInAdmin(inject('azureStandInUrl'));
const REQUIRED_ROLE = 'SiemExport.Manage';
/** The operator's home tenant and its portal backend: the only caller that acts for other tenants. */
const OPERATOR_TENANT = randomUUID();
const PORTAL_APP = randomUUID();
const TENANTS_TABLE = `Conn${randomUUID().replace(/-/g, '').slice(0, 12)}`;
const ALL_ROLES: RoleName[] = [
  'Monitoring Contributor',
  'Monitoring Metrics Publisher',
  'Log Analytics Contributor',
];

let info: StandInInfo;
let clientId: string;
let clientSecret: string;
const observed: string[] = [];

beforeAll(async () => {
  assertLoopback(inject('azuriteTableEndpoint'));
  info = await admin.info();
  assertLoopback(info.baseUrl);
  const app = await admin.registerApp({ secret: true, displayName: 'Keytos' });
  clientId = app.clientId;
  clientSecret = app.secret!;
  Object.assign(process.env, {
    TABLE_STORAGE_CONNECTION_STRING: inject('azuriteConnectionString'),
    TENANTS_TABLE,
    PARKED_TABLE: `${TENANTS_TABLE}Parked`,
    ServiceBusConnection:
      'Endpoint=sb://127.0.0.1;SharedAccessKeyName=unused;SharedAccessKey=unused;UseDevelopmentEmulator=true;',
    CUSTOMER_APP_CLIENT_ID: clientId,
    CUSTOMER_APP_CREDENTIAL: 'secret',
    CUSTOMER_APP_CLIENT_SECRET: clientSecret,
    AZURE_AUTHORITY_HOST: info.authorityHost,
    AZURE_DISABLE_INSTANCE_DISCOVERY: 'true',
    ARM_ENDPOINT: info.armEndpoint,
    LOGS_INGESTION_AUDIENCE: info.audiences.monitor[0],
    API_AUDIENCE: info.apiAudience,
    API_ISSUERS: info.issuerTemplate,
    API_JWKS_URI: info.jwksUri,
    API_REQUIRED_ROLE: REQUIRED_ROLE,
    API_ALL_TENANTS_ROLE: 'SiemExport.AllTenants',
    API_OPERATOR_TENANT_ID: OPERATOR_TENANT.toUpperCase(),
    API_OPERATOR_CLIENT_IDS: PORTAL_APP,
    CONNECTION_TIMEOUT_SECONDS: '30',
    PROPAGATION_WINDOW_MINUTES: '30',
  });
  resetConfigForTests();
  resetCompositionForTests();
});

afterAll(async () => {
  // Nothing we answered, logged or stored may carry the customer app's secret or any token.
  const client = TableClient.fromConnectionString(inject('azuriteConnectionString'), TENANTS_TABLE, {
    allowInsecureConnection: true,
  });
  for await (const entity of client.listEntities()) {
    observed.push(
      JSON.stringify(entity, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value)),
    );
  }
  const everything = observed.join('\n');
  expect(everything.length).toBeGreaterThan(0);
  expect(everything).not.toContain(clientSecret);
  expect(everything).not.toMatch(/eyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]+/);
});

// ---------------------------------------------------------------------------------------------------

interface Customer {
  tenant: SeededTenant;
  tenantId: string;
  workspaceId: string;
  resourceGroupId: string;
  location: string;
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

interface ConnectionBody {
  state: string;
  test: ConnectionTestResult;
  dataCollectionRule?: { id: string; immutableId: string; logsIngestionEndpoint: string };
}

function connect(c: Customer, location: string = c.location): Promise<HttpInvocationResult> {
  return createConnection(c.tenantId, { workspaceResourceId: c.workspaceId, location });
}

// ---------------------------------------------------------------------------------------------------

describe('Create Connection, Save changes, status', () => {
  it('provisions tables and a Direct DCR, sends a test event per table, then saves and disables', async () => {
    const c = await customer();
    const created = await connect(c, 'East US');
    expect(created.status).toBe(200);
    const body = created.json<ConnectionBody>();
    expect(body.test.outcome).toBe('ok');
    expect(Object.values(body.test.steps).map((step) => step.outcome)).toEqual([
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
    ]);
    expect(created.headers.get('etag')).toBeTruthy();

    const [rule] = await admin.listDcrs({ tenantId: c.tenantId });
    expect(rule).toMatchObject({ location: 'eastus', immutableId: body.dataCollectionRule?.immutableId });
    // Ingestion errors of our DCR go to the customer's workspace (DCRLogErrors); the Sentinel hunting
    // query EZCA_DcrLogErrors matches this DCR by its resource id.
    expect(rule?.diagnosticSettings).toEqual([
      { name: 'pki-siem-export-errors', workspaceId: c.workspaceId, categories: ['LogErrors'] },
    ]);
    expect(rule?.id.toLowerCase()).toContain(
      '/providers/microsoft.insights/datacollectionrules/pki-siem-export-',
    );
    expect(rule?.id).toContain(`${c.resourceGroupId}/providers/Microsoft.Insights/dataCollectionRules/`);
    for (const table of [CA_TABLE, CERTIFICATE_TABLE]) {
      const rows = await admin.rows({ workspaceId: c.workspaceId, table });
      expect(rows).toHaveLength(1);
      expect(rows[0]?.row).toMatchObject({
        EventID_d: CONNECTION_TEST_EVENT_ID,
        CustomerTenantId_g: c.tenantId,
      });
      expect(rows[0]?.tenantId).toBe(c.tenantId);
    }

    const before = await settings('GET', c.tenantId);
    expect(before.json()).toMatchObject({
      state: 'tested',
      exportEnabled: false,
      health: { parkedCount: 0 },
    });

    const saved = await settings('PUT', c.tenantId, {
      json: { workspaceResourceId: c.workspaceId, location: 'eastus' },
      ifMatch: before.headers.get('etag')!,
    });
    expect(saved.status).toBe(200);
    expect(saved.json()).toMatchObject({
      state: 'active',
      exportEnabled: true,
      saved: { workspaceResourceId: c.workspaceId, dataCollectionRule: { immutableId: rule?.immutableId } },
    });

    const disabled = await settings('DELETE', c.tenantId, { ifMatch: saved.headers.get('etag')! });
    expect(disabled.json()).toMatchObject({ state: 'disabled', exportEnabled: false });
    expect((await settings('GET', c.tenantId)).json()).toMatchObject({ state: 'disabled' });
  });

  it.each([
    ['Log Analytics Contributor', 'tables'],
    ['Monitoring Contributor', 'dataCollectionRule'],
  ] as const)('names a missing %s and its scope at the %s step', async (missing, step) => {
    const c = await customer({ roles: ALL_ROLES.filter((role) => role !== missing) });
    const body = (await connect(c)).json<ConnectionBody>();
    expect(body.test.outcome).toBe('failed');
    expect(body.test.steps[step]).toMatchObject({
      outcome: 'failed',
      code: 'AuthorizationFailed',
      missingRole: missing,
      scope: c.resourceGroupId,
    });
    expect(body.test.steps[step].detail).toContain(missing);
    expect(body.test.steps[step].detail).toContain(c.resourceGroupId);
  });

  it('reports a refused diagnostic setting as a warning naming Monitoring Contributor; the connection still tests ok', async () => {
    const c = await customer();
    await admin.injectFault({
      face: 'arm',
      operation: 'diagnosticSettingPut',
      tenantId: c.tenantId,
      status: 403,
      errorCode: 'AuthorizationFailed',
      message:
        "The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.Insights/diagnosticSettings/write' over scope 'z' or the scope is invalid.",
    });
    try {
      const body = (await connect(c)).json<ConnectionBody>();
      expect(body.test.outcome).toBe('ok');
      expect(body.test.steps.testMessage.outcome).toBe('ok');
      expect(body.test.steps.diagnosticSetting).toMatchObject({
        outcome: 'warning',
        code: 'AuthorizationFailed',
        missingRole: 'Monitoring Contributor',
        scope: c.resourceGroupId,
      });
      expect(body.test.steps.diagnosticSetting?.detail).toContain('DCRLogErrors');
      expect((await admin.listDcrs({ tenantId: c.tenantId }))[0]?.diagnosticSettings).toEqual([]);
    } finally {
      await admin.clearFaults({ tenantId: c.tenantId });
    }
  });

  it('names Log Analytics Contributor when the workspace cannot even be read', async () => {
    const c = await customer({ roles: ['Monitoring Metrics Publisher'] });
    const body = (await connect(c)).json<ConnectionBody>();
    expect(body.test.steps.workspace).toMatchObject({
      outcome: 'failed',
      missingRole: 'Log Analytics Contributor',
      scope: c.resourceGroupId,
    });
    expect(body.test.steps.tables.outcome).toBe('skipped');
  });

  it('keeps a test pending while Monitoring Metrics Publisher is missing, and fails it naming the role after the window', async () => {
    const c = await customer({ roles: ALL_ROLES.filter((role) => role !== 'Monitoring Metrics Publisher') });
    const body = (await connect(c)).json<ConnectionBody>();
    expect(body.test.outcome).toBe('pending');
    expect(body.test.steps.testMessage).toMatchObject({
      outcome: 'pending',
      missingRole: 'Monitoring Metrics Publisher',
      scope: c.resourceGroupId,
    });

    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.parse(body.test.pendingUntil!) + 60_000);
      await fireRetestTimer();
      const status = (await settings('GET', c.tenantId)).json<{ tested: { test: ConnectionTestResult } }>();
      expect(status.tested.test.outcome).toBe('failed');
      expect(status.tested.test.steps.testMessage).toMatchObject({
        outcome: 'failed',
        code: 'AuthorizationFailed',
        missingRole: 'Monitoring Metrics Publisher',
        scope: c.resourceGroupId,
      });
    } finally {
      vi.useRealTimers();
    }
  });

  it('reports a workspace that does not exist', async () => {
    const c = await customer();
    const missing = c.workspaceId.replace(/workspaces\/[^/]+$/, 'workspaces/no-such-workspace');
    const body = (
      await createConnection(c.tenantId, { workspaceResourceId: missing, location: c.location })
    ).json<ConnectionBody>();
    expect(body.test.steps.workspace).toMatchObject({ outcome: 'failed', code: 'WorkspaceNotFound' });
  });

  it('reports the workspace real region when another one was selected', async () => {
    const c = await customer({ location: 'westeurope' });
    const body = (await connect(c, 'East US')).json<ConnectionBody>();
    expect(body.test.steps.workspace).toMatchObject({ outcome: 'failed', code: 'RegionMismatch' });
    expect(body.test.steps.workspace.detail).toContain('West Europe (westeurope)');
    expect(await admin.listDcrs({ tenantId: c.tenantId })).toEqual([]);
  });

  it('reports an app not registered in the customer tenant', async () => {
    const c = await customer({ consent: false, roles: [] });
    const body = (await connect(c)).json<ConnectionBody>();
    expect(body.test.steps.workspace).toMatchObject({ outcome: 'failed', code: 'AppNotRegisteredInTenant' });
    expect(body.test.steps.workspace.detail).toContain('registered in your tenant');
  });

  it('names the provider registration a subscription lacks (409 MissingSubscriptionRegistration), promising no retry', async () => {
    const c = await customer({ unregisteredProviders: ['Microsoft.Insights'] });
    const body = (await connect(c)).json<ConnectionBody>();
    expect(body.test.outcome).toBe('failed');
    expect(body.test.steps.dataCollectionRule).toMatchObject({
      outcome: 'failed',
      code: 'MissingSubscriptionRegistration',
    });
    const detail = body.test.steps.dataCollectionRule.detail;
    expect(detail).toContain('az provider register --namespace Microsoft.Insights');
    expect(detail).toContain(c.tenant.subscriptionId);
    expect(detail).toMatch(/rights on the whole subscription/);
    expect(detail).not.toMatch(/try again in a few minutes/i);

    // Once the customer registered it, the next Create Connection goes through.
    await admin.setProviderRegistration({
      subscriptionId: c.tenant.subscriptionId,
      namespace: 'Microsoft.Insights',
      registered: true,
    });
    expect((await connect(c)).json<ConnectionBody>().test.steps.dataCollectionRule.outcome).toBe('ok');
  });

  it('reports a tenant Entra ID does not know (AADSTS90002), naming the tenant to check', async () => {
    const known = await customer();
    const unknownTenant = randomUUID();
    const body = (
      await createConnection(unknownTenant, {
        workspaceResourceId: known.workspaceId,
        location: known.location,
      })
    ).json<ConnectionBody>();
    expect(body.test.steps.workspace).toMatchObject({ outcome: 'failed', code: 'TenantNotFound' });
    expect(body.test.steps.workspace.detail).toContain(unknownTenant);
    expect(body.test.steps.workspace.detail).not.toMatch(/on our side/);
  });

  it('refuses a workspace of another tenant: tokens are only ever for the route tenant', async () => {
    const c = await customer();
    const other = await customer();
    const body = (
      await createConnection(c.tenantId, { workspaceResourceId: other.workspaceId, location: other.location })
    ).json<ConnectionBody>();
    expect(body.test.steps.workspace).toMatchObject({ outcome: 'failed', code: 'WorkspaceInAnotherTenant' });
    expect(await admin.listDcrs({ tenantId: other.tenantId })).toEqual([]);
  });

  it('goes from pending to ok once role propagation completes, via the pending-test re-run', async () => {
    const c = await customer();
    await admin.configure({ tenantId: c.tenantId, propagation: { afterRoleGrantedMs: 60 * 60_000 } });
    const body = (await connect(c)).json<ConnectionBody>();
    expect(body.test.outcome).toBe('pending');
    expect(body.test.steps.testMessage.code).toBe('PropagationPending');
    expect((await settings('GET', c.tenantId)).json()).toMatchObject({
      tested: { test: { outcome: 'pending' } },
    });

    // Still refused: the re-run leaves it pending.
    await fireRetestTimer();
    expect((await settings('GET', c.tenantId)).json()).toMatchObject({
      tested: { test: { outcome: 'pending' } },
    });

    await admin.configure({ tenantId: c.tenantId, propagation: { afterRoleGrantedMs: 0 } });
    await fireRetestTimer();
    const status = (await settings('GET', c.tenantId)).json<{ tested: { test: ConnectionTestResult } }>();
    expect(status.tested.test.outcome).toBe('ok');
    expect(status.tested.test.pendingUntil).toBeUndefined();
    expect(await admin.rows({ workspaceId: c.workspaceId, table: CA_TABLE })).toHaveLength(1);
  });

  it('registers the re-run as a timer every minute', () => {
    expect(getFunction('retestPendingConnections')).toMatchObject({ triggerType: 'timerTrigger' });
    expect(getFunction('retestPendingConnections').trigger.schedule).toBe('0 * * * * *');
  });

  it('retries the DCR while a new table is not yet visible to it (InvalidOutputTable)', async () => {
    const c = await customer();
    await admin.configure({ tenantId: c.tenantId, tableVisibilityDelayMs: 1_500 });
    const body = (await connect(c)).json<ConnectionBody>();
    expect(body.test.steps.dataCollectionRule.outcome).toBe('ok');
    const puts = await admin.requests({ tenantId: c.tenantId, operation: 'dcrPut' });
    // ARM reports InvalidOutputTable inside an InvalidPayload error's details.
    expect(puts.length).toBeGreaterThan(1);
    expect(puts[0]).toMatchObject({ status: 400, errorCode: 'InvalidPayload' });
    expect(puts.at(-1)?.status).toBeLessThan(300);
  });

  it('keeps the columns a customer added to an existing table', async () => {
    const c = await customer();
    await admin.seedTable({
      workspaceId: c.workspaceId,
      name: CERTIFICATE_TABLE,
      tableSubType: 'DataCollectionRuleBased',
      columns: [
        { name: 'TimeGenerated', type: 'dateTime' },
        { name: 'EventID_d', type: 'real' },
        { name: 'SocTeam_s', type: 'string' },
      ],
    });
    const body = (await connect(c)).json<ConnectionBody>();
    expect(body.test.outcome).toBe('ok');
    expect(body.test.steps.tables.detail).toContain('SocTeam_s');
    const table = await admin.getTable({ workspaceId: c.workspaceId, name: CERTIFICATE_TABLE });
    const names = table?.columns.map((column) => column.name) ?? [];
    expect(names).toContain('SocTeam_s');
    for (const column of tablesApiColumns(CERTIFICATE_TABLE)) expect(names).toContain(column.name);
  });

  it('migrates a Classic table first, keeping its columns, without declaring its standard columns again', async () => {
    const c = await customer();
    // What the Data Collector API leaves behind: its standard columns (seeded by the stand-in) and typed custom ones.
    await admin.seedTable({
      workspaceId: c.workspaceId,
      name: CA_TABLE,
      tableSubType: 'Classic',
      columns: [
        { name: 'EventID_d', type: 'real' },
        { name: 'EventRecordId_g', type: 'guid' },
        { name: 'LegacyNote_s', type: 'string' },
      ],
    });
    const body = (await connect(c)).json<ConnectionBody>();
    expect(body.test.steps.tables, JSON.stringify(body.test.steps.tables)).toMatchObject({ outcome: 'ok' });
    expect(body.test.outcome).toBe('ok');
    expect(body.test.steps.tables.detail).toContain('migrated');
    const table = await admin.getTable({ workspaceId: c.workspaceId, name: CA_TABLE });
    expect(table?.tableSubType).toBe('DataCollectionRuleBased');
    const names = table?.columns.map((column) => column.name) ?? [];
    expect(names).toContain('LegacyNote_s');
    expect(names).toContain('EventTime_t');
    // Each column once: the standard ones stayed standard, ours were added as custom columns.
    expect(new Set(names).size).toBe(names.length);
    expect(names.filter((name) => name === 'TimeGenerated')).toHaveLength(1);
    expect(await admin.requests({ tenantId: c.tenantId, operation: 'tableMigrate' })).toHaveLength(1);
    const rows = await admin.rows({ workspaceId: c.workspaceId, table: CA_TABLE });
    expect(rows).toHaveLength(1);
  });

  it('refuses to change the type of a customer column that clashes with ours', async () => {
    const c = await customer();
    await admin.seedTable({
      workspaceId: c.workspaceId,
      name: CA_TABLE,
      tableSubType: 'DataCollectionRuleBased',
      columns: [
        { name: 'TimeGenerated', type: 'dateTime' },
        { name: 'EventID_d', type: 'string' },
      ],
    });
    const body = (await connect(c)).json<ConnectionBody>();
    expect(body.test.steps.tables).toMatchObject({ outcome: 'failed', code: 'TableColumnConflict' });
    expect(body.test.steps.tables.detail).toContain('EventID_d');
  });

  it('is idempotent: running it again creates nothing twice', async () => {
    const c = await customer();
    const first = (await connect(c)).json<ConnectionBody>();
    const tablePutsBefore = (await admin.requests({ tenantId: c.tenantId, operation: 'tablePut' })).length;
    const second = (await connect(c)).json<ConnectionBody>();
    expect(second.test.outcome).toBe('ok');
    expect(second.dataCollectionRule).toEqual(first.dataCollectionRule);
    expect(await admin.listDcrs({ tenantId: c.tenantId })).toHaveLength(1);
    expect((await admin.requests({ tenantId: c.tenantId, operation: 'tablePut' })).length).toBe(
      tablePutsBefore,
    );
    expect(second.test.steps.tables.detail).toContain('already up to date');
  });

  it('answers within its time limit with the running step pending', async () => {
    const c = await customer();
    await admin.injectFault({ face: 'arm', operation: 'tablePut', tenantId: c.tenantId, delayMs: 10_000 });
    process.env.CONNECTION_TIMEOUT_SECONDS = '1';
    resetConfigForTests();
    resetCompositionForTests();
    try {
      const body = (await connect(c)).json<ConnectionBody>();
      expect(body.test.steps.tables).toMatchObject({ outcome: 'pending', code: 'Timeout' });
      expect(body.test.steps.dataCollectionRule.outcome).toBe('skipped');
      expect(body.test.steps.testMessage.outcome).toBe('skipped');
    } finally {
      process.env.CONNECTION_TIMEOUT_SECONDS = '30';
      resetConfigForTests();
      resetCompositionForTests();
      await admin.clearFaults({ tenantId: c.tenantId });
    }
  });

  it('serializes a double click: both calls answer the real (ok) state, the newest result is stored once', async () => {
    const c = await customer();
    // The table LRO stays in progress for a few status polls, so the second call lands inside it.
    await admin.configure({ tenantId: c.tenantId, tableOperationPolls: 3, tableOperationMaxMs: 60_000 });
    const [first, second] = await Promise.all([connect(c), connect(c)]);
    for (const answer of [first, second]) {
      expect(answer.status).toBe(200);
      const body = answer.json<ConnectionBody>();
      expect(body.test.outcome).toBe('ok');
      expect(body.test.steps).toMatchObject({
        workspace: { outcome: 'ok' },
        tables: { outcome: 'ok' },
        dataCollectionRule: { outcome: 'ok' },
        testMessage: { outcome: 'ok' },
        diagnosticSetting: { outcome: 'ok' },
      });
    }
    const bodies = [first.json<ConnectionBody>(), second.json<ConnectionBody>()];
    expect(bodies[1]?.dataCollectionRule).toEqual(bodies[0]?.dataCollectionRule);
    expect(await admin.listDcrs({ tenantId: c.tenantId })).toHaveLength(1);
    // One run provisioned, the other joined it: ARM saw one PUT per table and never had to refuse one.
    const tablePuts = await admin.requests({ tenantId: c.tenantId, operation: 'tablePut' });
    expect(tablePuts).toHaveLength(PROVISIONED_TABLES.length);

    const stored = (await settings('GET', c.tenantId)).json<{ tested: { test: ConnectionTestResult } }>();
    const newest = bodies.map((body) => body.test).sort((a, b) => b.testedAt.localeCompare(a.testedAt))[0];
    expect(stored.tested.test).toEqual(newest);
    const client = TableClient.fromConnectionString(inject('azuriteConnectionString'), TENANTS_TABLE, {
      allowInsecureConnection: true,
    });
    const entity = await client.getEntity<{ historyJson: string }>(c.tenantId, 'connection');
    const history = JSON.parse(entity.historyJson) as Array<{ action: string; state: string }>;
    expect(history.filter((change) => change.action === 'createConnection')).toEqual([
      expect.objectContaining({ action: 'createConnection', state: 'tested' }),
    ]);
  });
});

describe('Save changes', () => {
  it('refuses a tenant never tested, and a failed test', async () => {
    const c = await customer({ location: 'westeurope' });
    const never = await settings('PUT', c.tenantId, { json: { workspaceResourceId: c.workspaceId } });
    expect(never.status).toBe(409);
    expect(never.json()).toMatchObject({ code: 'ConnectionNotTested' });

    await connect(c, 'eastus');
    const failed = await settings('PUT', c.tenantId, { json: { workspaceResourceId: c.workspaceId } });
    expect(failed.status).toBe(409);
    expect(failed.json()).toMatchObject({ code: 'ConnectionTestFailed' });
  });

  it('never lets a stale page overwrite a newer change: the second of two sessions gets 412', async () => {
    const c = await customer();
    await connect(c);
    await settings('PUT', c.tenantId, { json: { workspaceResourceId: c.workspaceId } });
    // Two portal sessions load the same settings…
    const etag = (await settings('GET', c.tenantId)).headers.get('etag')!;
    // …one turns export off, then the other (still showing it on) saves.
    expect((await settings('DELETE', c.tenantId, { ifMatch: etag })).status).toBe(200);
    const stale = await settings('PUT', c.tenantId, {
      json: { workspaceResourceId: c.workspaceId },
      ifMatch: etag,
    });
    expect(stale.status).toBe(412);
    expect(stale.json()).toMatchObject({ code: 'PreconditionFailed' });
    expect((await settings('GET', c.tenantId)).json()).toMatchObject({ state: 'disabled' });
  });

  it('answers concurrent conflicting writes without losing one silently', async () => {
    const c = await customer();
    await connect(c);
    const results = await Promise.all([
      settings('PUT', c.tenantId, { json: { workspaceResourceId: c.workspaceId } }),
      settings('DELETE', c.tenantId),
    ]);
    for (const result of results) expect([200, 409]).toContain(result.status);
    // Whatever the interleaving, the stored state is the one the last successful write answered.
    const final = (await settings('GET', c.tenantId)).json<{ state: string; updatedAt: string }>();
    const written = results
      .filter((result) => result.status === 200)
      .map((result) => result.json<{ state: string; updatedAt: string; stateChangedAt: string }>());
    expect(written.map((body) => body.state)).toContain(final.state);
  });

  it('reports a tenant never configured as 404', async () => {
    const c = await customer();
    const result = await settings('GET', c.tenantId);
    expect(result.status).toBe(404);
    expect(result.json()).toMatchObject({ code: 'ConnectionNotFound' });
  });
});

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
