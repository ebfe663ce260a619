import type { RestError, TableClient } from '@azure/data-tables';
import { ConcurrencyConflictError } from '../domain/errors';
import type { TenantConnectionStore } from '../domain/ports';
import type { ConnectionState, TenantConnection, Versioned } from '../domain/tenantConnection';
import { etagOf, isStatus, type LazyTable, toConflict } from './tableStorage';

const ROW_KEY = 'connection';

/** Flat Table Storage shape: nested parts as JSON strings, the queried ones as plain columns. */
export interface ConnectionEntity {
  partitionKey: string;
  rowKey: string;
  state: ConnectionState;
  stateReason: string;
  stateChangedAt: string;
  /** Duplicated out of testedJson so the pending-test timer can filter on it. */
  testOutcome: string;
  testedJson: string;
  savedJson: string;
  lastDeliveryAt: string;
  lastErrorJson: string;
  lastResolvedErrorJson?: string;
  schemaUpgradeJson?: string;
  createdAt: string;
  updatedAt: string;
  /** Newest first and bounded, so the entity stays far below Table Storage's 64 KiB per property. */
  historyJson?: string;
}

export function toEntity(connection: TenantConnection): ConnectionEntity {
  return {
    partitionKey: connection.tenantId,
    rowKey: ROW_KEY,
    state: connection.state,
    stateReason: connection.stateReason,
    stateChangedAt: connection.stateChangedAt,
    testOutcome: connection.tested?.test.outcome ?? '',
    testedJson: connection.tested ? JSON.stringify(connection.tested) : '',
    savedJson: connection.saved ? JSON.stringify(connection.saved) : '',
    lastDeliveryAt: connection.lastDeliveryAt ?? '',
    lastErrorJson: connection.lastError ? JSON.stringify(connection.lastError) : '',
    lastResolvedErrorJson: connection.lastResolvedError ? JSON.stringify(connection.lastResolvedError) : '',
    schemaUpgradeJson: connection.schemaUpgrade ? JSON.stringify(connection.schemaUpgrade) : '',
    createdAt: connection.createdAt,
    updatedAt: connection.updatedAt,
    historyJson: connection.history?.length ? JSON.stringify(connection.history) : '',
  };
}

export function fromEntity(entity: ConnectionEntity): TenantConnection {
  return {
    tenantId: entity.partitionKey,
    state: entity.state,
    stateReason: entity.stateReason,
    stateChangedAt: entity.stateChangedAt,
    ...(entity.testedJson ? { tested: JSON.parse(entity.testedJson) as TenantConnection['tested'] } : {}),
    ...(entity.savedJson ? { saved: JSON.parse(entity.savedJson) as TenantConnection['saved'] } : {}),
    ...(entity.lastDeliveryAt ? { lastDeliveryAt: entity.lastDeliveryAt } : {}),
    ...(entity.lastErrorJson
      ? { lastError: JSON.parse(entity.lastErrorJson) as TenantConnection['lastError'] }
      : {}),
    ...(entity.lastResolvedErrorJson
      ? {
          lastResolvedError: JSON.parse(
            entity.lastResolvedErrorJson,
          ) as TenantConnection['lastResolvedError'],
        }
      : {}),
    ...(entity.schemaUpgradeJson
      ? { schemaUpgrade: JSON.parse(entity.schemaUpgradeJson) as TenantConnection['schemaUpgrade'] }
      : {}),
    createdAt: entity.createdAt,
    updatedAt: entity.updatedAt,
    ...(entity.historyJson ? { history: JSON.parse(entity.historyJson) as TenantConnection['history'] } : {}),
  };
}

/** One entity per tenant; every write is conditional on the ETag that was read. */
export class TableTenantConnectionStore implements TenantConnectionStore {
  constructor(private readonly table: LazyTable) {}

  async get(tenantId: string): Promise<Versioned<TenantConnection> | undefined> {
    const client = await this.table.get();
    try {
      const entity = await client.getEntity<ConnectionEntity>(tenantId, ROW_KEY);
      return { value: fromEntity(entity), etag: etagOf(entity) };
    } catch (error) {
      // A missing table is also a 404, but an outage: reading it as "no connection" would skip events.
      if (isStatus(error, 404) && !isTableNotFound(error)) return undefined;
      throw error;
    }
  }

  async create(connection: TenantConnection): Promise<Versioned<TenantConnection>> {
    const client = await this.table.get();
    try {
      const response = await client.createEntity(toEntity(connection));
      return { value: connection, etag: etagOf(response) };
    } catch (error) {
      throw toConflict(error, `The connection of tenant ${connection.tenantId}`);
    }
  }

  async replace(connection: TenantConnection, etag: string): Promise<Versioned<TenantConnection>> {
    const client = await this.table.get();
    try {
      const response = await client.updateEntity(toEntity(connection), 'Replace', { etag });
      return { value: connection, etag: etagOf(response) };
    } catch (error) {
      // A missing entity under a conditional replace is a conflict too: it was deleted meanwhile.
      if (isStatus(error, 404)) {
        throw new ConcurrencyConflictError(
          `The connection of tenant ${connection.tenantId} was deleted meanwhile; read it again and retry.`,
          { cause: error },
        );
      }
      throw toConflict(error, `The connection of tenant ${connection.tenantId}`);
    }
  }

  async listPendingTests(): Promise<Array<Versioned<TenantConnection>>> {
    const client: TableClient = await this.table.get();
    const found: Array<Versioned<TenantConnection>> = [];
    const entities = client.listEntities<ConnectionEntity>({
      queryOptions: { filter: `RowKey eq '${ROW_KEY}' and testOutcome eq 'pending'` },
    });
    for await (const entity of entities) {
      found.push({ value: fromEntity(entity), etag: etagOf(entity) });
    }
    return found;
  }

  async listSaved(): Promise<Array<Versioned<TenantConnection>>> {
    const client: TableClient = await this.table.get();
    const found: Array<Versioned<TenantConnection>> = [];
    // Versions live inside savedJson (and are absent on old entities): the caller compares them.
    const entities = client.listEntities<ConnectionEntity>({
      queryOptions: { filter: `RowKey eq '${ROW_KEY}' and savedJson ne ''` },
    });
    for await (const entity of entities) {
      found.push({ value: fromEntity(entity), etag: etagOf(entity) });
    }
    return found;
  }
}

/** The service names the error in a header; the SDK leaves `code` unset for entity reads. */
function isTableNotFound(error: unknown): boolean {
  const response = (error as RestError).response;
  return response?.headers.get('x-ms-error-code') === 'TableNotFound';
}
