import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { CONNECTION_TEST_EVENT_ID } from '../../src/domain/catalog';
import { CA_TABLE, CERTIFICATE_TABLE } from '../../src/domain/tableSchema';
import type { ConnectionTestResult } from '../../src/domain/tenantConnection';
import { getFunction } from '../support/functionsHost';
import { type ConnectionBody, connectionWorld } from '../support/connectionWorld';

/**
 * Create Connection through the registered functions: provisioning, its per-step answers for every refusal Azure gives, and the pending-test re-run.
 * Shared set-up and the secret scan at the end: test/support/connectionWorld.ts.
 */
const { admin, ALL_ROLES, fireRetestTimer, customer, createConnection, settings, connect } =
  connectionWorld();

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
});
