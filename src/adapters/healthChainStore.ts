import { odata, type TableTransaction } from '@azure/data-tables';
import canonicalize from 'canonicalize';
import type { ChainHead } from '../domain/exportHealth/chain';
import { EMPTY_CHAIN } from '../domain/exportHealth/chain';
import type { SignedHealthRow } from '../domain/exportHealth/healthRow';
import { randomUUID } from 'node:crypto';
import type {
  AppendExtras,
  ChangeRequest,
  ExpiredTally,
  HealthChainState,
  HealthChainStore,
  QuarantinedPendingRow,
  RefusedChangeRequest,
} from '../domain/exportHealth/healthChainStore';
import { checkChangeRequest } from '../domain/exportHealth/changeRequests';
import { parsePendingRow, type RefusedPendingRow } from '../domain/exportHealth/pendingRows';
import { ConcurrencyConflictError } from '../domain/errors';
import { etagOf, toConflict, type LazyTable } from './tableStorage';

/**
 * Per tenant (partition): a `head` entity (sequence, hash, sealedUpTo) and
 * one `row-<sequence>` entity per sealed row not yet uploaded. Appends are
 * one entity-group transaction, conditional on the head's ETag, so two
 * writers (a heartbeat and a change) never both take the same sequence.
 * Rows hold no secret: they are what the customer's workspace receives.
 */
const HEAD = 'head';
/** The counted loss of expired delivery records, until a row reports it (see ExpiredTally). */
const EXPIRED = 'expired';
/** Change requests sort by time: `request-<ISO time>-<uuid>`. */
const REQUEST_PREFIX = 'request-';
/** Sealed rows waiting for upload: `row-<sequence, 15 digits>`. */
const ROW_PREFIX = 'row-';
/** Pending rows set aside (see quarantinePending): `quarantine-<ISO time>-<uuid>`, never read as pending. */
const QUARANTINE_PREFIX = 'quarantine-';
const QUARANTINE_END = 'quarantine.';
/** A Table Storage string property holds 64 KiB of UTF-16: 32 768 characters. */
const MAX_TABLE_STRING_CHARS = 32_000;

type HeadEntity = {
  partitionKey: string;
  rowKey: string;
  sequence: number;
  hash: string;
  sealedUpTo: string;
};

type RowEntity = {
  partitionKey: string;
  rowKey: string;
  row: string;
};

type QuarantineEntity = {
  partitionKey: string;
  rowKey: string;
  /** The row key it was stored under, its text as found (possibly not JSON), and why it was set aside. */
  originalRowKey: string;
  row: string;
  reason: string;
  quarantinedAt: string;
};

type RequestEntity = {
  partitionKey: string;
  rowKey: string;
  request: string;
};

type ExpiredEntity = {
  partitionKey: string;
  rowKey: string;
  /** JSON of the tally without its etag. */
  tally: string;
};

export class TableHealthChainStore implements HealthChainStore {
  constructor(private readonly table: LazyTable) {}

  async get(tenantId: string): Promise<HealthChainState> {
    const client = await this.table.get();
    const partition = tenantId.toLowerCase();
    let head: ChainHead = EMPTY_CHAIN;
    let sealedUpTo: string | undefined;
    let etag: string | undefined;
    const pending: SignedHealthRow[] = [];
    const refusedPending: RefusedPendingRow[] = [];
    let expired: ExpiredTally | undefined;
    const requests: ChangeRequest[] = [];
    const refusedRequests: RefusedChangeRequest[] = [];
    const entities = client.listEntities<HeadEntity | RowEntity | ExpiredEntity | RequestEntity>({
      // Rows set aside are never read again: kept for an operator, they would otherwise be listed
      // (text and all) by every read of the tenant's chain, for good. '.' follows '-' in key order.
      queryOptions: {
        filter: odata`PartitionKey eq ${partition} and (RowKey lt ${QUARANTINE_PREFIX} or RowKey ge ${QUARANTINE_END})`,
      },
    });
    for await (const entity of entities) {
      if (entity.rowKey === HEAD) {
        const value = entity as HeadEntity;
        head = { sequence: Number(value.sequence), hash: value.hash };
        sealedUpTo = value.sealedUpTo || undefined;
        etag = etagOf(entity);
      } else if (entity.rowKey === EXPIRED && 'tally' in entity && entity.tally) {
        expired = { ...(JSON.parse(entity.tally) as Omit<ExpiredTally, 'etag'>), etag: etagOf(entity) };
      } else if (entity.rowKey.startsWith(REQUEST_PREFIX)) {
        // Checked, never trusted: whoever can write this table must not get any row signed.
        const checked = checkChangeRequest(
          entity.rowKey,
          (entity as Partial<RequestEntity>).request,
          entity.timestamp,
        );
        if (checked.ok) requests.push(checked.request);
        else refusedRequests.push({ id: checked.id, reason: checked.reason });
      } else if (entity.rowKey.startsWith(ROW_PREFIX)) {
        // Checked like requests: a planted row must neither be uploaded nor stop the tenant's heartbeat.
        const parsed = parsePendingRow(entity.rowKey, (entity as Partial<RowEntity>).row);
        if (!parsed.ok) refusedPending.push({ id: parsed.id, reason: parsed.reason });
        else if (rowKeyOf(parsed.row.Sequence_d) !== entity.rowKey) {
          // removePending deletes by sequence: a row under another key would be uploaded every tick.
          refusedPending.push({
            id: entity.rowKey,
            reason: 'the row is stored under another sequence number',
          });
        } else pending.push(parsed.row);
      }
      // Anything else (quarantined rows, entities the service never writes) is no pending row.
    }
    pending.sort((a, b) => a.Sequence_d - b.Sequence_d);
    return {
      head,
      pending,
      ...(refusedPending.length > 0 ? { refusedPending } : {}),
      ...(sealedUpTo ? { sealedUpTo } : {}),
      ...(etag ? { etag } : {}),
      ...(expired ? { expired } : {}),
      // Row keys sort by time: the listing's order is the order the changes happened in.
      ...(requests.length > 0 ? { requests } : {}),
      ...(refusedRequests.length > 0 ? { refusedRequests } : {}),
    };
  }

  async append(
    tenantId: string,
    rows: readonly SignedHealthRow[],
    head: ChainHead,
    sealedUpTo: string | undefined,
    etag: string | undefined,
    extras: AppendExtras = {},
  ): Promise<string> {
    const { clearExpired, consumedRequests = [] } = extras;
    const client = await this.table.get();
    const partitionKey = tenantId.toLowerCase();
    const headEntity: HeadEntity = {
      partitionKey,
      rowKey: HEAD,
      sequence: head.sequence,
      hash: head.hash,
      sealedUpTo: sealedUpTo ?? '',
    };
    const actions: TableTransaction['actions'] = [
      etag ? ['update', headEntity, 'Replace', { etag }] : ['create', headEntity],
      ...rows.map((row): TableTransaction['actions'][number] => {
        const json = JSON.stringify(row);
        if (json.length > MAX_TABLE_STRING_CHARS) {
          throw new RangeError(`Health row ${row.Sequence_d} is ${json.length} characters, too long to keep`);
        }
        return ['create', { partitionKey, rowKey: rowKeyOf(row.Sequence_d), row: json } satisfies RowEntity];
      }),
      ...(clearExpired
        ? // Emptied, not deleted: a delete in a transaction ignores the ETag, and a tally grown meanwhile must not go.
          [
            [
              'update',
              { partitionKey, rowKey: EXPIRED, tally: '' } satisfies ExpiredEntity,
              'Replace',
              { etag: clearExpired.etag },
            ] satisfies TableTransaction['actions'][number],
          ]
        : []),
      ...consumedRequests.map((rowKey): TableTransaction['actions'][number] => [
        'delete',
        { partitionKey, rowKey },
      ]),
    ];
    try {
      const response = await client.submitTransaction(actions);
      const first = response.subResponses[0];
      if (!first?.etag) throw new Error('Table Storage returned no ETag for the chain head');
      return first.etag;
    } catch (error) {
      throw toConflict(error, `The health chain of tenant ${tenantId}`);
    }
  }

  async requestChange(tenantId: string, request: ChangeRequest): Promise<void> {
    const client = await this.table.get();
    const { id: _id, ...content } = request;
    const entity: RequestEntity = {
      partitionKey: tenantId.toLowerCase(),
      rowKey: `${REQUEST_PREFIX}${new Date(request.at).toISOString()}-${randomUUID()}`,
      request: JSON.stringify(content),
    };
    await client.createEntity(entity);
  }

  async discardRequests(tenantId: string, ids: readonly string[]): Promise<void> {
    const client = await this.table.get();
    const partitionKey = tenantId.toLowerCase();
    for (const rowKey of ids) {
      await client.deleteEntity(partitionKey, rowKey).catch((error: unknown) => {
        if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      });
    }
  }

  async addExpired(tenantId: string, expired: Omit<ExpiredTally, 'etag'>): Promise<void> {
    const client = await this.table.get();
    const partitionKey = tenantId.toLowerCase();
    for (let attempt = 1; ; attempt += 1) {
      const current = await client.getEntity<ExpiredEntity>(partitionKey, EXPIRED).catch((error: unknown) => {
        if ((error as { statusCode?: number }).statusCode === 404) return undefined;
        throw error;
      });
      const tally: Omit<ExpiredTally, 'etag'> = current?.tally
        ? addTallies(JSON.parse(current.tally) as Omit<ExpiredTally, 'etag'>, expired)
        : expired;
      const entity: ExpiredEntity = { partitionKey, rowKey: EXPIRED, tally: JSON.stringify(tally) };
      try {
        if (current) await client.updateEntity(entity, 'Replace', { etag: etagOf(current) });
        else await client.createEntity(entity);
        return;
      } catch (error) {
        const conflict = toConflict(error, `The expired-records tally of tenant ${tenantId}`);
        // A heartbeat reported (and cleared) the tally meanwhile, or another sweep added to it.
        if (!(conflict instanceof ConcurrencyConflictError) || attempt >= 5) throw conflict;
      }
    }
  }

  async removePending(tenantId: string, sequences: readonly number[]): Promise<void> {
    if (sequences.length === 0) return;
    const client = await this.table.get();
    const partitionKey = tenantId.toLowerCase();
    for (let index = 0; index < sequences.length; index += 100) {
      await client.submitTransaction(
        sequences
          .slice(index, index + 100)
          .map((sequence): TableTransaction['actions'][number] => [
            'delete',
            { partitionKey, rowKey: rowKeyOf(sequence) },
          ]),
      );
    }
  }

  async quarantinePending(tenantId: string, rows: readonly QuarantinedPendingRow[]): Promise<void> {
    const client = await this.table.get();
    const partitionKey = tenantId.toLowerCase();
    const notFound = (error: unknown) => {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    };
    for (const row of rows) {
      const rowKey = 'id' in row ? row.id : rowKeyOf(row.sequence);
      const found = await client.getEntity<Partial<RowEntity>>(partitionKey, rowKey).catch(notFound);
      if (!found) continue; // Gone meanwhile (another instance set it aside): nothing to move.
      // Only the row that was refused: another writer may have set it aside and sealed ours there since.
      if (!stillRefused(row, rowKey, found.row)) continue;
      const now = new Date().toISOString();
      const text =
        typeof found.row === 'string' ? found.row : found.row === undefined ? '' : String(found.row);
      const kept: QuarantineEntity = {
        partitionKey,
        rowKey: `${QUARANTINE_PREFIX}${now}-${randomUUID()}`,
        originalRowKey: rowKey,
        row: text.slice(0, MAX_TABLE_STRING_CHARS),
        reason: row.reason,
        quarantinedAt: now,
      };
      // Copy first, then delete on the ETag read: a delete inside a transaction ignores the ETag
      // (@azure/data-tables sends If-Match: *), and the row must go only if it is still the one
      // checked. Changed or gone meanwhile: the copy goes again. A crash in between leaves the row
      // pending too; the next tick sets it aside again (a second copy, nothing lost).
      await client.createEntity(kept);
      try {
        await client.deleteEntity(partitionKey, rowKey, { etag: etagOf(found) });
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        if (status !== 412 && status !== 404) throw error;
        await client.deleteEntity(partitionKey, kept.rowKey).catch(notFound);
      }
    }
  }
}

/** Whether the text now under `rowKey` is still what was refused (see QuarantinedPendingRow). */
function stillRefused(row: QuarantinedPendingRow, rowKey: string, text: unknown): boolean {
  const parsed = parsePendingRow(rowKey, text);
  if ('id' in row) return !parsed.ok || rowKeyOf(parsed.row.Sequence_d) !== rowKey;
  return parsed.ok && canonicalize(parsed.row) === canonicalize(row.row);
}

function addTallies(
  a: Omit<ExpiredTally, 'etag'>,
  b: Omit<ExpiredTally, 'etag'>,
): Omit<ExpiredTally, 'etag'> {
  const delivered: Partial<Record<string, number>> = { ...a.delivered };
  for (const [table, count] of Object.entries(b.delivered))
    delivered[table] = (delivered[table] ?? 0) + (count ?? 0);
  return {
    firstWindow: a.firstWindow < b.firstWindow ? a.firstWindow : b.firstWindow,
    lastWindow: a.lastWindow > b.lastWindow ? a.lastWindow : b.lastWindow,
    windows: a.windows + b.windows,
    delivered,
    parked: a.parked + b.parked,
    reenqueued: a.reenqueued + b.reenqueued,
  };
}

function rowKeyOf(sequence: number): string {
  return `row-${String(sequence).padStart(15, '0')}`;
}
