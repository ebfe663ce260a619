import type {
  RetryOptions,
  ServiceBusClient,
  ServiceBusMessage,
  ServiceBusMessageBatch,
  ServiceBusSender,
} from '@azure/service-bus';
import type { TokenCredential } from '@azure/identity';
import type { ServiceBusSettings } from '../config';
import type { AuditQueue, OutgoingAuditMessage } from '../domain/ports';

/**
 * Puts messages on the audit queue: the forwarder's scheduled retries and the
 * replays of parked events. Service Bus honours `scheduledEnqueueTimeUtc` on a
 * plain send, but a batch travels as one AMQP message whose annotations
 * @azure/service-bus copies from the first message added (its
 * ServiceBusMessageBatch.tryAddMessage), and whether the broker still reads
 * each inner message's own time is not documented. So each send holds
 * messages due at one time only: the messages are grouped by scheduled time
 * (the forwarder buckets its jitter to keep the groups few), and each group
 * goes out in as few size-bounded batches as fit. One client and sender per
 * process.
 *
 * The SDK (about 20 MB resident) is loaded on the first send: a forwarder
 * whose tenants are healthy never re-enqueues and never needs it.
 */
/**
 * Bounded retries for every operation of the client (@azure/service-bus ServiceBusClientOptions
 * .retryOptions, RetryOptions of @azure/core-amqp: by default 3 retries, 30 s apart, each attempt up
 * to 60 s). With those defaults a send whose identity lost its Data Sender role (the broker refuses
 * the link, and the SDK retries that) takes minutes, far past FORWARDER_TIME_BUDGET_SECONDS and the
 * message lock. These end a refused or stuck send within about 3 x 15 s + 3 s, so the forwarder's
 * settlement (abandon, then redelivery) happens while the lock is still held.
 */
export const SERVICE_BUS_RETRY_OPTIONS: RetryOptions = {
  maxRetries: 2,
  retryDelayInMs: 1_000,
  maxRetryDelayInMs: 2_000,
  timeoutInMs: 15_000,
};

export class ServiceBusAuditQueue implements AuditQueue {
  private client: ServiceBusClient | undefined;
  private sender: Promise<ServiceBusSender> | undefined;

  constructor(
    private readonly settings: ServiceBusSettings,
    private readonly credential: () => TokenCredential,
  ) {}

  async send(messages: readonly OutgoingAuditMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const sender = await this.getSender();
    for (const group of byScheduledTime(messages)) await sendBatches(sender, group);
  }

  async close(): Promise<void> {
    const pending = this.sender;
    this.sender = undefined;
    await pending?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    await client?.close();
  }

  private getSender(): Promise<ServiceBusSender> {
    this.sender ??= import('@azure/service-bus').then(({ ServiceBusClient }) => {
      this.client ??=
        this.settings.kind === 'connectionString'
          ? new ServiceBusClient(this.settings.connectionString, { retryOptions: SERVICE_BUS_RETRY_OPTIONS })
          : new ServiceBusClient(this.settings.fullyQualifiedNamespace, this.credential(), {
              retryOptions: SERVICE_BUS_RETRY_OPTIONS,
            });
      return this.client.createSender(this.settings.queueName);
    });
    this.sender.catch(() => {
      // A failed start is retried by the next send instead of being remembered.
      this.sender = undefined;
    });
    return this.sender;
  }
}

/** Messages due at the same time (or now), in their order; groups in order of first appearance. */
function byScheduledTime(messages: readonly OutgoingAuditMessage[]): OutgoingAuditMessage[][] {
  const groups = new Map<number | undefined, OutgoingAuditMessage[]>();
  for (const message of messages) {
    const due = message.scheduledEnqueueTime?.getTime();
    const group = groups.get(due);
    if (group) group.push(message);
    else groups.set(due, [message]);
  }
  return [...groups.values()];
}

/** One group's messages (all due at one time) in as few size-bounded batches as fit. */
async function sendBatches(
  sender: ServiceBusSender,
  messages: readonly OutgoingAuditMessage[],
): Promise<void> {
  let batch = await sender.createMessageBatch();
  for (const message of messages) {
    const outgoing = toServiceBusMessage(message);
    if (batch.tryAddMessage(outgoing)) continue;
    if (batch.count === 0) throw tooLarge(message, batch);
    await sender.sendMessages(batch);
    batch = await sender.createMessageBatch();
    if (!batch.tryAddMessage(outgoing)) throw tooLarge(message, batch);
  }
  if (batch.count > 0) await sender.sendMessages(batch);
}

function toServiceBusMessage(message: OutgoingAuditMessage): ServiceBusMessage {
  return {
    messageId: message.messageId,
    // Bytes, not the string: the SDK JSON-encodes a string body, which would wrap the event in quotes.
    body: Buffer.from(message.body, message.bodyEncoding === 'base64' ? 'base64' : 'utf8'),
    contentType: 'application/json',
    applicationProperties: { ...message.applicationProperties },
    ...(message.scheduledEnqueueTime ? { scheduledEnqueueTimeUtc: message.scheduledEnqueueTime } : {}),
  };
}

function tooLarge(message: OutgoingAuditMessage, batch: ServiceBusMessageBatch): Error {
  return new Error(
    `Message ${message.messageId} does not fit in a Service Bus message (at most ${batch.maxSizeInBytes} bytes with its properties).`,
  );
}
