import type { ExportingTenants } from '../domain/exportHealth/heartbeat';
import type { TenantConnection } from '../domain/tenantConnection';
import type { LazyTable } from './tableStorage';
import { fromEntity, type ConnectionEntity } from './tenantConnectionStore';

/**
 * Tenants whose export is on (saved and not disabled), read from the
 * connections table. A suspended tenant is included: its health rows say so.
 */
export class TableExportingTenants implements ExportingTenants {
  constructor(private readonly table: LazyTable) {}

  async list(): Promise<TenantConnection[]> {
    const client = await this.table.get();
    const found: TenantConnection[] = [];
    const entities = client.listEntities<ConnectionEntity>({
      queryOptions: {
        filter: `RowKey eq 'connection' and (state eq 'active' or state eq 'degraded' or state eq 'suspended')`,
      },
    });
    for await (const entity of entities) {
      const connection = fromEntity(entity);
      if (connection.saved) found.push(connection);
    }
    return found;
  }
}
