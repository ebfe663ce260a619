import { createServer, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AuditEventPublisher,
  AuditSendError,
  buildEvent,
  InvalidAuditEventError,
  openAuditQueueSender,
  type AuditEventDraft,
  sampleEvent,
  queueMessageId,
  toQueueMessage,
} from '../../src/producer';
import { EVENT_CATALOG } from '../../src/domain/catalog';
import { validateEvent } from '../../src/domain/eventContract';
import { validEventArb } from '../support/auditEventArbitraries';
import { estimatedMessageBytes, FakeAuditQueue } from '../support/fakeAuditQueue';
import { assertLoopback } from '../support/loopback';
import {
  CA_DELETED_MINIMAL,
  CERTIFICATE_CREATED,
  REQUEST_DENIED_IPV6,
  TENANT,
} from '../fixtures/auditEvents';

const FIXED_NOW = new Date('2024-05-01T08:00:00.000Z');
const draft = {
  tenantId: TENANT,
  eventId: 4888,
  outcome: 'Denied' as const,
  message: 'Request for template SubCA denied.',
  actor: { upn: 'mallory@contoso.com' },
};

describe('buildEvent', () => {
  it('fills schemaVersion, id and time and returns the canonical event', () => {
    const event = buildEvent(
      { ...draft, tenantId: TENANT.toUpperCase() },
      { now: () => FIXED_NOW, newId: () => 'F0E1D2C3-B4A5-4697-8899-AABBCCDDEEFF' },
    );
    expect(event).toEqual({
      ...draft,
      schemaVersion: '1',
      id: 'f0e1d2c3-b4a5-4697-8899-aabbccddeeff',
      time: '2024-05-01T08:00:00.000Z',
    });
  });

  it('keeps the id and time the producer gave, and accepts a Date', () => {
    const event = buildEvent({
      ...draft,
      id: REQUEST_DENIED_IPV6.id,
      time: new Date('2024-01-02T03:04:05Z'),
    });
    expect(event.id).toBe(REQUEST_DENIED_IPV6.id);
    expect(event.time).toBe('2024-01-02T03:04:05.000Z');
  });

  it('throws InvalidAuditEventError naming every problem', () => {
    const build = () => buildEvent({ ...draft, eventId: 4999, actor: { objectId: 'mallory' } });
    expect(build).toThrow(InvalidAuditEventError);
    expect(build).toThrow(/eventId: 4999 is not in the event catalog.*actor\.objectId: must be a GUID/);
  });
});

describe('toQueueMessage', () => {
  it('sets message id, content type and the routing properties', () => {
    const event = buildEvent(CERTIFICATE_CREATED);
    expect(toQueueMessage(event)).toEqual({
      messageId: `${TENANT}:${CERTIFICATE_CREATED.id}`,
      contentType: 'application/json',
      body: event,
      applicationProperties: { tenantId: TENANT, eventId: 4887, schemaVersion: '1' },
    });
  });
});

describe('queueMessageId', () => {
  it('scopes the message id by tenant, in lower case and within Service Bus’s 128 characters', () => {
    const event = buildEvent({
      ...CERTIFICATE_CREATED,
      tenantId: TENANT.toUpperCase(),
      id: CERTIFICATE_CREATED.id.toUpperCase(),
    });
    const id = queueMessageId(event);
    expect(id).toBe(`${TENANT}:${CERTIFICATE_CREATED.id.toLowerCase()}`);
    // Another tenant's event with the same id gets another message id: duplicate detection keeps both.
    expect(queueMessageId({ ...event, tenantId: 'bbbbbbbb-0000-4000-8000-000000000002' })).not.toBe(id);
    // The forwarder's retry copies extend it: `:<attempt>` and a 16-digit suffix at most.
    expect(`${id}:999999:${'f'.repeat(16)}`.length).toBeLessThanOrEqual(128);
  });
});

describe('AuditEventPublisher.send', () => {
  it('sends valid events with their properties and reports what it sent', async () => {
    const queue = new FakeAuditQueue();
    const publisher = new AuditEventPublisher(queue);
    const result = await publisher.send([CERTIFICATE_CREATED, CA_DELETED_MINIMAL]);
    expect(result).toEqual({
      sent: [
        { index: 0, id: CERTIFICATE_CREATED.id },
        { index: 1, id: CA_DELETED_MINIMAL.id.toLowerCase() },
      ],
      refused: [],
    });
    expect(queue.sentBatches).toHaveLength(1);
    const [first, second] = queue.received;
    expect(first).toEqual({
      messageId: `${TENANT}:${CERTIFICATE_CREATED.id}`,
      contentType: 'application/json',
      applicationProperties: { tenantId: TENANT, eventId: 4887, schemaVersion: '1' },
      body: buildEvent(CERTIFICATE_CREATED),
    });
    expect(second?.messageId).toBe(`${TENANT}:${CA_DELETED_MINIMAL.id.toLowerCase()}`);
    expect(validateEvent(second?.body)).toMatchObject({ ok: true });
  });

  it('refuses invalid events with their problems, never sends them, and still sends the valid ones', async () => {
    const queue = new FakeAuditQueue();
    const publisher = new AuditEventPublisher(queue);
    const result = await publisher.send([
      { ...CERTIFICATE_CREATED, eventId: 1 },
      REQUEST_DENIED_IPV6,
      { ...draft, id: 'not-a-guid' },
      'not an event' as unknown as typeof draft,
      { ...draft, tennantId: TENANT } as typeof draft,
    ]);
    expect(result.sent).toEqual([{ index: 1, id: REQUEST_DENIED_IPV6.id }]);
    expect(
      result.refused.map(({ index, id, problems }) => ({ index, id, fields: problems.map((p) => p.field) })),
    ).toEqual([
      { index: 0, id: CERTIFICATE_CREATED.id, fields: ['eventId'] },
      { index: 2, id: 'not-a-guid', fields: ['id'] },
      { index: 3, id: undefined, fields: ['(event)'] },
      { index: 4, id: undefined, fields: ['tennantId'] },
    ]);
    expect(queue.received.map((message) => message.messageId)).toEqual([
      `${TENANT}:${REQUEST_DENIED_IPV6.id}`,
    ]);
  });

  it('sends nothing and opens no batch when every event is refused', async () => {
    const queue = new FakeAuditQueue();
    const result = await new AuditEventPublisher(queue).send([{ ...draft, eventId: 0 }]);
    expect(result.sent).toEqual([]);
    expect(queue.batchesCreated).toBe(0);
  });

  it('splits batches at the size limit: every event sent once, in order, no batch over the limit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(validEventArb, { minLength: 1, maxLength: 25 }),
        fc.integer({ min: 8_000, max: 120_000 }),
        async (events, maxSizeInBytes) => {
          const queue = new FakeAuditQueue(maxSizeInBytes);
          const result = await new AuditEventPublisher(queue).send(events as AuditEventDraft[]);
          const messages = events.map((event) => toQueueMessage(buildEvent(event as never)));
          const fits = messages.map((message) => estimatedMessageBytes(message) + 48 <= maxSizeInBytes);

          expect(result.sent.map((item) => item.index)).toEqual(
            events.flatMap((_, index) => (fits[index] ? [index] : [])),
          );
          expect(result.refused.map((item) => item.index)).toEqual(
            events.flatMap((_, index) => (fits[index] ? [] : [index])),
          );
          expect(queue.received.map((message) => message.messageId)).toEqual(
            result.sent.map((item) => messages[item.index]?.messageId),
          );
          for (const batch of queue.sentBatches) {
            expect(batch.sizeInBytes).toBeLessThanOrEqual(maxSizeInBytes);
            expect(batch.messages.length).toBeGreaterThan(0);
          }
          // Packing is greedy: a batch was closed only because the next message did not fit in it.
          for (let i = 0; i + 1 < queue.sentBatches.length; i++) {
            const next = queue.sentBatches[i + 1]!.messages[0]!;
            const nextBytes = estimatedMessageBytes(next as never);
            expect(queue.sentBatches[i]!.sizeInBytes + nextBytes).toBeGreaterThan(maxSizeInBytes);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses an event too large for any message on the namespace, naming the limit', async () => {
    const queue = new FakeAuditQueue(4_000);
    const big = { ...CERTIFICATE_CREATED, message: 'x'.repeat(4_000) };
    const result = await new AuditEventPublisher(queue).send([REQUEST_DENIED_IPV6, big, CA_DELETED_MINIMAL]);
    expect(result.sent.map((item) => item.index)).toEqual([0, 2]);
    expect(result.refused).toEqual([
      {
        index: 1,
        id: CERTIFICATE_CREATED.id,
        problems: [{ field: '(event)', reason: expect.stringMatching(/at most 4000 bytes/) as unknown }],
      },
    ]);
  });

  it('fills defaults per event, so drafts without ids get distinct ones', async () => {
    const queue = new FakeAuditQueue();
    const result = await new AuditEventPublisher(queue).send([draft, draft, draft]);
    expect(new Set(result.sent.map((item) => item.id)).size).toBe(3);
  });

  it('reports what was sent and what was not when the broker fails part way', async () => {
    const queue = new FakeAuditQueue(3_000);
    queue.failOnSend = 2;
    const events = Array.from({ length: 6 }, (_, index) => ({
      ...draft,
      message: `attempt ${index} ${'m'.repeat(900)}`,
    }));
    const error = await new AuditEventPublisher(queue).send(events).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(AuditSendError);
    const { sent, unsent } = (error as AuditSendError).result;
    expect(sent.length).toBeGreaterThan(0);
    expect([...sent, ...unsent].map((item) => item.index).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(queue.received.map((message) => message.messageId)).toEqual(
      sent.map((item) => `${TENANT}:${item.id}`),
    );
    expect((error as Error).message).toMatch(/broker is unavailable/);
  });

  it('after a failed send, counts each event once: a refused one is not also unsent, and refusals stay in input order', async () => {
    const queue = new FakeAuditQueue(3_000);
    queue.failOnSend = 2;
    const sized = (index: number) => ({ ...draft, message: `attempt ${index} ${'m'.repeat(900)}` });
    const events = [
      sized(0),
      { ...draft, message: 'x'.repeat(4_000) },
      sized(2),
      sized(3),
      sized(4),
      { ...draft, eventId: 0 },
    ];
    const error = await new AuditEventPublisher(queue).send(events).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(AuditSendError);
    const { sent, unsent, refused } = (error as AuditSendError).result;
    expect(sent.map((item) => item.index)).toEqual([0, 2]);
    expect(unsent.map((item) => item.index)).toEqual([3, 4]);
    expect(refused.map((item) => item.index)).toEqual([1, 5]);
    expect((error as Error).message).toMatch(/after 2 were sent; 2 not confirmed/);
  });

  it('sendOne sends a single event', async () => {
    const queue = new FakeAuditQueue();
    const result = await new AuditEventPublisher(queue).sendOne(CA_DELETED_MINIMAL);
    expect(result.sent).toHaveLength(1);
    expect(queue.received).toHaveLength(1);
  });

  it('close closes the sender', async () => {
    const queue = new FakeAuditQueue();
    const publisher = new AuditEventPublisher(queue);
    await publisher.close();
    expect(queue.closed).toBe(true);
    await expect(publisher.send([draft])).rejects.toThrow(AuditSendError);
  });
});

describe('sampleEvent', () => {
  it.each(EVENT_CATALOG.map((entry) => entry.eventId))('builds a valid sample of event %i', (eventId) => {
    const result = validateEvent(buildEvent(sampleEvent(eventId, TENANT, 3, 5)));
    expect(result).toMatchObject({ ok: true, event: { eventId, tenantId: TENANT } });
  });
});

describe('openAuditQueueSender (real @azure/service-bus client)', () => {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.destroy();
  });
  afterEach(() => {
    server.close();
  });

  it('connects only when first used, and closes cleanly either way', async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const endpoint = assertLoopback(`sb://127.0.0.1:${address.port}`);
    const connection = {
      connectionString: `Endpoint=${endpoint};SharedAccessKeyName=test;SharedAccessKey=dGVzdA==;UseDevelopmentEmulator=true`,
      queueName: 'audit-events',
    };

    const unused = openAuditQueueSender(connection);
    await unused.close();
    expect(sockets).toHaveLength(0);

    const used = openAuditQueueSender(connection, { retryOptions: { maxRetries: 0, timeoutInMs: 5_000 } });
    await expect(used.createMessageBatch()).rejects.toThrow();
    expect(sockets.length).toBeGreaterThan(0);
    await used.close();

    const attempts = sockets.length;
    await expect(used.createMessageBatch()).rejects.toThrow(/has been closed/);
    expect(sockets).toHaveLength(attempts);
  });
});
