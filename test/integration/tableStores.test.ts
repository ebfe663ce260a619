import { SYSTEM_FORWARDER, type ConnectionChange } from '../../src/domain/connectionHistory';
import { randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { describe, expect, inject, it } from 'vitest';
import { TableParkedEventStore } from '../../src/adapters/parkedEventStore';
import { newParkedId } from '../../src/domain/parkedIds';
import { openTable } from '../../src/adapters/tableStorage';
import { TableTenantConnectionStore } from '../../src/adapters/tenantConnectionStore';
import { ConcurrencyConflictError } from '../../src/domain/errors';
import type { ParkedEvent } from '../../src/domain/ports';
import type { TenantConnection } from '../../src/domain/tenantConnection';
import { InMemoryParkedEventStore, InMemoryTenantConnectionStore } from '../support/fakes';

const settings = { kind: 'connectionString' as const, connectionString: inject('azuriteConnectionString') };
const noCredential = (): never => {
  throw new Error('connection-string tables need no credential');
};

function connection(tenantId: string): TenantConnection {
  const at = '2026-11-24T12:00:00.000Z';
  return {
    tenantId,
    state: 'tested',
    stateReason: 'Create Connection succeeded',
    stateChangedAt: at,
    tested: {
      workspaceResourceId:
        '/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws',
      location: 'eastus',
      test: {
        outcome: 'pending',
        testedAt: at,
        pendingUntil: '2026-11-24T12:30:00.000Z',
        steps: {
          workspace: { outcome: 'ok', detail: 'found' },
          tables: { outcome: 'ok', detail: 'ok' },
          dataCollectionRule: { outcome: 'ok', detail: 'ok' },
          testMessage: { outcome: 'pending', detail: 'waiting for role propagation' },
        },
      },
    },
    createdAt: at,
    updatedAt: at,
  };
}

function parked(tenantId: string | undefined, body: string, at: string): ParkedEvent {
  return {
    tenantId,
    parkedId: newParkedId(at),
    messageId: randomUUID(),
    eventRecordId: randomUUID(),
    eventId: 4888,
    category: 'invalidMessage',
    reason: 'eventId 7 is not in the catalog',
    body,
    attempts: 1,
    firstAttemptAt: at,
    parkedAt: at,
    history: [{ at, error: 'contract violation' }],
  };
}

// The same contract suite runs against the Table Storage adapter and the in-memory fake,
// so unit tests that use the fake can trust it behaves like the real store.
const connectionStores = {
  'Table Storage (Azurite)': () =>
    new TableTenantConnectionStore(openTable(settings, `conn${randomUUID().slice(0, 8)}`, noCredential)),
  'in-memory fake': () => new InMemoryTenantConnectionStore(),
};

for (const [name, makeStore] of Object.entries(connectionStores)) {
  describe(`TenantConnectionStore: ${name}`, () => {
    it('round-trips a connection with its nested test result', async () => {
      const store = makeStore();
      const tenantId = randomUUID();
      await store.create(connection(tenantId));
      const read = await store.get(tenantId);
      expect(read?.value).toEqual(connection(tenantId));
      expect(await store.get(randomUUID())).toBeUndefined();
    });

    it('round-trips a resolved last error and the start time of the run that tested', async () => {
      const store = makeStore();
      const tenantId = randomUUID();
      const base = connection(tenantId);
      const value: TenantConnection = {
        ...base,
        tested: { ...base.tested!, runStartedAt: '2026-11-24T11:59:58.000Z' },
        lastResolvedError: {
          at: '2026-11-24T11:00:00.000Z',
          message: 'The Logs Ingestion API answered 429',
          resolvedAt: '2026-11-24T11:02:00.000Z',
        },
      };
      await store.create(value);
      expect((await store.get(tenantId))?.value).toEqual(value);
    });

    it('round-trips who changed a connection, newest first, and a connection without any history', async () => {
      const store = makeStore();
      const tenantId = randomUUID();
      const history: ConnectionChange[] = [
        {
          at: '2026-12-03T16:20:00.000Z',
          action: 'disableExport',
          actor: { kind: 'caller', tenantId, objectId: randomUUID(), appId: randomUUID() },
          state: 'disabled',
          summary: 'Export turned off.',
        },
        {
          at: '2026-12-03T16:10:00.000Z',
          action: 'deliveryState',
          actor: SYSTEM_FORWARDER,
          state: 'degraded',
          summary: 'Export active -> degraded.',
        },
      ];
      await store.create({ ...connection(tenantId), history });
      expect((await store.get(tenantId))?.value.history).toEqual(history);
      const bare = randomUUID();
      await store.create(connection(bare));
      expect((await store.get(bare))?.value).not.toHaveProperty('history');
    });

    it('refuses a second create and a replace with a stale ETag', async () => {
      const store = makeStore();
      const tenantId = randomUUID();
      const created = await store.create(connection(tenantId));
      await expect(store.create(connection(tenantId))).rejects.toBeInstanceOf(ConcurrencyConflictError);

      const first = await store.replace({ ...created.value, state: 'active' }, created.etag);
      await expect(
        store.replace({ ...created.value, state: 'disabled' }, created.etag),
      ).rejects.toBeInstanceOf(ConcurrencyConflictError);
      expect((await store.get(tenantId))?.value.state).toBe('active');
      expect(first.etag).not.toBe(created.etag);
    });

    it('lists connections whose test is pending', async () => {
      const store = makeStore();
      const pending = randomUUID();
      const done = randomUUID();
      await store.create(connection(pending));
      const other = connection(done);
      await store.create({
        ...other,
        tested: { ...other.tested!, test: { ...other.tested!.test, outcome: 'ok' } },
      });
      const ids = (await store.listPendingTests()).map((row) => row.value.tenantId);
      expect(ids).toContain(pending);
      expect(ids).not.toContain(done);
    });
  });
}

describe('TenantConnectionStore: Table Storage (Azurite), table gone', () => {
  it('fails when the table itself is missing instead of reading every tenant as having no connection', async () => {
    // A missing table is an outage, not "export off": the forwarder would otherwise complete events as skipped.
    const tableName = `conn${randomUUID().slice(0, 8)}`;
    const store = new TableTenantConnectionStore(openTable(settings, tableName, noCredential));
    const tenantId = randomUUID();
    await store.create(connection(tenantId));
    await TableClient.fromConnectionString(settings.connectionString, tableName, {
      allowInsecureConnection: true,
    }).deleteTable();
    await expect(store.get(tenantId)).rejects.toThrow();
  });
});

const parkedStores = {
  'Table Storage (Azurite)': () =>
    new TableParkedEventStore(openTable(settings, `parked${randomUUID().slice(0, 8)}`, noCredential)),
  'in-memory fake': () => new InMemoryParkedEventStore(),
};

for (const [name, makeStore] of Object.entries(parkedStores)) {
  describe(`ParkedEventStore: ${name}`, () => {
    it('keeps a body larger than one Table Storage property intact', async () => {
      const store = makeStore();
      const tenantId = randomUUID();
      const body = JSON.stringify({ details: 'é'.repeat(200_000) });
      await store.park([parked(tenantId, body, '2026-11-24T12:00:00.000Z')]);
      const page = await store.list(tenantId, { limit: 10 });
      expect(page.items).toHaveLength(1);
      expect(page.items[0]?.body).toBe(body);
      expect(page.items[0]?.history).toEqual([
        { at: '2026-11-24T12:00:00.000Z', error: 'contract violation' },
      ]);
    });

    it('keeps the exact bytes of a body that is not UTF-8, in base64, and tells so', async () => {
      const store = makeStore();
      const tenantId = randomUUID();
      const bytes = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0xc3, 0x28, 0x7d]);
      await store.park([
        { ...parked(tenantId, bytes.toString('base64'), '2026-11-24T12:00:00.000Z'), bodyEncoding: 'base64' },
        parked(tenantId, '{"text": "é"}', '2026-11-24T12:00:01.000Z'),
      ]);
      const [binary, text] = (await store.list(tenantId, { limit: 10 })).items;
      expect(binary?.bodyEncoding).toBe('base64');
      expect(Buffer.from(binary?.body ?? '', 'base64').equals(bytes)).toBe(true);
      expect(text).toMatchObject({ body: '{"text": "é"}' });
      expect(text).not.toHaveProperty('bodyEncoding');
    });

    it('pages oldest first, counts and removes per tenant', async () => {
      const store = makeStore();
      const tenantId = randomUUID();
      const times = ['2026-11-24T12:00:03.000Z', '2026-11-24T12:00:01.000Z', '2026-11-24T12:00:02.000Z'];
      const events = times.map((at) => parked(tenantId, `{"n":"${at}"}`, at));
      await store.park(events);
      await store.park([parked(randomUUID(), '{}', times[0]!)]);

      const first = await store.list(tenantId, { limit: 2 });
      expect(first.items.map((item) => item.parkedAt)).toEqual([times[1], times[2]]);
      expect(first.continuationToken).toBeDefined();
      const second = await store.list(tenantId, { limit: 2, continuationToken: first.continuationToken! });
      expect(second.items.map((item) => item.parkedAt)).toEqual([times[0]]);
      expect(await store.count(tenantId)).toBe(3);

      await store.remove(tenantId, [first.items[0]!.parkedId, 'already-gone']);
      expect(await store.count(tenantId)).toBe(2);
    });

    it('keeps messages that name no tenant apart instead of dropping them', async () => {
      const store = makeStore();
      await store.park([parked(undefined, 'not json', '2026-11-24T12:00:00.000Z')]);
      const page = await store.list('_unattributed', { limit: 50 });
      expect(page.items.some((item) => item.body === 'not json' && item.tenantId === undefined)).toBe(true);
    });
  });
}
