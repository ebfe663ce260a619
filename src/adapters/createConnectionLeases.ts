import type { CreateConnectionLeases, CreateConnectionRun } from '../domain/ports';
import { etagOf, isStatus, type LazyTable } from './tableStorage';

/**
 * The Create Connection lease lives next to the tenant's connection entity
 * (same partition, its own row key), so every reader that filters on
 * RowKey 'connection' never sees it. Taking it is a conditional insert, or a
 * replace guarded by the ETag of the expired lease that was read: two
 * instances can never both hold it.
 */
const ROW_KEY = 'createConnectionRun';

interface LeaseEntity extends CreateConnectionRun {
  partitionKey: string;
  rowKey: string;
}

export class TableCreateConnectionLeases implements CreateConnectionLeases {
  constructor(private readonly table: LazyTable) {}

  async acquire(
    run: CreateConnectionRun & { tenantId: string },
    now: Date,
  ): Promise<CreateConnectionRun | undefined> {
    const client = await this.table.get();
    const entity: LeaseEntity = {
      partitionKey: run.tenantId,
      rowKey: ROW_KEY,
      runId: run.runId,
      startedAt: run.startedAt,
      expiresAt: run.expiresAt,
      workspaceResourceId: run.workspaceResourceId,
      location: run.location,
    };
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const current = await this.read(run.tenantId);
      try {
        if (!current) {
          await client.createEntity(entity);
          return undefined;
        }
        if (Date.parse(current.value.expiresAt) > now.getTime()) return current.value;
        await client.updateEntity(entity, 'Replace', { etag: current.etag });
        return undefined;
      } catch (error) {
        // Another instance took it between our read and write: read again and see who holds it.
        if (!isStatus(error, 409) && !isStatus(error, 412)) throw error;
      }
    }
    const winner = await this.read(run.tenantId);
    if (winner) return winner.value;
    throw new Error('The Create Connection lease kept changing; giving up after 3 attempts');
  }

  async holder(tenantId: string, now: Date): Promise<CreateConnectionRun | undefined> {
    const current = await this.read(tenantId);
    return current && Date.parse(current.value.expiresAt) > now.getTime() ? current.value : undefined;
  }

  async release(tenantId: string, runId: string): Promise<void> {
    const current = await this.read(tenantId);
    if (current?.value.runId !== runId) return;
    const client = await this.table.get();
    try {
      await client.deleteEntity(tenantId, ROW_KEY, { etag: current.etag });
    } catch (error) {
      // Gone or taken over meanwhile: either way it is no longer ours to give back.
      if (!isStatus(error, 404) && !isStatus(error, 412)) throw error;
    }
  }

  private async read(tenantId: string): Promise<{ value: CreateConnectionRun; etag: string } | undefined> {
    const client = await this.table.get();
    try {
      const entity = await client.getEntity<LeaseEntity>(tenantId, ROW_KEY);
      return {
        value: {
          runId: entity.runId,
          startedAt: entity.startedAt,
          expiresAt: entity.expiresAt,
          workspaceResourceId: entity.workspaceResourceId,
          location: entity.location,
        },
        etag: etagOf(entity),
      };
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }
}
