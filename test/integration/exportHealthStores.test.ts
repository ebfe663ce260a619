import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { DELIVERY_RECORD_SHARDS, TableDeliveryRecordStore } from '../../src/adapters/deliveryRecordStore';
import { TableHealthChainStore } from '../../src/adapters/healthChainStore';
import { JwksSignatureVerifier } from '../../src/adapters/jwksSignatureVerifier';
import { LocalHealthSigner } from '../../src/adapters/localHealthSigner';
import { openTable } from '../../src/adapters/tableStorage';
import { Heartbeat } from '../../src/domain/exportHealth/heartbeat';
import { SigningKeyUnavailableError } from '../../src/domain/exportHealth/signing';
import { verifyHealth } from '../../src/domain/exportHealth/verification';
import { windowContaining } from '../../src/domain/exportHealth/windows';
import { ConcurrencyConflictError } from '../../src/domain/errors';
import {
  CA_TABLE,
  CERTIFICATE_TABLE,
  HEALTH_SCHEMA_VERSION,
  HEALTH_STREAM,
} from '../../src/domain/tableSchema';
import type { TenantConnection } from '../../src/domain/tenantConnection';
import { FakeIngestionSink } from '../support/fakeIngestion';
import { CapturingLogger, FakeClock } from '../support/fakes';

const settings = { kind: 'connectionString' as const, connectionString: inject('azuriteConnectionString') };
const noCredential = (): never => {
  throw new Error('connection-string tables need no credential');
};
const table = (prefix: string) =>
  openTable(settings, `${prefix}${randomUUID().replace(/-/g, '').slice(0, 12)}`, noCredential);
const ids = (count: number, offset = 0): string[] =>
  Array.from(
    { length: count },
    (_, n) => `00000000-0000-4000-8000-${(n + offset).toString(16).padStart(12, '0')}`,
  );

const INTERVAL = 15;

function exportingConnection(tenantId: string): TenantConnection {
  const at = '2026-12-01T00:00:00.000Z';
  return {
    tenantId,
    state: 'active',
    stateReason: 'Saved by the portal',
    stateChangedAt: at,
    saved: {
      workspaceResourceId:
        '/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws',
      location: 'eastus',
      dataCollectionRuleId:
        '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Insights/dataCollectionRules/dcr',
      dataCollectionRuleImmutableId: 'dcr-00000000000000000000000000000000',
      logsIngestionEndpoint: 'https://dcr.eastus-1.ingest.monitor.azure.com',
      streams: { [CA_TABLE]: `Custom-${CA_TABLE}`, [CERTIFICATE_TABLE]: `Custom-${CERTIFICATE_TABLE}` },
      provisionedAt: at,
      schemaVersion: HEALTH_SCHEMA_VERSION,
    },
    createdAt: at,
    updatedAt: at,
  };
}

describe('delivery records (Azurite)', () => {
  it('counts distinct ids per window with concurrent instances, redeliveries, a late delivery and a dead instance', async () => {
    const shared = table('rec');
    // Three forwarder instances: separate store objects over the same table.
    const instances = [0, 1, 2].map(() => new TableDeliveryRecordStore(shared, INTERVAL));
    const tenant = randomUUID();
    const inWindow = new Date('2026-12-03T10:03:00Z');
    const window = windowContaining(inWindow, INTERVAL);
    const caIds = ids(900); // over one 30 000-character property: split across entities
    const certIds = ids(40, 5000);

    // Batches interleave; 200 CA ids are delivered twice (a redelivered message), by different instances.
    const batches = Array.from({ length: 30 }, (_, n) => ({
      instance: instances[n % 3]!,
      ca: caIds.slice(n * 30, n * 30 + 30).concat(n > 0 ? caIds.slice(0, 200).slice(n * 7, n * 7 + 7) : []),
      cert: certIds.slice(n * 2, n * 2 + 2),
      at: new Date(inWindow.getTime() + n * 1000),
    }));
    await Promise.all(
      batches.map((batch, n) =>
        batch.instance.record([
          {
            tenantId: tenant,
            at: batch.at,
            delivered: { [CA_TABLE]: batch.ca, [CERTIFICATE_TABLE]: batch.cert },
            parked: n === 3 ? 2 : 0,
            reenqueued: n === 4 ? 5 : 0,
          },
        ]),
      ),
    );
    // A days-late event (its own time long past) delivered now counts in this window, by delivery time.
    await instances[1]!.record([
      {
        tenantId: tenant,
        at: new Date('2026-12-03T10:14:59Z'),
        delivered: { [CA_TABLE]: ['aaaaaaaa-0000-4000-8000-000000000001'] },
      },
    ]);
    // An instance records part of its work, then dies: what it recorded stays.
    await instances[2]!.record([
      {
        tenantId: tenant,
        at: inWindow,
        delivered: { [CERTIFICATE_TABLE]: [certIds[0]!, 'bbbbbbbb-0000-4000-8000-000000000002'] },
      },
    ]);
    // Another tenant and the next window are not mixed in.
    await instances[0]!.record([
      {
        tenantId: randomUUID(),
        at: inWindow,
        delivered: { [CA_TABLE]: ['cccccccc-0000-4000-8000-000000000003'] },
      },
      {
        tenantId: tenant,
        at: window.end,
        delivered: { [CA_TABLE]: ['dddddddd-0000-4000-8000-000000000004'] },
      },
    ]);

    const read = await instances[0]!.readUpTo(tenant, window);
    expect([...read.windows.keys()]).toEqual([window.start.toISOString()]);
    const deliveries = read.windows.get(window.start.toISOString())!;
    expect(deliveries.delivered[CA_TABLE].size).toBe(901);
    expect(deliveries.delivered[CA_TABLE].has('aaaaaaaa-0000-4000-8000-000000000001')).toBe(true);
    expect(deliveries.delivered[CERTIFICATE_TABLE].size).toBe(41);
    expect(deliveries.parked).toBe(2);
    expect(deliveries.reenqueued).toBe(5);

    // A record landing after the read is not deleted with what was read.
    await instances[1]!.record([
      { tenantId: tenant, at: inWindow, delivered: { [CA_TABLE]: ['eeeeeeee-0000-4000-8000-000000000005'] } },
    ]);
    await read.discard();
    const after = await instances[0]!.readUpTo(tenant, windowContaining(window.end, INTERVAL));
    expect([...after.windows.get(window.start.toISOString())!.delivered[CA_TABLE]]).toEqual([
      'eeeeeeee-0000-4000-8000-000000000005',
    ]);
    expect([...after.windows.get(window.end.toISOString())!.delivered[CA_TABLE]]).toEqual([
      'dddddddd-0000-4000-8000-000000000004',
    ]);
  });
});

describe('delivery records: requests and layout (Azurite)', () => {
  /** Table Storage requests sent through the store's client, counted by a pipeline policy. */
  async function counted(prefix: string) {
    const lazy = table(prefix);
    const client = await lazy.get(); // creates the table: not counted
    const requests: string[] = [];
    client.pipeline.addPolicy({
      name: 'countRequests',
      sendRequest: (request, next) => {
        requests.push(`${request.method} ${new URL(request.url).pathname}`);
        return next(request);
      },
    });
    return { lazy, client, requests };
  }

  it('writes a batch over 300 tenants in at most one transaction per shard, and reads each tenant back exactly', async () => {
    const { lazy, requests } = await counted('reccount');
    const store = new TableDeliveryRecordStore(lazy, INTERVAL);
    const at = new Date('2026-12-03T10:03:00Z');
    const window = windowContaining(at, INTERVAL);
    const tenants = Array.from({ length: 300 }, () => randomUUID());
    await store.record(
      tenants.map((tenantId, n) => ({
        tenantId,
        at,
        delivered: { [CA_TABLE]: ids(2, n * 10), [CERTIFICATE_TABLE]: ids(3, 100_000 + n * 10) },
        ...(n % 7 === 0 ? { parked: 1, reenqueued: 2 } : {}),
      })),
    );
    // One entity per tenant (both tables' ids in it), ~19 per shard: one transaction each. The old layout
    // (a partition per tenant and window) sent 300.
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.length).toBeLessThanOrEqual(16);
    expect(requests.every((request) => request.endsWith('/$batch'))).toBe(true);
    expect(DELIVERY_RECORD_SHARDS).toBe(16);

    for (const n of [0, 1, 150, 299]) {
      requests.length = 0;
      const read = await store.readUpTo(tenants[n]!, window);
      expect([...read.windows.keys()]).toEqual([window.start.toISOString()]);
      const deliveries = read.windows.get(window.start.toISOString())!;
      expect([...deliveries.delivered[CA_TABLE]].sort()).toEqual(ids(2, n * 10));
      expect([...deliveries.delivered[CERTIFICATE_TABLE]].sort()).toEqual(ids(3, 100_000 + n * 10));
      expect(deliveries.parked).toBe(n % 7 === 0 ? 1 : 0);
      expect(deliveries.reenqueued).toBe(n % 7 === 0 ? 2 : 0);
      // One range query in the tenant's shard (plus, at most once a minute, the old-layout probe).
      expect(requests.length).toBeLessThanOrEqual(2);
      await read.discard();
      expect((await store.readUpTo(tenants[n]!, window)).windows.size).toBe(0);
    }
    // Deleting one tenant's records left every other tenant's.
    const other = await store.readUpTo(tenants[2]!, window);
    expect([...other.windows.get(window.start.toISOString())!.delivered[CA_TABLE]].sort()).toEqual(
      ids(2, 20),
    );
  });

  it('lets the records of concurrent batches in one instance share transactions: one write in flight per shard', async () => {
    const { lazy, requests } = await counted('recgroup');
    const store = new TableDeliveryRecordStore(lazy, INTERVAL);
    const at = new Date('2026-12-03T10:03:00Z');
    const window = windowContaining(at, INTERVAL);
    const tenants = Array.from({ length: 50 }, () => randomUUID());
    // Four invocations settle at once, each over the same 50 tenants (as the bench's batches do).
    await Promise.all(
      [0, 1, 2, 3].map((batch) =>
        store.record(
          tenants.map((tenantId, n) => ({
            tenantId,
            at,
            delivered: { [CA_TABLE]: ids(1, batch * 1000 + n) },
          })),
        ),
      ),
    );
    // The first batch's shards go at once; the other three wait for them and leave together. Alone, the
    // four would send a transaction per shard each.
    expect(requests.length).toBeLessThanOrEqual(2 * DELIVERY_RECORD_SHARDS);
    for (const n of [0, 17, 49]) {
      const read = await store.readUpTo(tenants[n]!, window);
      expect([...read.windows.get(window.start.toISOString())!.delivered[CA_TABLE]].sort()).toEqual(
        [0, 1, 2, 3].flatMap((batch) => ids(1, batch * 1000 + n)).sort(),
      );
    }
  });

  it('splits a shard holding more than a transaction allows by operation count and payload size', async () => {
    const { lazy, requests } = await counted('recsplit');
    const store = new TableDeliveryRecordStore(lazy, INTERVAL);
    const at = new Date('2026-12-03T10:03:00Z');
    const window = windowContaining(at, INTERVAL);
    // One tenant, ~6,000 ids per table: 8 entities of up to ~30,000 characters per table each, twice
    // (two records of the same tenant in one batch), all in one shard; plus 250 small tenants.
    const busy = randomUUID();
    const many = Array.from({ length: 250 }, () => randomUUID());
    const records = [
      { tenantId: busy, at, delivered: { [CA_TABLE]: ids(6000), [CERTIFICATE_TABLE]: ids(6000, 50_000) } },
      { tenantId: busy, at, delivered: { [CA_TABLE]: ids(6000, 10_000) } },
      ...many.map((tenantId, n) => ({ tenantId, at, delivered: { [CA_TABLE]: ids(1, 200_000 + n) } })),
    ];
    await store.record(records);
    expect(requests.length).toBeLessThanOrEqual(DELIVERY_RECORD_SHARDS + 2);
    const read = await store.readUpTo(busy, window);
    const deliveries = read.windows.get(window.start.toISOString())!;
    expect(deliveries.delivered[CA_TABLE].size).toBe(12_000);
    expect(deliveries.delivered[CERTIFICATE_TABLE].size).toBe(6000);
    for (const [n, tenantId] of many.entries()) {
      if (n % 50 !== 0) continue;
      const small = await store.readUpTo(tenantId, window);
      expect([...small.windows.get(window.start.toISOString())!.delivered[CA_TABLE]]).toEqual(
        ids(1, 200_000 + n),
      );
    }
  });

  it('reads, deletes and expires records an earlier version wrote (partition per tenant and window)', async () => {
    const { lazy, client, requests } = await counted('reclegacy');
    let now = Date.parse('2026-12-03T10:20:00Z');
    const store = new TableDeliveryRecordStore(lazy, INTERVAL, () => now);
    const tenant = randomUUID();
    const at = new Date('2026-12-03T10:03:00Z');
    const window = windowContaining(at, INTERVAL);
    const legacyPartition = `${tenant}|${window.start.toISOString()}`;
    // Exactly what the previous version wrote: one entity per table, one for counts.
    await client.submitTransaction([
      [
        'create',
        {
          partitionKey: legacyPartition,
          rowKey: randomUUID(),
          table: CA_TABLE,
          ids: ids(3).join(','),
          parked: 0,
          reenqueued: 0,
        },
      ],
      [
        'create',
        {
          partitionKey: legacyPartition,
          rowKey: randomUUID(),
          table: CERTIFICATE_TABLE,
          ids: ids(1, 900).join(','),
          parked: 0,
          reenqueued: 0,
        },
      ],
      [
        'create',
        { partitionKey: legacyPartition, rowKey: randomUUID(), table: '', ids: '', parked: 2, reenqueued: 1 },
      ],
    ]);
    // The new version records in the same window meanwhile; another tenant's old records stay apart.
    await store.record([{ tenantId: tenant, at, delivered: { [CA_TABLE]: ids(2, 2) } }]);
    const other = randomUUID();
    await client.createEntity({
      partitionKey: `${other}|${window.start.toISOString()}`,
      rowKey: randomUUID(),
      table: CA_TABLE,
      ids: ids(1, 700).join(','),
      parked: 0,
      reenqueued: 0,
    });

    const read = await store.readUpTo(tenant, window);
    const deliveries = read.windows.get(window.start.toISOString())!;
    expect([...deliveries.delivered[CA_TABLE]].sort()).toEqual(ids(4));
    expect([...deliveries.delivered[CERTIFICATE_TABLE]]).toEqual(ids(1, 900));
    expect(deliveries).toMatchObject({ parked: 2, reenqueued: 1 });
    await read.discard();
    expect((await store.readUpTo(tenant, window)).windows.size).toBe(0);
    const left = [];
    for await (const entity of client.listEntities()) left.push(entity.partitionKey);
    expect(left).toEqual([`${other}|${window.start.toISOString()}`]);

    const otherRead = await store.readUpTo(other, window);
    expect([...otherRead.windows.get(window.start.toISOString())!.delivered[CA_TABLE]]).toEqual(ids(1, 700));
    await otherRead.discard();

    // With no old record left, a minute on, the probe says so and a tenant's read is one request again.
    now += 61_000;
    expect((await store.readUpTo(other, window)).windows.size).toBe(0);
    requests.length = 0;
    expect((await store.readUpTo(tenant, window)).windows.size).toBe(0);
    expect(requests).toHaveLength(1);
    // An instance still on the old version writes after that (a rolling upgrade): the answer stands for a
    // minute (missed like a record landing after its window was sealed, and read later the same way) ...
    await client.createEntity({
      partitionKey: `${other}|${window.end.toISOString()}`,
      rowKey: randomUUID(),
      table: CA_TABLE,
      ids: ids(1, 800).join(','),
      parked: 0,
      reenqueued: 0,
    });
    const next = windowContaining(window.end, INTERVAL);
    expect((await store.readUpTo(other, next)).windows.size).toBe(0);
    // ... then it is asked again, and the record is read.
    now += 61_000;
    const late = await store.readUpTo(other, next);
    expect([...late.windows.get(window.end.toISOString())!.delivered[CA_TABLE]]).toEqual(ids(1, 800));

    // The expiry sweep counts and deletes old-layout records beside new ones.
    await store.record([{ tenantId: other, at, delivered: { [CERTIFICATE_TABLE]: ids(2, 600) } }]);
    const expired = await store.readExpired(new Date(Date.now() + 86_400_000 * 400), 1000);
    expect(expired).toHaveLength(1);
    expect(expired[0]).toMatchObject({
      tenantId: other.toLowerCase(),
      windows: [window.start.toISOString(), window.end.toISOString()],
      delivered: { [CA_TABLE]: 1, [CERTIFICATE_TABLE]: 2 },
    });
    await expired[0]!.discard();
    const remaining = [];
    for await (const entity of client.listEntities()) remaining.push(entity);
    expect(remaining).toEqual([]);
  });
});

describe('health chain store (Azurite)', () => {
  it('appends conditionally on the head ETag and keeps rows pending until removed', async () => {
    const store = new TableHealthChainStore(table('chain'));
    const signer = await LocalHealthSigner.generate();
    const tenant = randomUUID();
    const empty = await store.get(tenant);
    expect(empty).toEqual({ head: { sequence: 0, hash: 'GENESIS' }, pending: [] });
    const { sealRows } = await import('../../src/domain/exportHealth/chain');
    const { changeRow } = await import('../../src/domain/exportHealth/windowRows');
    const content = changeRow(tenant, new Date(), 'settingsSaved', 'alice', 'why', { state: 'active' });
    const first = await sealRows([content, content], empty.head, signer, new Date());
    const etag = await store.append(tenant, first.rows, first.head, undefined, undefined);
    // A second writer that read the empty chain loses.
    await expect(store.append(tenant, first.rows, first.head, undefined, undefined)).rejects.toBeInstanceOf(
      ConcurrencyConflictError,
    );
    const state = await store.get(tenant);
    expect(state.head).toEqual(first.head);
    expect(state.pending).toEqual(first.rows);
    await expect(store.append(tenant, [], first.head, 'x', 'W/"stale"')).rejects.toBeInstanceOf(
      ConcurrencyConflictError,
    );
    await store.removePending(tenant, [1]);
    expect((await store.get(tenant)).pending.map((row) => row.Sequence_d)).toEqual([2]);
    expect((await store.get(tenant)).etag).toBe(etag);
  });
});

describe('expired-records tally (Azurite)', () => {
  it('adds sweeps up, and a row clears exactly the version it reported: a tally grown meanwhile stays', async () => {
    const store = new TableHealthChainStore(table('chain'));
    const signer = await LocalHealthSigner.generate();
    const tenant = randomUUID();
    const sweep = (first: string, count: number) => ({
      firstWindow: first,
      lastWindow: first,
      windows: 1,
      delivered: { [CA_TABLE]: count },
      parked: 0,
      reenqueued: 1,
    });
    await store.addExpired(tenant, sweep('2026-12-01T10:00:00.000Z', 3));
    await store.addExpired(tenant, sweep('2026-12-01T09:00:00.000Z', 4));
    const read = await store.get(tenant);
    expect(read.expired).toMatchObject({
      firstWindow: '2026-12-01T09:00:00.000Z',
      lastWindow: '2026-12-01T10:00:00.000Z',
      windows: 2,
      delivered: { [CA_TABLE]: 7 },
      reenqueued: 2,
    });
    const { sealRows } = await import('../../src/domain/exportHealth/chain');
    const { changeRow } = await import('../../src/domain/exportHealth/windowRows');
    const content = changeRow(tenant, new Date(), 'deliveryRecordsExpired', 'system:heartbeat', 'lost', {
      state: 'active',
    });
    const sealed = await sealRows([content], read.head, signer, new Date());
    // Another sweep adds to the tally after it was read: the append that would clear it must fail whole.
    await store.addExpired(tenant, sweep('2026-12-01T11:00:00.000Z', 1));
    await expect(
      store.append(tenant, sealed.rows, sealed.head, undefined, read.etag, { clearExpired: read.expired! }),
    ).rejects.toBeInstanceOf(ConcurrencyConflictError);
    const again = await store.get(tenant);
    expect(again.head.sequence).toBe(0);
    expect(again.expired?.delivered).toEqual({ [CA_TABLE]: 8 });
    await store.append(tenant, sealed.rows, sealed.head, undefined, again.etag, {
      clearExpired: again.expired!,
    });
    const after = await store.get(tenant);
    expect(after.expired).toBeUndefined();
    expect(after.head.sequence).toBe(1);
    // A later sweep starts a new tally.
    await store.addExpired(tenant, sweep('2026-12-02T10:00:00.000Z', 2));
    expect((await store.get(tenant)).expired?.delivered).toEqual({ [CA_TABLE]: 2 });
  });
});

describe('heartbeat over Azurite stores', () => {
  async function world() {
    const tenant = randomUUID();
    const connection = exportingConnection(tenant);
    const recorder = new TableDeliveryRecordStore(table('rec'), INTERVAL);
    const chainTable = table('chain');
    const chain = new TableHealthChainStore(chainTable);
    const ingestion = new FakeIngestionSink();
    const clock = new FakeClock(new Date('2026-12-03T10:05:00Z'));
    const logger = new CapturingLogger();
    const signer = await LocalHealthSigner.generate();
    let signerAvailable = true;
    let exporting = true;
    const heartbeat = new Heartbeat(
      {
        tenants: { list: () => Promise.resolve(exporting ? [connection] : []) },
        recorder,
        chain,
        signer: () =>
          signerAvailable
            ? Promise.resolve(signer)
            : Promise.reject(
                new SigningKeyUnavailableError('HEALTH_SIGNING_KEY_URL is missing: heartbeats stop.'),
              ),
        verifier: async () => new JwksSignatureVerifier({ keys: await signer.publicKeys() }),
        ingestion,
        clock,
        logger,
      },
      { intervalMinutes: INTERVAL, graceMs: 120_000, maxWindowsPerTick: 96, maxUnsealedWindows: 4 },
    );
    const verifier = new JwksSignatureVerifier({ keys: await signer.publicKeys() });
    const healthRows = () =>
      ingestion.delivered
        .filter((upload) => upload.stream === HEALTH_STREAM)
        .flatMap((upload) => upload.rows);
    return {
      tenant,
      connection,
      recorder,
      chain,
      chainTable,
      ingestion,
      clock,
      logger,
      heartbeat,
      verifier,
      healthRows,
      setSigner: (available: boolean) => {
        signerAvailable = available;
      },
      setExporting: (on: boolean) => {
        exporting = on;
      },
    };
  }

  it('seals each closed window once, retries a failed upload with the same rows, and folds a straggler into the next window', async () => {
    const w = await world();
    const first = ids(10);
    await w.recorder.record([{ tenantId: w.tenant, at: w.clock.now(), delivered: { [CA_TABLE]: first } }]);
    // Inside the grace period after the 10:00 window closes, only the window before it (never sealed yet) is sealed.
    w.clock.set(new Date('2026-12-03T10:16:00Z'));
    await w.heartbeat.run();
    expect(w.healthRows().map((row) => row.WindowStart_t)).toEqual([
      '2026-12-03T09:45:00.000Z',
      '2026-12-03T09:45:00.000Z',
    ]);

    // The upload fails: the window is sealed and kept, not lost.
    w.ingestion.faults.set(w.tenant, { kind: 'unavailable' });
    w.clock.set(new Date('2026-12-03T10:18:00Z'));
    const failed = await w.heartbeat.run();
    expect(failed.tenants[0]).toMatchObject({ outcome: 'uploadFailed', sealedRows: 2 });
    const pending = (await w.chain.get(w.tenant)).pending;
    expect(pending).toHaveLength(2);

    // A record for the sealed window lands late; then the next tick uploads the same rows.
    await w.recorder.record([
      {
        tenantId: w.tenant,
        at: new Date('2026-12-03T10:14:59Z'),
        delivered: { [CA_TABLE]: ['ffffffff-0000-4000-8000-000000000001'] },
      },
    ]);
    w.ingestion.faults.delete(w.tenant);
    w.clock.set(new Date('2026-12-03T10:23:00Z'));
    expect((await w.heartbeat.run()).tenants[0]).toMatchObject({
      outcome: 'ok',
      sealedRows: 0,
      uploadedRows: 2,
    });
    expect(w.healthRows().slice(2)).toEqual(pending);

    w.clock.set(new Date('2026-12-03T10:33:00Z'));
    await w.heartbeat.run();
    const rows = w.healthRows();
    expect(rows.map((row) => row.Sequence_d)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rows[4]).toMatchObject({
      WindowStart_t: '2026-12-03T10:15:00.000Z',
      Table_s: CA_TABLE,
      DeliveredCount_d: 1,
    });
    expect((await w.chain.get(w.tenant)).pending).toEqual([]);

    const present = [...first, 'ffffffff-0000-4000-8000-000000000001'].map((recordId) => ({
      table: CA_TABLE,
      recordId,
    }));
    const report = await verifyHealth(rows, present, w.verifier);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    // Records of sealed windows are gone.
    const left = await w.recorder.readUpTo(
      w.tenant,
      windowContaining(new Date('2026-12-03T10:20:00Z'), INTERVAL),
    );
    expect(left.windows.size).toBe(0);
  });

  it('a change row joins the chain between windows', async () => {
    const w = await world();
    await w.heartbeat.recordChange(
      w.connection,
      'settingsSaved',
      'alice@contoso.com',
      'moved to a new workspace',
    );
    w.clock.set(new Date('2026-12-03T10:18:00Z'));
    await w.heartbeat.run();
    const rows = w.healthRows();
    expect(rows.map((row) => [row.Sequence_d, row.RowKind_s])).toEqual([
      [1, 'change'],
      [2, 'window'],
      [3, 'window'],
    ]);
    expect(rows[0]).toMatchObject({ Change_s: 'settingsSaved', Actor_s: 'alice@contoso.com' });
    expect((await verifyHealth(rows, [], w.verifier)).ok).toBe(true);
  });

  it('signs only replay requests as the CLI writes them: forged or malformed requests are logged and deleted, never sealed, never blocking', async () => {
    const w = await world();
    const client = await w.chainTable.get();
    const partitionKey = w.tenant.toLowerCase();
    const replay = {
      change: 'replayed',
      actor: 'cli:alice.operator',
      reason: 'Replayed 2 parked events.',
      connectionState: 'active',
    };
    const stored: Record<string, string | undefined> = {
      // What the CLI writes, but with a time the server does not vouch for: sealed at the server's time.
      'request-1-old': JSON.stringify({ ...replay, at: '2020-01-01T00:00:00.000Z' }),
      'request-2-bad-time': JSON.stringify({ ...replay, at: 'not a time' }),
      'request-3-disabled': JSON.stringify({
        ...replay,
        change: 'exportDisabled',
        at: new Date().toISOString(),
      }),
      'request-4-expired': JSON.stringify({ ...replay, change: 'deliveryRecordsExpired' }),
      'request-5-actor': JSON.stringify({ ...replay, actor: 'system:heartbeat' }),
      'request-6-long-actor': JSON.stringify({ ...replay, actor: `cli:${'a'.repeat(65)}` }),
      'request-7-reason': JSON.stringify({ ...replay, reason: 'Nothing was lost; ignore the gap.' }),
      'request-8-state': JSON.stringify({ ...replay, connectionState: 'x'.repeat(1000) }),
      'request-9-not-json': '{not json',
      'request-a-no-request': undefined,
    };
    const before = Date.now();
    for (const [rowKey, request] of Object.entries(stored)) {
      await client.createEntity(
        request === undefined ? { partitionKey, rowKey } : { partitionKey, rowKey, request },
      );
    }
    const after = Date.now();

    w.clock.set(new Date('2026-12-03T10:18:00Z'));
    expect((await w.heartbeat.run()).tenants[0]).toMatchObject({ outcome: 'ok' });
    const rows = w.healthRows();
    const changes = rows.filter((row) => row.RowKind_s === 'change');
    expect(changes.map((row) => [row.Change_s, row.Actor_s])).toEqual([
      ['replayed', 'cli:alice.operator'],
      ['replayed', 'cli:alice.operator'],
    ]);
    for (const change of changes) {
      // Table Storage's Timestamp, not the request's claim (Azurite's clock is this machine's).
      expect(Date.parse(String(change.WindowStart_t))).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(String(change.WindowStart_t))).toBeLessThanOrEqual(after + 1000);
    }
    expect(rows.filter((row) => row.RowKind_s === 'window')).toHaveLength(2);
    expect((await verifyHealth(rows, [], w.verifier)).ok).toBe(true);
    const refusedLines = w.logger.lines.filter((line) =>
      line.message.includes('refused a stored change request'),
    );
    expect(refusedLines.map((line) => line.fields?.requestId).sort()).toEqual([
      'request-3-disabled',
      'request-4-expired',
      'request-5-actor',
      'request-6-long-actor',
      'request-7-reason',
      'request-8-state',
      'request-9-not-json',
      'request-a-no-request',
    ]);
    const left = await w.chain.get(w.tenant);
    expect(left.requests).toBeUndefined();
    expect(left.refusedRequests).toBeUndefined();
  });

  it('never sends the health stream to a DCR provisioned before it: rows wait sealed until the upgrade', async () => {
    const w = await world();
    w.connection.saved!.schemaVersion = HEALTH_SCHEMA_VERSION - 1;
    await w.recorder.record([{ tenantId: w.tenant, at: w.clock.now(), delivered: { [CA_TABLE]: ids(2) } }]);
    w.clock.set(new Date('2026-12-03T10:18:00Z'));
    const before = await w.heartbeat.run();
    expect(before.tenants[0]).toMatchObject({ outcome: 'ok', uploadedRows: 0 });
    expect(w.healthRows()).toEqual([]);
    expect((await w.chain.get(w.tenant)).pending.length).toBeGreaterThan(0);

    // The hourly schema upgrade records the new version on the saved target: the rows go out, in order.
    w.connection.saved!.schemaVersion = HEALTH_SCHEMA_VERSION;
    const after = await w.heartbeat.run();
    expect(after.tenants[0]).toMatchObject({ outcome: 'ok' });
    expect(w.healthRows().find((row) => row.Table_s === CA_TABLE)).toMatchObject({ DeliveredCount_d: 2 });
    expect((await w.chain.get(w.tenant)).pending).toEqual([]);
    expect(w.healthRows().map((row) => row.Sequence_d)).toEqual([1, 2]);
  });

  it('a missing signing key stops heartbeats with a clear log line and seals nothing', async () => {
    const w = await world();
    await w.recorder.record([{ tenantId: w.tenant, at: w.clock.now(), delivered: { [CA_TABLE]: ids(3) } }]);
    w.setSigner(false);
    w.clock.set(new Date('2026-12-03T10:18:00Z'));
    const run = await w.heartbeat.run();
    expect(run).toMatchObject({ signing: 'unavailable', tenants: [] });
    expect(w.logger.text()).toMatch(
      /Export heartbeat stopped: signing key unavailable.*HEALTH_SIGNING_KEY_URL is missing/,
    );
    // The window waits for the key; once it is back, the window is sealed with its ids.
    w.setSigner(true);
    await w.heartbeat.run();
    expect(w.healthRows().find((row) => row.Table_s === CA_TABLE)).toMatchObject({ DeliveredCount_d: 3 });
  });

  it('an unreadable signing key stops heartbeats the same way: a log line naming the setting, the run says unavailable', async () => {
    const w = await world();
    await w.recorder.record([{ tenantId: w.tenant, at: w.clock.now(), delivered: { [CA_TABLE]: ids(1) } }]);
    const unreadable = new Heartbeat(
      {
        tenants: { list: () => Promise.resolve([w.connection]) },
        recorder: w.recorder,
        chain: w.chain,
        signer: () =>
          LocalHealthSigner.fromPem('-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----'),
        verifier: () => Promise.resolve(w.verifier),
        ingestion: w.ingestion,
        clock: w.clock,
        logger: w.logger,
      },
      { intervalMinutes: INTERVAL, graceMs: 120_000, maxWindowsPerTick: 96, maxUnsealedWindows: 4 },
    );
    w.clock.set(new Date('2026-12-03T10:18:00Z'));
    expect(await unreadable.run()).toMatchObject({ signing: 'unavailable', tenants: [] });
    expect(w.logger.text()).toMatch(
      /Export heartbeat stopped: signing key unavailable; event delivery is not affected.*HEALTH_SIGNING_PRIVATE_KEY is not a readable PEM/,
    );
    // Nothing was sealed or lost: the window's records wait for a readable key.
    expect((await w.chain.get(w.tenant)).head.sequence).toBe(0);
    await w.heartbeat.run();
    expect(w.healthRows().find((row) => row.Table_s === CA_TABLE)).toMatchObject({ DeliveredCount_d: 1 });
  });

  /**
   * Table Storage stamps each record with the real write time, and the sweep selects by it: the
   * fake clock runs a day ahead of the real one, starting on a full hour (the sweep's tick).
   */
  const hourAhead = (hours: number, minutes = 0): Date => {
    const base = Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 86_400_000;
    return new Date(base + hours * 3_600_000 + minutes * 60_000);
  };

  it('bounds what forwarders record: a key missing past the bound expires the records, counted, and the next row reports the loss', async () => {
    const w = await world();
    w.clock.set(hourAhead(0, 5));
    // The chain has begun: the window before the first hour is sealed (empty).
    await w.heartbeat.run();
    const lost = ids(3, 100);
    await w.recorder.record([{ tenantId: w.tenant, at: w.clock.now(), delivered: { [CA_TABLE]: lost } }]);
    await w.recorder.record([
      {
        tenantId: w.tenant,
        at: hourAhead(0, 20),
        delivered: { [CERTIFICATE_TABLE]: ids(2, 200) },
        parked: 1,
      },
    ]);
    w.setSigner(false);
    w.clock.set(hourAhead(0, 33));
    expect(await w.heartbeat.run()).toMatchObject({ signing: 'unavailable' });

    // Two hours on, the key still missing: both windows ended more than 4 windows ago. The hourly sweep
    // deletes their records anyway (before it even needs the key), counting them.
    const recent = ids(1, 300);
    await w.recorder.record([
      { tenantId: w.tenant, at: hourAhead(1, 50), delivered: { [CA_TABLE]: recent } },
    ]);
    w.clock.set(hourAhead(2, 3));
    const swept = await w.heartbeat.run();
    expect(swept).toMatchObject({ signing: 'unavailable', expired: [w.tenant.toLowerCase()] });
    expect(w.logger.text()).toMatch(/delivery records of windows never sealed expired/);
    const left = await w.recorder.readUpTo(w.tenant, windowContaining(hourAhead(2, 3), INTERVAL));
    expect([...left.windows.keys()]).toEqual([hourAhead(1, 45).toISOString()]);
    expect((await w.chain.get(w.tenant)).expired).toMatchObject({
      windows: 2,
      delivered: { [CA_TABLE]: 3, [CERTIFICATE_TABLE]: 2 },
      parked: 1,
      firstWindow: hourAhead(0).toISOString(),
      lastWindow: hourAhead(0, 30).toISOString(),
    });

    // The key is back: one change row says which windows get no rows and what was lost; the windows
    // within the bound are sealed as usual, the recent id listed.
    w.setSigner(true);
    w.clock.set(hourAhead(2, 8));
    expect((await w.heartbeat.run()).tenants[0]).toMatchObject({ outcome: 'ok' });
    const rows = w.healthRows().slice(2);
    expect(rows[0]).toMatchObject({
      Sequence_d: 3,
      RowKind_s: 'change',
      Change_s: 'deliveryRecordsExpired',
      Actor_s: 'system:heartbeat',
    });
    expect(rows[0]!.Reason_s).toContain(
      `Windows ${hourAhead(0).toISOString()} .. ${hourAhead(1).toISOString()} were not sealed within 4 windows`,
    );
    expect(rows[0]!.Reason_s).toContain(
      `5 record id(s) (${CA_TABLE} 3, ${CERTIFICATE_TABLE} 2), 1 parked and 0 re-enqueued event(s) are listed by no health row`,
    );
    const windowStarts = [...new Set(rows.slice(1).map((row) => row.WindowStart_t))];
    expect(windowStarts).toEqual(
      [hourAhead(1), hourAhead(1, 15), hourAhead(1, 30), hourAhead(1, 45)].map((at) => at.toISOString()),
    );
    expect(rows.find((row) => row.RecordIds_s === recent[0])).toMatchObject({ DeliveredCount_d: 1 });
    const state = await w.chain.get(w.tenant);
    expect(state.expired).toBeUndefined();
    expect(state.pending).toEqual([]);

    // verify: the chain is intact, but the skipped stretch is not proven (the loss is not hidden).
    const report = await verifyHealth(
      w.healthRows(),
      [...lost, ...recent].map((recordId) => ({ table: CA_TABLE, recordId })),
      w.verifier,
      { coverage: { from: hourAhead(0).getTime(), to: hourAhead(2).getTime(), slackMs: 0 } },
    );
    expect(report.problems.join('\n')).toMatch(
      /no health window covers .* and no signed exportDisabled change explains it/,
    );
    expect(report.unexpected.map((row) => row.recordId).sort()).toEqual([...lost].sort());
    expect(report.problems.join('\n')).not.toMatch(/broken chain|signature/);
  });

  it('expires the records of a tenant whose export was turned off; its next row, once back on, reports them', async () => {
    const w = await world();
    w.clock.set(hourAhead(0, 5));
    await w.recorder.record([{ tenantId: w.tenant, at: w.clock.now(), delivered: { [CA_TABLE]: ids(2) } }]);
    w.clock.set(hourAhead(0, 18));
    await w.heartbeat.run();
    // Turned off inside the next window: what it recorded there is never sealed while off.
    await w.recorder.record([
      { tenantId: w.tenant, at: hourAhead(0, 20), delivered: { [CA_TABLE]: ids(4, 10) } },
    ]);
    w.setExporting(false);
    w.clock.set(hourAhead(2, 4));
    expect((await w.heartbeat.run()).expired).toEqual([w.tenant.toLowerCase()]);
    const empty = await w.recorder.readUpTo(w.tenant, windowContaining(hourAhead(2, 4), INTERVAL));
    expect(empty.windows.size).toBe(0);

    // A tick outside the hour's first minutes does not sweep.
    w.clock.set(hourAhead(2, 20));
    expect((await w.heartbeat.run()).expired).toBeUndefined();

    w.setExporting(true);
    await w.heartbeat.run();
    const change = w.healthRows().find((row) => row.Change_s === 'deliveryRecordsExpired');
    expect(change?.Reason_s).toContain(`4 record id(s) (${CA_TABLE} 4)`);
    expect((await w.chain.get(w.tenant)).expired).toBeUndefined();
  });
});
