import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it, vi } from 'vitest';
import { TableDeliveryRecordStore } from '../../src/adapters/deliveryRecordStore';
import { TableHealthChainStore } from '../../src/adapters/healthChainStore';
import { JwksSignatureVerifier } from '../../src/adapters/jwksSignatureVerifier';
import { LocalHealthSigner } from '../../src/adapters/localHealthSigner';
import { openTable } from '../../src/adapters/tableStorage';
import { Heartbeat } from '../../src/domain/exportHealth/heartbeat';
import type { SignedHealthRow } from '../../src/domain/exportHealth/healthRow';
import { QUARANTINE_MESSAGE, setAsideForeignRows } from '../../src/domain/exportHealth/pendingRows';
import { verifyHealth } from '../../src/domain/exportHealth/verification';
import {
  CA_TABLE,
  CERTIFICATE_TABLE,
  HEALTH_SCHEMA_VERSION,
  HEALTH_STREAM,
} from '../../src/domain/tableSchema';
import type { TenantConnection } from '../../src/domain/tenantConnection';
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createEmptyPipeline,
  createHttpHeaders,
  createPipelineRequest,
} from '@azure/core-rest-pipeline';
import { KeyVaultHealthSigner } from '../../src/adapters/keyVaultHealthSigner';
import { AzureStandInAdmin } from '../support/azureStandIn';
import { FakeIngestionSink } from '../support/fakeIngestion';
import { CapturingLogger, FakeClock } from '../support/fakes';
import { seedCustomer } from './azureStandInHelpers';

/**
 * Whoever can write the service's health-chain table (a leaked storage key)
 * can plant `row-*` entities in a tenant's partition. The heartbeat must not
 * upload them (they would carry our table's authority into the customer's
 * workspace), nor fail the tenant's tick on them, nor lose them silently:
 * each is logged and moved aside (`quarantine-*`), and only rows signed by
 * our key for that tenant go out. Azurite, the real Tables SDK.
 */

const settings = { kind: 'connectionString' as const, connectionString: inject('azuriteConnectionString') };
const noCredential = (): never => {
  throw new Error('connection-string tables need no credential');
};
const table = (prefix: string) =>
  openTable(settings, `${prefix}${randomUUID().replace(/-/g, '').slice(0, 12)}`, noCredential);
const INTERVAL = 15;
const rowKeyOf = (sequence: number) => `row-${String(sequence).padStart(15, '0')}`;

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

async function world() {
  const tenant = randomUUID();
  const connection = exportingConnection(tenant);
  const recorder = new TableDeliveryRecordStore(table('qrec'), INTERVAL);
  const chainTable = table('qchain');
  const chain = new TableHealthChainStore(chainTable);
  const ingestion = new FakeIngestionSink();
  const clock = new FakeClock(new Date('2026-12-03T10:05:00Z'));
  const logger = new CapturingLogger();
  const signer = await LocalHealthSigner.generate();
  const verifier = new JwksSignatureVerifier({ keys: await signer.publicKeys() });
  const heartbeat = new Heartbeat(
    {
      tenants: { list: () => Promise.resolve([connection]) },
      recorder,
      chain,
      signer: () => Promise.resolve(signer),
      verifier: () => Promise.resolve(verifier),
      ingestion,
      clock,
      logger,
    },
    { intervalMinutes: INTERVAL, graceMs: 120_000, maxWindowsPerTick: 96, maxUnsealedWindows: 96 },
  );
  const healthRows = (): SignedHealthRow[] =>
    ingestion.delivered
      .filter((upload) => upload.stream === HEALTH_STREAM)
      .flatMap((upload) => upload.rows as unknown as SignedHealthRow[]);
  /** What an attacker with the storage key writes: a raw entity in the tenant's partition. */
  const plant = async (rowKey: string, row: unknown) => {
    const client = await chainTable.get();
    await client.upsertEntity({ partitionKey: tenant.toLowerCase(), rowKey, row }, 'Replace');
  };
  const entities = async () => {
    const client = await chainTable.get();
    const all: Array<Record<string, unknown> & { rowKey: string }> = [];
    for await (const entity of client.listEntities<Record<string, unknown>>({
      queryOptions: { filter: `PartitionKey eq '${tenant.toLowerCase()}'` },
    })) {
      all.push(entity as Record<string, unknown> & { rowKey: string });
    }
    return all;
  };
  return {
    tenant,
    connection,
    chainTable,
    chain,
    ingestion,
    clock,
    logger,
    heartbeat,
    verifier,
    healthRows,
    plant,
    entities,
  };
}

/** A key in the Key Vault stand-in with one version; `createVersion` rotates it, as an operator does. */
async function vaultKey() {
  const admin = new AzureStandInAdmin(inject('azureStandInUrl'));
  const info = await admin.info();
  const operator = await seedCustomer(admin, info);
  const keyUrl = `${info.baseUrl}/keyvault/kv${randomUUID().slice(0, 8)}/keys/export-health`;
  const createVersion = async () => {
    const pipeline = createEmptyPipeline();
    pipeline.addPolicy(
      bearerTokenAuthenticationPolicy({
        credential: operator.credential,
        scopes: 'https://vault.azure.net/.default',
      }),
    );
    const response = await pipeline.sendRequest(
      createDefaultHttpClient(),
      createPipelineRequest({
        url: `${keyUrl}/create?api-version=7.4`,
        method: 'POST',
        headers: createHttpHeaders({ 'content-type': 'application/json' }),
        body: JSON.stringify({ kty: 'RSA', key_size: 2048 }),
      }),
    );
    expect(response.status).toBe(200);
  };
  await createVersion();
  return { keyUrl, operator, createVersion };
}

describe('planted pending health rows (Azurite)', () => {
  it('a pending row that is not JSON neither fails the tick nor is uploaded: it is logged and quarantined', async () => {
    const w = await world();
    w.clock.set(new Date('2026-12-03T10:18:00Z'));
    // An empty window seals one row per event table.
    expect((await w.heartbeat.run()).tenants[0]).toMatchObject({ outcome: 'ok', uploadedRows: 2 });

    await w.plant(rowKeyOf(7), '{"RowKind_s": "window", not json');
    w.clock.set(new Date('2026-12-03T10:33:00Z'));
    const run = await w.heartbeat.run();

    // The tenant's health goes on: the next window is sealed and uploaded.
    expect(run.tenants[0]).toMatchObject({
      outcome: 'ok',
      sealedRows: 2,
      uploadedRows: 2,
      quarantinedRows: 1,
    });
    expect(w.healthRows().map((row) => row.Sequence_d)).toEqual([1, 2, 3, 4]);
    const report = await verifyHealth(w.healthRows(), [], w.verifier);
    expect(report.problems).toEqual([]);
    // Not lost: kept aside with its text and the reason, and an error line names the tenant and key.
    const kept = (await w.entities()).filter((entity) => entity.rowKey.startsWith('quarantine-'));
    expect(kept).toEqual([
      expect.objectContaining({
        originalRowKey: rowKeyOf(7),
        row: '{"RowKind_s": "window", not json',
        reason: 'the row is not JSON',
      }),
    ]);
    expect(w.logger.lines).toContainEqual({
      level: 'error',
      message: QUARANTINE_MESSAGE,
      fields: { tenantId: w.tenant, rowKey: rowKeyOf(7), reason: 'the row is not JSON' },
    });
    const state = await w.chain.get(w.tenant);
    expect(state.pending).toEqual([]);
    expect(state.refusedPending).toBeUndefined();

    // Set aside once: the next tick finds nothing to quarantine.
    w.clock.set(new Date('2026-12-03T10:48:00Z'));
    const next = await w.heartbeat.run();
    expect(next.tenants[0]).toMatchObject({ outcome: 'ok', uploadedRows: 2 });
    expect(next.tenants[0]?.quarantinedRows).toBeUndefined();
  });

  it('a forged row under the next sequence number (valid JSON, not our signature) is set aside before it can block sealing', async () => {
    const w = await world();
    w.clock.set(new Date('2026-12-03T10:18:00Z'));
    await w.heartbeat.run();
    const [genuine] = w.healthRows();
    // A copy of our row 1, moved to the next sequence (3) and claiming deliveries: its signature no longer matches.
    const forged = { ...genuine!, Sequence_d: 3, DeliveredCount_d: 3 };
    await w.plant(rowKeyOf(3), JSON.stringify(forged));

    w.clock.set(new Date('2026-12-03T10:33:00Z'));
    const run = await w.heartbeat.run();

    expect(run.tenants[0]).toMatchObject({
      outcome: 'ok',
      sealedRows: 2,
      uploadedRows: 2,
      quarantinedRows: 1,
    });
    const uploaded = w.healthRows();
    expect(uploaded.map((row) => row.Sequence_d)).toEqual([1, 2, 3, 4]);
    expect(uploaded[2]).toMatchObject({ DeliveredCount_d: 0 });
    expect((await verifyHealth(uploaded, [], w.verifier)).problems).toEqual([]);
    expect(w.logger.lines).toContainEqual({
      level: 'error',
      message: QUARANTINE_MESSAGE,
      fields: {
        tenantId: w.tenant,
        sequence: 3,
        reason: 'the signature does not match the row (forged or altered)',
      },
    });
  });

  it('uploads only rows signed by our key for this tenant: another tenant’s row, an unknown column, a wrong key or a moved row are set aside', async () => {
    const w = await world();
    const other = await world();
    w.clock.set(new Date('2026-12-03T10:18:00Z'));
    other.clock.set(new Date('2026-12-03T10:18:00Z'));
    await w.heartbeat.run();
    await other.heartbeat.run();
    const [ours] = w.healthRows();
    // The other world has a tenant and a signing key of its own.
    const [theirs] = other.healthRows();
    const otherKey = { ...theirs!, CustomerTenantId_g: w.tenant.toLowerCase() };

    const planted: Array<[string, unknown, string]> = [
      [rowKeyOf(41), JSON.stringify({ ...theirs, Sequence_d: 41 }), 'another tenant'],
      [rowKeyOf(42), JSON.stringify({ ...ours, Sequence_d: 42, Evil_s: 'x' }), 'schema'],
      [rowKeyOf(43), JSON.stringify({ ...otherKey, Sequence_d: 43 }), 'published keys'],
      [rowKeyOf(44), JSON.stringify(ours), 'another sequence'],
      [rowKeyOf(45), 12345, 'no row text'],
      // Under the sequence the change below takes: it would make its append fail.
      [rowKeyOf(3), JSON.stringify({ ...ours, Sequence_d: 3 }), 'signature does not match'],
    ];
    for (const [rowKey, row] of planted) await w.plant(rowKey, row);
    const before = w.healthRows().length;

    // A change recorded through the API uploads at once: it must not carry the planted rows out either.
    await w.heartbeat.recordChange(w.connection, 'settingsSaved', 'tenant:admin', 'Saved by the portal');

    const sent = w.healthRows().slice(before);
    expect(sent.map((row) => [row.Sequence_d, row.RowKind_s])).toEqual([[3, 'change']]);
    const errors = w.logger.lines.filter((line) => line.message === QUARANTINE_MESSAGE);
    expect(errors).toHaveLength(planted.length);
    for (const [rowKey, , reason] of planted) {
      const sequence = Number(rowKey.slice(4));
      expect(
        errors.some(
          (line) =>
            (line.fields?.rowKey === rowKey || line.fields?.sequence === sequence) &&
            String(line.fields?.reason).includes(reason),
        ),
        `${rowKey} set aside for "${reason}": ${JSON.stringify(errors.map((line) => line.fields))}`,
      ).toBe(true);
    }
    const kept = (await w.entities()).filter((entity) => entity.rowKey.startsWith('quarantine-'));
    expect(kept.map((entity) => entity.originalRowKey).sort()).toEqual(planted.map(([key]) => key).sort());
    expect((await w.chain.get(w.tenant)).pending).toEqual([]);
    expect((await verifyHealth(w.healthRows(), [], w.verifier)).problems).toEqual([]);
  });

  it('a genuine pending row whose upload failed is still ours: uploaded on the next tick, nothing set aside', async () => {
    const w = await world();
    w.ingestion.faults.set(w.tenant, { kind: 'unavailable' });
    w.clock.set(new Date('2026-12-03T10:18:00Z'));
    expect((await w.heartbeat.run()).tenants[0]).toMatchObject({ outcome: 'uploadFailed', sealedRows: 2 });
    w.ingestion.faults.delete(w.tenant);
    w.clock.set(new Date('2026-12-03T10:33:00Z'));
    const run = await w.heartbeat.run();
    expect(run.tenants[0]).toMatchObject({ outcome: 'ok', uploadedRows: 4 });
    expect(run.tenants[0]?.quarantinedRows).toBeUndefined();
    expect(w.logger.lines.filter((line) => line.message === QUARANTINE_MESSAGE)).toEqual([]);
  });

  it('rows signed by a key version created minutes ago are ours: a rotation never quarantines the heartbeat’s own rows', async () => {
    // Before: the signer's current key and its published keys were cached apart (5 minutes each), so
    // after a rotation the heartbeat signed with the new version while the verifier built from the
    // published keys still lacked it, and set its own freshly sealed rows aside as "not ours".
    const { keyUrl, operator, createVersion } = await vaultKey();
    const clock = new FakeClock(new Date('2026-12-03T10:00:00Z'));
    const signer = new KeyVaultHealthSigner({
      keyUrl,
      credential: operator.credential,
      audience: 'https://vault.azure.net',
      now: () => clock.now().getTime(),
    });
    const tenant = randomUUID();
    const connection = exportingConnection(tenant);
    const ingestion = new FakeIngestionSink();
    const logger = new CapturingLogger();
    const heartbeat = new Heartbeat(
      {
        tenants: { list: () => Promise.resolve([connection]) },
        recorder: new TableDeliveryRecordStore(table('rrec'), INTERVAL),
        chain: new TableHealthChainStore(table('rchain')),
        signer: () => Promise.resolve(signer),
        // As the composition builds it: from the signer's published keys.
        verifier: async () => new JwksSignatureVerifier({ keys: await signer.publicKeys() }),
        ingestion,
        clock,
        logger,
      },
      { intervalMinutes: INTERVAL, graceMs: 120_000, maxWindowsPerTick: 96, maxUnsealedWindows: 96 },
    );
    await signer.currentKey();
    clock.set(new Date('2026-12-03T10:03:00Z'));
    // Someone fetches the published keys (the keys route, or a heartbeat), then the key is rotated.
    expect(await signer.publicKeys()).toHaveLength(1);
    await createVersion();

    clock.set(new Date('2026-12-03T10:05:30Z'));
    const run = await heartbeat.run();

    expect(run.tenants[0]).toMatchObject({ outcome: 'ok', uploadedRows: 2 });
    expect(run.tenants[0]?.quarantinedRows).toBeUndefined();
    expect(logger.lines.filter((line) => line.message === QUARANTINE_MESSAGE)).toEqual([]);
    const rows = ingestion.delivered
      .filter((upload) => upload.stream === HEALTH_STREAM)
      .flatMap((upload) => upload.rows as unknown as SignedHealthRow[]);
    const verifier = new JwksSignatureVerifier({ keys: await signer.publicKeys() });
    expect((await verifyHealth(rows, [], verifier)).problems).toEqual([]);
  });

  it('a rotation seen in the middle of a tick (the current key re-read for a later tenant) quarantines nothing either', async () => {
    // Before: the verifier was taken once at the start of the tick; a later tenant's rows, sealed with
    // the version the signer re-read meanwhile, were set aside as signed by an unknown key.
    const { keyUrl, operator, createVersion } = await vaultKey();
    const clock = new FakeClock(new Date('2026-12-03T10:05:30Z'));
    const signer = new KeyVaultHealthSigner({
      keyUrl,
      credential: operator.credential,
      audience: 'https://vault.azure.net',
      now: () => clock.now().getTime(),
    });
    const connections = [exportingConnection(randomUUID()), exportingConnection(randomUUID())];
    const fake = new FakeIngestionSink();
    let rotated = false;
    const ingestion: typeof fake = Object.assign(Object.create(fake) as typeof fake, {
      // The first tenant's upload takes long enough for the key to rotate and its cache to expire.
      upload: async (...args: Parameters<typeof fake.upload>) => {
        await fake.upload(...args);
        if (!rotated) {
          rotated = true;
          await createVersion();
          clock.advance(5 * 60_000 + 1);
        }
      },
    });
    const logger = new CapturingLogger();
    const heartbeat = new Heartbeat(
      {
        tenants: { list: () => Promise.resolve(connections) },
        recorder: new TableDeliveryRecordStore(table('mrec'), INTERVAL),
        chain: new TableHealthChainStore(table('mchain')),
        signer: () => Promise.resolve(signer),
        verifier: async () => new JwksSignatureVerifier({ keys: await signer.publicKeys() }),
        ingestion,
        clock,
        logger,
      },
      { intervalMinutes: INTERVAL, graceMs: 120_000, maxWindowsPerTick: 96, maxUnsealedWindows: 96 },
    );

    const run = await heartbeat.run();

    expect(rotated).toBe(true);
    expect(logger.lines.filter((line) => line.message === QUARANTINE_MESSAGE)).toEqual([]);
    expect(run.tenants.map((tenant) => [tenant.outcome, tenant.quarantinedRows])).toEqual([
      ['ok', undefined],
      ['ok', undefined],
    ]);
    const rows = fake.delivered
      .filter((upload) => upload.stream === HEALTH_STREAM)
      .flatMap((upload) => upload.rows as unknown as SignedHealthRow[]);
    expect(new Set(rows.map((row) => row.KeyId_s)).size).toBe(2);
  });

  it('rows another instance signed with a version this one has not seen yet are ours: its published keys are asked again', async () => {
    // Before: this instance's published keys (cached 5 minutes) lacked the version another instance
    // had just started signing with; that instance's pending rows were set aside as foreign.
    const { keyUrl, operator, createVersion } = await vaultKey();
    const clock = new FakeClock(new Date('2026-12-03T10:18:00Z'));
    const instance = () =>
      new KeyVaultHealthSigner({
        keyUrl,
        credential: operator.credential,
        audience: 'https://vault.azure.net',
        now: () => clock.now().getTime(),
      });
    const connection = exportingConnection(randomUUID());
    const recorder = new TableDeliveryRecordStore(table('xrec'), INTERVAL);
    const chain = new TableHealthChainStore(table('xchain'));
    const ingestion = new FakeIngestionSink();
    const logger = new CapturingLogger();
    const heartbeatOf = (signer: KeyVaultHealthSigner) =>
      new Heartbeat(
        {
          tenants: { list: () => Promise.resolve([connection]) },
          recorder,
          chain,
          signer: () => Promise.resolve(signer),
          verifier: async (options) => new JwksSignatureVerifier({ keys: await signer.publicKeys(options) }),
          ingestion,
          clock,
          logger,
        },
        { intervalMinutes: INTERVAL, graceMs: 120_000, maxWindowsPerTick: 96, maxUnsealedWindows: 96 },
      );
    const a = instance();
    await a.currentKey();
    expect(await a.publicKeys()).toHaveLength(1);
    await createVersion();
    // Instance B starts after the rotation: it signs with the new version, and its upload fails.
    ingestion.faults.set(connection.tenantId, { kind: 'unavailable' });
    expect((await heartbeatOf(instance()).run()).tenants[0]).toMatchObject({ outcome: 'uploadFailed' });
    ingestion.faults.delete(connection.tenantId);

    clock.set(new Date('2026-12-03T10:20:00Z'));
    const run = await heartbeatOf(a).run();

    expect(logger.lines.filter((line) => line.message === QUARANTINE_MESSAGE)).toEqual([]);
    expect(run.tenants[0]).toMatchObject({ outcome: 'ok', uploadedRows: 2 });
    expect(run.tenants[0]?.quarantinedRows).toBeUndefined();
  });

  it('a writer that read a planted row before another set it aside never moves the genuine row now under that key', async () => {
    // Before: quarantinePending moved whatever entity held the key when it got there. A heartbeat
    // (or a change) that had read the planted row under the next sequence moved the genuine row a
    // concurrent writer had sealed there after setting the planted one aside: a gap in the chain.
    for (const planted of [
      (genuine: SignedHealthRow) => JSON.stringify({ ...genuine, Sequence_d: 3, DeliveredCount_d: 3 }),
      () => 'not json',
    ]) {
      const w = await world();
      w.clock.set(new Date('2026-12-03T10:18:00Z'));
      await w.heartbeat.run();
      await w.plant(rowKeyOf(3), planted(w.healthRows()[0]!));
      const stale = await w.chain.get(w.tenant);

      // Meanwhile another writer sets it aside and seals rows 3 and 4, whose upload fails: they stay pending.
      w.ingestion.faults.set(w.tenant, { kind: 'unavailable' });
      w.clock.set(new Date('2026-12-03T10:33:00Z'));
      expect((await w.heartbeat.run()).tenants[0]).toMatchObject({
        outcome: 'uploadFailed',
        quarantinedRows: 1,
      });

      // The slow writer acts on what it read.
      await setAsideForeignRows(
        { chain: w.chain, logger: new CapturingLogger() },
        w.tenant,
        stale,
        w.verifier,
        { count: 0 },
      );

      expect((await w.chain.get(w.tenant)).pending.map((row) => row.Sequence_d)).toEqual([3, 4]);
      const kept = (await w.entities()).filter((entity) => entity.rowKey.startsWith('quarantine-'));
      expect(kept).toHaveLength(1);
      w.ingestion.faults.delete(w.tenant);
      w.clock.set(new Date('2026-12-03T10:48:00Z'));
      await w.heartbeat.run();
      expect((await verifyHealth(w.healthRows(), [], w.verifier)).problems).toEqual([]);
    }
  });

  it('rows set aside are not read again: each later read of the chain lists only what it uses', async () => {
    // Before: every read of the tenant's chain (several per tick, for good) listed the whole partition,
    // quarantined rows and their kept text (up to 32,000 characters each) included, so rows planted once
    // made every later tick of that tenant read all of them again.
    const w = await world();
    w.clock.set(new Date('2026-12-03T10:18:00Z'));
    await w.heartbeat.run();
    const text = `not json ${'x'.repeat(30_000)}`;
    for (let sequence = 50; sequence < 60; sequence += 1) await w.plant(rowKeyOf(sequence), text);
    w.clock.set(new Date('2026-12-03T10:33:00Z'));
    expect((await w.heartbeat.run()).tenants[0]).toMatchObject({ outcome: 'ok', quarantinedRows: 10 });

    const client = await w.chainTable.get();
    const listed: string[] = [];
    const list = client.listEntities.bind(client);
    vi.spyOn(client, 'listEntities').mockImplementation((options) => {
      const entities = list(options);
      return Object.assign(Object.create(entities) as typeof entities, {
        async *[Symbol.asyncIterator]() {
          for await (const entity of entities) {
            listed.push(entity.rowKey!);
            yield entity;
          }
        },
      });
    });
    w.clock.set(new Date('2026-12-03T10:48:00Z'));
    expect((await w.heartbeat.run()).tenants[0]).toMatchObject({ outcome: 'ok', uploadedRows: 2 });

    expect(listed.length).toBeGreaterThan(0);
    expect(listed.filter((rowKey) => rowKey.startsWith('quarantine-'))).toEqual([]);
    // Still kept, for an operator.
    expect((await w.entities()).filter((entity) => entity.rowKey.startsWith('quarantine-'))).toHaveLength(10);
  });
});
