import type { ReceivedAuditMessage } from '../domain/forwarder';

/**
 * Turns what a `cardinality: 'many'` Service Bus trigger hands the handler
 * (the bodies, plus index-aligned `…Array` entries in the trigger metadata)
 * into one record per message.
 *
 * Alignment is only trusted when an array has exactly one entry per message:
 * the host drops empty strings from string arrays unless the worker declares
 * IncludeEmptyEntriesInMessagePayload (src/index.ts does), and a shorter array
 * would pin one event's message id or tenant on another. A misaligned array is
 * ignored as a whole and reported; the forwarder then goes by the body alone.
 */
export interface ReceivedBatch {
  messages: ReceivedAuditMessage[];
  /** Metadata arrays ignored because their length did not match the batch. */
  misalignedMetadata: string[];
}

type AlignedArray = 'messageIdArray' | 'applicationPropertiesArray' | 'deliveryCountArray';

export function receivedBatch(
  bodies: unknown,
  triggerMetadata: Readonly<Record<string, unknown>> | undefined,
): ReceivedBatch {
  const list: unknown[] = Array.isArray(bodies) ? bodies : [bodies];
  const misalignedMetadata: string[] = [];
  const aligned = (name: AlignedArray): readonly unknown[] | undefined => {
    const value = triggerMetadata?.[name];
    if (value === undefined) return undefined;
    if (Array.isArray(value) && value.length === list.length) return value as unknown[];
    misalignedMetadata.push(name);
    return undefined;
  };
  const ids = aligned('messageIdArray');
  const properties = aligned('applicationPropertiesArray');
  const deliveryCounts = aligned('deliveryCountArray');
  return {
    messages: list.map((body, index) => ({
      body,
      messageId: messageIdOf(ids?.[index]),
      applicationProperties: recordOf(properties?.[index]),
      deliveryCount: countOf(deliveryCounts?.[index]),
    })),
    misalignedMetadata,
  };
}

/** The library JSON-parses string metadata, so an id like "42" arrives as a number. */
function messageIdOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function recordOf(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function countOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}
