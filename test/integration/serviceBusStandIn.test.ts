import {
  isServiceBusError,
  ServiceBusClient,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
} from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ServiceBusStandInAdmin, type QueueOptions } from '../support/serviceBus';

/**
 * The Service Bus stand-in started by the global setup, driven by the real
 * @azure/service-bus client. Each test works on a queue of its own.
 */
const admin = new ServiceBusStandInAdmin(inject('serviceBusAdminUrl'));
let client: ServiceBusClient;

beforeAll(() => {
  client = new ServiceBusClient(inject('serviceBusConnectionString'), {
    retryOptions: { maxRetries: 1, retryDelayInMs: 100, timeoutInMs: 10_000 },
  });
});

afterAll(async () => {
  await client.close();
});

async function newQueue(options: QueueOptions = {}): Promise<string> {
  return admin.createUniqueQueue(options);
}

/** Waits (by receiving, up to the wait limit) until `count` messages arrived. */
async function receiveAtLeast(
  receiver: ServiceBusReceiver,
  count: number,
  maxWaitTimeInMs = 10_000,
): Promise<ServiceBusReceivedMessage[]> {
  const received: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + maxWaitTimeInMs;
  while (received.length < count && Date.now() < deadline) {
    const batch = await receiver.receiveMessages(count - received.length, {
      maxWaitTimeInMs: Math.max(1, deadline - Date.now()),
    });
    received.push(...batch);
  }
  return received;
}

async function receiveOne(
  receiver: ServiceBusReceiver,
  maxWaitTimeInMs = 10_000,
): Promise<ServiceBusReceivedMessage> {
  const [message] = await receiveAtLeast(receiver, 1, maxWaitTimeInMs);
  if (!message) {
    throw new Error(`No message arrived within ${maxWaitTimeInMs} ms.`);
  }
  return message;
}

function errorCode(error: unknown): string | undefined {
  return isServiceBusError(error) ? error.code : undefined;
}

describe('send, receive and settle', () => {
  it('delivers a sent message with broker properties and removes it on complete', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    await sender.sendMessages({ body: { event: 'created' }, messageId: 'evt-1' });

    const message = await receiveOne(receiver);
    expect(message.body).toEqual({ event: 'created' });
    expect(message.messageId).toBe('evt-1');
    expect(message.deliveryCount).toBe(0);
    expect(message.sequenceNumber?.toNumber()).toBe(1);
    expect(message.lockToken).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(message.enqueuedTimeUtc).toBeInstanceOf(Date);
    expect(message.lockedUntilUtc!.getTime()).toBeGreaterThan(message.enqueuedTimeUtc!.getTime());
    expect((await admin.getQueue(queue)).counts).toMatchObject({ active: 1, locked: 1 });

    await receiver.completeMessage(message);
    const summary = await admin.getQueue(queue);
    expect(summary.counts).toEqual({ active: 0, locked: 0, scheduled: 0, deadLettered: 0 });
    expect(summary.messagesCompleted).toBe(1);
    await receiver.close();
    await sender.close();
  });

  it('keeps message fields and application property types across the broker', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    const occurredAt = new Date('2026-01-02T03:04:05.678Z');
    await sender.sendMessages({
      body: { id: 'a' },
      messageId: 'evt-props',
      contentType: 'application/json',
      correlationId: 'corr-1',
      subject: 'audit',
      timeToLive: 3_600_000,
      applicationProperties: {
        tenantId: '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
        eventId: 4882,
        schemaVersion: '1',
        ratio: 0.25,
        negative: -7,
        replayed: false,
        occurredAt,
      },
    });

    const message = await receiveOne(receiver);
    expect(message).toMatchObject({
      messageId: 'evt-props',
      contentType: 'application/json',
      correlationId: 'corr-1',
      subject: 'audit',
      timeToLive: 3_600_000,
    });
    // The SDK hands timestamps back as epoch milliseconds.
    expect(message.applicationProperties).toEqual({
      tenantId: '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
      eventId: 4882,
      schemaVersion: '1',
      ratio: 0.25,
      negative: -7,
      replayed: false,
      occurredAt: occurredAt.getTime(),
    });

    const [stored] = await admin.activeMessages(queue);
    expect(stored?.applicationPropertyTypes).toEqual({
      tenantId: 'string',
      eventId: 'uint',
      schemaVersion: 'string',
      ratio: 'double',
      negative: 'int',
      replayed: 'boolean',
      occurredAt: 'timestamp',
    });
    expect(stored?.applicationProperties.occurredAt).toBe(occurredAt.toISOString());
    expect(stored).toMatchObject({ state: 'locked', body: { id: 'a' }, contentType: 'application/json' });
    await receiver.completeMessage(message);
    await receiver.close();
    await sender.close();
  });

  it('locks only as many messages as the receiver asked for', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    await sender.sendMessages([{ body: 1 }, { body: 2 }, { body: 3 }]);

    const [first] = await receiveAtLeast(receiver, 1);
    expect(first?.body).toBe(1);
    expect((await admin.getQueue(queue)).counts).toMatchObject({ active: 3, locked: 1 });
    const rest = await receiveAtLeast(receiver, 2);
    expect(rest.map((m) => m.body as unknown)).toEqual([2, 3]);
    await Promise.all([first!, ...rest].map((m) => receiver.completeMessage(m)));
    await receiver.close();
    await sender.close();
  });

  it('removes messages as they are delivered in receiveAndDelete mode', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue, { receiveMode: 'receiveAndDelete' });
    await sender.sendMessages([{ body: 'one' }, { body: 'two' }]);

    const messages = await receiveAtLeast(receiver, 2);
    expect(messages.map((m) => m.body as unknown)).toEqual(['one', 'two']);
    expect(messages.every((m) => m.lockToken === undefined)).toBe(true);
    expect((await admin.getQueue(queue)).counts.active).toBe(0);
    await receiver.close();
    await sender.close();
  });

  it('refuses an unknown queue with MessagingEntityNotFound, for senders and receivers alike', async () => {
    const sender = client.createSender('no-such-queue');
    const sendError: unknown = await sender.sendMessages({ body: 'lost?' }).catch((error: unknown) => error);
    expect(errorCode(sendError)).toBe('MessagingEntityNotFound');

    const receiver = client.createReceiver('no-such-queue');
    const receiveError: unknown = await receiver
      .receiveMessages(1, { maxWaitTimeInMs: 1_000 })
      .catch((error: unknown) => error);
    expect(errorCode(receiveError)).toBe('MessagingEntityNotFound');
    await receiver.close();
    await sender.close();
  });
});

describe('other ways in', () => {
  it('peeks active and scheduled messages without locking them', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    await sender.sendMessages({ body: 'now', messageId: 'peek-1' });
    await sender.scheduleMessages({ body: 'later', messageId: 'peek-2' }, new Date(Date.now() + 60_000));

    const peeked = await receiver.peekMessages(10);
    expect(peeked.map((m) => [m.messageId, m.state])).toEqual([
      ['peek-1', 'active'],
      ['peek-2', 'scheduled'],
    ]);
    expect(peeked.every((m) => m.lockToken === undefined)).toBe(true);
    expect((await admin.getQueue(queue)).counts).toMatchObject({ active: 1, locked: 0, scheduled: 1 });
    await receiver.close();
    await sender.close();
  });

  it('feeds a subscribe() handler, which completes each message', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    await sender.sendMessages([{ body: 'a' }, { body: 'b' }, { body: 'c' }]);

    const bodies: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      const subscription = receiver.subscribe({
        processMessage: async (message) => {
          bodies.push(message.body);
          if (bodies.length === 3) {
            await subscription.close();
            resolve();
          }
        },
        processError: ({ error }) => {
          reject(error);
          return Promise.resolve();
        },
      });
    });
    expect(bodies).toEqual(['a', 'b', 'c']);
    await expect.poll(async () => (await admin.getQueue(queue)).messagesCompleted).toBe(3);
    await receiver.close();
    await sender.close();
  });

  it('shares a burst among competing receivers holding credit instead of handing it all to the first', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const second = new ServiceBusClient(inject('serviceBusConnectionString'));
    const receivers = [client.createReceiver(queue), second.createReceiver(queue)];
    const counts = [0, 0];
    const subscriptions = receivers.map((receiver, index) =>
      receiver.subscribe(
        {
          processMessage: () => {
            counts[index] = counts[index]! + 1;
            return Promise.resolve();
          },
          processError: () => Promise.resolve(),
        },
        { maxConcurrentCalls: 20 },
      ),
    );
    // Both links have their credit before the burst arrives.
    await expect.poll(async () => (await admin.getQueue(queue)).receiversWithCredit).toBe(2);
    await sender.sendMessages(Array.from({ length: 20 }, (_, i) => ({ body: i })));
    await expect.poll(async () => (await admin.getQueue(queue)).messagesCompleted).toBe(20);
    expect(counts[0]).toBeGreaterThan(0);
    expect(counts[1]).toBeGreaterThan(0);
    await Promise.all(subscriptions.map((subscription) => subscription.close()));
    await Promise.all(receivers.map((receiver) => receiver.close()));
    await second.close();
    await sender.close();
  });
});

describe('batches and the Standard-tier size limit', () => {
  it('advertises 256 KB so createMessageBatch refuses an oversized message, and delivers a batch', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);

    const batch = await sender.createMessageBatch();
    expect(batch.maxSizeInBytes).toBe(262_144);
    expect(batch.tryAddMessage({ body: 'x'.repeat(300 * 1024) })).toBe(false);
    for (const id of ['b-1', 'b-2', 'b-3']) {
      expect(batch.tryAddMessage({ body: { id }, messageId: id })).toBe(true);
    }
    await sender.sendMessages(batch);

    const messages = await receiveAtLeast(receiver, 3);
    expect(messages.map((m) => m.messageId)).toEqual(['b-1', 'b-2', 'b-3']);
    expect(messages.map((m) => m.sequenceNumber?.toNumber())).toEqual([1, 2, 3]);
    await Promise.all(messages.map((m) => receiver.completeMessage(m)));
    await receiver.close();
    await sender.close();
  });

  it('refuses a single message over the limit at the broker with MessageSizeExceeded and stores nothing', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const error: unknown = await sender
      .sendMessages({ body: 'x'.repeat(300 * 1024) })
      .catch((caught: unknown) => caught);
    expect(errorCode(error)).toBe('MessageSizeExceeded');
    expect((await admin.getQueue(queue)).messagesReceived).toBe(0);
    await sender.close();
  });

  it("takes the batch limit from the queue's configured maximum message size", async () => {
    const queue = await newQueue({ maxMessageSizeBytes: 4_096 });
    const sender = client.createSender(queue);
    const batch = await sender.createMessageBatch();
    expect(batch.maxSizeInBytes).toBe(4_096);
    expect(batch.tryAddMessage({ body: 'x'.repeat(5_000) })).toBe(false);
    await sender.close();
  });

  it('logs each transfer: a batch as one with its size and message count, an oversized one as refused', async () => {
    const queue = await newQueue({ maxMessageSizeBytes: 4_096 });
    const sender = client.createSender(queue);
    const batch = await sender.createMessageBatch();
    for (const id of ['t-1', 't-2']) {
      expect(batch.tryAddMessage({ body: 'y'.repeat(1_000), messageId: id })).toBe(true);
    }
    await sender.sendMessages(batch);
    await sender.sendMessages({ body: 'single', messageId: 't-3' });
    const error: unknown = await sender
      .sendMessages({ body: 'z'.repeat(5_000) })
      .catch((caught: unknown) => caught);
    expect(errorCode(error)).toBe('MessageSizeExceeded');

    const transfers = await admin.transfers(queue);
    const stored = await admin.activeMessages(queue);
    expect(stored.map((message) => message.messageId)).toEqual(['t-1', 't-2', 't-3']);
    expect(transfers).toEqual([
      // The SDK's own size estimate of the batch is exactly what travels.
      { sizeInBytes: batch.sizeInBytes, batch: true, messageCount: 2, refusedWith: null },
      { sizeInBytes: stored[2]?.sizeInBytes, batch: false, messageCount: 1, refusedWith: null },
      {
        sizeInBytes: expect.any(Number) as unknown,
        batch: false,
        messageCount: 0,
        refusedWith: 'amqp:link:message-size-exceeded',
      },
    ]);
    expect(transfers[2]?.sizeInBytes).toBeGreaterThan(5_000);
    await sender.close();
  });
});

describe('scheduled messages', () => {
  it('holds a scheduled message until it is due, then delivers it', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    const due = new Date(Date.now() + 1_500);
    const [sequenceNumber] = await sender.scheduleMessages({ body: 'later', messageId: 'sched-1' }, due);
    expect(sequenceNumber?.toNumber()).toBe(1);

    const scheduled = await admin.scheduledMessages(queue);
    expect(scheduled).toMatchObject([
      { messageId: 'sched-1', state: 'scheduled', scheduledEnqueueTimeUtc: due.toISOString() },
    ]);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);

    const message = await receiveOne(receiver);
    expect(message.messageId).toBe('sched-1');
    expect(message.sequenceNumber?.toNumber()).toBe(1);
    expect(message.enqueuedTimeUtc!.getTime()).toBeGreaterThanOrEqual(due.getTime());
    await receiver.completeMessage(message);
    await receiver.close();
    await sender.close();
  });

  it("schedules every message of a batch at the envelope's time, which the SDK takes from the first message", async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const first = new Date(Date.now() + 3_600_000);
    const batch = await sender.createMessageBatch();
    expect(batch.tryAddMessage({ body: 'a', messageId: 'env-a', scheduledEnqueueTimeUtc: first })).toBe(true);
    expect(
      batch.tryAddMessage({
        body: 'b',
        messageId: 'env-b',
        scheduledEnqueueTimeUtc: new Date(first.getTime() + 600_000),
      }),
    ).toBe(true);
    expect(batch.tryAddMessage({ body: 'c', messageId: 'env-c' })).toBe(true);
    await sender.sendMessages(batch);
    const scheduled = await admin.scheduledMessages(queue);
    expect(scheduled.map((m) => [m.messageId, m.scheduledEnqueueTimeUtc])).toEqual([
      ['env-a', first.toISOString()],
      ['env-b', first.toISOString()],
      ['env-c', first.toISOString()],
    ]);

    // And a batch whose first message is not scheduled delivers all of them now.
    const now = await sender.createMessageBatch();
    now.tryAddMessage({ body: 'd', messageId: 'env-d' });
    now.tryAddMessage({ body: 'e', messageId: 'env-e', scheduledEnqueueTimeUtc: first });
    await sender.sendMessages(now);
    expect((await admin.activeMessages(queue)).map((m) => m.messageId)).toEqual(['env-d', 'env-e']);
    await sender.close();
  });

  it('delivers nothing for a cancelled scheduled message, and refuses to cancel it twice', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    const soon = new Date(Date.now() + 300);
    const [cancelled] = await sender.scheduleMessages({ body: 'cancelled', messageId: 'c-1' }, soon);
    const [kept] = await sender.scheduleMessages({ body: 'kept', messageId: 'c-2' }, soon);
    await sender.cancelScheduledMessages(cancelled!);
    expect((await admin.scheduledMessages(queue)).map((m) => m.messageId)).toEqual(['c-2']);

    // The kept message, scheduled for the same moment, proves the due time has passed.
    const message = await receiveOne(receiver);
    expect(message.messageId).toBe('c-2');
    expect(message.sequenceNumber?.toNumber()).toBe(kept!.toNumber());
    await receiver.completeMessage(message);
    expect((await admin.getQueue(queue)).counts).toEqual({
      active: 0,
      locked: 0,
      scheduled: 0,
      deadLettered: 0,
    });

    const again: unknown = await sender.cancelScheduledMessages(cancelled!).catch((error: unknown) => error);
    expect(errorCode(again)).toBe('MessageNotFound');
    await receiver.close();
    await sender.close();
  });

  it('treats a sent message with scheduledEnqueueTimeUtc as scheduled', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    await sender.sendMessages({ body: 'via link', scheduledEnqueueTimeUtc: new Date(Date.now() + 60_000) });
    expect((await admin.getQueue(queue)).counts).toMatchObject({ active: 0, scheduled: 1 });
    await sender.close();
  });
});

describe('peek-lock settlement', () => {
  it('abandon makes the message available again at once with its delivery count incremented', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    await sender.sendMessages({ body: 'retry me', messageId: 'ab-1' });

    const first = await receiveOne(receiver);
    expect(first.deliveryCount).toBe(0);
    await receiver.abandonMessage(first, { lastError: 'workspace unreachable' });

    const second = await receiveOne(receiver);
    expect(second.messageId).toBe('ab-1');
    expect(second.deliveryCount).toBe(1);
    expect(second.applicationProperties).toEqual({ lastError: 'workspace unreachable' });
    await receiver.completeMessage(second);
    await receiver.close();
    await sender.close();
  });

  it('dead-letters with the reason and description, visible on the dead-letter receiver and the admin API', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    await sender.sendMessages({ body: 'not json?', messageId: 'dl-1' });

    const message = await receiveOne(receiver);
    await receiver.deadLetterMessage(message, {
      deadLetterReason: 'InvalidEvent',
      deadLetterErrorDescription: 'eventId 9999 is not in the catalog',
    });
    expect((await admin.getQueue(queue)).counts).toMatchObject({ active: 0, deadLettered: 1 });

    const deadLetters = client.createReceiver(queue, { subQueueType: 'deadLetter' });
    const dead = await receiveOne(deadLetters);
    expect(dead).toMatchObject({
      messageId: 'dl-1',
      body: 'not json?',
      deadLetterReason: 'InvalidEvent',
      deadLetterErrorDescription: 'eventId 9999 is not in the catalog',
    });
    const [stored] = await admin.deadLetteredMessages(queue);
    expect(stored).toMatchObject({
      messageId: 'dl-1',
      deadLetterReason: 'InvalidEvent',
      deadLetterErrorDescription: 'eventId 9999 is not in the catalog',
    });
    await deadLetters.completeMessage(dead);
    expect((await admin.getQueue(queue)).counts.deadLettered).toBe(0);
    await deadLetters.close();
    await receiver.close();
    await sender.close();
  });

  it('dead-letters a message with MaxDeliveryCountExceeded after maxDeliveryCount deliveries', async () => {
    const queue = await newQueue({ maxDeliveryCount: 3 });
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    await sender.sendMessages({ body: 'poison', messageId: 'p-1' });

    for (const expectedCount of [0, 1, 2]) {
      const message = await receiveOne(receiver);
      expect(message.deliveryCount).toBe(expectedCount);
      await receiver.abandonMessage(message);
    }
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 })).toEqual([]);

    const deadLetters = client.createReceiver(queue, { subQueueType: 'deadLetter' });
    const dead = await receiveOne(deadLetters);
    expect(dead.messageId).toBe('p-1');
    expect(dead.deliveryCount).toBe(3);
    expect(dead.deadLetterReason).toBe('MaxDeliveryCountExceeded');
    expect(dead.deadLetterErrorDescription).toBe('Message could not be consumed after 3 delivery attempts.');
    await deadLetters.completeMessage(dead);
    await deadLetters.close();
    await receiver.close();
    await sender.close();
  });

  it('redelivers a message whose lock expired, and refuses to settle with the expired lock', async () => {
    const queue = await newQueue({ lockDurationMs: 300 });
    const sender = client.createSender(queue);
    // The SDK renews locks on its own for 5 minutes by default; a consumer that stalls has no renewer.
    const receiver = client.createReceiver(queue, { maxAutoLockRenewalDurationInMs: 0 });
    await sender.sendMessages({ body: 'slow consumer', messageId: 'lock-1' });

    const first = await receiveOne(receiver);
    expect(first.deliveryCount).toBe(0);
    const second = await receiveOne(receiver);
    expect(second.messageId).toBe('lock-1');
    expect(second.deliveryCount).toBe(1);
    expect(second.lockToken).not.toBe(first.lockToken);

    const stale: unknown = await receiver.completeMessage(first).catch((error: unknown) => error);
    expect(errorCode(stale)).toBe('MessageLockLost');
    await receiver.completeMessage(second);
    expect((await admin.getQueue(queue)).counts.active).toBe(0);
    await receiver.close();
    await sender.close();
  });

  it('extends a lock on renewMessageLock', async () => {
    const queue = await newQueue({ lockDurationMs: 2_000 });
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue, { maxAutoLockRenewalDurationInMs: 0 });
    await sender.sendMessages({ body: 'long job' });
    const message = await receiveOne(receiver);
    const before = message.lockedUntilUtc!.getTime();
    const renewed = await receiver.renewMessageLock(message);
    expect(renewed.getTime()).toBeGreaterThanOrEqual(before);
    const [stored] = await admin.activeMessages(queue);
    expect(stored?.lockedUntilUtc).toBe(renewed.toISOString());
    await receiver.completeMessage(message);
    await receiver.close();
    await sender.close();
  });
});

describe('duplicate detection', () => {
  it('acknowledges a re-sent messageId but drops it, and accepts a different id', async () => {
    const queue = await newQueue({ requiresDuplicateDetection: true });
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    await sender.sendMessages({ body: 'first', messageId: 'evt-dup' });
    await sender.sendMessages({ body: 'again', messageId: 'evt-dup' });
    await sender.sendMessages([
      { body: 'batched again', messageId: 'evt-dup' },
      { body: 'other', messageId: 'evt-other' },
    ]);

    const summary = await admin.getQueue(queue);
    expect(summary.duplicatesDropped).toBe(2);
    expect(summary.counts.active).toBe(2);
    const messages = await receiveAtLeast(receiver, 2);
    expect(messages.map((m) => [m.messageId, m.body as unknown])).toEqual([
      ['evt-dup', 'first'],
      ['evt-other', 'other'],
    ]);
    await Promise.all(messages.map((m) => receiver.completeMessage(m)));
    await receiver.close();
    await sender.close();
  });

  it('counts a scheduled message: a later send with its messageId is dropped', async () => {
    const queue = await newQueue({ requiresDuplicateDetection: true });
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    await sender.scheduleMessages({ body: 'scheduled copy', messageId: 'evt-s' }, new Date(Date.now() + 300));
    await sender.sendMessages({ body: 'immediate copy', messageId: 'evt-s' });
    // Only the scheduled copy is kept; on a slow machine it may already be due, so count both places.
    const { counts, duplicatesDropped } = await admin.getQueue(queue);
    expect(counts.active + counts.scheduled).toBe(1);
    expect(duplicatesDropped).toBe(1);

    const message = await receiveOne(receiver);
    expect(message.body).toBe('scheduled copy');
    await receiver.completeMessage(message);
    const summary = await admin.getQueue(queue);
    expect(summary.duplicatesDropped).toBe(1);
    expect(summary.counts).toEqual({ active: 0, locked: 0, scheduled: 0, deadLettered: 0 });
    await receiver.close();
    await sender.close();
  });

  it('keeps both copies on a queue without duplicate detection', async () => {
    const queue = await newQueue();
    const sender = client.createSender(queue);
    await sender.sendMessages({ body: 'first', messageId: 'same-id' });
    await sender.sendMessages({ body: 'second', messageId: 'same-id' });
    const summary = await admin.getQueue(queue);
    expect(summary.counts.active).toBe(2);
    expect(summary.duplicatesDropped).toBe(0);
    await sender.close();
  });
});

describe('message expiry', () => {
  it('dead-letters expired messages with TTLExpiredException when the queue asks for it', async () => {
    const queue = await newQueue({ defaultMessageTimeToLiveMs: 200, deadLetteringOnMessageExpiration: true });
    const sender = client.createSender(queue);
    await sender.sendMessages({ body: 'stale', messageId: 'ttl-1' });
    const deadLetters = client.createReceiver(queue, { subQueueType: 'deadLetter' });
    const dead = await receiveOne(deadLetters);
    expect(dead.messageId).toBe('ttl-1');
    expect(dead.deadLetterReason).toBe('TTLExpiredException');
    await deadLetters.completeMessage(dead);
    await deadLetters.close();
    await sender.close();
  });
});
