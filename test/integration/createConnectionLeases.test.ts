import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { TableCreateConnectionLeases } from '../../src/adapters/createConnectionLeases';
import { openTable } from '../../src/adapters/tableStorage';
import { TableTenantConnectionStore } from '../../src/adapters/tenantConnectionStore';
import type { CreateConnectionRun } from '../../src/domain/ports';

/** The Create Connection lease against Azurite: conditional insert, ETag-guarded takeover, holder-only release. */

const settings = { kind: 'connectionString' as const, connectionString: inject('azuriteConnectionString') };
const noCredential = (): never => {
  throw new Error('connection-string tables need no credential');
};
const T0 = new Date('2026-12-03T12:00:00.000Z');

function run(startedAt: Date, ttlMs = 60_000): CreateConnectionRun {
  return {
    runId: randomUUID(),
    startedAt: startedAt.toISOString(),
    expiresAt: new Date(startedAt.getTime() + ttlMs).toISOString(),
    workspaceResourceId:
      '/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws',
    location: 'eastus',
  };
}

function leases(table: string): TableCreateConnectionLeases {
  return new TableCreateConnectionLeases(openTable(settings, table, noCredential));
}

describe('TableCreateConnectionLeases', () => {
  it('lets exactly one of many concurrent runs hold a tenant, across store instances', async () => {
    const table = `Lease${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const tenantId = randomUUID();
    const runs = Array.from({ length: 6 }, () => run(T0));
    // Separate adapter objects stand for separate instances sharing the table.
    const holders = await Promise.all(runs.map((r) => leases(table).acquire({ ...r, tenantId }, T0)));
    const winners = runs.filter((_r, index) => holders[index] === undefined);
    expect(winners).toHaveLength(1);
    for (const holder of holders.filter((h) => h !== undefined)) expect(holder.runId).toBe(winners[0]!.runId);
    expect((await leases(table).holder(tenantId, T0))?.runId).toBe(winners[0]!.runId);
  });

  it('hands an expired lease to the next run, and only the holder can release it', async () => {
    const table = `Lease${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const tenantId = randomUUID();
    const store = leases(table);
    const crashed = run(T0, 1_000);
    expect(await store.acquire({ ...crashed, tenantId }, T0)).toBeUndefined();
    const later = new Date(T0.getTime() + 2_000);
    expect(await store.holder(tenantId, later)).toBeUndefined();
    const next = run(later);
    expect(await store.acquire({ ...next, tenantId }, later)).toBeUndefined();
    // The crashed run coming back must not free the lease its successor holds.
    await store.release(tenantId, crashed.runId);
    expect((await store.holder(tenantId, later))?.runId).toBe(next.runId);
    await store.release(tenantId, next.runId);
    expect(await store.holder(tenantId, later)).toBeUndefined();
  });

  it('stays invisible to the connection store next to it', async () => {
    const table = `Lease${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const tenantId = randomUUID();
    await leases(table).acquire({ ...run(T0), tenantId }, T0);
    const connections = new TableTenantConnectionStore(openTable(settings, table, noCredential));
    expect(await connections.get(tenantId)).toBeUndefined();
    expect(await connections.listPendingTests()).toEqual([]);
    expect(await connections.listSaved()).toEqual([]);
  });
});
