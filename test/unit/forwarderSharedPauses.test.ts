import { beforeEach, describe, expect, it } from 'vitest';
import { Forwarder, type ForwarderSettings } from '../../src/domain/forwarder';
import { HISTORY_PROPERTY } from '../../src/domain/deliveryAttempts';
import type { FakeIngestionSink } from '../support/fakeIngestion';
import { LISTED_PAUSES_AT_MOST } from '../../src/domain/sharedPauses';
import { InMemoryPauseStore } from '../support/fakePauseStore';
import type {
  CapturingLogger,
  FakeClock,
  InMemoryParkedEventStore,
  InMemoryTenantConnectionStore,
  RecordingAuditQueue,
} from '../support/fakes';
import {
  FORWARDER_TEST_SETTINGS,
  auditEvent,
  forwarderFakes,
  received,
  savedConnection,
} from '../support/forwarderFixtures';

/** Two forwarder instances sharing one pause store: one learns what the other's upload answered. */

const TENANT_A = '11111111-1111-4111-8111-111111111111';
const TENANT_B = '22222222-2222-4222-8222-222222222222';
const SETTINGS: ForwarderSettings = { ...FORWARDER_TEST_SETTINGS, pauseCacheMs: 1_000 };
const PAUSE_MS = SETTINGS.retryBaseDelayMs / 2;

let clock: FakeClock;
let connections: InMemoryTenantConnectionStore;
let parked: InMemoryParkedEventStore;
let sink: FakeIngestionSink;
let queue: RecordingAuditQueue;
let logger: CapturingLogger;
let store: InMemoryPauseStore;

function instance(id: string): Forwarder {
  return new Forwarder(
    {
      connections,
      parked,
      ingestion: sink,
      queue,
      clock,
      random: () => 1,
      sharedPauses: { store, instanceId: id, logger: { warn: () => undefined, info: () => undefined } },
    },
    SETTINGS,
  );
}

const run = (f: Forwarder, messages: Parameters<Forwarder['forwardBatch']>[0]) =>
  f.forwardBatch(messages, { invocationId: 'inv-1', logger });

function callsFor(tenantId: string): { count: number } {
  const counter = { count: 0 };
  const upload = sink.upload.bind(sink);
  sink.upload = (id, ...rest) => {
    if (id === tenantId) counter.count += 1;
    return upload(id, ...rest);
  };
  return counter;
}

beforeEach(async () => {
  ({ clock, connections, parked, sink, queue, logger } = forwarderFakes());
  store = new InMemoryPauseStore();
  await connections.create(savedConnection(TENANT_A));
  await connections.create(savedConnection(TENANT_B));
});

describe('Forwarder instances share the pause of a failing workspace', () => {
  it('pauses the other instance once it reads the store, then lets only one instance probe', async () => {
    sink.faults.set(TENANT_A, { kind: 'throttled', retryAfterMs: 60_000 });
    const calls = callsFor(TENANT_A);
    const [first, second] = [instance('instance-1'), instance('instance-2')];
    await run(first, [received(auditEvent(TENANT_A))]);
    expect(calls.count).toBe(1);
    expect(store.peek(TENANT_A)).toMatchObject({ untilMs: clock.now().getTime() + 60_000 });

    // The other instance has never seen this tenant fail; it holds back all the same.
    const held = await run(second, [received(auditEvent(TENANT_A)), received(auditEvent(TENANT_B))]);
    expect(held).toMatchObject({ delivered: 1, retried: 1 });
    expect(calls.count).toBe(1);
    expect(held.tenants.find((tenant) => tenant.tenantId === TENANT_A)?.pausedUntil).toBe(
      new Date(clock.now().getTime() + 60_000).toISOString(),
    );
    // Its copy comes back when the shared pause ends (Retry-After), not after its own backoff.
    expect(queue.sent.at(-1)?.scheduledEnqueueTime?.getTime()).toBeGreaterThanOrEqual(
      clock.now().getTime() + 60_000,
    );

    // Pause over: both instances have a batch for the tenant at once; one probes, one re-enqueues.
    clock.advance(60_000);
    sink.faults.delete(TENANT_A);
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const upload = sink.upload.bind(sink);
    sink.upload = async (...args) => {
      await gate;
      return upload(...args);
    };
    const probe = run(first, [received(auditEvent(TENANT_A))]);
    await new Promise((resolve) => setImmediate(resolve));
    const beside = await run(second, [received(auditEvent(TENANT_A))]);
    expect(beside).toMatchObject({ delivered: 0, retried: 1 });
    expect(String(queue.sent.at(-1)?.applicationProperties[HISTORY_PROPERTY])).toContain(
      'another batch is trying it',
    );
    release();
    expect(await probe).toMatchObject({ delivered: 1 });
    expect(store.peek(TENANT_A)).toBeUndefined();
    clock.advance(SETTINGS.pauseCacheMs!);
    expect(await run(second, [received(auditEvent(TENANT_A))])).toMatchObject({ delivered: 1 });
  });

  it('probes with one request while the workspace still fails, however many tables the batch holds', async () => {
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    const calls = callsFor(TENANT_A);
    const f = instance('instance-1');
    await run(f, [received(auditEvent(TENANT_A))]);
    expect(calls.count).toBe(1);
    clock.advance(PAUSE_MS);
    // A certificate and a CA event: two requests when healthy, one as a probe of a failing workspace.
    const probe = await run(f, [
      received(auditEvent(TENANT_A)),
      received(auditEvent(TENANT_A, { eventId: 4882 })),
    ]);
    expect(probe).toMatchObject({ delivered: 0, retried: 2 });
    expect(calls.count).toBe(2);
    expect(store.peek(TENANT_A)?.probe).toBeUndefined();
  });

  it('keeps delivering on its own pauses when the pause store fails', async () => {
    store.failure = new Error('connect ECONNREFUSED');
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    const calls = callsFor(TENANT_A);
    const f = instance('instance-1');
    expect(await run(f, [received(auditEvent(TENANT_A)), received(auditEvent(TENANT_B))])).toMatchObject({
      delivered: 1,
      retried: 1,
    });
    // Paused locally all the same.
    expect(await run(f, [received(auditEvent(TENANT_A))])).toMatchObject({ delivered: 0, retried: 1 });
    expect(calls.count).toBe(1);
  });

  it('costs Table Storage at most one read per healthy tenant per period in a wide outage, none in later batches', async () => {
    // A wide outage elsewhere: more tenants paused than one listing shows.
    const farFuture = clock.now().getTime() + 3_600_000;
    store.seed(
      Array.from({ length: 5 * LISTED_PAUSES_AT_MOST }, (_unused, index) => ({
        tenantId: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
        untilMs: farFuture,
        failure: { kind: 'unavailable' as const, message: 'Service Unavailable' },
      })),
    );
    const healthy = Array.from(
      { length: 40 },
      (_unused, index) => `ffffffff-0000-4000-8000-${String(index).padStart(12, '0')}`,
    );
    for (const tenantId of healthy) await connections.create(savedConnection(tenantId));
    const f = instance('instance-1');
    const batch = () => healthy.map((tenantId) => received(auditEvent(tenantId)));
    expect(await run(f, batch())).toMatchObject({ delivered: healthy.length });
    // One bounded listing and one point read per tenant: not the 500 rows the partition holds.
    expect({ lists: store.lists, gets: store.gets }).toEqual({ lists: 1, gets: healthy.length });
    expect(store.entitiesRead).toBe(LISTED_PAUSES_AT_MOST);
    expect(await run(f, batch())).toMatchObject({ delivered: healthy.length });
    expect({ lists: store.lists, gets: store.gets }).toEqual({ lists: 1, gets: healthy.length });
  });
});
