import { isUtf8 } from 'node:buffer';
import type { DeliveryAttempts } from '../deliveryAttempts';
import { messageIdParkedId, messageParkedId, newParkedId } from '../parkedIds';
import type { ParkCategory, ParkedEvent } from '../ports';
import type { ReceivedAuditMessage } from './contract';

/** What a parked entry and a re-enqueued copy carry of the message they stand for. */

export interface ParkSource {
  tenantId: string | undefined;
  messageId: string | undefined;
  eventRecordId: string | undefined;
  eventId: number | undefined;
  body: string;
  bodyEncoding?: 'base64';
  attempts: DeliveryAttempts;
  parkKey: string | undefined;
}

export function parkedEvent(
  source: ParkSource,
  category: ParkCategory,
  reason: string,
  now: Date,
): ParkedEvent {
  const parkedAt = now.toISOString();
  return {
    tenantId: source.tenantId,
    parkedId: source.parkKey ?? newParkedId(parkedAt),
    messageId: source.messageId,
    eventRecordId: source.eventRecordId,
    eventId: source.eventId,
    category,
    reason,
    body: source.body,
    ...(source.bodyEncoding ? { bodyEncoding: source.bodyEncoding } : {}),
    attempts: source.attempts.attempt,
    firstAttemptAt: source.attempts.firstAttemptAt,
    parkedAt,
    history: source.attempts.history,
  };
}

/**
 * The parked id that stays the same on redelivery: enqueue time with the exact
 * sequence number, else with the message id; undefined when the trigger said
 * neither (a new one is made then).
 */
export function parkKeyOf(message: ReceivedAuditMessage): string | undefined {
  if (message.enqueuedAt === undefined) return undefined;
  if (message.sequenceNumber !== undefined)
    return messageParkedId(message.enqueuedAt, message.sequenceNumber);
  if (message.messageId !== undefined) return messageIdParkedId(message.enqueuedAt, message.messageId);
  return undefined;
}

/** A body to park: its text, or, when the bytes are not UTF-8, the bytes themselves in base64 (nothing replaced). */
export function parkedBody(body: unknown): { body: string; bodyEncoding?: 'base64' } {
  if (body instanceof Uint8Array && !isUtf8(body)) {
    return { body: Buffer.from(body).toString('base64'), bodyEncoding: 'base64' };
  }
  return { body: bodyText(body) };
}

/** The body as text: what the producer sent, or the JSON of what the library parsed from it. */
export function bodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  if (body === undefined) return '';
  return JSON.stringify(body) ?? '';
}
