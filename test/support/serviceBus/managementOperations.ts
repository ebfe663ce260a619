import { amqpTypes } from './amqpMessage';
import { CONDITION, LOCK_LOST_DESCRIPTION } from './links';
import {
  decodeIncoming,
  lockTokenOfUuid,
  type IncomingMessage,
  type SettleOutcome,
  type StandInQueue,
  type SubQueue,
} from './queue';
import type { ServiceBusRight } from './types';

/** What a `$management` (or `$cbs`) request is answered with: application properties and a body. */
export interface ManagementResponse {
  properties: Record<string, unknown>;
  body: unknown;
}

/**
 * The right a management operation acts with. Scheduling is sending; the other operations act on
 * received messages. No evidence says how Service Bus checks them on a management link: each checks
 * the right it acts with (stricter).
 */
export function rightForOperation(operation: unknown): ServiceBusRight {
  return operation === 'com.microsoft:schedule-message' ||
    operation === 'com.microsoft:cancel-scheduled-message'
    ? 'Send'
    : 'Listen';
}

/** Runs one authorized `$management` operation (schedule, cancel, renew-lock, peek, update-disposition) on a queue. */
export function runManagementOperation(
  queue: StandInQueue,
  subQueue: SubQueue,
  operation: unknown,
  body: Record<string, unknown>,
  now: number,
): ManagementResponse {
  switch (operation) {
    case 'com.microsoft:schedule-message':
      return scheduleMessages(queue, body, now);
    case 'com.microsoft:cancel-scheduled-message': {
      const sequenceNumbers = asArray(body['sequence-numbers']).map(toSequenceNumber);
      const { missing } = queue.cancelScheduled(sequenceNumbers);
      if (missing.length > 0) {
        return managementError(
          404,
          CONDITION.messageNotFound,
          `Messages not found. Missing sequence numbers: ${missing.join(', ')}.`,
        );
      }
      return ok({});
    }
    case 'com.microsoft:renew-lock': {
      const expirations: number[] = [];
      for (const token of asArray(body['lock-tokens'])) {
        const until = queue.renewLock(lockTokenOfUuid(token as Buffer), now);
        if (until === undefined) {
          return managementError(410, CONDITION.lockLost, LOCK_LOST_DESCRIPTION);
        }
        expirations.push(until);
      }
      return ok({ expirations: amqpTypes.wrap_array(expirations, 0x83, undefined) });
    }
    case 'com.microsoft:peek-message': {
      const from = toSequenceNumber(body['from-sequence-number']);
      const count = typeof body['message-count'] === 'number' ? body['message-count'] : 1;
      const messages = queue.peek(subQueue, from, count, now);
      if (messages.length === 0) {
        return { properties: { statusCode: 204, statusDescription: 'No Content' }, body: {} };
      }
      return ok({
        messages: amqpTypes.wrap_list(messages.map((bytes) => amqpTypes.wrap_map({ message: bytes }))),
      });
    }
    case 'com.microsoft:update-disposition':
      return updateDisposition(queue, body, now);
    default:
      return managementError(
        501,
        CONDITION.notImplemented,
        `The Service Bus stand-in does not implement the management operation '${String(operation)}'.`,
      );
  }
}

function scheduleMessages(
  queue: StandInQueue,
  body: Record<string, unknown>,
  now: number,
): ManagementResponse {
  const incoming: IncomingMessage[] = [];
  for (const entry of asArray(body.messages)) {
    const bytes = (entry as { message?: unknown } | undefined)?.message;
    if (!Buffer.isBuffer(bytes)) {
      return managementError(400, CONDITION.decodeError, 'Each scheduled message needs its encoded bytes.');
    }
    if (bytes.length > queue.options.maxMessageSizeBytes) {
      return managementError(
        413,
        CONDITION.messageSizeExceeded,
        `The message (size:${bytes.length} bytes) exceeds the limit (${queue.options.maxMessageSizeBytes} bytes).`,
      );
    }
    try {
      incoming.push(decodeIncoming(bytes));
    } catch (error) {
      return managementError(400, CONDITION.decodeError, (error as Error).message);
    }
  }
  const sequenceNumbers = queue.schedule(incoming, now);
  return ok({ 'sequence-numbers': amqpTypes.wrap_array(sequenceNumbers, 0x81, undefined) });
}

function updateDisposition(
  queue: StandInQueue,
  body: Record<string, unknown>,
  now: number,
): ManagementResponse {
  const status = body['disposition-status'];
  const properties = body['properties-to-modify'] as Record<string, unknown> | undefined;
  for (const uuid of asArray(body['lock-tokens'])) {
    const token = lockTokenOfUuid(uuid as Buffer);
    let outcome: SettleOutcome;
    switch (status) {
      case 'completed':
        outcome = queue.complete(token, now);
        break;
      case 'abandoned':
        outcome = queue.abandon(token, properties, now);
        break;
      case 'suspended':
        outcome = queue.deadLetter(
          token,
          stringOrUndefined(body['deadletter-reason']),
          stringOrUndefined(body['deadletter-description']),
          properties,
          now,
        );
        break;
      default:
        return managementError(
          501,
          CONDITION.notImplemented,
          `Disposition '${String(status)}' is not supported by the Service Bus stand-in (deferral is not implemented).`,
        );
    }
    if (outcome === 'lockLost') {
      return managementError(410, CONDITION.lockLost, LOCK_LOST_DESCRIPTION);
    }
  }
  return ok({});
}

function ok(body: Record<string, unknown>): ManagementResponse {
  return { properties: { statusCode: 200, statusDescription: 'OK' }, body };
}

export function managementError(
  statusCode: number,
  condition: string,
  description: string,
): ManagementResponse {
  return { properties: { statusCode, statusDescription: description, errorCondition: condition }, body: {} };
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
}

function toSequenceNumber(value: unknown): number {
  if (typeof value === 'number') {
    return value;
  }
  if (Buffer.isBuffer(value) && value.length === 8) {
    return Number(value.readBigInt64BE());
  }
  return Number.NaN;
}

export function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
