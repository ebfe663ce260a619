import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../../src/cli/cli';
import { TableHealthChainStore } from '../../src/adapters/healthChainStore';
import { LocalHealthSigner } from '../../src/adapters/localHealthSigner';
import { TableParkedEventStore } from '../../src/adapters/parkedEventStore';
import { openTable } from '../../src/adapters/tableStorage';
import { Heartbeat } from '../../src/domain/exportHealth/heartbeat';
import { verifyHealth } from '../../src/domain/exportHealth/verification';
import { JwksSignatureVerifier } from '../../src/adapters/jwksSignatureVerifier';
import type { ParkCategory, ParkedEvent } from '../../src/domain/ports';
import { parkedEntry, savedConnection } from '../support/forwarderFixtures';
import { connectionStore } from '../support/forwarderWorld';
import { FakeIngestionSink } from '../support/fakeIngestion';
import { CapturingLogger, FakeClock } from '../support/fakes';
import { ServiceBusStandInAdmin } from '../support/serviceBus';

/** `parked` and `replay` with the real stores (Azurite) and queue (Service Bus stand-in). */

const bus = new ServiceBusStandInAdmin(inject('serviceBusAdminUrl'));
const suffix = randomUUID().replace(/-/g, '').slice(0, 10);
const azurite = inject('azuriteConnectionString');
let env: Record<string, string>;
let queueName: string;
const parkedStore = new TableParkedEventStore(
  openTable({ kind: 'connectionString', connectionString: azurite }, `Parked${suffix}`, () => {
    throw new Error('no credential needed');
  }),
);
const connections = connectionStore(azurite, `Connections${suffix}`);
const healthChain = new TableHealthChainStore(
  openTable({ kind: 'connectionString', connectionString: azurite }, `Health${suffix}`, () => {
    throw new Error('no credential needed');
  }),
);

beforeAll(async () => {
  queueName = await bus.createUniqueQueue({ requiresDuplicateDetection: true }, 'replay');
  env = {
    TABLE_STORAGE_CONNECTION_STRING: azurite,
    TENANTS_TABLE: `Connections${suffix}`,
    PARKED_TABLE: `Parked${suffix}`,
    ServiceBusConnection: inject('serviceBusConnectionString'),
    AUDIT_QUEUE_NAME: queueName,
    EXPORT_HEALTH_TABLE: `Health${suffix}`,
    USER: 'alice.operator',
  };
});

afterAll(async () => {
  await bus.deleteQueue(queueName);
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    env,
    readStdin: () => Promise.resolve(''),
    stdinIsTerminal: true,
  });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

const entry = (tenantId: string, category: ParkCategory): ParkedEvent => parkedEntry(tenantId, category);

describe('pki-siem-export parked / replay', () => {
  it('lists a tenant parked events, pages them, and prints JSON on request', async () => {
    const tenant = randomUUID();
    const entries = [
      entry(tenant, 'retryBudgetExhausted'),
      entry(tenant, 'invalidMessage'),
      entry(tenant, 'connectionSuspended'),
    ];
    await parkedStore.park(entries);

    const text = await cli(['parked', '--tenant', tenant]);
    expect(text.code).toBe(0);
    for (const item of entries) expect(text.stdout).toContain(item.parkedId);
    expect(text.stdout).toContain('Parked for the test (invalidMessage)');

    const first = await cli(['parked', '--tenant', tenant, '--limit', '2', '--json']);
    const page = JSON.parse(first.stdout) as { items: ParkedEvent[]; continuationToken?: string };
    expect(page.items).toHaveLength(2);
    expect(page.continuationToken).toBeDefined();
    const second = await cli([
      'parked',
      '--tenant',
      tenant,
      '--limit',
      '2',
      '--continuation',
      page.continuationToken ?? '',
      '--json',
    ]);
    const rest = (JSON.parse(second.stdout) as { items: ParkedEvent[] }).items;
    expect([...page.items, ...rest].map((item) => item.parkedId).sort()).toEqual(
      entries.map((item) => item.parkedId).sort(),
    );
  });

  it('replays the selected category onto the queue under fresh ids and removes only those', async () => {
    const tenant = randomUUID();
    await connections.create(savedConnection(tenant));
    const keep = entry(tenant, 'invalidMessage');
    const replay = [entry(tenant, 'retryBudgetExhausted'), entry(tenant, 'retryBudgetExhausted')];
    await parkedStore.park([keep, ...replay]);

    const result = await cli(['replay', '--tenant', tenant, '--category', 'retryBudgetExhausted']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain('Replayed 2 parked event(s)');

    const onQueue = await bus.activeMessages(queueName);
    expect(
      onQueue.map((message) => Buffer.from(message.bodyBase64 ?? '', 'base64').toString('utf8')).sort(),
    ).toEqual(replay.map((item) => item.body).sort());
    for (const message of onQueue) {
      expect(message.messageId).toMatch(/:replay:/);
      expect(message.applicationProperties).toMatchObject({ tenantId: tenant, schemaVersion: '1' });
    }
    expect((await parkedStore.list(tenant, { limit: 10 })).items.map((item) => item.parkedId)).toEqual([
      keep.parkedId,
    ]);
  });

  it('records a replay like the API does: the operator on the connection, and a change row the heartbeat seals', async () => {
    const tenant = randomUUID();
    await connections.create(savedConnection(tenant));
    await parkedStore.park([entry(tenant, 'retryBudgetExhausted')]);
    const before = Date.now();
    const result = await cli(['replay', '--tenant', tenant]);
    expect(result).toMatchObject({ code: 0, stderr: '' });

    const connection = (await connections.get(tenant))!.value;
    expect(connection.history?.[0]).toMatchObject({
      action: 'replay',
      actor: { kind: 'operator', name: 'alice.operator' },
      summary: 'Replayed 1 parked event.',
    });
    // The CLI holds no signing key: the change waits for the service's heartbeat.
    const waiting = await healthChain.get(tenant);
    expect(waiting.head.sequence).toBe(0);
    expect(waiting.requests).toEqual([
      expect.objectContaining({ change: 'replayed', actor: 'cli:alice.operator', connectionState: 'active' }),
    ]);
    const requestedAt = Date.parse(waiting.requests![0]!.at);
    expect(requestedAt).toBeGreaterThanOrEqual(before);

    const signer = await LocalHealthSigner.generate();
    const ingestion = new FakeIngestionSink();
    const heartbeat = new Heartbeat(
      {
        tenants: { list: () => Promise.resolve([connection]) },
        recorder: {
          record: () => Promise.resolve(),
          readUpTo: () => Promise.resolve({ windows: new Map(), discard: () => Promise.resolve() }),
          readExpired: () => Promise.resolve([]),
        },
        chain: healthChain,
        signer: () => Promise.resolve(signer),
        verifier: async () => new JwksSignatureVerifier({ keys: await signer.publicKeys() }),
        ingestion,
        clock: new FakeClock(new Date(requestedAt + 10 * 60_000)),
        logger: new CapturingLogger(),
      },
      { intervalMinutes: 15, graceMs: 120_000, maxWindowsPerTick: 96, maxUnsealedWindows: 672 },
    );
    expect((await heartbeat.run()).tenants[0]).toMatchObject({ outcome: 'ok' });
    const sealed = await healthChain.get(tenant);
    expect(sealed.requests).toBeUndefined();
    const rows = [...sealed.pending, ...ingestion.delivered.flatMap((upload) => upload.rows)];
    const change = rows.find((row) => row.RowKind_s === 'change');
    expect(change).toMatchObject({
      Sequence_d: 1,
      Change_s: 'replayed',
      Actor_s: 'cli:alice.operator',
      Reason_s: 'Replayed 1 parked event.',
      WindowStart_t: new Date(requestedAt).toISOString(),
    });
    const verifier = new JwksSignatureVerifier({ keys: await signer.publicKeys() });
    expect((await verifyHealth(rows, [], verifier)).problems).toEqual([]);
  });

  it('refuses to replay while the export is not active, keeping the events parked', async () => {
    const tenant = randomUUID();
    await connections.create(
      savedConnection(tenant, { state: 'suspended', stateReason: 'Role removed for 8 days' }),
    );
    await parkedStore.park([entry(tenant, 'connectionSuspended')]);
    const result = await cli(['replay', '--tenant', tenant]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/suspended/);
    expect(await parkedStore.count(tenant)).toBe(1);
  });

  it('answers a wrong command line with exit code 2 and one line', async () => {
    const result = await cli(['replay', '--tenant', 'not-a-guid']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')).toHaveLength(1);
    expect((await cli(['replay', '--tenant', randomUUID(), '--category', 'lost'])).code).toBe(2);
  });
});
