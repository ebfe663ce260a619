import { createHash } from 'node:crypto';
import type {
  ServiceBusClient,
  ServiceBusClientOptions,
  ServiceBusMessage,
  ServiceBusReceivedMessage,
  ServiceBusReceiver,
} from '@azure/service-bus';
import type { TokenCredential } from '@azure/identity';
import type { ServiceBusSettings } from '../config';
import { ATTEMPT_PROPERTY, FIRST_ATTEMPT_PROPERTY } from '../domain/deliveryAttempts';
import { errorMessage } from '../domain/errorText';

/**
 * The audit queue's dead-letter queue, for operators. Messages land there only
 * when the forwarder could neither re-enqueue nor park them (Service Bus or
 * Table Storage down) and the host abandoned them past the queue's max
 * delivery count, or when they expired. Nothing else reads it.
 */

/** What an operator needs to see of a dead-lettered message; the body stays in the queue. */
export interface DeadLetteredMessage {
  readonly messageId: string | undefined;
  readonly sequenceNumber: string;
  readonly enqueuedTimeUtc: string | undefined;
  readonly deliveryCount: number | undefined;
  readonly deadLetterReason: string | undefined;
  readonly deadLetterErrorDescription: string | undefined;
  readonly tenantId: string | undefined;
  readonly eventId: string | undefined;
}

export interface RequeuedMessage {
  readonly fromMessageId: string | undefined;
  readonly sequenceNumber: string;
  readonly toMessageId: string;
}

/** Some messages were requeued, then one could not be; it and the rest stay dead-lettered. */
export class DeadLetterRequeueError extends Error {
  constructor(
    readonly requeued: readonly RequeuedMessage[],
    readonly failedMessageId: string | undefined,
    cause: unknown,
  ) {
    super(
      `requeued ${requeued.length} message(s), then could not requeue ${failedMessageId ?? 'a message without id'}: ${errorMessage(
        cause,
      )}; it and the rest stay in the dead-letter queue, run the command again`,
      { cause },
    );
    this.name = 'DeadLetterRequeueError';
  }
}

/**
 * Left off a requeued copy: what the broker set on dead-lettering, and the forwarder's attempt
 * count and first-attempt time, so the event starts a fresh retry budget as a replayed one does.
 * Kept, an event dead-lettered during a long outage could be parked, and its tenant suspended, at
 * its first failure after the requeue. The failure history stays, for whoever reads it later.
 */
const PROPERTIES_NOT_REQUEUED = [
  'DeadLetterReason',
  'DeadLetterErrorDescription',
  ATTEMPT_PROPERTY,
  FIRST_ATTEMPT_PROPERTY,
];
const MAX_MESSAGE_ID_LENGTH = 128;
const RECEIVE_BATCH = 100;
const RECEIVE_WAIT_MS = 5_000;

/**
 * The id a requeued copy gets: the original id (without an earlier `:dlq:` suffix) plus the
 * dead-lettered message's sequence number. A resend under the original id inside the queue's
 * duplicate-detection window would be silently dropped; this one is not. It is also stable, so
 * if completing the dead-lettered message fails after the send and the command is run again,
 * duplicate detection drops the second copy instead of delivering the event twice.
 */
export function requeuedMessageId(originalId: string | undefined, sequenceNumber: string): string {
  const base = (originalId ?? 'dead-lettered').replace(/(:dlq:\d+)+$/, '');
  const id = `${base}:dlq:${sequenceNumber}`;
  if (id.length <= MAX_MESSAGE_ID_LENGTH) return id;
  return `${createHash('sha256').update(base).digest('hex').slice(0, 40)}:dlq:${sequenceNumber}`;
}

export class ServiceBusDeadLetterQueue {
  private client: ServiceBusClient | undefined;

  constructor(
    private readonly settings: ServiceBusSettings,
    private readonly credential: () => TokenCredential,
    private readonly clientOptions: ServiceBusClientOptions = {},
  ) {}

  get queueName(): string {
    return this.settings.queueName;
  }

  /** Up to `limit` dead-lettered messages, oldest first, without locking or removing any. */
  async peek(limit: number): Promise<DeadLetteredMessage[]> {
    const receiver = await this.receiver();
    try {
      const found: DeadLetteredMessage[] = [];
      while (found.length < limit) {
        // A peek may return fewer than asked for; the receiver continues where the last one stopped.
        const page = await receiver.peekMessages(limit - found.length);
        if (page.length === 0) break;
        found.push(...page.map(describe));
      }
      return found;
    } finally {
      await receiver.close();
    }
  }

  /**
   * Moves up to `limit` dead-lettered messages (those present when it starts) back to the
   * audit queue: same body bytes, content type and application properties, a new message id.
   * A message leaves the dead-letter queue only after the audit queue accepted its copy.
   */
  async requeue(limit: number): Promise<RequeuedMessage[]> {
    const target = (await this.peek(limit)).length;
    const client = await this.connect();
    const receiver = await this.receiver();
    const sender = client.createSender(this.settings.queueName);
    const requeued: RequeuedMessage[] = [];
    try {
      while (requeued.length < target) {
        const batch = await receiver.receiveMessages(Math.min(RECEIVE_BATCH, target - requeued.length), {
          maxWaitTimeInMs: RECEIVE_WAIT_MS,
        });
        if (batch.length === 0) break;
        for (const [index, message] of batch.entries()) {
          const sequenceNumber = String(message.sequenceNumber ?? '');
          const toMessageId = requeuedMessageId(message.messageId?.toString(), sequenceNumber);
          try {
            await sender.sendMessages(copyOf(message, toMessageId));
          } catch (error) {
            // Unlock what this run holds so the next run (or another operator) can take it at once.
            await Promise.allSettled(batch.slice(index).map((held) => receiver.abandonMessage(held)));
            throw new DeadLetterRequeueError(requeued, message.messageId?.toString(), error);
          }
          await receiver.completeMessage(message);
          requeued.push({ fromMessageId: message.messageId?.toString(), sequenceNumber, toMessageId });
        }
      }
      return requeued;
    } finally {
      await Promise.allSettled([sender.close(), receiver.close()]);
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.close();
  }

  private async connect(): Promise<ServiceBusClient> {
    if (!this.client) {
      const { ServiceBusClient } = await import('@azure/service-bus');
      this.client ??=
        this.settings.kind === 'connectionString'
          ? new ServiceBusClient(this.settings.connectionString, this.clientOptions)
          : new ServiceBusClient(
              this.settings.fullyQualifiedNamespace,
              this.credential(),
              this.clientOptions,
            );
    }
    return this.client;
  }

  private async receiver(): Promise<ServiceBusReceiver> {
    const client = await this.connect();
    return client.createReceiver(this.settings.queueName, {
      subQueueType: 'deadLetter',
      receiveMode: 'peekLock',
      // The body's bytes as they were sent: a non-JSON body must go back exactly as it came.
      skipParsingBodyAsJson: true,
    });
  }
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    return String(value);
  }
  return JSON.stringify(value);
}

function describe(message: ServiceBusReceivedMessage): DeadLetteredMessage {
  const properties = message.applicationProperties ?? {};
  return {
    messageId: text(message.messageId),
    sequenceNumber: String(message.sequenceNumber ?? ''),
    enqueuedTimeUtc: message.enqueuedTimeUtc?.toISOString(),
    deliveryCount: message.deliveryCount,
    deadLetterReason: message.deadLetterReason,
    deadLetterErrorDescription: message.deadLetterErrorDescription,
    tenantId: text(properties.tenantId),
    eventId: text(properties.eventId),
  };
}

function copyOf(message: ServiceBusReceivedMessage, messageId: string): ServiceBusMessage {
  const applicationProperties = { ...message.applicationProperties };
  for (const name of PROPERTIES_NOT_REQUEUED) delete applicationProperties[name];
  return {
    messageId,
    // With skipParsingBodyAsJson the body is the data section's Buffer, sent back as the same bytes.
    body: message.body as unknown,
    ...(message.contentType !== undefined ? { contentType: message.contentType } : {}),
    ...(message.correlationId !== undefined ? { correlationId: message.correlationId } : {}),
    ...(message.subject !== undefined ? { subject: message.subject } : {}),
    applicationProperties,
  };
}
