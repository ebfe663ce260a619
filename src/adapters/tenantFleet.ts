import type { TableClient } from '@azure/data-tables';
import { ValidationError } from '../domain/errors';
import type { FleetPage, FleetQuery, TenantFleet, TenantOverview } from '../domain/fleet';
import type { ConnectionState } from '../domain/tenantConnection';
import { isStatus, type LazyTable } from './tableStorage';

/**
 * The fleet view over the two tables. The tenants table has one entity per
 * tenant (PartitionKey = tenant id, RowKey 'connection'; see
 * tenantConnectionStore.ts): a page reads only the columns shown. Table
 * Storage returns partitions in key order, and the parked table uses the same
 * partition keys, so the parked counts of a page come from one range query
 * over [first tenant, last tenant] that reads keys only, not one query per
 * tenant.
 */

const ROW_KEY = 'connection';
const COLUMNS = ['PartitionKey', 'state', 'stateReason', 'stateChangedAt', 'lastDeliveryAt', 'lastErrorJson'];

interface OverviewEntity {
  partitionKey: string;
  state: ConnectionState;
  stateReason?: string;
  stateChangedAt?: string;
  lastDeliveryAt?: string;
  lastErrorJson?: string;
}

export class TableTenantFleet implements TenantFleet {
  constructor(
    private readonly tenants: LazyTable,
    private readonly parked: LazyTable,
  ) {}

  async list(query: FleetQuery): Promise<FleetPage> {
    const client = await this.tenants.get();
    const filter = query.state
      ? `RowKey eq '${ROW_KEY}' and state eq '${query.state}'`
      : `RowKey eq '${ROW_KEY}'`;
    const pages = client.listEntities<OverviewEntity>({ queryOptions: { filter, select: COLUMNS } }).byPage({
      maxPageSize: query.limit,
      ...(query.continuationToken ? { continuationToken: query.continuationToken } : {}),
    });
    let page;
    try {
      page = await pages.next();
    } catch (error) {
      if (query.continuationToken && isStatus(error, 400)) {
        throw new ValidationError(
          'InvalidContinuationToken',
          'The continuation token is not one this listing handed out; start again without it.',
        );
      }
      throw error;
    }
    const entities = page.done ? [] : page.value;
    const counts = await this.parkedCounts(entities.map((entity) => entity.partitionKey));
    const items = entities.map((entity) => overview(entity, counts.get(entity.partitionKey) ?? 0));
    const next = page.done ? undefined : page.value.continuationToken;
    return { items, ...(next ? { continuationToken: next } : {}) };
  }

  private async parkedCounts(tenantIds: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    const sorted = [...tenantIds].sort();
    const first = sorted[0];
    const last = sorted.at(-1);
    if (first === undefined || last === undefined) return counts;
    const wanted = new Set(tenantIds);
    const client: TableClient = await this.parked.get();
    const keys = client.listEntities<{ partitionKey: string }>({
      queryOptions: {
        filter: `PartitionKey ge '${first}' and PartitionKey le '${last}'`,
        select: ['PartitionKey'],
      },
    });
    for await (const key of keys) {
      if (wanted.has(key.partitionKey)) counts.set(key.partitionKey, (counts.get(key.partitionKey) ?? 0) + 1);
    }
    return counts;
  }
}

function overview(entity: OverviewEntity, parked: number): TenantOverview {
  let lastError: TenantOverview['lastError'];
  if (entity.lastErrorJson) {
    try {
      lastError = JSON.parse(entity.lastErrorJson) as TenantOverview['lastError'];
    } catch {
      lastError = { at: '', message: 'unreadable lastErrorJson' };
    }
  }
  return {
    tenantId: entity.partitionKey,
    state: entity.state,
    stateReason: entity.stateReason ?? '',
    stateChangedAt: entity.stateChangedAt ?? '',
    lastDeliveryAt: entity.lastDeliveryAt || undefined,
    lastError,
    parked,
  };
}
