import { createHash, randomUUID } from 'node:crypto';

/**
 * Ids of parked entries: unique within a tenant's partition, and time first
 * so the partition lists oldest first.
 */

/** For a message Service Bus did not identify: park time, and a uuid to keep rows apart within a millisecond. */
export function newParkedId(parkedAt: string): string {
  return `${parkedAt}_${randomUUID()}`;
}

/**
 * For a message Service Bus identified: its enqueue time and sequence number,
 * which it repeats on every redelivery. A batch that comes back after parking
 * half of its events (the store failed for the rest) then replaces those
 * entries instead of parking them twice. Only for a sequence number known
 * exactly: one rounded to a double could name another message's entry.
 */
export function messageParkedId(enqueuedAt: string, sequenceNumber: string): string {
  return `${enqueuedAt}_${sequenceNumber.padStart(20, '0')}`;
}

/**
 * For a message whose sequence number is not known exactly (the worker hands
 * 64-bit sequence numbers over as doubles, rounded above 2^53, which is
 * common on partitioned entities): its enqueue time and message id, which
 * redelivery also keeps. The id is hashed because a message id may hold
 * characters a Table Storage row key refuses (`/ \ # ?`) and up to 128
 * characters; the `m` keeps these ids apart from sequence-number ones.
 */
export function messageIdParkedId(enqueuedAt: string, messageId: string): string {
  return `${enqueuedAt}_m${createHash('sha256').update(messageId, 'utf8').digest('hex').slice(0, 40)}`;
}
