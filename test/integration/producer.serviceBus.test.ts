import { randomUUID } from 'node:crypto';
import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { parseEventMessage, WHOLE_EVENT } from '../../src/domain/eventContract';
import {
  AuditEventPublisher,
  AuditSendError,
  buildEvent,
  type AuditEvent,
  type AuditEventDraft,
} from '../../src/producer';
import {
  ServiceBusStandInAdmin,
  type QueueOptions,
  type StandInMessage,
  type StandInTransfer,
} from '../support/serviceBus';
import {
  CA_DELETED_MINIMAL,
  CERTIFICATE_CREATED,
  REQUEST_DENIED_IPV6,
  TENANT,
} from '../fixtures/auditEvents';

/**
 * The producer end to end: AuditEventPublisher.connect with a connection
 * string, the real @azure/service-bus client, and the Service Bus stand-in,
 * which enforces each queue's maximum message size on the link (the SDK sizes
 * its batches from it) and again on every transfer it receives.
 */

const connectionString = inject('serviceBusConnectionString');
const admin = new ServiceBusStandInAdmin(inject('serviceBusAdminUrl'));
const SMALL_QUEUE_BYTES = 8 * 1024;
/** An AMQP data section holding more than 255 bytes: descriptor (3 bytes), vbin32 constructor (1) and length (4). */
const DATA_SECTION_HEADER_BYTES = 8;

const opened: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((resource) => resource.close()));
});

async function newQueue(options: QueueOptions = {}): Promise<string> {
  return admin.createUniqueQueue(options, 'producer');
}

function publisherFor(queueName: string): AuditEventPublisher {
  const publisher = AuditEventPublisher.connect(
    { connectionString, queueName },
    { clientOptions: { retryOptions: { maxRetries: 1, retryDelayInMs: 100, timeoutInMs: 10_000 } } },
  );
  opened.push(publisher);
  return publisher;
}

/** Receives (and removes) `count` messages the way the forwarder's SDK sees them. */
async function receiveAll(queueName: string, count: number): Promise<ServiceBusReceivedMessage[]> {
  const client = new ServiceBusClient(connectionString);
  opened.push(client);
  const receiver = client.createReceiver(queueName, { receiveMode: 'receiveAndDelete' });
  const received: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + 10_000;
  while (received.length < count && Date.now() < deadline) {
    received.push(
      ...(await receiver.receiveMessages(count - received.length, {
        maxWaitTimeInMs: Math.max(1, deadline - Date.now()),
      })),
    );
  }
  return received;
}

/** The event a stored message carries, read from its raw body bytes as the forwarder reads them. */
function eventIn(message: StandInMessage): AuditEvent {
  const parsed = parseEventMessage(Buffer.from(message.bodyBase64 ?? '', 'base64'));
  if (!parsed.ok)
    throw new Error(`message ${message.messageId} holds no valid event: ${JSON.stringify(parsed)}`);
  return parsed.event;
}

/** A valid certificate event whose message and details make it about `approximateBytes` of JSON. */
function sizedEvent(approximateBytes: number, sequence: number): AuditEvent {
  const padding = Math.max(0, approximateBytes - 700);
  return buildEvent({
    ...CERTIFICATE_CREATED,
    id: randomUUID(),
    message: `Certificate ${sequence} issued. ${'m'.repeat(Math.min(padding / 2, 4_000))}`,
    details: { sequence, blob: 'd'.repeat(padding - Math.min(padding / 2, 4_000)) },
  });
}

/** The stored messages each transfer carried, in order (transfers and messages both arrive in order). */
function messagesPerTransfer(transfers: StandInTransfer[], messages: StandInMessage[]): StandInMessage[][] {
  let next = 0;
  return transfers.map((transfer) => {
    const carried = messages.slice(next, next + transfer.messageCount);
    next += transfer.messageCount;
    return carried;
  });
}

describe('AuditEventPublisher against the Service Bus stand-in (real @azure/service-bus client)', () => {
  it('sends the valid events in order with their properties and refuses the invalid ones, which never reach the queue', async () => {
    const queue = await newQueue();
    const withoutIdOrTime: AuditEventDraft = {
      tenantId: TENANT.toUpperCase(),
      eventId: 4870,
      outcome: 'Success',
      message: 'Certificate revoked: key compromise.',
      certificate: { serialNumber: '0a1b2c' },
    };
    const drafts: unknown[] = [
      CERTIFICATE_CREATED,
      { ...CERTIFICATE_CREATED, id: randomUUID(), eventId: 4999 },
      CA_DELETED_MINIMAL,
      { ...REQUEST_DENIED_IPV6, id: randomUUID(), tennantId: TENANT },
      withoutIdOrTime,
      { ...REQUEST_DENIED_IPV6, id: 'not-a-uuid', time: '2024-05-01T14:00:00+02:00' },
      REQUEST_DENIED_IPV6,
    ];

    const result = await publisherFor(queue).send(drafts as AuditEventDraft[]);

    expect(
      result.refused.map(({ index, problems }) => ({
        index,
        fields: problems.map((problem) => problem.field),
      })),
    ).toEqual([
      { index: 1, fields: ['eventId'] },
      { index: 3, fields: ['tennantId'] },
      { index: 5, fields: ['id', 'time'] },
    ]);
    for (const { problems } of result.refused) {
      for (const problem of problems) expect(problem.reason.length).toBeGreaterThan(10);
    }
    expect(result.sent.map((item) => item.index)).toEqual([0, 2, 4, 6]);
    const generatedId = result.sent[2]?.id;
    expect(generatedId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const stored = await admin.activeMessages(queue);
    expect((await admin.getQueue(queue)).messagesReceived).toBe(4);
    expect(stored.map((message) => message.messageId)).toEqual(
      result.sent.map((item) => `${TENANT}:${item.id}`),
    );
    for (const message of stored) {
      const event = eventIn(message);
      expect(message.messageId).toBe(`${event.tenantId}:${event.id}`);
      expect(message.contentType).toBe('application/json');
      expect(message.applicationProperties).toEqual({
        tenantId: TENANT,
        eventId: event.eventId,
        schemaVersion: '1',
      });
      // A JavaScript integer travels as an AMQP integer, so SQL filters such as `eventId = 4887` match it.
      expect(message.applicationPropertyTypes).toEqual({
        tenantId: 'string',
        eventId: 'uint',
        schemaVersion: 'string',
      });
    }
    const [certificateCreated, caDeleted, revoked, requestDenied] = stored.map(eventIn);
    expect(certificateCreated).toEqual(buildEvent(CERTIFICATE_CREATED));
    expect(caDeleted).toEqual(buildEvent(CA_DELETED_MINIMAL));
    expect(caDeleted?.id).toBe(CA_DELETED_MINIMAL.id.toLowerCase());
    expect(revoked).toEqual({
      ...withoutIdOrTime,
      schemaVersion: '1',
      id: generatedId,
      tenantId: TENANT,
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      certificate: { serialNumber: '0A1B2C' },
    });
    expect(requestDenied).toEqual(buildEvent(REQUEST_DENIED_IPV6));

    // What a consumer of the queue gets from the SDK.
    const received = await receiveAll(queue, 4);
    expect(
      received.map((message) => ({
        messageId: message.messageId,
        contentType: message.contentType,
        applicationProperties: message.applicationProperties,
        body: parseEventMessage(message.body),
      })),
    ).toEqual(
      [certificateCreated, caDeleted, revoked, requestDenied].map((event) => ({
        messageId: `${TENANT}:${event?.id}`,
        contentType: 'application/json',
        applicationProperties: { tenantId: TENANT, eventId: event?.eventId, schemaVersion: '1' },
        body: { ok: true, event },
      })),
    );
  });

  it('splits batches at the queue size limit: several full batches, none over the limit, every event once and in order', async () => {
    const queue = await newQueue({ maxMessageSizeBytes: SMALL_QUEUE_BYTES });
    // Sizes from about 0.8 KB to 3.5 KB, so batches hold one to several events.
    const events = Array.from({ length: 16 }, (_, index) =>
      sizedEvent(800 + ((index * 1_337) % 2_700), index),
    );

    const result = await publisherFor(queue).send(events);

    expect(result.refused).toEqual([]);
    expect(result.sent).toEqual(events.map((event, index) => ({ index, id: event.id })));
    const stored = await admin.activeMessages(queue);
    expect(stored.map((message) => message.messageId)).toEqual(
      events.map((event) => `${event.tenantId}:${event.id}`),
    );
    expect(stored.map(eventIn)).toEqual(events);
    expect(await admin.getQueue(queue)).toMatchObject({
      messagesReceived: events.length,
      duplicatesDropped: 0,
    });

    const transfers = await admin.transfers(queue);
    // The broker refuses any transfer over the limit; none was refused, because none was tried.
    expect(transfers.filter((transfer) => transfer.refusedWith !== null)).toEqual([]);
    expect(transfers.length).toBeGreaterThan(2);
    expect(transfers.reduce((sum, transfer) => sum + transfer.messageCount, 0)).toBe(events.length);
    for (const transfer of transfers) {
      expect(transfer.batch).toBe(true);
      expect(transfer.messageCount).toBeGreaterThan(0);
      expect(transfer.sizeInBytes).toBeLessThanOrEqual(SMALL_QUEUE_BYTES);
    }
    // Each batch was closed only because the next event did not fit in it.
    const carried = messagesPerTransfer(transfers, stored);
    transfers.slice(0, -1).forEach((transfer, index) => {
      const nextMessage = carried[index + 1]?.[0];
      expect(
        transfer.sizeInBytes + DATA_SECTION_HEADER_BYTES + (nextMessage?.sizeInBytes ?? 0),
      ).toBeGreaterThan(SMALL_QUEUE_BYTES);
    });
  });

  it('refuses an event too large for the queue even on its own, naming the limit, and still sends the others', async () => {
    const queue = await newQueue({ maxMessageSizeBytes: SMALL_QUEUE_BYTES });
    const before = sizedEvent(1_000, 1);
    // Valid by the contract (which allows 128 KB events) but larger than this queue accepts.
    const tooLarge = sizedEvent(20_000, 2);
    const after = sizedEvent(1_000, 3);

    const result = await publisherFor(queue).send([before, tooLarge, after]);

    expect(result.sent).toEqual([
      { index: 0, id: before.id },
      { index: 2, id: after.id },
    ]);
    expect(result.refused).toEqual([
      {
        index: 1,
        id: tooLarge.id,
        problems: [
          {
            field: WHOLE_EVENT,
            reason: expect.stringMatching(
              /^does not fit in one Service Bus message \(at most 8192 bytes with its properties on this namespace\); shorten message, details/,
            ) as unknown,
          },
        ],
      },
    ]);
    expect((await admin.activeMessages(queue)).map((message) => message.messageId)).toEqual([
      `${before.tenantId}:${before.id}`,
      `${after.tenantId}:${after.id}`,
    ]);
    // The oversized event neither reached the broker nor cut the batch short.
    expect(await admin.transfers(queue)).toEqual([
      { sizeInBytes: expect.any(Number) as unknown, batch: true, messageCount: 2, refusedWith: null },
    ]);
  });

  it('lands a resent event once on a queue with duplicate detection, since its message id is its tenant and event id', async () => {
    const queue = await newQueue({ requiresDuplicateDetection: true });
    const publisher = publisherFor(queue);
    const first = buildEvent({ ...REQUEST_DENIED_IPV6, id: randomUUID() });
    const second = buildEvent({ ...CA_DELETED_MINIMAL, id: randomUUID() });

    expect((await publisher.send([first, first])).sent).toEqual([
      { index: 0, id: first.id },
      { index: 1, id: first.id },
    ]);
    // Resending after a failure that left it unsure what arrived: the broker drops what it already has.
    expect((await publisher.send([first, second])).sent).toEqual([
      { index: 0, id: first.id },
      { index: 1, id: second.id },
    ]);

    expect((await admin.activeMessages(queue)).map(eventIn)).toEqual([first, second]);
    expect(await admin.getQueue(queue)).toMatchObject({ messagesReceived: 4, duplicatesDropped: 2 });
  });

  it('lands two tenants’ events that share an event id both, on a queue with duplicate detection', async () => {
    // Duplicate detection spans the whole queue: with the bare event id as message id, the second
    // tenant's event was dropped as a duplicate of the first's (duplicatesDropped 1), silently.
    const queue = await newQueue({ requiresDuplicateDetection: true });
    const sharedId = randomUUID();
    const otherTenant = randomUUID();
    const ours = buildEvent({ ...REQUEST_DENIED_IPV6, id: sharedId });
    const theirs = buildEvent({ ...CERTIFICATE_CREATED, tenantId: otherTenant, id: sharedId });

    await publisherFor(queue).send([ours]);
    await publisherFor(queue).send([theirs]);

    const stored = await admin.activeMessages(queue);
    expect(stored.map(eventIn)).toEqual([ours, theirs]);
    expect(stored.map((message) => message.messageId)).toEqual([
      `${TENANT}:${sharedId}`,
      `${otherTenant}:${sharedId}`,
    ]);
    expect(await admin.getQueue(queue)).toMatchObject({ messagesReceived: 2, duplicatesDropped: 0 });
  });

  it('gives a draft without an id a new id on every send, so only a built event is deduplicated', async () => {
    const queue = await newQueue({ requiresDuplicateDetection: true });
    const publisher = publisherFor(queue);
    const { id: _omitted, ...draft } = REQUEST_DENIED_IPV6;

    const once = await publisher.sendOne(draft);
    const again = await publisher.sendOne(draft);

    expect(once.sent[0]?.id).not.toBe(again.sent[0]?.id);
    expect(await admin.getQueue(queue)).toMatchObject({ counts: { active: 2 }, duplicatesDropped: 0 });
  });

  it('reports a queue that does not exist as AuditSendError: valid events unsent, invalid ones refused', async () => {
    const missingQueue = `missing-${randomUUID()}`;
    const valid = buildEvent({ ...CERTIFICATE_CREATED, id: randomUUID() });

    const error: unknown = await publisherFor(missingQueue)
      .send([{ ...CERTIFICATE_CREATED, outcome: 'Maybe' } as unknown as AuditEventDraft, valid])
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(AuditSendError);
    const { result } = error as AuditSendError;
    expect(result.sent).toEqual([]);
    expect(result.unsent).toEqual([{ index: 1, id: valid.id }]);
    expect(result.refused.map(({ index, problems }) => ({ index, field: problems[0]?.field }))).toEqual([
      { index: 0, field: 'outcome' },
    ]);
    expect((error as AuditSendError).message).toMatch(/could not be found/);
  });
});
