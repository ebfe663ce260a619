import { readAttempts } from '../deliveryAttempts';
import { formatProblems, parseEventMessage } from '../eventContract';
import { rowBytes } from '../ingestionChunks';
import type { ParkedEvent } from '../ports';
import { claimedIdentity, eventIdentity, invalidMessageTenant, tenantMismatch } from '../producerIntegrity';
import { eventToRow } from '../rowMapper';
import { deliveredKey, type PendingEvent } from './batchState';
import type { ReceivedAuditMessage } from './contract';
import { parkedBody, parkedEvent, parkKeyOf } from './parkedEntry';

/** A batch taken apart: each tenant's events to deliver, and what was parked or completed before any upload. */
export interface BatchIntake {
  byTenant: Map<string, PendingEvent[]>;
  /** Messages that are not valid audit events, parked under `parks`. */
  invalidIds: Array<string | undefined>;
  /** Per tenant: copies this batch already has, or that were delivered recently. */
  duplicates: Map<string, number>;
  parks: ParkedEvent[];
}

/**
 * Decodes every message, checks the producer's integrity, groups the events by
 * tenant and drops copies of a record already in the batch or in
 * `recentlyDelivered` (tenant/record id keys, see deliveredKey).
 */
export function takeBatchApart(
  messages: readonly ReceivedAuditMessage[],
  now: Date,
  recentlyDelivered: { has(key: string): boolean },
): BatchIntake {
  const byTenant = new Map<string, PendingEvent[]>();
  const invalidIds: Array<string | undefined> = [];
  const inBatch = new Set<string>();
  const duplicates = new Map<string, number>();
  const parks: ParkedEvent[] = [];
  for (const message of messages) {
    const decoded = decodeOrPark(message, now);
    if ('event' in decoded) {
      const key = deliveredKey(decoded.event);
      if (inBatch.has(key) || recentlyDelivered.has(key)) {
        duplicates.set(decoded.event.tenantId, (duplicates.get(decoded.event.tenantId) ?? 0) + 1);
        continue;
      }
      inBatch.add(key);
      const list = byTenant.get(decoded.event.tenantId) ?? [];
      list.push(decoded.event);
      byTenant.set(decoded.event.tenantId, list);
    } else {
      parks.push(decoded.parked);
      invalidIds.push(message.messageId);
    }
  }
  return { byTenant, invalidIds, duplicates, parks };
}

/**
 * One message's outcome, whatever its body: a body that makes decoding throw
 * (a bug, or input past what a check was written for) is parked under nobody
 * rather than failing the batch and, with it, every other tenant's events.
 */
function decodeOrPark(
  message: ReceivedAuditMessage,
  now: Date,
): { event: PendingEvent } | { parked: ParkedEvent } {
  try {
    return decode(message, now);
  } catch (error) {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return {
      parked: parkedEvent(
        {
          tenantId: undefined,
          messageId: message.messageId,
          eventRecordId: undefined,
          eventId: undefined,
          ...parkedBody(message.body),
          attempts: { attempt: 1, firstAttemptAt: now.toISOString(), history: [] },
          parkKey: parkKeyOf(message),
        },
        'invalidMessage',
        `The message could not be read (${detail.slice(0, 200)}); it is delivered to no tenant. Check the producer's body against the event contract.`,
        now,
      ),
    };
  }
}

function decode(message: ReceivedAuditMessage, now: Date): { event: PendingEvent } | { parked: ParkedEvent } {
  const attempts = readAttempts(message.applicationProperties, now);
  const validation = parseEventMessage(message.body);
  const claimed = validation.ok ? eventIdentity(message, validation.event) : claimedIdentity(message);
  const invalid = (tenantId: string | undefined, reason: string): { parked: ParkedEvent } => ({
    parked: parkedEvent(
      {
        tenantId,
        messageId: message.messageId,
        eventRecordId: claimed.eventRecordId,
        eventId: claimed.eventId,
        ...parkedBody(message.body),
        attempts,
        parkKey: parkKeyOf(message),
      },
      'invalidMessage',
      reason,
      now,
    ),
  });
  // Producer integrity: a message belongs to a tenant only when its tenantId property and its
  // body agree on one. Anything else is filed under nobody (unattributed), never under the
  // tenant the body merely claims, and is never delivered.
  const mismatch = tenantMismatch(claimed);
  if (validation.ok === false && validation.repeatedKey !== undefined) {
    return invalid(
      undefined,
      `The message body names the key ${JSON.stringify(validation.repeatedKey)} twice in one object, so which value counts would be a guess; it is delivered to no tenant. Fix the producer to send each key once.`,
    );
  }
  if (mismatch) {
    // Both wrongs, when the body is broken too: the producer has two things to fix.
    const alsoInvalid = validation.ok
      ? ''
      : ` The body is not a valid audit event either: ${formatProblems(validation.problems)}.`;
    return invalid(undefined, `${mismatch}${alsoInvalid}`);
  }
  if (!validation.ok) {
    return invalid(
      invalidMessageTenant(claimed),
      `The message is not a valid audit event (schema version 1): ${formatProblems(validation.problems)}. Fix the producer; replaying sends the same body again.`,
    );
  }
  const { event } = validation;
  const { table, row } = eventToRow(event);
  return {
    event: {
      messageId: message.messageId,
      receivedBody: message.body,
      eventRecordId: event.id,
      tenantId: event.tenantId,
      eventId: event.eventId,
      schemaVersion: event.schemaVersion,
      table,
      row,
      bytes: rowBytes(row),
      attempts,
      parkKey: parkKeyOf(message),
    },
  };
}
