import { beforeEach, describe, expect, it } from 'vitest';
import { ATTEMPT_PROPERTY, FIRST_ATTEMPT_PROPERTY } from '../../src/domain/deliveryAttempts';
import type { Forwarder } from '../../src/domain/forwarder';
import { SYSTEM_CLI } from '../../src/domain/connectionHistory';
import { ParkedEvents } from '../../src/domain/parkedEvents';
import type { OutgoingAuditMessage } from '../../src/domain/ports';
import type { ConnectionState } from '../../src/domain/tenantConnection';
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

/** Ways an event could be lost or a tenant stopped by what a message carries, found in review. */

const TENANT_A = '11111111-1111-4111-8111-111111111111';

let clock: FakeClock;
let connections: InMemoryTenantConnectionStore;
let parked: InMemoryParkedEventStore;
let sink: FakeIngestionSink;
let queue: RecordingAuditQueue;
let logger: CapturingLogger;
let forwarder: Forwarder;

beforeEach(async () => {
  ({ clock, connections, parked, sink, queue, logger } = forwarderFakes());
  queue.duplicateDetection = true;
  forwarder = forwarderOver({ connections, parked, sink, queue, clock });
  await connections.create(savedConnection(TENANT_A));
});

/** What the trigger hands over for a message this app put on the queue. */
function asReceived(message: OutgoingAuditMessage): Parameters<Forwarder['forwardBatch']>[0][number] {
  return received(JSON.parse(message.body), { ...message.applicationProperties }, message.messageId);
}

async function setState(state: ConnectionState): Promise<void> {
  const current = await connections.get(TENANT_A);
  if (!current) throw new Error('no connection');
  await connections.replace(
    { ...current.value, state, stateReason: `set to ${state} by the test` },
    current.etag,
  );
  forwarder.forgetConnection(TENANT_A);
}

const forward = (messages: Parameters<Forwarder['forwardBatch']>[0]) =>
  forwarder.forwardBatch(messages, { invocationId: 'inv', logger });

describe('Forwarder: copies are never swallowed by duplicate detection', () => {
  it("a replayed event that fails again is re-enqueued under an id the event's first retry did not use", async () => {
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    const event = auditEvent(TENANT_A);

    // Attempt 1 fails: the first copy goes out.
    await forward([received(event)]);
    const [firstCopy] = queue.sent;
    if (!firstCopy) throw new Error('no copy');

    // The tenant was suspended meanwhile: the copy is parked when it comes back.
    await setState('suspended');
    await forward([asReceived(firstCopy)]);
    expect(parked.all()).toHaveLength(1);

    // The customer fixes and saves the connection, then replays at once, as the suspension reason says.
    await setState('active');
    await new ParkedEvents({ parked, connections, queue, clock }).replay(TENANT_A, {}, SYSTEM_CLI);
    const replayed = queue.sent.at(-1);
    if (!replayed) throw new Error('nothing replayed');

    // The replayed event fails again (the new role has not propagated yet): its copy must reach the queue.
    const outcome = await forward([asReceived(replayed)]);
    expect(outcome.retried).toBe(1);
    expect(queue.dropped).toEqual([]);
    const copiesOfEvent = queue.sent.filter(
      (message) => (JSON.parse(message.body) as { id: string }).id === event.id && message !== replayed,
    );
    // The first retry's copy and the replay's copy, each under its own id.
    expect(copiesOfEvent).toHaveLength(2);
    expect(new Set(copiesOfEvent.map((copy) => copy.messageId)).size).toBe(2);
  });

  it('a message whose attempt count is forged still gets a copy id no other copy of the event used', async () => {
    sink.faults.set(TENANT_A, { kind: 'throttled' });
    const event = auditEvent(TENANT_A);
    await forward([received(event)]);
    // A copy resubmitted by hand (e.g. from the dead-letter queue) under a new id, with its attempt reset.
    await forward([received(event, { [ATTEMPT_PROPERTY]: 1 }, `${event.id}-resubmitted`)]);
    expect(queue.dropped).toEqual([]);
    expect(queue.sent).toHaveLength(2);
  });

  it('copies of a message the trigger gave no id for do not collide with the canonical copy', async () => {
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    const event = auditEvent(TENANT_A);
    await forward([received(event)]);
    await forward([
      {
        body: event,
        messageId: undefined,
        applicationProperties: undefined,
        deliveryCount: undefined,
        sequenceNumber: undefined,
        enqueuedAt: undefined,
      },
    ]);
    expect(queue.dropped).toEqual([]);
    expect(queue.sent).toHaveLength(2);
  });
});

describe('Forwarder: the retry budget only trusts what a copy carries', () => {
  it('a fresh message carrying an old firstAttemptAt is retried, and its tenant is not suspended', async () => {
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    const eightDaysAgo = new Date(clock.now().getTime() - 8 * 24 * 3_600_000).toISOString();
    const outcome = await forward([
      received(auditEvent(TENANT_A), { [FIRST_ATTEMPT_PROPERTY]: eightDaysAgo }),
      received(auditEvent(TENANT_A), {
        [ATTEMPT_PROPERTY]: 'garbled',
        [FIRST_ATTEMPT_PROPERTY]: eightDaysAgo,
      }),
    ]);
    expect(outcome).toMatchObject({ retried: 2, parked: 0 });
    expect((await connections.get(TENANT_A))?.value.state).toBe('active');
    for (const copy of queue.sent) {
      expect(copy.applicationProperties[FIRST_ATTEMPT_PROPERTY]).toBe(clock.now().toISOString());
    }
  });
});

describe('Forwarder: settlement failing half-way', () => {
  it('a batch whose re-enqueue fails after some copies went out parks nothing, and its redelivery loses and doubles nothing', async () => {
    const TENANT_B = '22222222-2222-4222-8222-222222222222';
    await connections.create(savedConnection(TENANT_B));
    sink.faults.set(TENANT_A, { kind: 'unavailable' });
    sink.faults.set(TENANT_B, { kind: 'throttled' });
    const messages = [
      received(auditEvent(TENANT_A)),
      received(auditEvent(TENANT_B)),
      received('not json', { tenantId: TENANT_A }, 'garbage-1'),
    ];
    // Service Bus takes the first copy, then the connection drops.
    const send = queue.send.bind(queue);
    let sends = 0;
    queue.send = (batch) => {
      sends += 1;
      if (sends > 1) return send(batch);
      return send(batch.slice(0, 1)).then(() => Promise.reject(new Error('connection lost')));
    };
    await expect(forward(messages)).rejects.toThrow(/re-enqueue/);
    expect(parked.all()).toEqual([]);

    // The host redelivers the same batch.
    const outcome = await forward(messages);
    expect(outcome).toMatchObject({ retried: 2, parked: 1 });
    expect(parked.all()).toHaveLength(1);
    expect(queue.sent).toHaveLength(2);
    expect(queue.dropped.map((message) => message.messageId)).toEqual([queue.sent[0]?.messageId]);
  });
});

describe('Forwarder: bodies that are JSON but no event', () => {
  it('parks each of them with its text, attributed when a property names the tenant', async () => {
    const bodies: unknown[] = [
      null,
      42,
      true,
      [],
      [auditEvent(TENANT_A)],
      '',
      'plain text',
      { schemaVersion: '1' },
    ];
    const outcome = await forward(
      bodies.map((body, index) => received(body, { tenantId: TENANT_A }, `m-${index}`)),
    );
    expect(outcome).toMatchObject({
      parked: bodies.length,
      invalid: bodies.length,
      delivered: 0,
      skipped: 0,
    });
    const entries = parked.all();
    expect(entries.map((entry) => entry.messageId).sort()).toEqual(
      bodies.map((_b, index) => `m-${index}`).sort(),
    );
    expect(entries.every((entry) => entry.tenantId === TENANT_A && entry.category === 'invalidMessage')).toBe(
      true,
    );
    expect(entries.find((entry) => entry.messageId === 'm-0')?.body).toBe('null');
    expect(entries.find((entry) => entry.messageId === 'm-6')?.body).toBe('plain text');
  });
});
