import type { AmqpError, Receiver, Sender } from 'rhea';
import type { SubQueue } from './queue';

// What a link is for, how its address names an entity, and the AMQP errors Service Bus answers with.

export const DEAD_LETTER_SUFFIX = '$deadletterqueue';
export const MANAGEMENT_SUFFIX = '/$management';

export const CONDITION = {
  notFound: 'amqp:not-found',
  unauthorized: 'amqp:unauthorized-access',
  notAllowed: 'amqp:not-allowed',
  notImplemented: 'amqp:not-implemented',
  decodeError: 'amqp:decode-error',
  messageSizeExceeded: 'amqp:link:message-size-exceeded',
  lockLost: 'com.microsoft:message-lock-lost',
  messageNotFound: 'com.microsoft:message-not-found',
  deadLetter: 'com.microsoft:dead-letter',
  connectionForced: 'amqp:connection:forced',
} as const;

export const LOCK_LOST_DESCRIPTION =
  'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.';

export type EntityTarget = { queueKey: string; subQueue: SubQueue };

export type LinkRole =
  | { kind: 'cbsRequests' }
  | { kind: 'replies'; address: string }
  | ({ kind: 'managementRequests' } & EntityTarget)
  | { kind: 'producer'; queueKey: string }
  | ({ kind: 'consumer'; receiveAndDelete: boolean } & EntityTarget);
export type ConsumerRole = Extract<LinkRole, { kind: 'consumer' }>;

/** rhea internals the typings do not describe. */
export interface LinkInternals {
  local: { attach: Record<string, unknown> };
  remote: { attach?: { source?: { address?: string; filter?: unknown }; target?: { address?: string } } };
  issue_flow: boolean;
  credit: number;
  connection: { _register(): void };
  _get_drain(): boolean;
}

export function internals(link: Sender | Receiver): LinkInternals {
  return link as unknown as LinkInternals;
}

/** Entity path of a link address: `queue`, `queue/$DeadLetterQueue`, with any `sb://host/` prefix removed. */
export function entityPathOf(address: string | undefined): string {
  return (address ?? '').replace(/^[a-z]+:\/\/[^/]+\//i, '').replace(/^\/+/, '');
}

export function entityNotFound(endpoint: string, path: string): AmqpError {
  // The SDK recognises this wording (and the condition) as MessagingEntityNotFound.
  return {
    condition: CONDITION.notFound,
    description: `The messaging entity '${endpoint}${path}' could not be found. To know more visit https://aka.ms/sbResourceMgrExceptions.`,
  };
}
