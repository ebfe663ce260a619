import { randomUUID } from 'node:crypto';

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
 * entries instead of parking them twice.
 */
export function messageParkedId(enqueuedAt: string, sequenceNumber: string): string {
  return `${enqueuedAt}_${sequenceNumber.padStart(20, '0')}`;
}
