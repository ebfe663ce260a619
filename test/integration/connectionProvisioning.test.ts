import { TableClient } from '@azure/data-tables';
import { describe, expect, inject, it } from 'vitest';
import { resetCompositionForTests } from '../../src/composition';
import { resetConfigForTests } from '../../src/config';
import {
  CA_TABLE,
  CERTIFICATE_TABLE,
  PROVISIONED_TABLES,
  tablesApiColumns,
} from '../../src/domain/tableSchema';
import type { ConnectionTestResult } from '../../src/domain/tenantConnection';
import { type ConnectionBody, connectionWorld } from '../support/connectionWorld';

/**
 * Create Connection against existing tables and under load: the DCR retry, customer and Classic tables, idempotence, its time limit and a double click.
 * Shared set-up and the secret scan at the end: test/support/connectionWorld.ts.
 */
const { admin, TENANTS_TABLE, customer, settings, connect } = connectionWorld();

describe('Create Connection, Save changes, status', () => {
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
