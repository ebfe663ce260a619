import { randomUUID } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { dataCollectionRuleBody } from '../../src/adapters/armWorkspace';
import { resetCompositionForTests } from '../../src/composition';
import {
  CA_TABLE,
  HEALTH_SCHEMA_VERSION,
  HEALTH_STREAM,
  HEALTH_TABLE,
  TABLE_SCHEMA_VERSION,
} from '../../src/domain/tableSchema';
import type { TenantConnection } from '../../src/domain/tenantConnection';
import { parseWorkspaceResourceId } from '../../src/domain/workspaceResourceId';
import { AzureStandInAdmin, type StandInInfo } from '../support/azureStandIn';
import { ALL_ROLES, configureConnectionApp, REQUIRED_ROLE } from '../support/connectionApp';
import { auditEvent } from '../support/forwarderFixtures';
import { connectionStore } from '../support/forwarderWorld';
import {
  getFunction,
  invokeHttp,
  invokeServiceBusBatch,
  invokeTimer,
  startFunctionApp,
} from '../support/functionsHost';
import { responseValidator } from '../support/openApi';
import { arm } from './azureStandInHelpers';

/**
 * A connection provisioned before EventTime_t existed (schema version 1): its
 * rows leave the column out while its DCR does not declare it, the hourly
 * timer upgrades tables and DCR with the customer's credential, and the next
 * event carries EventTime_t. Through the registered functions, against
 * Azurite and the Azure stand-in.
 */

const admin = new AzureStandInAdmin(inject('azureStandInUrl'));
const TENANTS_TABLE = `Upg${randomUUID().replace(/-/g, '').slice(0, 12)}`;
const connections = connectionStore(inject('azuriteConnectionString'), TENANTS_TABLE);
let info: StandInInfo;
let clientId: string;
let clientSecret: string;

beforeAll(async () => {
  ({ info, clientId, clientSecret } = await configureConnectionApp(admin, {
    azuriteConnectionString: inject('azuriteConnectionString'),
    tenantsTable: TENANTS_TABLE,
    // No operator crosses tenants here: every call uses the route tenant's own token.
    operatorTenantId: '5e2a7b3c-1d4f-4a6e-9b8c-0f1e2d3c4b5a',
    extra: { AUDIT_QUEUE_NAME: 'audit-events' },
  }));
  await startFunctionApp({
    entryPoints: [
      'src/functions/siemConnection.ts',
      'src/functions/siemSettings.ts',
      'src/functions/forwardAuditEvents.ts',
      'src/functions/upgradeConnectionSchemas.ts',
    ],
  });
});

interface Customer {
  tenantId: string;
  workspaceId: string;
  location: string;
  resourceGroupId: string;
}

async function connectedAndSaved(): Promise<Customer> {
  const tenant = await admin.seedTenant({
    consentApps: [clientId],
    roles: ALL_ROLES,
    workspace: { location: 'eastus' },
  });
  await admin.configure({ tenantId: tenant.tenantId, tableOperationPolls: 0, tableOperationMaxMs: 0 });
  const c = {
    tenantId: tenant.tenantId,
    workspaceId: tenant.workspace!.id,
    location: tenant.workspace!.location,
    resourceGroupId: tenant.resourceGroup.id,
  };
  const bearer = (await admin.mintToken({ tenantId: c.tenantId, roles: [REQUIRED_ROLE] })).token;
  const body = { workspaceResourceId: c.workspaceId, location: c.location };
  const headers = { authorization: `Bearer ${bearer}` };
  const created = await invokeHttp({
    method: 'POST',
    path: `/api/tenants/${c.tenantId}/siem/connection`,
    headers,
    json: body,
  });
  expect(created.json<{ test: { outcome: string } }>().test.outcome).toBe('ok');
  const saved = await invokeHttp({
    method: 'PUT',
    path: `/api/tenants/${c.tenantId}/siem`,
    headers,
    json: body,
  });
  expect(saved.status).toBe(200);
  return c;
}

function credentialOf(c: Customer): ClientSecretCredential {
  return new ClientSecretCredential(c.tenantId, clientId, clientSecret, {
    authorityHost: info.authorityHost,
    disableInstanceDiscovery: true,
  });
}

async function dcrUrlOf(c: Customer): Promise<string> {
  const [rule] = await admin.listDcrs({ tenantId: c.tenantId });
  return `${info.armEndpoint}${rule!.id}?api-version=2023-03-11`;
}

/** What a connection saved before schema versions were recorded looks like: a DCR without EventTime_t. */
async function makeVersionOne(c: Customer): Promise<void> {
  const body = dataCollectionRuleBody(parseWorkspaceResourceId(c.workspaceId), c.location) as {
    properties: { streamDeclarations: Record<string, { columns: Array<{ name: string }> }> };
  };
  for (const declaration of Object.values(body.properties.streamDeclarations)) {
    declaration.columns = declaration.columns.filter((column) => column.name !== 'EventTime_t');
  }
  const put = await arm(credentialOf(c), 'PUT', await dcrUrlOf(c), body);
  expect(put.status).toBe(200);
  // Nor had it the diagnostic setting that sends the DCR's LogErrors to the workspace.
  const setting = `${(await dcrUrlOf(c)).split('?')[0]}/providers/Microsoft.Insights/diagnosticSettings/pki-siem-export-errors?api-version=2021-05-01-preview`;
  expect((await arm(credentialOf(c), 'DELETE', setting)).status).toBe(200);
  expect((await admin.listDcrs({ tenantId: c.tenantId }))[0]?.diagnosticSettings).toEqual([]);

  const current = (await connections.get(c.tenantId))!;
  const old: TenantConnection = structuredClone(current.value);
  delete old.saved!.schemaVersion;
  delete old.tested!.target!.schemaVersion;
  await connections.replace(old, current.etag);
}

interface DcrShape {
  properties: {
    streamDeclarations: Record<string, unknown>;
    dataFlows: Array<{ streams: string[]; transformKql: string }>;
  };
}

async function dcrOf(c: Customer): Promise<DcrShape> {
  return (await arm(credentialOf(c), 'GET', await dcrUrlOf(c))).body as unknown as DcrShape;
}

async function declaredColumns(c: Customer): Promise<string[]> {
  const rule = await arm(credentialOf(c), 'GET', await dcrUrlOf(c));
  const declarations = (
    rule.body as { properties: { streamDeclarations: Record<string, { columns: Array<{ name: string }> }> } }
  ).properties.streamDeclarations;
  return declarations[`Custom-${CA_TABLE}`]!.columns.map((column) => column.name);
}

/**
 * The forwarder caches a delivering connection for CONNECTION_CACHE_SECONDS (until then an upgrade
 * only means the new column waits); a fresh composition reads it again, as a new instance would.
 */
function forgetCachedConnections(): void {
  resetCompositionForTests();
}

async function forward(tenantId: string, time: string): Promise<string> {
  const event = auditEvent(tenantId, { eventId: 4882, time });
  const result = await invokeServiceBusBatch('forwardAuditEvents', [
    {
      body: event,
      messageId: event.id,
      contentType: 'application/json',
      applicationProperties: { tenantId: event.tenantId },
    },
  ]);
  expect(result.outcome).toBe('completed');
  return event.id;
}

async function landed(workspaceId: string, id: string): Promise<Record<string, unknown> | undefined> {
  const rows = await admin.rows({ workspaceId, table: CA_TABLE });
  return rows.find((entry) => entry.row.EventRecordId_g === id)?.row;
}

describe('schema upgrade of saved connections', () => {
  it('registers the upgrade as an hourly timer', () => {
    expect(getFunction('upgradeConnectionSchemas')).toMatchObject({ triggerType: 'timerTrigger' });
    expect(getFunction('upgradeConnectionSchemas').trigger.schedule).toBe('0 17 * * * *');
  });

  it('upgrades a connection made before EventTime_t, which then receives it', async () => {
    const c = await connectedAndSaved();
    await makeVersionOne(c);
    expect(await declaredColumns(c)).not.toContain('EventTime_t');

    // Before the upgrade: the row leaves out the column the DCR does not declare, and lands.
    const before = await forward(c.tenantId, new Date(Date.now() - 60_000).toISOString());
    const beforeRow = await landed(c.workspaceId, before);
    expect(beforeRow).toBeDefined();
    expect(beforeRow).not.toHaveProperty('EventTime_t');
    // Left out by the forwarder, not dropped by ingestion (Azure would drop it silently).
    const immutableId = (await connections.get(c.tenantId))!.value.saved!.dataCollectionRuleImmutableId;
    expect(await admin.dropped({ dcrImmutableId: immutableId })).toEqual([]);

    const timer = await invokeTimer('upgradeConnectionSchemas');
    expect(timer.outcome).toBe('completed');
    expect(await declaredColumns(c)).toContain('EventTime_t');
    const upgraded = (await connections.get(c.tenantId))!.value;
    expect(upgraded.saved?.schemaVersion).toBe(TABLE_SCHEMA_VERSION);
    expect(upgraded.tested?.target?.schemaVersion).toBe(TABLE_SCHEMA_VERSION);
    expect(upgraded.state).toBe('active');
    const puts = await admin.requests({ tenantId: c.tenantId, operation: 'dcrPut' });
    expect(puts.at(-1)?.status).toBe(200);
    expect((await admin.listDcrs({ tenantId: c.tenantId }))[0]?.diagnosticSettings).toEqual([
      { name: 'pki-siem-export-errors', workspaceId: c.workspaceId, categories: ['LogErrors'] },
    ]);

    forgetCachedConnections();
    const time = new Date(Date.now() - 30_000).toISOString();
    const after = await forward(c.tenantId, time);
    expect(await landed(c.workspaceId, after)).toMatchObject({ EventTime_t: time });
    expect(await admin.dropped({ dcrImmutableId: immutableId })).toEqual([]);
  });

  it('adds the export health stream to a DCR of schema version 2', async () => {
    const c = await connectedAndSaved();
    const body = dataCollectionRuleBody(parseWorkspaceResourceId(c.workspaceId), c.location) as DcrShape;
    delete body.properties.streamDeclarations[HEALTH_STREAM];
    body.properties.dataFlows = body.properties.dataFlows.filter(
      (flow) => !flow.streams.includes(HEALTH_STREAM),
    );
    expect((await arm(credentialOf(c), 'PUT', await dcrUrlOf(c), body)).status).toBe(200);
    const current = (await connections.get(c.tenantId))!;
    const old: TenantConnection = structuredClone(current.value);
    old.saved!.schemaVersion = HEALTH_SCHEMA_VERSION - 1;
    await connections.replace(old, current.etag);
    expect(Object.keys((await dcrOf(c)).properties.streamDeclarations)).not.toContain(HEALTH_STREAM);
    const seenBefore = Math.max(0, ...(await admin.requests({ tenantId: c.tenantId })).map((r) => r.seq));

    expect((await invokeTimer('upgradeConnectionSchemas')).outcome).toBe('completed');
    const rule = await dcrOf(c);
    expect(Object.keys(rule.properties.streamDeclarations)).toContain(HEALTH_STREAM);
    expect(rule.properties.dataFlows.find((flow) => flow.streams.includes(HEALTH_STREAM))).toMatchObject({
      transformKql: 'source | extend CustomerTenantId_g = toguid(CustomerTenantId_g)',
    });
    const upgradeRequests = (await admin.requests({ tenantId: c.tenantId })).filter(
      (r) => r.seq > seenBefore,
    );
    expect(upgradeRequests.some((request) => request.path.endsWith(`/tables/${HEALTH_TABLE}`))).toBe(true);
    expect((await connections.get(c.tenantId))!.value.saved?.schemaVersion).toBe(HEALTH_SCHEMA_VERSION);
  });

  it('marks the connection degraded, naming the failing step and role, and keeps delivering without the new column', async () => {
    const c = await connectedAndSaved();
    await makeVersionOne(c);
    await admin.revokeRole({ tenantId: c.tenantId, clientId, role: 'Monitoring Contributor' });

    expect((await invokeTimer('upgradeConnectionSchemas')).outcome).toBe('completed');
    const failed = (await connections.get(c.tenantId))!.value;
    expect(failed.state).toBe('degraded');
    expect(failed.schemaUpgrade).toMatchObject({
      step: 'dataCollectionRule',
      code: 'AuthorizationFailed',
      toVersion: TABLE_SCHEMA_VERSION,
    });
    expect(failed.stateReason).toContain('dataCollectionRule step');
    expect(failed.stateReason).toContain('Monitoring Contributor');
    expect(failed.saved?.schemaVersion).toBeUndefined();
    const bearer = (await admin.mintToken({ tenantId: c.tenantId, roles: [REQUIRED_ROLE] })).token;
    const view = await invokeHttp({
      method: 'GET',
      path: `/api/tenants/${c.tenantId}/siem`,
      headers: { authorization: `Bearer ${bearer}` },
    });
    const validate = responseValidator('GET', '/tenants/{tenantId}/siem', 200);
    expect(validate(view.json()), JSON.stringify(validate.errors)).toBe(true);
    expect(view.json()).toMatchObject({
      state: 'degraded',
      saved: { schemaVersion: 1 },
      schemaUpgrade: { step: 'dataCollectionRule', code: 'AuthorizationFailed' },
      lastChange: {
        action: 'schemaUpgrade',
        actor: { kind: 'system', id: 'system:timer' },
        state: 'degraded',
      },
    });
    expect(failed.stateReason).toContain('Changed by system:timer.');

    // Deliveries go on without EventTime_t, and do not clear the failed upgrade.
    const id = await forward(c.tenantId, new Date().toISOString());
    expect(await landed(c.workspaceId, id)).not.toHaveProperty('EventTime_t');
    expect(await admin.dropped({ tenantId: c.tenantId })).toEqual([]);
    expect((await connections.get(c.tenantId))!.value.state).toBe('degraded');

    await admin.grantRole({
      tenantId: c.tenantId,
      clientId,
      role: 'Monitoring Contributor',
      scope: c.resourceGroupId,
    });
    expect((await invokeTimer('upgradeConnectionSchemas')).outcome).toBe('completed');
    const healed = (await connections.get(c.tenantId))!.value;
    expect(healed).toMatchObject({ state: 'active', saved: { schemaVersion: TABLE_SCHEMA_VERSION } });
    expect(healed.schemaUpgrade).toBeUndefined();
    expect(healed.history?.[0]).toMatchObject({
      action: 'schemaUpgrade',
      actor: { kind: 'system', id: 'system:timer' },
      state: 'active',
    });
    // The failed hourly retry in between recorded nothing: one entry per state change.
    expect(healed.history?.filter((change) => change.action === 'schemaUpgrade')).toHaveLength(2);
    forgetCachedConnections();
    const last = await forward(c.tenantId, new Date().toISOString());
    expect(await landed(c.workspaceId, last)).toHaveProperty('EventTime_t');
  });
});
