import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { StateConflictError, TransientDependencyError, ValidationError } from '../../src/domain/errors';
import { MAX_REPLAY_PER_CALL, ParkedEvents, REPLAY_OF_PROPERTY } from '../../src/domain/parkedEvents';
import type { ParkCategory, ParkedEvent } from '../../src/domain/ports';
import { type ConnectionActor, describeActor } from '../../src/domain/connectionHistory';
import {
  CapturingLogger,
  FakeClock,
  InMemoryParkedEventStore,
  InMemoryTenantConnectionStore,
  RecordingAuditQueue,
} from '../support/fakes';
import { auditEvent, savedConnection } from '../support/forwarderFixtures';

const TENANT = '44444444-4444-4444-8444-444444444444';
const PORTAL: ConnectionActor = {
  kind: 'caller',
  tenantId: '5e2a7b3c-1d4f-4a6e-9b8c-0f1e2d3c4b5a',
  objectId: '7d0c9a1e-3b2f-4c5d-8e6f-1a2b3c4d5e6f',
  appId: '3f1c6c1e-5a6b-4d0e-9b5e-2a9d8c7e6f10',
};
const OTHER = '55555555-5555-4555-8555-555555555555';

let parked: InMemoryParkedEventStore;
let connections: InMemoryTenantConnectionStore;
let queue: RecordingAuditQueue;
let useCase: ParkedEvents;

function parkedEvent(tenantId: string, category: ParkCategory, index: number): ParkedEvent {
  const event = auditEvent(tenantId);
  const parkedAt = new Date(Date.UTC(2026, 10, 24, 12, 0, 0, index)).toISOString();
  return {
    tenantId,
    parkedId: `${parkedAt}_${randomUUID()}`,
    messageId: event.id,
    eventRecordId: event.id,
    eventId: event.eventId,
    category,
    reason: 'why',
    body: JSON.stringify(event),
    attempts: 3,
    firstAttemptAt: '2026-11-20T00:00:00.000Z',
    parkedAt,
    history: [{ at: parkedAt, error: 'The Logs Ingestion API answered 503' }],
  };
}

beforeEach(async () => {
  parked = new InMemoryParkedEventStore();
  connections = new InMemoryTenantConnectionStore();
  queue = new RecordingAuditQueue();
  useCase = new ParkedEvents({ parked, connections, queue, clock: new FakeClock() });
  await connections.create(savedConnection(TENANT));
});

describe('ParkedEvents.list', () => {
  it('pages through the tenant entries only', async () => {
    await parked.park([0, 1, 2].map((i) => parkedEvent(TENANT, 'retryBudgetExhausted', i)));
    await parked.park([parkedEvent(OTHER, 'invalidMessage', 0)]);
    const first = await useCase.list(TENANT, { limit: 2 });
    expect(first.items).toHaveLength(2);
    expect(first.continuationToken).toBeDefined();
    const second = await useCase.list(TENANT, { limit: 2, continuationToken: first.continuationToken });
    expect(second.items).toHaveLength(1);
    expect(second.continuationToken).toBeUndefined();
    expect([...first.items, ...second.items].every((item) => item.tenantId === TENANT)).toBe(true);
  });

  it.each([0, 101, 2.5])('refuses limit %s with a clear error', async (limit) => {
    await expect(useCase.list(TENANT, { limit })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('ParkedEvents.replay', () => {
  it('re-enqueues bodies unchanged under fresh message ids, then removes them from the store', async () => {
    const entries = [
      parkedEvent(TENANT, 'retryBudgetExhausted', 0),
      parkedEvent(TENANT, 'connectionSuspended', 1),
    ];
    await parked.park(entries);
    const result = await useCase.replay(TENANT, {}, PORTAL);

    expect(result).toEqual({ replayed: 2, notFound: [], remaining: false });
    expect(queue.sent.map((message) => message.body)).toEqual(entries.map((entry) => entry.body));
    for (const [index, message] of queue.sent.entries()) {
      const entry = entries[index] as ParkedEvent;
      expect(message.messageId).not.toBe(entry.messageId);
      expect(message.messageId.startsWith(`${entry.eventRecordId}:replay:`)).toBe(true);
      expect(message.messageId.length).toBeLessThanOrEqual(128);
      expect(message.applicationProperties).toEqual({
        tenantId: TENANT,
        schemaVersion: '1',
        eventId: entry.eventId,
        [REPLAY_OF_PROPERTY]: entry.parkedId,
      });
      expect(message.scheduledEnqueueTime).toBeUndefined();
    }
    expect(await parked.count(TENANT)).toBe(0);

    // A second replay of the same events gets other ids, so duplicate detection cannot swallow it.
    await parked.park(entries);
    await useCase.replay(TENANT, {}, PORTAL);
    expect(new Set(queue.sent.map((message) => message.messageId)).size).toBe(4);
  });

  it('keeps the entries parked when the queue refuses the copies', async () => {
    await parked.park([parkedEvent(TENANT, 'rejectedByService', 0)]);
    queue.failWith = new Error('Service Bus unreachable');
    await expect(useCase.replay(TENANT, {}, PORTAL)).rejects.toBeInstanceOf(TransientDependencyError);
    expect(await parked.count(TENANT)).toBe(1);
  });

  it('replays only the selected ids and categories and reports ids it did not find', async () => {
    const entries = [0, 1, 2, 3].map((i) =>
      parkedEvent(TENANT, i % 2 === 0 ? 'invalidMessage' : 'retryBudgetExhausted', i),
    );
    await parked.park(entries);
    const byCategory = await useCase.replay(TENANT, { categories: ['retryBudgetExhausted'] }, PORTAL);
    expect(byCategory.replayed).toBe(2);
    const [keep, pick] = [entries[0] as ParkedEvent, entries[2] as ParkedEvent];
    const byId = await useCase.replay(TENANT, { parkedIds: [pick.parkedId, 'no-such-id'] }, PORTAL);
    expect(byId).toEqual({ replayed: 1, notFound: ['no-such-id'], remaining: false });
    expect((await parked.list(TENANT, { limit: 10 })).items.map((item) => item.parkedId)).toEqual([
      keep.parkedId,
    ]);
  });

  it('moves at most one call-load at a time and says more remain', async () => {
    await parked.park(
      Array.from({ length: MAX_REPLAY_PER_CALL + 3 }, (_, i) =>
        parkedEvent(TENANT, 'connectionSuspended', i),
      ),
    );
    expect(await useCase.replay(TENANT, {}, PORTAL)).toMatchObject({
      replayed: MAX_REPLAY_PER_CALL,
      remaining: true,
    });
    expect(await useCase.replay(TENANT, {}, PORTAL)).toMatchObject({ replayed: 3, remaining: false });
  });

  it.each(['suspended', 'disabled', 'tested'] as const)(
    'refuses to replay while export is %s, keeping the events parked',
    async (state) => {
      await connections.create(savedConnection(OTHER, { state }));
      await parked.park([parkedEvent(OTHER, 'connectionSuspended', 0)]);
      await expect(useCase.replay(OTHER, {}, PORTAL)).rejects.toBeInstanceOf(StateConflictError);
      expect(queue.sent).toEqual([]);
      expect(await parked.count(OTHER)).toBe(1);
    },
  );

  it('refuses a malformed selection', async () => {
    await expect(useCase.replay(TENANT, { categories: ['lost' as ParkCategory] }, PORTAL)).rejects.toThrow(
      /lost/,
    );
    await expect(useCase.replay(TENANT, { parkedIds: [] }, PORTAL)).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('ParkedEvents.replay: export health change row', () => {
  it('writes a replayed row naming actor and count; a failure to write is logged, the replay still done', async () => {
    const rows: Array<{ change: string; actor: string; reason: string | undefined }> = [];
    let fail = false;
    const logger = new CapturingLogger();
    const withHealth = new ParkedEvents({
      parked,
      connections,
      queue,
      clock: new FakeClock(),
      healthChanges: {
        recorder: {
          recordChange: (_connection, change, actor, reason) => {
            rows.push({ change, actor, reason });
            return fail ? Promise.reject(new Error('Key Vault unreachable')) : Promise.resolve();
          },
        },
        logger,
      },
    });
    await parked.park([
      parkedEvent(TENANT, 'retryBudgetExhausted', 0),
      parkedEvent(TENANT, 'retryBudgetExhausted', 1),
    ]);
    await withHealth.replay(TENANT, {}, PORTAL);
    expect(rows).toEqual([
      { change: 'replayed', actor: describeActor(PORTAL), reason: 'Replayed 2 parked events.' },
    ]);

    fail = true;
    await parked.park([parkedEvent(TENANT, 'retryBudgetExhausted', 2)]);
    expect(await withHealth.replay(TENANT, {}, PORTAL)).toMatchObject({ replayed: 1 });
    expect(await parked.count(TENANT)).toBe(0);
    expect(logger.text()).toMatch(/Export health change row not written.*Key Vault unreachable/);
  });
});
