import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ATTEMPT_PROPERTY,
  FIRST_ATTEMPT_PROPERTY,
  HISTORY_PROPERTY,
} from '../../src/domain/deliveryAttempts';
import { ConcurrencyConflictError } from '../../src/domain/errors';
import { Forwarder, type ForwarderSettings, SettlementError } from '../../src/domain/forwarder';
import type { TenantConnection, Versioned } from '../../src/domain/tenantConnection';
import { CERTIFICATE_TABLE, CA_TABLE } from '../../src/domain/tableSchema';
import type { Fault, FakeIngestionSink } from '../support/fakeIngestion';
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
  targetFor,
  FORWARDER_TEST_SETTINGS,
} from '../support/forwarderFixtures';

const TENANT_A = '11111111-1111-4111-8111-111111111111';
const TENANT_B = '22222222-2222-4222-8222-222222222222';
const TENANT_C = '33333333-3333-4333-8333-333333333333';

const SETTINGS = FORWARDER_TEST_SETTINGS;

let clock: FakeClock;
let connections: InMemoryTenantConnectionStore;
let parked: InMemoryParkedEventStore;
let sink: FakeIngestionSink;
let queue: RecordingAuditQueue;
let logger: CapturingLogger;

function forwarder(settings: Partial<ForwarderSettings> = {}, random = () => 1): Forwarder {
  return forwarderOver({ connections, parked, sink, queue, clock }, settings, random);
}

const run = (f: Forwarder, messages: Parameters<Forwarder['forwardBatch']>[0]) =>
  f.forwardBatch(messages, { invocationId: 'inv-1', logger });

beforeEach(async () => {
  ({ clock, connections, parked, sink, queue, logger } = forwarderFakes());
  await connections.create(savedConnection(TENANT_A));
  await connections.create(savedConnection(TENANT_B));
});

async function stateOf(tenantId: string): Promise<TenantConnection> {
  const found = await connections.get(tenantId);
  if (!found) throw new Error(`no connection for ${tenantId}`);
  return found.value;
}

describe('Forwarder: delivery', () => {
  it("delivers each event once, to its own tenant's endpoint and DCR with that tenant's identity, per table", async () => {
    const a1 = auditEvent(TENANT_A);
    const a2 = auditEvent(TENANT_A, { eventId: 12 });
    const b1 = auditEvent(TENANT_B);
    const outcome = await run(forwarder(), [received(a1), received(b1), received(a2)]);

    expect(outcome).toMatchObject({ messages: 3, delivered: 3, retried: 0, parked: 0, skipped: 0 });
    const records = sink.deliveredRecords();
    expect(records.map((record) => record.recordId).sort()).toEqual([a1.id, a2.id, b1.id].sort());
    for (const record of records) {
      expect(record.tenantId).toBe(record.rowTenant);
      expect(record.endpoint).toBe(targetFor(record.tenantId).logsIngestionEndpoint);
    }
    const streamsOfA = sink.delivered.filter((upload) => upload.tenantId === TENANT_A).map((u) => u.stream);
    expect(streamsOfA.sort()).toEqual([`Custom-${CA_TABLE}`, `Custom-${CERTIFICATE_TABLE}`]);
    expect(queue.sent).toEqual([]);
    expect(parked.all()).toEqual([]);
  });

  it('keeps every request under 1 MB as the SDK measures it, so one upload is one request', async () => {
    const big = 'x'.repeat(7_000);
    const events = Array.from({ length: 400 }, () =>
      auditEvent(TENANT_A, { details: { blob: big }, message: 'large details' }),
    );
    const outcome = await run(
      forwarder(),
      events.map((event) => received(event)),
    );

    expect(outcome.delivered).toBe(400);
    expect(sink.delivered.length).toBeGreaterThan(2);
    for (const upload of sink.delivered) {
      const bytes = upload.rows.reduce((total, row) => total + Buffer.byteLength(JSON.stringify(row)), 0);
      expect(bytes).toBeLessThan(1_000_000);
    }
  });

  it('counts and completes events of tenants whose export is off, without sending or parking them', async () => {
    await connections.create({ ...savedConnection(TENANT_C), state: 'disabled' });
    const unknownTenant = randomUUID();
    const tested = randomUUID();
    await connections.create({ ...savedConnection(tested), state: 'tested' });
    const outcome = await run(forwarder(), [
      received(auditEvent(TENANT_C)),
      received(auditEvent(unknownTenant)),
      received(auditEvent(tested)),
      received(auditEvent(TENANT_A)),
    ]);
    expect(outcome).toMatchObject({ delivered: 1, skipped: 3, parked: 0, retried: 0 });
    expect(sink.deliveredRecords().map((record) => record.tenantId)).toEqual([TENANT_A]);
    expect(parked.all()).toEqual([]);
  });

  it('parks the events of a suspended tenant with the suspension reason', async () => {
    await connections.create(
      savedConnection(TENANT_C, { state: 'suspended', stateReason: 'Role removed for 8 days' }),
    );
    const event = auditEvent(TENANT_C);
    const outcome = await run(forwarder(), [received(event), received(auditEvent(TENANT_A))]);
    expect(outcome).toMatchObject({ delivered: 1, parked: 1 });
    const [entry] = parked.all();
    expect(entry).toMatchObject({
      tenantId: TENANT_C,
      category: 'connectionSuspended',
      eventRecordId: event.id,
      body: JSON.stringify(event),
    });
    expect(entry?.reason).toContain('Role removed for 8 days');
  });
});

describe('Forwarder: invalid messages', () => {
  it('parks what is not a valid event at once, filed under the tenant it names, and delivers the rest', async () => {
    const valid = auditEvent(TENANT_A);
    const unknownEventId = { ...auditEvent(TENANT_B), eventId: 9999 };
    const missingMessage: Record<string, unknown> = { ...auditEvent(TENANT_B) };
    delete missingMessage.message;
    const messages = [
      received('this is not json {', { tenantId: TENANT_C }, 'm-text'),
      received('<xml/>', {}, 'm-unattributed'),
      received(unknownEventId),
      received(missingMessage),
      received(valid),
    ];
    const outcome = await run(forwarder(), messages);

    expect(outcome).toMatchObject({ delivered: 1, parked: 4, invalid: 4, retried: 0 });
    const byMessage = new Map(parked.all().map((entry) => [entry.messageId, entry]));
    expect(byMessage.get('m-text')).toMatchObject({
      tenantId: TENANT_C,
      category: 'invalidMessage',
      body: 'this is not json {',
      attempts: 1,
    });
    expect(byMessage.get('m-text')?.reason).toMatch(/not JSON/);
    expect(byMessage.get('m-unattributed')).toMatchObject({ tenantId: undefined, body: '<xml/>' });
    expect(byMessage.get(unknownEventId.id)).toMatchObject({ tenantId: TENANT_B, eventId: 9999 });
    expect(byMessage.get(unknownEventId.id)?.reason).toMatch(/eventId/);
    expect(byMessage.get(String(missingMessage.id))?.reason).toMatch(/message/);
    expect(queue.sent).toEqual([]);
  });
});

describe('Forwarder: transient failures', () => {
  it('re-enqueues a throttled tenant with Retry-After honoured, a copy id of its own and the body unchanged', async () => {
    sink.faults.set(TENANT_A, { kind: 'throttled', retryAfterMs: 7_200_000 });
    const a = auditEvent(TENANT_A);
    const b = auditEvent(TENANT_B);
    const outcome = await run(forwarder(), [received(a), received(b)]);

    expect(outcome).toMatchObject({ delivered: 1, retried: 1, parked: 0 });
    expect(sink.deliveredRecords().map((record) => record.recordId)).toEqual([b.id]);
    const [copy] = queue.sent;
    expect(copy?.messageId).toBe(`${a.tenantId}:${a.id}:2`);
    expect(copy?.messageId).not.toBe(a.id);
    expect(JSON.parse(copy?.body ?? '')).toEqual(a);
    expect(copy?.scheduledEnqueueTime?.getTime()).toBe(clock.now().getTime() + 7_200_000);
    expect(copy?.applicationProperties).toMatchObject({
      tenantId: TENANT_A,
      eventId: a.eventId,
      schemaVersion: '1',
      [ATTEMPT_PROPERTY]: 2,
      [FIRST_ATTEMPT_PROPERTY]: clock.now().toISOString(),
    });
    const history = JSON.parse(String(copy?.applicationProperties[HISTORY_PROPERTY])) as unknown[];
    expect(history).toHaveLength(1);
  });

  it.each([
    ['429 without Retry-After', { kind: 'throttled' as const }],
    ['503', { kind: 'unavailable' as const }],
    ['a connection reset', { kind: 'unavailable' as const, status: 0 }],
  ])('backs off exponentially with jitter after %s, capped at the maximum delay', async (_name, fault) => {
    sink.faults.set(TENANT_A, fault);
    const now = clock.now();
    const attempts = [1, 2, 4, 20];
    const events = attempts.map(() => auditEvent(TENANT_A));
    const messages = events.map((event, index) =>
      received(event, {
        [ATTEMPT_PROPERTY]: attempts[index],
        [FIRST_ATTEMPT_PROPERTY]: now.toISOString(),
      }),
    );
    await run(
      forwarder({}, () => 0),
      messages,
    );

    const delays = new Map(
      queue.sent.map((copy) => [copy.messageId, (copy.scheduledEnqueueTime?.getTime() ?? 0) - now.getTime()]),
    );
    // random() = 0 takes the low end of equal jitter: half the exponential delay.
    expect(delays.get(`${events[0]?.tenantId}:${events[0]?.id}:2`)).toBe(15_000);
    expect(delays.get(`${events[1]?.tenantId}:${events[1]?.id}:3`)).toBe(30_000);
    expect(delays.get(`${events[2]?.tenantId}:${events[2]?.id}:5`)).toBe(120_000);
    expect(delays.get(`${events[3]?.tenantId}:${events[3]?.id}:21`)).toBe(1_800_000);
  });

  it('gives the copies of one failure one due time per attempt number, on a whole second', async () => {
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    clock.advance(123);
    const now = clock.now();
    const attempts = [1, 1, 1, 3, 1, 3];
    const messages = attempts.map((attempt) =>
      received(auditEvent(TENANT_A), {
        [ATTEMPT_PROPERTY]: attempt,
        [FIRST_ATTEMPT_PROPERTY]: now.toISOString(),
      }),
    );
    let draw = 0;
    // A different random value on every call: the copies must still not each get their own time.
    await run(
      forwarder({}, () => [0.1, 0.9, 0.5, 0.3][draw++ % 4]!),
      messages,
    );
    const due = queue.sent.map((copy) => copy.scheduledEnqueueTime?.getTime());
    expect(queue.sent).toHaveLength(6);
    expect(new Set(due).size).toBe(2);
    expect(new Set(due.filter((_, index) => attempts[index] === 1)).size).toBe(1);
    for (const time of due) {
      expect(time! % 1000).toBe(0);
      expect(time!).toBeGreaterThan(now.getTime());
    }
  });

  it('does not burn other uploads of a tenant in trouble: its remaining chunks are re-enqueued untried', async () => {
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    const big = 'y'.repeat(9_000);
    const events = Array.from({ length: 300 }, () => auditEvent(TENANT_A, { details: { big } }));
    const outcome = await run(
      forwarder({ maxConcurrentUploads: 2 }),
      events.map((event) => received(event)),
    );
    expect(outcome).toMatchObject({ retried: 300, delivered: 0 });
    expect(sink.calls).toBe(1);
  });

  it('treats 403/404 inside the propagation window as pending: retried, connection untouched', async () => {
    const fresh = randomUUID();
    await connections.create(
      savedConnection(fresh, { provisionedAt: new Date(clock.now().getTime() - 60_000).toISOString() }),
    );
    sink.faults.set(fresh, { kind: 'forbidden' });
    const outcome = await run(forwarder(), [received(auditEvent(fresh))]);
    expect(outcome).toMatchObject({ retried: 1, parked: 0 });
    expect((await stateOf(fresh)).state).toBe('active');
  });

  it.each([
    ['forbidden' as const, /Monitoring Metrics Publisher/],
    ['notFound' as const, /not found/],
  ])(
    'degrades the connection on %s outside the window, keeps retrying, and recovers on the first success',
    async (kind, reason) => {
      sink.faults.set(TENANT_A, { kind });
      const f = forwarder();
      const first = auditEvent(TENANT_A);
      const outcome = await run(f, [received(first), received(auditEvent(TENANT_B))]);
      expect(outcome).toMatchObject({ delivered: 1, retried: 1 });
      const degraded = await stateOf(TENANT_A);
      expect(degraded.state).toBe('degraded');
      expect(degraded.stateReason).toMatch(reason);
      expect(outcome.tenants.find((tenant) => tenant.tenantId === TENANT_A)?.stateChange).toMatchObject({
        from: 'active',
        to: 'degraded',
      });

      sink.faults.delete(TENANT_A);
      clock.advance(60_000);
      const copy = queue.sent[0];
      if (!copy) throw new Error('expected a copy');
      const again = await run(f, [
        received(JSON.parse(copy.body), copy.applicationProperties, copy.messageId),
      ]);
      expect(again.delivered).toBe(1);
      const recovered = await stateOf(TENANT_A);
      expect(recovered.state).toBe('active');
      expect(recovered.lastDeliveryAt).toBe(clock.now().toISOString());
    },
  );
});

describe('Forwarder: refused records', () => {
  it('isolates a refused record by halving, parks it alone with the service reason, delivers its neighbours', async () => {
    const events = Array.from({ length: 16 }, () => auditEvent(TENANT_A));
    const bad = events[11];
    if (!bad) throw new Error('fixture');
    sink.faults.set(TENANT_A, { kind: 'rejectRecords', recordIds: new Set([bad.id]) });
    const outcome = await run(
      forwarder(),
      events.map((event) => received(event)),
    );

    expect(outcome).toMatchObject({ delivered: 15, parked: 1, retried: 0 });
    const delivered = sink.deliveredRecords().map((record) => record.recordId);
    expect(delivered).toHaveLength(15);
    expect(delivered).not.toContain(bad.id);
    expect(parked.all()).toMatchObject([
      { tenantId: TENANT_A, eventRecordId: bad.id, category: 'rejectedByService', body: JSON.stringify(bad) },
    ]);
    expect(parked.all()[0]?.reason).toContain('400 InvalidPayload');
    // Halving: log2(16) + 1 failed requests on the way down, not one per record.
    expect(sink.calls).toBeLessThanOrEqual(1 + 2 * 4);
  });
});

describe('Forwarder: retry budget', () => {
  it('writes a suspended change row named for the forwarder; a failure to write never fails the batch', async () => {
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    const old = new Date(clock.now().getTime() - 169 * 3_600_000).toISOString();
    const rows: Array<{ change: string; actor: string; reason: string | undefined; state: string }> = [];
    const f = new Forwarder(
      {
        connections,
        parked,
        ingestion: sink,
        queue,
        clock,
        random: () => 1,
        healthChanges: {
          recordChange: (connection, change, actor, reason) => {
            rows.push({ change, actor, reason, state: connection.state });
            return Promise.reject(new Error('Key Vault unreachable'));
          },
        },
      },
      SETTINGS,
    );
    const outcome = await run(f, [
      received(auditEvent(TENANT_A), { [ATTEMPT_PROPERTY]: 40, [FIRST_ATTEMPT_PROPERTY]: old }),
    ]);
    expect(outcome).toMatchObject({ parked: 1 });
    expect(rows.map(({ reason: _reason, ...row }) => row)).toEqual([
      { change: 'suspended', actor: 'system:forwarder', state: 'suspended' },
    ]);
    expect(rows[0]?.reason).toMatch(/168 hours/);
    expect(logger.text()).toMatch(/Export health change row not written.*Key Vault unreachable/);
    expect((await stateOf(TENANT_A)).state).toBe('suspended');
  });

  it('parks events retried beyond the budget and suspends the tenant with the reason', async () => {
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    const old = new Date(clock.now().getTime() - 169 * 3_600_000).toISOString();
    const stale = auditEvent(TENANT_A);
    const recent = auditEvent(TENANT_A);
    const f = forwarder();
    const outcome = await run(f, [
      received(stale, { [ATTEMPT_PROPERTY]: 40, [FIRST_ATTEMPT_PROPERTY]: old }),
      received(recent),
    ]);

    expect(outcome).toMatchObject({ parked: 1, retried: 1 });
    expect(parked.all()).toMatchObject([
      { eventRecordId: stale.id, category: 'retryBudgetExhausted', attempts: 40, firstAttemptAt: old },
    ]);
    const suspended = await stateOf(TENANT_A);
    expect(suspended.state).toBe('suspended');
    expect(suspended.stateReason).toMatch(/168 hours/);

    // The suspension is seen at once by this instance: the next event is parked, not attempted.
    const callsBefore = sink.calls;
    const next = await run(f, [received(auditEvent(TENANT_A))]);
    expect(next.parked).toBe(1);
    expect(sink.calls).toBe(callsBefore);
    expect(parked.all().map((entry) => entry.category)).toContain('connectionSuspended');
  });
});

describe('Forwarder: time budget', () => {
  it("settles when one tenant's endpoint hangs: others delivered, the hung events re-enqueued", async () => {
    sink.faults.set(TENANT_A, { kind: 'hang' });
    const a = Array.from({ length: 5 }, () => auditEvent(TENANT_A));
    const b = Array.from({ length: 5 }, () => auditEvent(TENANT_B));
    const outcome = await run(
      forwarder({ timeBudgetMs: 200, maxConcurrentUploads: 2 }),
      [...a, ...b].map((event) => received(event)),
    );
    expect(outcome).toMatchObject({ delivered: 5, retried: 5, timedOut: true });
    expect(
      new Set(queue.sent.map((copy) => (JSON.parse(copy.body) as { tenantId: string }).tenantId)),
    ).toEqual(new Set([TENANT_A]));
  });

  it('stops waiting for an upload that ignores the abort signal', async () => {
    const neverSettles: FakeIngestionSink['upload'] = () => new Promise<void>(() => undefined);
    const f = new Forwarder(
      { connections, parked, ingestion: { upload: neverSettles }, queue, clock },
      { ...SETTINGS, timeBudgetMs: 100 },
    );
    const outcome = await f.forwardBatch([received(auditEvent(TENANT_A))], { invocationId: 'x', logger });
    expect(outcome).toMatchObject({ retried: 1, timedOut: true });
  });
});

describe('Forwarder: a workspace in trouble pauses its tenant', () => {
  const tenantOf = (body: string): string => (JSON.parse(body) as { tenantId: string }).tenantId;
  const callsFor = (tenantId: string): { count: number } => {
    const counter = { count: 0 };
    const upload = sink.upload.bind(sink);
    sink.upload = (id, ...rest) => {
      if (id === tenantId) counter.count += 1;
      return upload(id, ...rest);
    };
    return counter;
  };
  /** The fault for the tenant's next upload only. */
  const once = (fault: Fault) => {
    let used = false;
    return (): Fault | undefined => {
      if (used) return undefined;
      used = true;
      return fault;
    };
  };

  it('gives up on an upload that does not answer, re-enqueues its events and settles inside the time budget', async () => {
    sink.faults.set(TENANT_A, { kind: 'hang' });
    const a = Array.from({ length: 3 }, () => received(auditEvent(TENANT_A)));
    const b = Array.from({ length: 3 }, () => received(auditEvent(TENANT_B)));
    const outcome = await run(forwarder({ uploadTimeoutMs: 50, timeBudgetMs: 60_000 }), [...a, ...b]);
    expect(outcome).toMatchObject({ delivered: 3, retried: 3, timedOut: false });
    const [copy] = queue.sent;
    expect(tenantOf(copy?.body ?? '{}')).toBe(TENANT_A);
    expect(String(copy?.applicationProperties[HISTORY_PROPERTY])).toContain('did not answer within 50 ms');
  });

  it("re-enqueues a failing tenant's next batches without uploading, until the pause is over; others carry on", async () => {
    sink.faults.set(TENANT_A, once({ kind: 'unavailable' }));
    const calls = callsFor(TENANT_A);
    const f = forwarder();
    await run(f, [received(auditEvent(TENANT_A))]);
    expect(calls.count).toBe(1);

    const second = await run(f, [received(auditEvent(TENANT_A)), received(auditEvent(TENANT_B))]);
    expect(second).toMatchObject({ delivered: 1, retried: 1 });
    expect(calls.count).toBe(1);
    const pausedUntil = new Date(clock.now().getTime() + SETTINGS.retryBaseDelayMs / 2).toISOString();
    expect(second.tenants.find((tenant) => tenant.tenantId === TENANT_A)?.pausedUntil).toBe(pausedUntil);
    expect(second.tenants.find((tenant) => tenant.tenantId === TENANT_B)?.pausedUntil).toBeUndefined();
    const outcomeLine = logger.lines.findLast(
      (line) => line.message === 'forwarder: tenant outcome' && line.fields?.tenantId === TENANT_A,
    );
    expect(outcomeLine?.fields).toMatchObject({ pausedUntil, failureKind: 'unavailable' });
    const pausedCopy = queue.sent.at(-1);
    expect(String(pausedCopy?.applicationProperties[HISTORY_PROPERTY])).toContain('Not attempted');
    // Not sooner than the pause: half the base delay, the soonest a first retry comes back.
    const pauseEnds = clock.now().getTime() + SETTINGS.retryBaseDelayMs / 2;
    expect(pausedCopy?.scheduledEnqueueTime?.getTime()).toBeGreaterThanOrEqual(pauseEnds);

    clock.advance(SETTINGS.retryBaseDelayMs / 2);
    expect(await run(f, [received(auditEvent(TENANT_A))])).toMatchObject({ delivered: 1 });
    expect(await run(f, [received(auditEvent(TENANT_A))])).toMatchObject({ delivered: 1 });
    expect(calls.count).toBe(3);
  });

  it('lets one batch try a paused tenant again while the batches running beside it keep re-enqueueing', async () => {
    sink.faults.set(TENANT_A, once({ kind: 'unavailable' }));
    const f = forwarder();
    await run(f, [received(auditEvent(TENANT_A))]);
    clock.advance(SETTINGS.retryBaseDelayMs / 2);

    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const upload = sink.upload.bind(sink);
    sink.upload = async (...args) => {
      await gate;
      return upload(...args);
    };
    const probe = run(f, [received(auditEvent(TENANT_A))]);
    const beside = await run(f, [received(auditEvent(TENANT_A))]);
    expect(beside).toMatchObject({ delivered: 0, retried: 1 });
    expect(String(queue.sent.at(-1)?.applicationProperties[HISTORY_PROPERTY])).toContain(
      'another batch is trying it',
    );
    release();
    expect(await probe).toMatchObject({ delivered: 1 });
    expect(await run(f, [received(auditEvent(TENANT_A))])).toMatchObject({ delivered: 1 });
  });

  it('pauses a throttled tenant for as long as Retry-After says', async () => {
    sink.faults.set(TENANT_A, once({ kind: 'throttled', retryAfterMs: 120_000 }));
    const calls = callsFor(TENANT_A);
    const f = forwarder();
    await run(f, [received(auditEvent(TENANT_A))]);
    clock.advance(60_000);
    expect(await run(f, [received(auditEvent(TENANT_A))])).toMatchObject({ retried: 1 });
    expect(calls.count).toBe(1);
    clock.advance(60_000);
    expect(await run(f, [received(auditEvent(TENANT_A))])).toMatchObject({ delivered: 1 });
    expect(calls.count).toBe(2);
  });

  it('clears the last error once deliveries succeed again, keeping it as the last resolved error', async () => {
    sink.faults.set(TENANT_A, once({ kind: 'throttled', retryAfterMs: 60_000 }));
    const f = forwarder();
    await run(f, [received(auditEvent(TENANT_A))]);
    const throttled = (await connections.get(TENANT_A))!.value;
    expect(throttled.lastError?.message).toMatch(/429/);
    expect(throttled.lastResolvedError).toBeUndefined();

    clock.advance(60_000);
    expect(await run(f, [received(auditEvent(TENANT_A))])).toMatchObject({ delivered: 1 });
    const recovered = (await connections.get(TENANT_A))!;
    expect(recovered.value.lastError).toBeUndefined();
    expect(recovered.value.lastResolvedError).toEqual({
      ...throttled.lastError,
      resolvedAt: clock.now().toISOString(),
    });
    expect(recovered.value.lastDeliveryAt).toBe(clock.now().toISOString());

    // Nothing left to clear: a further clean batch does not rewrite the connection for it.
    clock.advance(1_000);
    await run(f, [received(auditEvent(TENANT_A))]);
    expect((await connections.get(TENANT_A))?.etag).toBe(recovered.etag);
  });

  it("still parks and suspends when a paused tenant's events run out of retry budget", async () => {
    sink.faults.set(TENANT_A, once({ kind: 'unavailable' }));
    const f = forwarder();
    await run(f, [received(auditEvent(TENANT_A))]);
    const old = new Date(clock.now().getTime() - 169 * 3_600_000).toISOString();
    const stale = received(auditEvent(TENANT_A), { [ATTEMPT_PROPERTY]: 40, [FIRST_ATTEMPT_PROPERTY]: old });
    expect(await run(f, [stale])).toMatchObject({ parked: 1, delivered: 0 });
    expect(parked.all()).toMatchObject([{ category: 'retryBudgetExhausted' }]);
    expect((await stateOf(TENANT_A)).state).toBe('suspended');
  });

  it("keeps the failure that paused a tenant as its connection's last error, not one per paused batch", async () => {
    sink.faults.set(TENANT_A, once({ kind: 'unavailable' }));
    const f = forwarder();
    await run(f, [received(auditEvent(TENANT_A))]);
    const failed = await connections.get(TENANT_A);
    clock.advance(1_000);
    await run(f, [received(auditEvent(TENANT_A))]);
    expect((await connections.get(TENANT_A))?.etag).toBe(failed?.etag);
    expect(failed?.value.lastError?.message).toMatch(/503/);
  });

  it('does not pause a tenant whose upload was only cut off by the batch time budget', async () => {
    sink.faults.set(TENANT_A, { kind: 'hang' });
    const f = forwarder({ timeBudgetMs: 50 });
    expect(await run(f, [received(auditEvent(TENANT_A))])).toMatchObject({ retried: 1, timedOut: true });
    sink.faults.delete(TENANT_A);
    expect(await run(f, [received(auditEvent(TENANT_A))])).toMatchObject({ delivered: 1 });
  });

  it('does not pause a tenant for a refused record or lost access', async () => {
    const bad = auditEvent(TENANT_A);
    sink.faults.set(TENANT_A, { kind: 'rejectRecords', recordIds: new Set([bad.id]) });
    const f = forwarder();
    expect(await run(f, [received(bad), received(auditEvent(TENANT_A))])).toMatchObject({
      delivered: 1,
      parked: 1,
    });
    sink.faults.set(TENANT_A, once({ kind: 'forbidden' }));
    expect(await run(f, [received(auditEvent(TENANT_A))])).toMatchObject({ retried: 1 });
    expect(await run(f, [received(auditEvent(TENANT_A))])).toMatchObject({ delivered: 1 });
  });
});

describe('Forwarder: settlement', () => {
  it('throws (the host abandons the batch) when the copies cannot be enqueued, before parking anything', async () => {
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    queue.failWith = new Error('Service Bus is unreachable');
    const promise = run(forwarder(), [received(auditEvent(TENANT_A)), received('not json')]);
    await expect(promise).rejects.toBeInstanceOf(SettlementError);
    expect(parked.all()).toEqual([]);
    expect(logger.lines.some((line) => line.level === 'error')).toBe(true);
  });

  it("names the send's inner errors when the Service Bus SDK gives up with a message-less AggregateError", async () => {
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    const refusal = "Unauthorized access. 'Send' claim(s) are required to perform this operation.";
    queue.failWith = new AggregateError([new Error(refusal), new Error(refusal), new Error(refusal)]);
    const promise = run(forwarder(), [received(auditEvent(TENANT_A))]);
    await expect(promise).rejects.toThrow(
      `Could not re-enqueue 1 event(s) for a later attempt: 3 errors: ${refusal} (3 times)`,
    );
    const logged = logger.lines.filter((line) => line.level === 'error').map((line) => JSON.stringify(line));
    expect(logged.join('\n')).toContain(`3 errors: ${refusal} (3 times)`);
  });

  it('throws when parking fails', async () => {
    parked.park = () => Promise.reject(new Error('Table Storage is unreachable'));
    await expect(run(forwarder(), [received('not json')])).rejects.toBeInstanceOf(SettlementError);
  });

  it('re-enqueues the same copy ids when a batch comes back, so the queue deduplicates them', async () => {
    sink.faults.set(TENANT_A, { kind: 'throttled' });
    const event = auditEvent(TENANT_A);
    await run(forwarder(), [received(event)]);
    await run(forwarder(), [received(event)]);
    expect(queue.sent.map((copy) => copy.messageId)).toEqual([
      `${event.tenantId}:${event.id}:2`,
      `${event.tenantId}:${event.id}:2`,
    ]);
  });

  it('parks each event of a batch once when the batch comes back after parking failed half-way', async () => {
    const messages = ['not json', '{"also": "not an event"}'].map((body, index) => ({
      ...received(body, { tenantId: TENANT_A }, `bad-${index}`),
      sequenceNumber: String(1000 + index),
      enqueuedAt: '2026-11-24T11:00:00.000Z',
    }));
    const park = parked.park.bind(parked);
    let calls = 0;
    parked.park = async (events) => {
      calls += 1;
      // The first time only the first entry is stored, then the store fails.
      if (calls === 1) {
        await park(events.slice(0, 1));
        throw new Error('Table Storage is unreachable');
      }
      return park(events);
    };
    await expect(run(forwarder(), messages)).rejects.toBeInstanceOf(SettlementError);
    clock.advance(60_000);
    await run(forwarder(), messages);
    expect(
      parked
        .all()
        .map((entry) => entry.messageId)
        .sort(),
    ).toEqual(['bad-0', 'bad-1']);
    expect(parked.all().map((entry) => entry.parkedId)).toEqual([
      '2026-11-24T11:00:00.000Z_00000000000000001000',
      '2026-11-24T11:00:00.000Z_00000000000000001001',
    ]);
  });

  it('re-enqueues the tenant events when its connection cannot be read', async () => {
    connections.get = () => Promise.reject(new Error('storage down'));
    const outcome = await run(forwarder(), [received(auditEvent(TENANT_A))]);
    expect(outcome).toMatchObject({ retried: 1, delivered: 0 });
  });
});

describe('Forwarder: connection state and cache', () => {
  it('reads a connection once per cache period and again after it', async () => {
    let reads = 0;
    const get = connections.get.bind(connections);
    connections.get = (tenantId) => {
      reads += 1;
      return get(tenantId);
    };
    const f = forwarder();
    await run(f, [received(auditEvent(TENANT_A))]);
    await run(f, [received(auditEvent(TENANT_A))]);
    expect(reads).toBe(1);
    clock.advance(SETTINGS.connectionCacheMs);
    await run(f, [received(auditEvent(TENANT_A))]);
    expect(reads).toBe(2);
  });

  it('never skips on a cached "export off": a save made elsewhere is seen by the next batch', async () => {
    const initial = (await connections.get(TENANT_B)) as Versioned<TenantConnection>;
    await connections.replace({ ...initial.value, state: 'tested', stateReason: 'Tested' }, initial.etag);
    const f = forwarder();
    const before = await run(f, [received(auditEvent(TENANT_B))]);
    expect(before.tenants.find((tenant) => tenant.tenantId === TENANT_B)?.skipped).toBe(1);

    // "Save changes" in the portal, served by another instance; well inside the cache period here.
    const current = (await connections.get(TENANT_B)) as Versioned<TenantConnection>;
    await connections.replace({ ...current.value, state: 'active', stateReason: 'Saved' }, current.etag);
    const event = auditEvent(TENANT_B);
    await run(f, [received(event)]);
    expect(sink.deliveredRecords().map((record) => record.recordId)).toContain(event.id);
  });

  it('re-reads and re-decides on an ETag conflict, so a concurrent disable by the portal wins', async () => {
    sink.faults.set(TENANT_A, { kind: 'forbidden' });
    const f = forwarder();
    // The forwarder reads the connection (cached), then the portal disables export before the state update.
    const replace = connections.replace.bind(connections);
    let conflicts = 0;
    connections.replace = async (connection, etag) => {
      if (conflicts === 0) {
        conflicts += 1;
        const current = (await connections.get(TENANT_A)) as Versioned<TenantConnection>;
        await replace(
          { ...current.value, state: 'disabled', stateReason: 'Turned off in the portal' },
          current.etag,
        );
        throw new ConcurrencyConflictError('changed');
      }
      return replace(connection, etag);
    };
    await run(f, [received(auditEvent(TENANT_A))]);
    expect(conflicts).toBe(1);
    expect((await stateOf(TENANT_A)).state).toBe('disabled');
  });

  it('re-applies its change on a conflict that did not change the decision', async () => {
    sink.faults.set(TENANT_A, { kind: 'notFound' });
    const replace = connections.replace.bind(connections);
    let conflicts = 0;
    connections.replace = async (connection, etag) => {
      if (conflicts === 0) {
        conflicts += 1;
        const current = (await connections.get(TENANT_A)) as Versioned<TenantConnection>;
        await replace({ ...current.value, updatedAt: clock.now().toISOString() }, current.etag);
        throw new ConcurrencyConflictError('changed');
      }
      return replace(connection, etag);
    };
    await run(forwarder(), [received(auditEvent(TENANT_A))]);
    expect((await stateOf(TENANT_A)).state).toBe('degraded');
  });
});

describe('Forwarder: logs', () => {
  it('logs a line per tenant with news and one per batch, with counts and ids but no event contents', async () => {
    sink.faults.set(TENANT_B, { kind: 'throttled' });
    const a = auditEvent(TENANT_A, {
      message: 'Secret project Bluebird',
      actor: { upn: 'carol@contoso.com' },
    });
    await run(forwarder(), [received(a), received(auditEvent(TENANT_B)), received('garbage', {}, 'bad-1')]);
    const tenantLines = logger.lines.filter((line) => line.message === 'forwarder: tenant outcome');
    // A's clean delivery is only counted in the batch line.
    expect(tenantLines.map((line) => line.fields?.tenantId)).toEqual([TENANT_B]);
    expect(tenantLines.find((line) => line.fields?.tenantId === TENANT_B)?.fields).toMatchObject({
      invocationId: 'inv-1',
      retried: 1,
      delivered: 0,
      attempt: 1,
      failureKind: 'throttled',
    });
    const throttledLine = tenantLines.find((line) => line.fields?.tenantId === TENANT_B);
    expect(throttledLine?.level).toBe('warn');
    expect(throttledLine?.fields?.retriedMessageIds).toHaveLength(1);
    const batchLine = logger.lines.find((line) => line.message === 'forwarder: batch settled');
    expect(batchLine?.fields).toMatchObject({
      invocationId: 'inv-1',
      messages: 3,
      delivered: 1,
      retried: 1,
      parked: 1,
      invalid: 1,
      tenants: 2,
      tenantsDelivered: 1,
      invalidMessageIds: ['bad-1'],
    });
    const text = logger.text();
    expect(text).not.toContain('Bluebird');
    expect(text).not.toContain('carol@contoso.com');
  });
});
