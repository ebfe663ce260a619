import { isServiceBusError, ServiceBusClient } from '@azure/service-bus';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  DEFAULT_QUEUE_OPTIONS,
  ServiceBusStandInAdmin,
  ServiceBusStandInAdminError,
  uniqueQueueName,
} from '../support/serviceBus';

const admin = new ServiceBusStandInAdmin(inject('serviceBusAdminUrl'));
const client = new ServiceBusClient(inject('serviceBusConnectionString'), {
  retryOptions: { maxRetries: 0, timeoutInMs: 5_000 },
});

afterAll(async () => {
  await client.close();
});

async function adminFailure(call: Promise<unknown>): Promise<{ status: number; code: string }> {
  const error: unknown = await call.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ServiceBusStandInAdminError)) {
    throw new Error(`Expected the admin API to refuse the call; got ${String(error)}`);
  }
  return { status: error.status, code: error.code };
}

describe('Service Bus stand-in admin API', () => {
  it("creates a queue with Service Bus's defaults and lists it", async () => {
    const name = uniqueQueueName('admin');
    const created = await admin.createQueue(name);
    expect(created).toMatchObject({
      name,
      options: DEFAULT_QUEUE_OPTIONS,
      counts: { active: 0, locked: 0, scheduled: 0, deadLettered: 0 },
      duplicatesDropped: 0,
    });
    expect(created.options).toMatchObject({
      maxDeliveryCount: 10,
      lockDurationMs: 60_000,
      maxMessageSizeBytes: 262_144,
    });
    expect((await admin.listQueues()).map((queue) => queue.name)).toContain(name);
  });

  it('refuses a second queue of the same name, whatever its case (409)', async () => {
    const name = uniqueQueueName('dup');
    await admin.createQueue(name);
    expect(await adminFailure(admin.createQueue(name.toUpperCase()))).toEqual({
      status: 409,
      code: 'QueueAlreadyExists',
    });
  });

  it('refuses settings Service Bus refuses (400)', async () => {
    expect(await adminFailure(admin.createQueue(uniqueQueueName(), { lockDurationMs: 6 * 60_000 }))).toEqual({
      status: 400,
      code: 'InvalidQueueOptions',
    });
    expect(await adminFailure(admin.createQueue(uniqueQueueName(), { maxDeliveryCount: 0 }))).toMatchObject({
      status: 400,
    });
    expect(
      await adminFailure(admin.createQueue(uniqueQueueName(), { enablePartitioning: true } as never)),
    ).toMatchObject({ status: 400 });
    expect(await adminFailure(admin.createQueue('bad name!'))).toMatchObject({ status: 400 });
  });

  it('answers 404 for a queue that does not exist', async () => {
    expect(await adminFailure(admin.getQueue('never-created'))).toEqual({
      status: 404,
      code: 'QueueNotFound',
    });
    expect(await adminFailure(admin.deadLetteredMessages('never-created'))).toMatchObject({ status: 404 });
  });

  it('purges active, scheduled and dead-lettered messages', async () => {
    const queue = await admin.createUniqueQueue();
    const sender = client.createSender(queue);
    await sender.sendMessages([{ body: 'a' }, { body: 'b' }]);
    await sender.scheduleMessages({ body: 'later' }, new Date(Date.now() + 60_000));
    const receiver = client.createReceiver(queue);
    const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5_000 });
    await receiver.deadLetterMessage(first!, {
      deadLetterReason: 'test',
      deadLetterErrorDescription: 'purge me',
    });
    expect((await admin.getQueue(queue)).counts).toEqual({
      active: 1,
      locked: 0,
      scheduled: 1,
      deadLettered: 1,
    });

    await admin.purgeQueue(queue);
    expect((await admin.getQueue(queue)).counts).toEqual({
      active: 0,
      locked: 0,
      scheduled: 0,
      deadLettered: 0,
    });
    await receiver.close();
    await sender.close();
  });

  it('deletes a queue and its messages: senders attaching afterwards get MessagingEntityNotFound', async () => {
    const queue = await admin.createUniqueQueue();
    const before = client.createSender(queue);
    await before.sendMessages({ body: 'gone with the queue' });
    await admin.deleteQueue(queue);

    expect(await adminFailure(admin.getQueue(queue))).toMatchObject({ status: 404 });
    const after = client.createSender(queue);
    const error: unknown = await after.sendMessages({ body: 'too late' }).catch((caught: unknown) => caught);
    expect(isServiceBusError(error) ? error.code : error).toBe('MessagingEntityNotFound');
    await after.close();
    await before.close();
  });
});
