import type { ServiceBusReceivedMessage, ServiceBusReceiver } from '@azure/service-bus';
import {
  invokeServiceBusBatch,
  type ServiceBusInvocationResult,
  type ServiceBusTestMessage,
} from './functionsHost';

/**
 * Plays the Functions host's Service Bus listener for tests: receives a batch
 * from the Service Bus stand-in with the real SDK (peek-lock), invokes the
 * function through the library's invocation model, then completes every
 * message if the invocation succeeded or abandons every one if it failed, as
 * the extension does with autoCompleteMessages.
 *
 * Create the receiver with `skipParsingBodyAsJson: true`: the host hands the
 * body bytes over as they are, and so must this.
 */
export async function pumpBatch(
  receiver: ServiceBusReceiver,
  functionName: string,
  options: { maxMessages: number; maxWaitTimeInMs: number },
): Promise<{ received: number; result?: ServiceBusInvocationResult }> {
  const messages = await receiver.receiveMessages(options.maxMessages, {
    maxWaitTimeInMs: options.maxWaitTimeInMs,
  });
  if (messages.length === 0) return { received: 0 };
  const result = await invokeServiceBusBatch(functionName, messages.map(toTestMessage));
  for (const message of messages) {
    if (result.outcome === 'completed') await receiver.completeMessage(message);
    else await receiver.abandonMessage(message);
  }
  return { received: messages.length, result };
}

function toTestMessage(message: ServiceBusReceivedMessage): ServiceBusTestMessage {
  const body: unknown = message.body;
  const properties: Record<string, string | number | boolean | null> = {};
  for (const [key, value] of Object.entries(message.applicationProperties ?? {})) {
    properties[key] =
      typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
        ? value
        : String(value);
  }
  return {
    body: Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body) ?? '', 'utf8'),
    messageId: String(message.messageId),
    ...(message.contentType ? { contentType: message.contentType } : {}),
    applicationProperties: properties,
    deliveryCount: message.deliveryCount ?? 1,
    ...(message.sequenceNumber ? { sequenceNumber: BigInt(message.sequenceNumber.toString()) } : {}),
    ...(message.enqueuedTimeUtc ? { enqueuedTimeUtc: message.enqueuedTimeUtc } : {}),
    ...(message.lockToken ? { lockToken: message.lockToken } : {}),
  };
}
