import { randomUUID } from 'node:crypto';
import type { TableTransaction } from '@azure/data-tables';
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
import { MAX_STRING_PROPERTY_CHARS, type LazyTable } from './tableStorage';

/**
 * Delivery records in Table Storage. Partition `<tenant>|<window start ISO>`,
 * so one range query reads a tenant's windows in order; every record is a
 * new entity with a random RowKey (insert-only: concurrent instances never
 * touch each other's rows, and an instance that dies mid-window leaves what
 * it recorded). Ids are merged into sets when read. Records are deleted once
 * the heartbeat has sealed their window, so the table holds only unsealed
 * windows; those never sealed are deleted (counted) once they expire.
 */
// A type, not an interface: the SDK's transaction actions want an index-compatible entity.
type RecordEntity = {
  partitionKey: string;
  rowKey: string;
  table: string;
  ids: string;
  parked: number;
  reenqueued: number;
};

/** A transaction holds at most 100 operations, all in one partition. */
const MAX_TRANSACTION_ACTIONS = 100;

export class TableDeliveryRecordStore implements DeliveryRecordStore {
  constructor(
    private readonly table: LazyTable,
    private readonly intervalMinutes: number,
  ) {}

  async record(records: readonly DeliveryRecord[]): Promise<void> {
    const byPartition = new Map<string, RecordEntity[]>();
    for (const record of records) {
      const window = windowContaining(record.at, this.intervalMinutes);
      const partitionKey = partitionOf(record.tenantId, window.start);
      const entities = byPartition.get(partitionKey) ?? [];
      const counts = { parked: record.parked ?? 0, reenqueued: record.reenqueued ?? 0 };
      for (const table of TABLE_NAMES) {
        for (const ids of splitRecordIds(record.delivered?.[table] ?? [], MAX_STRING_PROPERTY_CHARS)) {
          entities.push({ partitionKey, rowKey: randomUUID(), table, ids, parked: 0, reenqueued: 0 });
        }
      }
      if (counts.parked > 0 || counts.reenqueued > 0) {
        entities.push({ partitionKey, rowKey: randomUUID(), table: '', ids: '', ...counts });
      }
      if (entities.length > 0) byPartition.set(partitionKey, entities);
    }
    if (byPartition.size === 0) return;
    const client = await this.table.get();
    await Promise.all(
      [...byPartition.values()].flatMap((entities) =>
        chunk(entities, MAX_TRANSACTION_ACTIONS).map((part) =>
          client.submitTransaction(part.map((entity) => ['create', entity] as const)),
        ),
      ),
    );
  }

  async readUpTo(tenantId: string, before: HealthWindow): Promise<RecordedWindows> {
    const client = await this.table.get();
    const low = `${tenantId.toLowerCase()}|`;
    const high = partitionOf(tenantId, before.end);
    const entities = client.listEntities<RecordEntity>({
      queryOptions: { filter: `PartitionKey ge '${low}' and PartitionKey lt '${high}'` },
    });
    const windows = new Map<string, WindowDeliveries>();
    const read = new Map<string, string[]>();
    for await (const entity of entities) {
      const partitionKey = entity.partitionKey;
      const windowStart = partitionKey.slice(low.length);
      let deliveries = windows.get(windowStart);
      if (!deliveries) {
        deliveries = emptyDeliveries();
        windows.set(windowStart, deliveries);
      }
      addEntity(deliveries, entity);
      const keys = read.get(partitionKey) ?? [];
      keys.push(entity.rowKey);
      read.set(partitionKey, keys);
    }
    return { windows, discard: () => deleteAll(client, read) };
  }

  async readExpired(windowsEndingBy: Date, limit: number): Promise<ExpiredRecords[]> {
    const client = await this.table.get();
    const size = this.intervalMinutes * 60_000;
    // Partition keys start with the tenant, so no key range selects old windows of every tenant; the
    // write time does (a record is written while its window is open, or minutes after). Partitions of
    // windows ending later are skipped below: their records expire on a later sweep.
    const entities = client.listEntities<RecordEntity>({
      queryOptions: { filter: `Timestamp lt datetime'${windowsEndingBy.toISOString()}'` },
    });
    type Read = { windows: Map<string, WindowDeliveries>; read: Map<string, string[]> };
    const tenants = new Map<string, Read>();
    let count = 0;
    for await (const entity of entities) {
      const [tenantId, windowStart] = entity.partitionKey.split('|');
      const start = Date.parse(windowStart ?? '');
      if (!tenantId || Number.isNaN(start) || start + size > windowsEndingBy.getTime()) continue;
      const tenant: Read = tenants.get(tenantId) ?? {
        windows: new Map<string, WindowDeliveries>(),
        read: new Map<string, string[]>(),
      };
      tenants.set(tenantId, tenant);
      const deliveries = tenant.windows.get(windowStart!) ?? emptyDeliveries();
      tenant.windows.set(windowStart!, deliveries);
      addEntity(deliveries, entity);
      const keys = tenant.read.get(entity.partitionKey) ?? [];
      keys.push(entity.rowKey);
      tenant.read.set(entity.partitionKey, keys);
      count += 1;
      if (count >= limit) break;
    }
    return [...tenants.entries()].map(([tenantId, tenant]) => {
      const delivered: Partial<Record<TableName, number>> = {};
      let parked = 0;
      let reenqueued = 0;
      for (const deliveries of tenant.windows.values()) {
        for (const table of TABLE_NAMES) {
          const size = deliveries.delivered[table].size;
          if (size > 0) delivered[table] = (delivered[table] ?? 0) + size;
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
}

function addEntity(deliveries: WindowDeliveries, entity: RecordEntity): void {
  if (entity.table && entity.ids && (TABLE_NAMES as readonly string[]).includes(entity.table)) {
    const set = deliveries.delivered[entity.table as TableName] as Set<string>;
    for (const id of entity.ids.split(',')) if (id) set.add(id);
  }
  deliveries.parked += Number(entity.parked ?? 0);
  deliveries.reenqueued += Number(entity.reenqueued ?? 0);
}

/** Deletes exactly the entities read (partition key -> row keys), 100 per transaction. */
async function deleteAll(
  client: Awaited<ReturnType<LazyTable['get']>>,
  read: ReadonlyMap<string, readonly string[]>,
): Promise<void> {
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

function partitionOf(tenantId: string, windowStart: Date): string {
  return `${tenantId.toLowerCase()}|${windowStart.toISOString()}`;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let index = 0; index < items.length; index += size) chunks.push(items.slice(index, index + size));
  return chunks;
}
