import type { ServiceBusMessage, ServiceBusMessageBatch } from '@azure/service-bus';
import type { AuditQueueSender } from '../../src/adapters/auditQueueSender';

type BatchMessage = Parameters<ServiceBusMessageBatch['tryAddMessage']>[0];
type SendArgument = Parameters<AuditQueueSender['sendMessages']>[0];

/**
 * A fake of the narrow sender port the producer uses, for unit tests. Its
 * batches behave like the SDK's: tryAddMessage returns false once the next
 * message would push the batch past maxSizeInBytes (an empty batch included),
 * a message id longer than 128 characters throws, and only its own batches can
 * be sent. Message size is estimated (JSON body + properties + a fixed AMQP
 * overhead); the real broker test measures the SDK's exact encoding.
 */

export const STANDARD_TIER_MAX_MESSAGE_BYTES = 256 * 1024;
const BATCH_ENVELOPE_BYTES = 48;
const MESSAGE_ENVELOPE_BYTES = 96;

export interface ReceivedMessage {
  readonly messageId: unknown;
  readonly contentType: string | undefined;
  readonly applicationProperties: Record<string, unknown> | undefined;
  /** The body as a receiver gets it: the SDK sends non-binary bodies as JSON. */
  readonly body: unknown;
}

export function estimatedMessageBytes(message: ServiceBusMessage): number {
  return (
    MESSAGE_ENVELOPE_BYTES +
    Buffer.byteLength(JSON.stringify(message.body ?? null), 'utf8') +
    Buffer.byteLength(JSON.stringify(message.applicationProperties ?? {}), 'utf8') +
    Buffer.byteLength(String(message.messageId ?? ''), 'utf8') +
    Buffer.byteLength(message.contentType ?? '', 'utf8')
  );
}

class FakeBatch implements ServiceBusMessageBatch {
  readonly messages: ServiceBusMessage[] = [];
  sizeInBytes = BATCH_ENVELOPE_BYTES;

  constructor(readonly maxSizeInBytes: number) {}

  get count(): number {
    return this.messages.length;
  }

  tryAddMessage(message: BatchMessage): boolean {
    if (!('messageId' in message) && !('body' in message)) throw new TypeError('not a ServiceBusMessage');
    const serviceBusMessage = message as ServiceBusMessage;
    if (String(serviceBusMessage.messageId ?? '').length > 128) {
      throw new RangeError(
        'Length of messageId property on the message cannot be greater than 128 characters.',
      );
    }
    const size = estimatedMessageBytes(serviceBusMessage);
    if (this.sizeInBytes + size > this.maxSizeInBytes) return false;
    this.sizeInBytes += size;
    this.messages.push(serviceBusMessage);
    return true;
  }
}

export class FakeAuditQueue implements AuditQueueSender {
  readonly sentBatches: Array<{ sizeInBytes: number; messages: ReceivedMessage[] }> = [];
  closed = false;
  batchesCreated = 0;
  /** Make the n-th sendMessages call (1-based) fail, as a broker outage would. */
  failOnSend: number | undefined;
  private sends = 0;

  constructor(readonly maxSizeInBytes = STANDARD_TIER_MAX_MESSAGE_BYTES) {}

  get received(): ReceivedMessage[] {
    return this.sentBatches.flatMap((batch) => batch.messages);
  }

  createMessageBatch(): Promise<ServiceBusMessageBatch> {
    this.assertOpen();
    this.batchesCreated++;
    return Promise.resolve(new FakeBatch(this.maxSizeInBytes));
  }

  sendMessages(messages: SendArgument): Promise<void> {
    this.assertOpen();
    if (!(messages instanceof FakeBatch)) {
      return Promise.reject(new TypeError('the producer must send batches created by createMessageBatch'));
    }
    this.sends++;
    if (this.sends === this.failOnSend) {
      return Promise.reject(new Error('ServiceUnavailable: the broker is unavailable (injected)'));
    }
    this.sentBatches.push({
      sizeInBytes: messages.sizeInBytes,
      messages: messages.messages.map((message) => ({
        messageId: message.messageId,
        contentType: message.contentType,
        applicationProperties: message.applicationProperties && { ...message.applicationProperties },
        body: JSON.parse(JSON.stringify(message.body)) as unknown,
      })),
    });
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('The sender has been closed and can no longer be used.');
  }
}
