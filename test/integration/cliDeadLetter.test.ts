import { randomUUID } from 'node:crypto';
import { ServiceBusClient, type ServiceBusMessage } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../../src/cli/cli';
import { ServiceBusStandInAdmin, type StandInMessage } from '../support/serviceBus';

/** `deadletter` against the Service Bus stand-in, with the real SDK on both sides. */

const bus = new ServiceBusStandInAdmin(inject('serviceBusAdminUrl'));
const connectionString = inject('serviceBusConnectionString');
let client: ServiceBusClient;
let queueName: string;

beforeAll(async () => {
  client = new ServiceBusClient(connectionString);
  queueName = await bus.createUniqueQueue(
    { requiresDuplicateDetection: true, maxDeliveryCount: 1, lockDurationMs: 30_000 },
    'dlq',
  );
});

afterAll(async () => {
  await client.close();
  await bus.deleteQueue(queueName);
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    env: { ServiceBusConnection: connectionString, AUDIT_QUEUE_NAME: queueName },
    readStdin: () => Promise.resolve(''),
    stdinIsTerminal: true,
  });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** Sends the messages, then dead-letters the first explicitly and lets the second exceed its deliveries. */
async function deadLetter(messages: readonly ServiceBusMessage[]): Promise<void> {
  const sender = client.createSender(queueName);
  await sender.sendMessages([...messages]);
  await sender.close();
  const receiver = client.createReceiver(queueName, { receiveMode: 'peekLock' });
  const received = [];
  while (received.length < messages.length) {
    received.push(...(await receiver.receiveMessages(messages.length - received.length)));
  }
  const [first, second] = received.sort((a, b) => Number(a.sequenceNumber) - Number(b.sequenceNumber));
  if (!first || !second) throw new Error('expected two messages');
  await receiver.deadLetterMessage(first, {
    deadLetterReason: 'ForwarderUnavailable',
    deadLetterErrorDescription: 'Table Storage did not answer',
  });
  // maxDeliveryCount 1: one abandon moves it to the dead-letter queue as MaxDeliveryCountExceeded.
  await receiver.abandonMessage(second);
  await receiver.close();
}

function bodyText(message: StandInMessage): string {
  return Buffer.from(message.bodyBase64 ?? '', 'base64').toString('utf8');
}

describe('pki-siem-export deadletter', () => {
  const tenantId = randomUUID();
  const originals: ServiceBusMessage[] = [
    {
      messageId: randomUUID(),
      body: Buffer.from(JSON.stringify({ id: 'one', tenantId, eventId: 1001, note: 'é' }), 'utf8'),
      contentType: 'application/json',
      applicationProperties: { tenantId, eventId: 1001, schemaVersion: '1' },
    },
    {
      messageId: randomUUID(),
      // Not JSON: the bytes must survive the trip untouched, not be parsed or re-encoded.
      body: Buffer.from('{"id":"two", truncated', 'utf8'),
      contentType: 'application/json',
      applicationProperties: {
        tenantId,
        eventId: 2002,
        deliveryAttempt: 3,
        firstAttemptAt: '2026-01-01T00:00:00Z',
        failureHistory: '[{"at":"2026-01-01T00:05:00Z","error":"503"}]',
      },
    },
  ];
  let deadLettered: StandInMessage[];

  beforeAll(async () => {
    await deadLetter(originals);
    deadLettered = await bus.deadLetteredMessages(queueName);
    expect(deadLettered.map((message) => message.messageId)).toEqual(originals.map((m) => m.messageId));
  });

  it('lists the dead-lettered messages without taking them', async () => {
    const json = await cli(['deadletter', '--json']);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    const listed = (JSON.parse(json.stdout) as { queue: string; messages: Record<string, unknown>[] })
      .messages;
    expect(listed).toEqual([
      {
        messageId: originals[0]?.messageId,
        sequenceNumber: String(deadLettered[0]?.sequenceNumber),
        enqueuedTimeUtc: deadLettered[0]?.enqueuedTimeUtc,
        deliveryCount: 1,
        deadLetterReason: 'ForwarderUnavailable',
        deadLetterErrorDescription: 'Table Storage did not answer',
        tenantId,
        eventId: '1001',
      },
      expect.objectContaining({
        messageId: originals[1]?.messageId,
        deadLetterReason: 'MaxDeliveryCountExceeded',
        tenantId,
        eventId: '2002',
      }),
    ]);

    const text = await cli(['deadletter', '--limit', '1']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(String(originals[0]?.messageId));
    expect(text.stdout).toContain('Table Storage did not answer');
    expect(text.stdout).not.toContain(String(originals[1]?.messageId));

    // Peeking locked nothing and removed nothing.
    const after = await bus.deadLetteredMessages(queueName);
    expect(after.map((message) => [message.messageId, message.state])).toEqual(
      deadLettered.map((message) => [message.messageId, 'deadLettered']),
    );
  });

  it('requeues them under new ids with identical bodies and properties but a fresh retry budget, emptying the dead-letter queue', async () => {
    // Why the new id matters: inside the duplicate-detection window, the original id is dropped.
    const before = await bus.getQueue(queueName);
    const resend = client.createSender(queueName);
    await resend.sendMessages({ ...originals[0], body: originals[0]?.body as Buffer });
    await resend.close();
    const afterResend = await bus.getQueue(queueName);
    expect(afterResend.duplicatesDropped).toBe(before.duplicatesDropped + 1);
    expect(await bus.activeMessages(queueName)).toEqual([]);

    const result = await cli(['deadletter', '--requeue']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain(`Requeued 2 dead-lettered message(s) to queue ${queueName}.`);

    expect(await bus.deadLetteredMessages(queueName)).toEqual([]);
    const active = await bus.activeMessages(queueName);
    expect(active).toHaveLength(2);
    for (const [index, original] of deadLettered.entries()) {
      const copy = active[index];
      expect(copy?.messageId).toBe(`${original.messageId}:dlq:${original.sequenceNumber}`);
      expect(copy?.bodyBase64).toBe(original.bodyBase64);
      expect(copy && bodyText(copy)).toBe((originals[index]?.body as Buffer).toString('utf8'));
      expect(copy?.contentType).toBe('application/json');
      // The attempt count and first-attempt time go (a fresh retry budget); everything else stays.
      const notRequeued = ['deliveryAttempt', 'firstAttemptAt'];
      const kept = Object.entries(originals[index]?.applicationProperties ?? {}).filter(
        ([name]) => !notRequeued.includes(name),
      );
      expect(copy?.applicationProperties).toEqual(Object.fromEntries(kept));
      const { DeadLetterReason, DeadLetterErrorDescription, ...types } = original.applicationPropertyTypes;
      expect([DeadLetterReason, DeadLetterErrorDescription]).toEqual(['string', 'string']);
      expect(copy?.applicationPropertyTypes).toEqual(
        Object.fromEntries(Object.entries(types).filter(([name]) => !notRequeued.includes(name))),
      );
    }

    expect(active[1]?.applicationProperties).not.toHaveProperty('deliveryAttempt');
    expect(active[1]?.applicationProperties).toMatchObject({
      failureHistory: '[{"at":"2026-01-01T00:05:00Z","error":"503"}]',
    });

    const again = await cli(['deadletter', '--requeue', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ queue: queueName, requeued: [] });
  });

  it('answers a wrong command line with exit code 2 and one line', async () => {
    for (const args of [
      ['deadletter', '--limit', '0'],
      ['deadletter', '--limit', 'many'],
      ['deadletter', 'now'],
    ]) {
      const result = await cli(args);
      expect(result.code).toBe(2);
      expect(result.stderr.split('\n')).toHaveLength(1);
    }
  });
});
