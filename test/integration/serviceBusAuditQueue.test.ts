import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ServiceBusAuditQueue } from '../../src/adapters/serviceBusAuditQueue';
import type { OutgoingAuditMessage } from '../../src/domain/ports';
import { ServiceBusStandInAdmin } from '../support/serviceBus';

const admin = new ServiceBusStandInAdmin(inject('serviceBusAdminUrl'));
const connectionString = inject('serviceBusConnectionString');
const noCredential = (): never => {
  throw new Error('a connection string needs no credential');
};
const opened: ServiceBusAuditQueue[] = [];

async function queueFor(): Promise<{ name: string; queue: ServiceBusAuditQueue }> {
  const name = await admin.createUniqueQueue({ requiresDuplicateDetection: true }, 'audit');
  const queue = new ServiceBusAuditQueue(
    { kind: 'connectionString', connectionString, queueName: name },
    noCredential,
  );
  opened.push(queue);
  return { name, queue };
}

afterAll(async () => {
  await Promise.all(opened.map((queue) => queue.close()));
});

function message(overrides: Partial<OutgoingAuditMessage> = {}): OutgoingAuditMessage {
  const id = randomUUID();
  return {
    messageId: `${id}:2`,
    body: JSON.stringify({ schemaVersion: '1', id, note: 'héllo "quoted"' }),
    applicationProperties: { tenantId: randomUUID(), eventId: 4887, deliveryAttempt: 2 },
    ...overrides,
  };
}

describe('ServiceBusAuditQueue (Service Bus stand-in, real @azure/service-bus)', () => {
  it('sends the body bytes unchanged, as JSON content, with its own id and properties; scheduled ones wait', async () => {
    const { name, queue } = await queueFor();
    const now = message();
    const later = message({ scheduledEnqueueTime: new Date(Date.now() + 3_600_000) });
    await queue.send([now, later]);

    const [active] = await admin.activeMessages(name);
    expect(active).toMatchObject({
      messageId: now.messageId,
      contentType: 'application/json',
      applicationProperties: now.applicationProperties,
    });
    expect(Buffer.from(active?.bodyBase64 ?? '', 'base64').toString('utf8')).toBe(now.body);
    const scheduled = await admin.scheduledMessages(name);
    expect(scheduled.map((m) => m.messageId)).toEqual([later.messageId]);
    expect(Date.parse(scheduled[0]?.scheduledEnqueueTimeUtc ?? '')).toBe(
      later.scheduledEnqueueTime?.getTime(),
    );
    expect(Buffer.from(scheduled[0]?.bodyBase64 ?? '', 'base64').toString('utf8')).toBe(later.body);
  });

  it('gives each copy its own scheduled time: copies due at different times never share one send', async () => {
    const { name, queue } = await queueFor();
    const base = Date.now() + 3_600_000;
    const copies = [
      message({ scheduledEnqueueTime: new Date(base + 2_000) }),
      message(),
      message({ scheduledEnqueueTime: new Date(base) }),
      message({ scheduledEnqueueTime: new Date(base + 2_000) }),
      message({ scheduledEnqueueTime: new Date(base + 1_000) }),
    ];
    const before = (await admin.transfers(name)).length;
    await queue.send(copies);
    expect((await admin.activeMessages(name)).map((m) => m.messageId)).toEqual([copies[1]!.messageId]);
    const scheduled = await admin.scheduledMessages(name);
    expect(new Map(scheduled.map((m) => [m.messageId, Date.parse(m.scheduledEnqueueTimeUtc ?? '')]))).toEqual(
      new Map(
        copies
          .filter((copy) => copy.scheduledEnqueueTime)
          .map((copy) => [copy.messageId, copy.scheduledEnqueueTime!.getTime()]),
      ),
    );
    // One send per distinct time (none, base, +1 s, +2 s): the two copies due together share theirs.
    expect((await admin.transfers(name)).slice(before)).toHaveLength(4);
  });

  it('splits a large settlement over several size-bounded batches and loses none', async () => {
    const { name, queue } = await queueFor();
    const padding = 'x'.repeat(20_000);
    const messages = Array.from({ length: 40 }, () =>
      message({ body: JSON.stringify({ id: randomUUID(), padding }) }),
    );
    await queue.send(messages);
    const summary = await admin.getQueue(name);
    expect(summary.counts.active).toBe(40);
  });

  it('is deduplicated by the queue when the same copy is sent again', async () => {
    const { name, queue } = await queueFor();
    const copy = message({ scheduledEnqueueTime: new Date(Date.now() + 600_000) });
    await queue.send([copy]);
    await queue.send([copy]);
    expect(await admin.scheduledMessages(name)).toHaveLength(1);
    expect((await admin.getQueue(name)).duplicatesDropped).toBe(1);
  });

  it('refuses a message larger than the queue accepts, naming it', async () => {
    const { queue } = await queueFor();
    const huge = message({ body: 'y'.repeat(300_000) });
    await expect(queue.send([huge])).rejects.toThrow(huge.messageId);
  });
});
