import { beforeEach, describe, expect, it } from 'vitest';
import type { Forwarder, ForwarderSettings } from '../../src/domain/forwarder';
import type { FakeIngestionSink } from '../support/fakeIngestion';
import type {
  CapturingLogger,
  FakeClock,
  InMemoryParkedEventStore,
  InMemoryTenantConnectionStore,
  RecordingAuditQueue,
} from '../support/fakes';
import {
  auditEvent,
  forwarderFakes,
  forwarderOver,
  received,
  savedConnection,
} from '../support/forwarderFixtures';

/** What an instance keeps per tenant stays bounded; copies of an event it already has are not uploaded again. */

const TENANT_A = '11111111-1111-4111-8111-111111111111';
const TENANT_B = '22222222-2222-4222-8222-222222222222';
const TENANT_C = '33333333-3333-4333-8333-333333333333';

let clock: FakeClock;
let connections: InMemoryTenantConnectionStore;
let parked: InMemoryParkedEventStore;
let sink: FakeIngestionSink;
let queue: RecordingAuditQueue;
let logger: CapturingLogger;
let reads: string[];

function forwarder(settings: Partial<ForwarderSettings> = {}): Forwarder {
  return forwarderOver({ connections, parked, sink, queue, clock }, settings);
}

const run = (f: Forwarder, messages: Parameters<Forwarder['forwardBatch']>[0]) =>
  f.forwardBatch(messages, { invocationId: 'inv-1', logger });

beforeEach(async () => {
  ({ clock, connections, parked, sink, queue, logger } = forwarderFakes());
  for (const tenant of [TENANT_A, TENANT_B, TENANT_C]) await connections.create(savedConnection(tenant));
  reads = [];
  const get = connections.get.bind(connections);
  connections.get = (tenantId) => {
    reads.push(tenantId);
    return get(tenantId);
  };
});

describe('bounded per-tenant state', () => {
  it('keeps at most maxTenants connections cached, reading a dropped tenant again', async () => {
    const f = forwarder({ tenantCache: { maxTenants: 2, idleMs: 3_600_000 } });
    for (const tenant of [TENANT_A, TENANT_B, TENANT_A, TENANT_C, TENANT_A, TENANT_B]) {
      await run(f, [received(auditEvent(tenant))]);
    }

    // A stays cached (used most recently each time); B was dropped when C came, and read again.
    expect(reads).toEqual([TENANT_A, TENANT_B, TENANT_C, TENANT_B]);
    expect(sink.deliveredRecords()).toHaveLength(6);
  });

  it('forgets a pause once more tenants than the bound were paused, and the dropped tenant uploads again', async () => {
    const f = forwarder({ tenantCache: { maxTenants: 1, idleMs: 3_600_000 } });
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    sink.faults.set(TENANT_B, { kind: 'unavailable' });
    await run(f, [received(auditEvent(TENANT_A))]);
    const paused = await run(f, [received(auditEvent(TENANT_A))]);
    expect(paused.tenants[0]?.pausedUntil).toBeDefined();

    await run(f, [received(auditEvent(TENANT_B))]);
    sink.faults.delete(TENANT_A);
    const again = await run(f, [received(auditEvent(TENANT_A))]);

    expect(again.tenants[0]?.pausedUntil).toBeUndefined();
    expect(again.delivered).toBe(1);
  });
});

describe('duplicates', () => {
  it('uploads an event id that comes twice in one batch once, completing the other copy as a duplicate', async () => {
    const event = auditEvent(TENANT_A);
    const other = auditEvent(TENANT_A);
    const outcome = await run(forwarder(), [
      received(event),
      received(other),
      received(structuredClone(event), {}, 'producer-retry'),
    ]);

    expect(sink.deliveredRecords().map((row) => row.recordId)).toEqual([event.id, other.id]);
    expect(outcome).toMatchObject({ messages: 3, delivered: 2, duplicates: 1, retried: 0, parked: 0 });
    expect(outcome.tenants[0]?.duplicates).toBe(1);
    expect(queue.sent).toHaveLength(0);
  });

  it('does not upload again a record it delivered in an earlier batch', async () => {
    const f = forwarder();
    const event = auditEvent(TENANT_A);
    await run(f, [received(event)]);
    const again = await run(f, [received(structuredClone(event), {}, 'redelivered')]);

    expect(sink.deliveredRecords().map((row) => row.recordId)).toEqual([event.id]);
    expect(again).toMatchObject({ delivered: 0, duplicates: 1, retried: 0 });
  });

  it('uploads again a record whose earlier copy failed: only deliveries are remembered', async () => {
    const f = forwarder();
    const event = auditEvent(TENANT_A);
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    const failed = await run(f, [received(event)]);
    expect(failed.retried).toBe(1);
    sink.faults.delete(TENANT_A);
    clock.advance(3_600_000);
    const again = await run(f, [received(structuredClone(event), {}, 'retry-copy')]);

    expect(again).toMatchObject({ delivered: 1, duplicates: 0 });
    expect(sink.deliveredRecords().map((row) => row.recordId)).toEqual([event.id]);
  });

  it('remembers at most deliveredIdsRemembered records', async () => {
    const f = forwarder({ deliveredIdsRemembered: 1 });
    const first = auditEvent(TENANT_A);
    const second = auditEvent(TENANT_A);
    await run(f, [received(first)]);
    await run(f, [received(second)]);
    const outcome = await run(f, [received(structuredClone(first)), received(structuredClone(second))]);

    // The first was forgotten (uploaded again, at least once); the second is still remembered.
    expect(outcome).toMatchObject({ delivered: 1, duplicates: 1 });
    expect(sink.deliveredRecords().map((row) => row.recordId)).toEqual([first.id, second.id, first.id]);
  });

  it('keeps the same record id apart per tenant', async () => {
    const f = forwarder();
    const event = auditEvent(TENANT_A);
    const sameIdOtherTenant = { ...auditEvent(TENANT_B), id: event.id };
    const outcome = await run(f, [received(event), received(sameIdOtherTenant, {}, 'other')]);

    expect(outcome).toMatchObject({ delivered: 2, duplicates: 0 });
  });
});

describe('log volume', () => {
  it('logs one line for a batch that delivered every tenant cleanly, however many tenants it carried', async () => {
    const tenants = Array.from(
      { length: 50 },
      (_, index) => `${String(index).padStart(8, '0')}-1111-4111-8111-111111111111`,
    );
    for (const tenant of tenants) await connections.create(savedConnection(tenant));
    const outcome = await run(
      forwarder(),
      tenants.flatMap((tenant) => [received(auditEvent(tenant)), received(auditEvent(tenant))]),
    );

    expect(outcome.delivered).toBe(100);
    expect(logger.lines.map((line) => line.message)).toEqual(['forwarder: batch settled']);
    expect(logger.lines[0]?.fields).toMatchObject({ tenants: 50, delivered: 100, tenantsDelivered: 50 });
  });

  it('logs a tenant line for a retry, a skip, a pause and a state change, and none for a duplicate', async () => {
    const f = forwarder();
    await connections.create(savedConnection('44444444-4444-4444-8444-444444444444', { state: 'disabled' }));
    const degraded = await connections.get(TENANT_C);
    if (!degraded) throw new Error('no connection for C');
    await connections.replace({ ...degraded.value, state: 'degraded' }, degraded.etag);
    sink.faults.set(TENANT_B, { kind: 'throttled' });
    const delivered = auditEvent(TENANT_A);
    await run(f, [received(delivered)]);
    logger.lines.length = 0;

    await run(f, [
      received(structuredClone(delivered), {}, 'again'),
      received(auditEvent(TENANT_B)),
      received(auditEvent(TENANT_C)),
      received(auditEvent('44444444-4444-4444-8444-444444444444')),
    ]);
    await run(f, [received(auditEvent(TENANT_B))]);

    const lines = logger.lines.filter((line) => line.message === 'forwarder: tenant outcome');
    const fields = lines.map((line) => line.fields ?? {});
    expect(fields.map((line) => line.tenantId)).toEqual([
      TENANT_B,
      TENANT_C,
      '44444444-4444-4444-8444-444444444444',
      TENANT_B,
    ]);
    expect(fields[0]).toMatchObject({ retried: 1, failureKind: 'throttled' });
    expect(fields[1]).toMatchObject({ delivered: 1, stateChange: 'degraded->active' });
    expect(fields[2]).toMatchObject({ skipped: 1, state: 'disabled' });
    expect(fields[3]?.pausedUntil).toEqual(expect.any(String));
    const batch = logger.lines.find((line) => line.message === 'forwarder: batch settled');
    expect(batch?.fields).toMatchObject({ duplicates: 1, tenants: 3, tenantsDelivered: 0 });
  });
});
