import type { ReceivedAuditMessage } from '../domain/forwarder';

/**
 * Turns what a `cardinality: 'many'` Service Bus trigger hands the handler
 * (the bodies, plus index-aligned `…Array` entries in the trigger metadata)
 * into one record per message.
 *
 * Alignment is only trusted when an array has exactly one entry per message:
 * the host drops null and empty strings from string arrays (messageIdArray
 * for a message sent without an id), and a shorter array would pin one
 * event's message id on another. A misaligned array is ignored as a whole and
 * reported; the forwarder then goes by the body alone. The bodies themselves
 * (bytes), the JSON-typed arrays (applicationPropertiesArray,
 * deliveryCountArray, enqueuedTimeUtcArray) and sequenceNumberArray (longs)
 * are never shortened.
 *
 * The app does not declare IncludeEmptyEntriesInMessagePayload to keep
 * string arrays whole: the library runs JSON.parse on every string entry, and
 * the ~13 empty strings per message that the capability adds each throw,
 * which cost several times the forwarder's own work per event.
 */
export interface ReceivedBatch {
  messages: ReceivedAuditMessage[];
  /** Metadata arrays ignored because their length did not match the batch. */
  misalignedMetadata: string[];
}

type AlignedArray =
  | 'messageIdArray'
  | 'applicationPropertiesArray'
  | 'deliveryCountArray'
  | 'sequenceNumberArray'
  | 'enqueuedTimeUtcArray';

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
  const sequenceNumbers = aligned('sequenceNumberArray');
  const enqueuedTimes = aligned('enqueuedTimeUtcArray');
  return {
    messages: list.map((body, index) => ({
      body,
      messageId: messageIdOf(ids?.[index]),
      applicationProperties: recordOf(properties?.[index]),
      deliveryCount: countOf(deliveryCounts?.[index]),
      sequenceNumber: sequenceNumberOf(sequenceNumbers?.[index]),
      enqueuedAt: instantOf(enqueuedTimes?.[index]),
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

/**
 * A long arrives as a plain number (the Node worker decodes RPC sint64 with
 * protobufjs `longs: Number`; worker 3.16.0 alone handed over Longs,
 * `{ low, high, unsigned }`, azure-functions-nodejs-worker #844/#845), from a
 * single message as a number too. A number above 2^53 is already rounded and
 * could equal another message's: it is no sequence number (undefined).
 */
function sequenceNumberOf(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value !== 'object' || value === null) return undefined;
  const { low, high } = value as { low?: unknown; high?: unknown };
  if (typeof low !== 'number' || typeof high !== 'number') return undefined;
  const sequenceNumber = (BigInt(high) << 32n) | BigInt(low >>> 0);
  return sequenceNumber >= 0n ? sequenceNumber.toString() : undefined;
}

/** The host writes UTC with seven fractional digits, sometimes without the `Z`. */
function instantOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = /(Z|[+-]\d\d:\d\d)$/.test(value) ? value : `${value}Z`;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function countOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}
