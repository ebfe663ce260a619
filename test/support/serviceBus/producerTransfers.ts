import type { AmqpError, Delivery, EventContext } from 'rhea';
import { AmqpDecodeError, BATCH_MESSAGE_FORMAT, rawBytesOf } from './amqpMessage';
import { CONDITION } from './links';
import { decodeBatch, decodeIncoming, type IncomingMessage, type StandInQueue } from './queue';

/**
 * Takes a transfer from a client's sending link into the queue: one message or a batch (message
 * format 0x80013700), checked against the queue's size limit and recorded for the admin API, then
 * accepted, or refused with the condition Service Bus answers with.
 */
export function acceptProducerTransfer(queue: StandInQueue, context: EventContext, delivery: Delivery): void {
  const format = (context as { format?: number }).format ?? 0;
  const raw =
    format === BATCH_MESSAGE_FORMAT
      ? (context.message as unknown as Buffer)
      : context.message
        ? rawBytesOf(context.message)
        : undefined;
  const batch = format === BATCH_MESSAGE_FORMAT;
  const sizeInBytes = Buffer.isBuffer(raw) ? raw.length : 0;
  const refuse = (error: AmqpError): void => {
    queue.recordTransfer({ sizeInBytes, batch, messageCount: 0, refusedWith: error.condition ?? null });
    delivery.reject(error);
  };
  if (format !== 0 && format !== BATCH_MESSAGE_FORMAT) {
    refuse({
      condition: CONDITION.notImplemented,
      description: `Message format ${format} is not supported.`,
    });
    return;
  }
  if (!Buffer.isBuffer(raw)) {
    refuse({
      condition: CONDITION.decodeError,
      description: 'The message bytes could not be read.',
    });
    return;
  }
  const limit = queue.options.maxMessageSizeBytes;
  if (raw.length > limit) {
    refuse({
      condition: CONDITION.messageSizeExceeded,
      description: `The received message (delivery-id:${delivery.id}, size:${raw.length} bytes) exceeds the limit (${limit} bytes) currently allowed on the link.`,
    });
    return;
  }
  let messages: IncomingMessage[];
  try {
    messages = batch ? decodeBatch(raw) : [decodeIncoming(raw)];
  } catch (error) {
    refuse({
      condition: CONDITION.decodeError,
      description: error instanceof AmqpDecodeError ? error.message : 'The message could not be decoded.',
    });
    return;
  }
  queue.recordTransfer({ sizeInBytes, batch, messageCount: messages.length, refusedWith: null });
  queue.accept(messages, Date.now());
  delivery.accept();
}
