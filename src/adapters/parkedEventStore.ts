import { ValidationError } from '../domain/errors';
import type { ParkedEvent, ParkedEventPage, ParkedEventStore } from '../domain/ports';
import { isStatus, type LazyTable, MAX_STRING_PROPERTY_CHARS } from './tableStorage';

/** Partition for messages nothing identifies a tenant in (not JSON, no tenantId anywhere). */
export const UNATTRIBUTED_PARTITION = '_unattributed';
const MAX_HISTORY = 10;
/**
 * The body is kept as binary chunks, not strings: bytes survive exactly
 * (Azurite has been seen to corrupt multi-byte characters in long string
 * properties), and a binary property holds up to 64 KiB. A Service Bus
 * Standard message is at most 256 KB, so its body fits in five chunks.
 */
const BODY_CHUNK_BYTES = 60_000;
const MAX_BODY_CHUNKS = 8;

interface ParkedEntity {
  partitionKey: string;
  rowKey: string;
  messageId: string;
  eventRecordId: string;
  eventId: number | null;
  category: string;
  reason: string;
  attempts: number;
  firstAttemptAt: string;
  parkedAt: string;
  historyJson: string;
  /** 'base64' when the chunks are bytes that are not UTF-8 text; absent for text. */
  bodyEncoding?: string;
  bodyChunks: number;
  [chunk: `body${number}`]: Uint8Array;
}

function toEntity(event: ParkedEvent): ParkedEntity {
  // The chunks hold the body's bytes either way; only how they read back differs.
  const bytes = Buffer.from(event.body, event.bodyEncoding === 'base64' ? 'base64' : 'utf8');
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length && chunks.length < MAX_BODY_CHUNKS; offset += BODY_CHUNK_BYTES) {
    // Larger than any Service Bus message can be: the head is kept rather than failing the park.
    chunks.push(bytes.subarray(offset, offset + BODY_CHUNK_BYTES));
  }
  const entity: ParkedEntity = {
    partitionKey: event.tenantId ?? UNATTRIBUTED_PARTITION,
    rowKey: event.parkedId,
    messageId: event.messageId ?? '',
    eventRecordId: event.eventRecordId ?? '',
    eventId: event.eventId ?? null,
    category: event.category,
    reason: event.reason.slice(0, MAX_STRING_PROPERTY_CHARS),
    attempts: event.attempts,
    firstAttemptAt: event.firstAttemptAt ?? '',
    parkedAt: event.parkedAt,
    historyJson: JSON.stringify(event.history.slice(-MAX_HISTORY)).slice(0, MAX_STRING_PROPERTY_CHARS),
    ...(event.bodyEncoding ? { bodyEncoding: event.bodyEncoding } : {}),
    bodyChunks: chunks.length,
  };
  chunks.forEach((chunk, index) => {
    entity[`body${index}`] = chunk;
  });
  return entity;
}

function fromEntity(entity: ParkedEntity): ParkedEvent {
  const chunks: Uint8Array[] = [];
  for (let index = 0; index < entity.bodyChunks; index += 1) {
    const chunk = entity[`body${index}`];
    if (chunk) chunks.push(chunk);
  }
  const base64 = entity.bodyEncoding === 'base64';
  const body = Buffer.concat(chunks).toString(base64 ? 'base64' : 'utf8');
  return {
    tenantId: entity.partitionKey === UNATTRIBUTED_PARTITION ? undefined : entity.partitionKey,
    parkedId: entity.rowKey,
    messageId: entity.messageId || undefined,
    eventRecordId: entity.eventRecordId || undefined,
    eventId: typeof entity.eventId === 'number' ? entity.eventId : undefined,
    category: entity.category as ParkedEvent['category'],
    reason: entity.reason,
    body,
    ...(base64 ? { bodyEncoding: 'base64' as const } : {}),
    attempts: entity.attempts,
    firstAttemptAt: entity.firstAttemptAt || undefined,
    parkedAt: entity.parkedAt,
    history: JSON.parse(entity.historyJson) as ParkedEvent['history'],
  };
}

export class TableParkedEventStore implements ParkedEventStore {
  constructor(private readonly table: LazyTable) {}

  async park(events: readonly ParkedEvent[]): Promise<void> {
    const client = await this.table.get();
    // Entities are independent; upsert makes a retried park (after a crash) idempotent.
    await Promise.all(events.map((event) => client.upsertEntity(toEntity(event), 'Replace')));
  }

  async list(
    tenantId: string,
    page: { limit: number; continuationToken?: string },
  ): Promise<ParkedEventPage> {
    if (page.continuationToken !== undefined) assertContinuationToken(page.continuationToken);
    const client = await this.table.get();
    const iterator = client
      .listEntities<ParkedEntity>({ queryOptions: { filter: `PartitionKey eq '${escapeOData(tenantId)}'` } })
      .byPage({
        maxPageSize: page.limit,
        ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
      });
    const next = await iterator.next();
    if (next.done) return { items: [] };
    const items = next.value.map((entity) => fromEntity(entity));
    const token = next.value.continuationToken;
    return token ? { items, continuationToken: token } : { items };
  }

  async count(tenantId: string): Promise<number> {
    const client = await this.table.get();
    let total = 0;
    const entities = client.listEntities({
      queryOptions: { filter: `PartitionKey eq '${escapeOData(tenantId)}'`, select: ['RowKey'] },
    });
    for await (const _entity of entities) total += 1;
    return total;
  }

  async remove(tenantId: string, parkedIds: readonly string[]): Promise<void> {
    const client = await this.table.get();
    await Promise.all(
      parkedIds.map(async (parkedId) => {
        try {
          await client.deleteEntity(tenantId, parkedId);
        } catch (error) {
          // Already removed by a concurrent replay: the goal is reached.
          if (!isStatus(error, 404)) throw error;
        }
      }),
    );
  }
}

/**
 * Continuation tokens come back from callers: one the SDK cannot decode would
 * surface as an internal error, so it is refused here as bad input. (A token
 * naming another partition reads nothing of it: the query filters on ours.)
 */
function assertContinuationToken(token: string): void {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  const fields = typeof decoded === 'object' && decoded !== null ? (decoded as Record<string, unknown>) : {};
  const valid =
    token.length <= 2048 &&
    typeof fields.nextPartitionKey === 'string' &&
    (fields.nextRowKey === undefined || typeof fields.nextRowKey === 'string');
  if (!valid) {
    throw new ValidationError(
      'InvalidContinuationToken',
      'The continuation token is not one a previous page returned; list again from the start without it.',
      'continuationToken',
    );
  }
}

function escapeOData(value: string): string {
  return value.replace(/'/g, "''");
}
