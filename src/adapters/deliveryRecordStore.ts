import { createHash, randomUUID } from 'node:crypto';
import { odata, type TableClient, type TableTransaction } from '@azure/data-tables';
import type {
  DeliveryRecord,
  DeliveryRecordStore,
  ExpiredRecords,
  RecordedWindows,
} from '../domain/exportHealth/deliveryRecorder';
import { splitRecordIds } from '../domain/exportHealth/recordIdParts';
import { emptyDeliveries, type WindowDeliveries } from '../domain/exportHealth/windowRows';
import { windowContaining, type HealthWindow } from '../domain/exportHealth/windows';
import { TABLE_NAMES, type TableName } from '../domain/tableSchema';
import { PartitionGroupCommit } from './partitionGroupCommit';
import { MAX_STRING_PROPERTY_CHARS, type LazyTable } from './tableStorage';

/**
 * Delivery records in Table Storage, written in a handful of requests per
 * batch whatever the number of tenants in it.
 *
 * Partition `shard-NN` (NN = a stable hash of the lower-case tenant id mod
 * SHARDS), RowKey `<tenant>|<window start ISO>|<uuid>`: a batch's records go
 * out as one entity-group transaction per shard (chunked by operation count
 * and payload size; batches settling at once in this instance share them:
 * one write in flight per shard), and the heartbeat reads one tenant's windows with one
 * RowKey range inside one partition (an index range, not a scan). Every
 * record is a new entity with a random suffix (insert-only: concurrent
 * instances never touch each other's rows, and an instance that dies
 * mid-window leaves what it recorded); one entity per tenant and batch holds
 * the ids of every table. Ids are merged into sets when read. Records are
 * deleted once the heartbeat has sealed their window; those never sealed are
 * deleted (counted) once they expire.
 *
 * Records written by earlier versions (partition `<tenant>|<window start>`,
 * one entity per table, properties `table` and `ids`) are read and deleted
 * alongside: tenant ids are GUIDs (hex), so those partitions all sort before
 * `shard-`.
 */
// A type, not an interface: the SDK's transaction actions want an index-compatible entity.
type RecordEntity = {
  partitionKey: string;
  rowKey: string;
  parked?: number;
  reenqueued?: number;
} & Partial<Record<TableName, string>>;

/** Earlier versions' entities: one table's ids each. */
type LegacyEntity = {
  partitionKey: string;
  rowKey: string;
  table?: string;
  ids?: string;
  parked?: number;
  reenqueued?: number;
};

/**
 * 16 shards. A partition's target is ~2,000 entities/s and a storage account's
 * 20,000 transactions/s (https://learn.microsoft.com/azure/storage/tables/scalability-targets):
 * with at least 10 shards the account's target binds before any partition's,
 * and 16 leaves room for an uneven hash. A batch costs at most one transaction
 * per shard while each shard's part holds up to 100 entities, so up to ~1,600
 * tenants a batch; more shards would only split batches into smaller
 * transactions.
 */
export const DELIVERY_RECORD_SHARDS = 16;
const SHARD_PREFIX = 'shard-';

/**
 * An entity-group transaction holds at most 100 operations, all in one
 * partition, with a payload of at most 4 MiB
 * (https://learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions).
 * The payload budget leaves room for the multipart framing the SDK adds around
 * each operation (PER_ACTION_OVERHEAD_BYTES, well over the ~400 bytes of
 * headers and URL it writes).
 */
const MAX_TRANSACTION_ACTIONS = 100;
const MAX_TRANSACTION_BYTES = 4 * 1024 * 1024 - 64 * 1024;
const PER_ACTION_OVERHEAD_BYTES = 1024;

/** How long "no record of the old layout is left" is believed before asking the table again. */
const LEGACY_PROBE_MS = 60_000;

export class TableDeliveryRecordStore implements DeliveryRecordStore {
  private legacyProbe: { at: number; present: Promise<boolean> } | undefined;
  /** Records of concurrent invocations of this instance share a shard's transactions. */
  private readonly commits = new PartitionGroupCommit<RecordEntity>((_, entities, signal) =>
    this.writeShard(entities, signal),
  );

  constructor(
    private readonly table: LazyTable,
    private readonly intervalMinutes: number,
    private readonly now: () => number = Date.now,
  ) {}

  async record(records: readonly DeliveryRecord[]): Promise<void> {
    const byShard = new Map<string, RecordEntity[]>();
    for (const record of records) {
      const tenant = tenantKey(record.tenantId);
      const partitionKey = shardOf(tenant);
      const window = windowContaining(record.at, this.intervalMinutes).start.toISOString();
      const parts = TABLE_NAMES.map(
        (table) =>
          [table, splitRecordIds(record.delivered?.[table] ?? [], MAX_STRING_PROPERTY_CHARS)] as const,
      );
      const parked = record.parked ?? 0;
      const reenqueued = record.reenqueued ?? 0;
      const count = Math.max(parked > 0 || reenqueued > 0 ? 1 : 0, ...parts.map(([, ids]) => ids.length));
      const entities = byShard.get(partitionKey) ?? [];
      for (let index = 0; index < count; index += 1) {
        const entity: RecordEntity = { partitionKey, rowKey: `${tenant}|${window}|${randomUUID()}` };
        for (const [table, ids] of parts) if (ids[index]) entity[table] = ids[index];
        if (index === 0 && parked > 0) entity.parked = parked;
        if (index === 0 && reenqueued > 0) entity.reenqueued = reenqueued;
        entities.push(entity);
      }
      if (entities.length > 0) byShard.set(partitionKey, entities);
    }
    await Promise.all([...byShard.entries()].map(([shard, entities]) => this.commits.add(shard, entities)));
  }

  private async writeShard(entities: readonly RecordEntity[], signal: AbortSignal): Promise<void> {
    const client = await this.table.get();
    await Promise.all(
      transactionChunks(entities).map((part) =>
        client.submitTransaction(
          part.map((entity) => ['create', entity] as const),
          { abortSignal: signal },
        ),
      ),
    );
  }

  async readUpTo(tenantId: string, before: HealthWindow): Promise<RecordedWindows> {
    const client = await this.table.get();
    const tenant = tenantKey(tenantId);
    const end = before.end.toISOString();
    const windows = new Map<string, WindowDeliveries>();
    const read = new Map<string, string[]>();
    const shard = shardOf(tenant);
    const current = client.listEntities<RecordEntity>({
      queryOptions: {
        filter: odata`PartitionKey eq ${shard} and RowKey ge ${`${tenant}|`} and RowKey lt ${`${tenant}|${end}`}`,
      },
    });
    const [, legacy] = await Promise.all([
      (async () => {
        for await (const entity of current) {
          const [, windowStart] = entity.rowKey.split('|');
          if (!windowStart) continue;
          addEntity(windowOf(windows, windowStart), entity);
          keysOf(read, entity.partitionKey).push(entity.rowKey);
        }
      })(),
      this.legacyMayExist(client).then((present) =>
        present
          ? readLegacy(
              client,
              odata`PartitionKey ge ${`${tenant}|`} and PartitionKey lt ${`${tenant}|${end}`}`,
            )
          : [],
      ),
    ]);
    for (const entity of legacy) {
      const windowStart = entity.partitionKey.slice(tenant.length + 1);
      addEntity(windowOf(windows, windowStart), entity);
      keysOf(read, entity.partitionKey).push(entity.rowKey);
    }
    return { windows, discard: () => deleteAll(client, read) };
  }

  async readExpired(windowsEndingBy: Date, limit: number): Promise<ExpiredRecords[]> {
    const client = await this.table.get();
    const size = this.intervalMinutes * 60_000;
    const cutoff = windowsEndingBy.getTime();
    // Row keys start with the tenant, so no key range selects old windows of every tenant; the write
    // time does (a record is written while its window is open, or minutes after). Records of windows
    // ending later are skipped below: they expire on a later sweep.
    const writtenBefore = `Timestamp lt datetime'${windowsEndingBy.toISOString()}'`;
    type Read = { windows: Map<string, WindowDeliveries>; read: Map<string, string[]> };
    const tenants = new Map<string, Read>();
    let count = 0;
    const take = (tenantId: string, windowStart: string, entity: RecordEntity | LegacyEntity): boolean => {
      const start = Date.parse(windowStart);
      if (!tenantId || Number.isNaN(start) || start + size > cutoff) return false;
      const tenant: Read = tenants.get(tenantId) ?? { windows: new Map(), read: new Map() };
      tenants.set(tenantId, tenant);
      addEntity(windowOf(tenant.windows, windowStart), entity);
      keysOf(tenant.read, entity.partitionKey).push(entity.rowKey);
      count += 1;
      return count >= limit;
    };
    sweep: for (let shard = 0; shard < DELIVERY_RECORD_SHARDS; shard += 1) {
      const entities = client.listEntities<RecordEntity>({
        queryOptions: { filter: `${odata`PartitionKey eq ${shardKey(shard)}`} and ${writtenBefore}` },
      });
      for await (const entity of entities) {
        const [tenantId, windowStart] = entity.rowKey.split('|');
        if (take(tenantId ?? '', windowStart ?? '', entity)) break sweep;
      }
    }
    if (count < limit) {
      const legacy = client.listEntities<LegacyEntity>({
        queryOptions: { filter: `${odata`PartitionKey lt ${SHARD_PREFIX}`} and ${writtenBefore}` },
      });
      for await (const entity of legacy) {
        const [tenantId, windowStart] = entity.partitionKey.split('|');
        if (take(tenantId ?? '', windowStart ?? '', entity)) break;
      }
    }
    return [...tenants.entries()].map(([tenantId, tenant]) => {
      const delivered: Partial<Record<TableName, number>> = {};
      let parked = 0;
      let reenqueued = 0;
      for (const deliveries of tenant.windows.values()) {
        for (const table of TABLE_NAMES) {
          const ids = deliveries.delivered[table].size;
          if (ids > 0) delivered[table] = (delivered[table] ?? 0) + ids;
        }
        parked += deliveries.parked;
        reenqueued += deliveries.reenqueued;
      }
      return {
        tenantId,
        windows: [...tenant.windows.keys()].sort(),
        delivered,
        parked,
        reenqueued,
        discard: () => deleteAll(client, tenant.read),
      };
    });
  }

  /**
   * Whether records of the old layout may be left (written before the upgrade, or by an instance
   * still running the old version during it). Asked at most once a minute: a record missed in
   * between is read by a later heartbeat, like any record written after its window was sealed.
   */
  private legacyMayExist(client: TableClient): Promise<boolean> {
    const at = this.now();
    if (this.legacyProbe && at - this.legacyProbe.at < LEGACY_PROBE_MS) return this.legacyProbe.present;
    const present = (async () => {
      const pages = client
        .listEntities({
          queryOptions: { filter: odata`PartitionKey lt ${SHARD_PREFIX}`, select: ['PartitionKey'] },
        })
        .byPage({ maxPageSize: 1 });
      const first = await pages.next();
      // An empty page with a continuation token says nothing: assume there are some.
      return first.done !== true && (first.value.length > 0 || first.value.continuationToken !== undefined);
    })();
    this.legacyProbe = { at, present };
    present.catch(() => {
      this.legacyProbe = undefined;
    });
    return present;
  }
}

async function readLegacy(client: TableClient, filter: string): Promise<LegacyEntity[]> {
  const entities: LegacyEntity[] = [];
  for await (const entity of client.listEntities<LegacyEntity>({ queryOptions: { filter } }))
    entities.push(entity);
  return entities;
}

function addEntity(deliveries: WindowDeliveries, entity: RecordEntity | LegacyEntity): void {
  const add = (table: TableName, ids: unknown) => {
    if (typeof ids !== 'string' || !ids) return;
    const set = deliveries.delivered[table] as Set<string>;
    for (const id of ids.split(',')) if (id) set.add(id);
  };
  const legacy = entity as LegacyEntity;
  if (legacy.table && (TABLE_NAMES as readonly string[]).includes(legacy.table)) {
    add(legacy.table as TableName, legacy.ids);
  }
  for (const table of TABLE_NAMES) add(table, (entity as RecordEntity)[table]);
  deliveries.parked += Number(entity.parked ?? 0);
  deliveries.reenqueued += Number(entity.reenqueued ?? 0);
}

function windowOf(windows: Map<string, WindowDeliveries>, windowStart: string): WindowDeliveries {
  let deliveries = windows.get(windowStart);
  if (!deliveries) {
    deliveries = emptyDeliveries();
    windows.set(windowStart, deliveries);
  }
  return deliveries;
}

function keysOf(read: Map<string, string[]>, partitionKey: string): string[] {
  let keys = read.get(partitionKey);
  if (!keys) {
    keys = [];
    read.set(partitionKey, keys);
  }
  return keys;
}

/** Deletes exactly the entities read (partition key -> row keys), 100 per transaction. */
async function deleteAll(client: TableClient, read: ReadonlyMap<string, readonly string[]>): Promise<void> {
  await Promise.all(
    [...read.entries()].flatMap(([partitionKey, rowKeys]) =>
      chunk(rowKeys, MAX_TRANSACTION_ACTIONS).map((part) => {
        const actions: TableTransaction['actions'] = part.map((rowKey) => [
          'delete',
          { partitionKey, rowKey },
        ]);
        return client.submitTransaction(actions);
      }),
    ),
  );
}

/**
 * The lower-case tenant id, refused when it could not be told apart inside a
 * row key (`|` separates its parts) or is not a valid key at all.
 */
function tenantKey(tenantId: string): string {
  const tenant = tenantId.toLowerCase();
  // eslint-disable-next-line no-control-regex
  if (!tenant || /[|/\\#?\u0000-\u001f\u007f-\u009f]/.test(tenant)) {
    throw new RangeError(`Tenant id ${JSON.stringify(tenantId.slice(0, 80))} cannot key a delivery record`);
  }
  return tenant;
}

/** Stable across instances and versions: the first 32 bits of SHA-256 of the lower-case tenant id. */
export function shardOf(tenant: string): string {
  return shardKey(createHash('sha256').update(tenant).digest().readUInt32BE(0) % DELIVERY_RECORD_SHARDS);
}

function shardKey(shard: number): string {
  return `${SHARD_PREFIX}${shard.toString().padStart(2, '0')}`;
}

/** Consecutive runs of entities within both transaction limits: operation count and payload size. */
function transactionChunks(entities: readonly RecordEntity[]): RecordEntity[][] {
  const chunks: RecordEntity[][] = [];
  let current: RecordEntity[] = [];
  let bytes = 0;
  for (const entity of entities) {
    const size = Buffer.byteLength(JSON.stringify(entity), 'utf8') + PER_ACTION_OVERHEAD_BYTES;
    if (
      current.length > 0 &&
      (current.length >= MAX_TRANSACTION_ACTIONS || bytes + size > MAX_TRANSACTION_BYTES)
    ) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entity);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let index = 0; index < items.length; index += size) chunks.push(items.slice(index, index + size));
  return chunks;
}
