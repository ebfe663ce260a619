import { randomUUID } from 'node:crypto';
import type { TableTransaction } from '@azure/data-tables';
import type {
  DeliveryRecord,
  DeliveryRecordStore,
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
 * windows.
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
      if (entity.table && entity.ids && (TABLE_NAMES as readonly string[]).includes(entity.table)) {
        const set = deliveries.delivered[entity.table as TableName] as Set<string>;
        for (const id of entity.ids.split(',')) if (id) set.add(id);
      }
      deliveries.parked += Number(entity.parked ?? 0);
      deliveries.reenqueued += Number(entity.reenqueued ?? 0);
      const keys = read.get(partitionKey) ?? [];
      keys.push(entity.rowKey);
      read.set(partitionKey, keys);
    }
    return {
      windows,
      discard: async () => {
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
      },
    };
  }
}

function partitionOf(tenantId: string, windowStart: Date): string {
  return `${tenantId.toLowerCase()}|${windowStart.toISOString()}`;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let index = 0; index < items.length; index += size) chunks.push(items.slice(index, index + size));
  return chunks;
}
