import { upsertDcr } from './arm';
import { HttpError } from './http';
import { CLASSIC_STANDARD_COLUMNS, type TableRecord } from './model';
import {
  type DcrInfo,
  type SeedDcrInput,
  type RecordedRequest,
  type RecordedRow,
  type RequestsQuery,
  type PurgeRowsInput,
  type RowsQuery,
  type DroppedData,
  type DroppedQuery,
  type SeedTableInput,
  type TableInfo,
} from './types';
import { AdminError } from './controlApi';
import { dcrInfo, tableInfo } from './controlInfo';
import { IdentityControl } from './controlIdentity';

/** Custom tables, data collection rules, and what ingestion stored, dropped and was asked. */
export class WorkspaceDataControl extends IdentityControl {
  seedTable(input: SeedTableInput): Promise<TableInfo> {
    const workspace = this.knownWorkspace(input.workspaceId);
    const tableType = input.tableType ?? 'CustomLog';
    const columns = input.columns.map((column) => ({ name: column.name, type: column.type }));
    const table: TableRecord = {
      name: input.name,
      tableType,
      standardColumns:
        tableType === 'Microsoft'
          ? columns
          : (input.tableSubType ?? 'Classic') === 'Classic'
            ? CLASSIC_STANDARD_COLUMNS.map((column) => ({ ...column }))
            : [{ name: 'TenantId', type: 'guid' }],
      typeHistory: new Map(columns.map((column) => [column.name, column.type])),
      committed: {
        columns: tableType === 'Microsoft' ? [] : columns,
        plan: 'Analytics',
        retentionInDays: -1,
        totalRetentionInDays: -1,
        retentionInDaysAsDefault: true,
        totalRetentionInDaysAsDefault: true,
        tableSubType: input.tableSubType ?? 'Classic',
      },
      visibleAt: Date.now(),
    };
    workspace.tables.set(input.name.toLowerCase(), table);
    return Promise.resolve(tableInfo(workspace, table));
  }

  getTable(input: { workspaceId: string; name: string }): Promise<TableInfo | null> {
    const workspace = this.knownWorkspace(input.workspaceId);
    const table = workspace.tables.get(input.name.toLowerCase());
    return Promise.resolve(table ? tableInfo(workspace, table) : null);
  }

  listDcrs(input: { tenantId?: string } = {}): Promise<DcrInfo[]> {
    return Promise.resolve(
      [...this.state.dcrsById.values()]
        .filter(
          (dcr) =>
            input.tenantId === undefined || dcr.tenantId.toLowerCase() === input.tenantId.toLowerCase(),
        )
        .map(dcrInfo),
    );
  }

  /** A DCR as a validated PUT by a caller with every right would leave it, without a token or HTTP. */
  seedDcr(input: SeedDcrInput): Promise<DcrInfo> {
    const subscription = this.state.subscription(input.subscriptionId);
    const group = subscription?.resourceGroups.get(input.resourceGroup.toLowerCase());
    if (!subscription || !group) {
      throw new AdminError(
        `Unknown resource group ${input.resourceGroup} in subscription ${input.subscriptionId}: seed the tenant first.`,
      );
    }
    try {
      return Promise.resolve(
        dcrInfo(upsertDcr(this.context, subscription, group, input.name, input.body).record),
      );
    } catch (error) {
      if (error instanceof HttpError) throw new AdminError(`seedDcr refused: ${JSON.stringify(error.body)}`);
      throw error;
    }
  }

  deleteDcr(input: { id: string }): Promise<{ deleted: boolean }> {
    const key = input.id.replace(/\/+$/, '').toLowerCase();
    const dcr = this.state.dcrsById.get(key);
    if (!dcr) return Promise.resolve({ deleted: false });
    this.state.dcrsById.delete(key);
    this.state.dcrsByImmutableId.delete(dcr.immutableId);
    return Promise.resolve({ deleted: true });
  }

  rows(input: RowsQuery): Promise<RecordedRow[]> {
    const workspace = this.knownWorkspace(input.workspaceId);
    const rows = workspace.rows.get(input.table.toLowerCase()) ?? [];
    return Promise.resolve(
      rows.filter(
        (row) => input.tenantId === undefined || row.tenantId.toLowerCase() === input.tenantId.toLowerCase(),
      ),
    );
  }

  /**
   * Learn, "Workspace Purge - Purge" (Log Analytics REST API, api-version 2020-08-01): a purge names
   * a table and filters such as `{ column, operator: "==", value }` (all must hold) and is carried out
   * asynchronously (202, x-ms-status-location); afterwards the rows are gone from every query. Only the
   * outcome is modelled.
   */
  purgeRows(input: PurgeRowsInput): Promise<{ removed: number }> {
    const workspace = this.knownWorkspace(input.workspaceId);
    const key = input.table.toLowerCase();
    const rows = workspace.rows.get(key) ?? [];
    const matches = (row: Record<string, unknown>) =>
      input.filters.every(({ column, value }) => {
        const actual = row[column];
        return (
          (typeof actual === 'string' || typeof actual === 'number') &&
          String(actual).toLowerCase() === String(value).toLowerCase()
        );
      });
    const kept = rows.filter((recorded) => !matches(recorded.row));
    if (rows.length > 0) workspace.rows.set(key, kept);
    return Promise.resolve({ removed: rows.length - kept.length });
  }

  dropped(input: DroppedQuery = {}): Promise<DroppedData[]> {
    return Promise.resolve(
      this.state.dropped.filter(
        (entry) =>
          (input.tenantId === undefined || entry.tenantId.toLowerCase() === input.tenantId.toLowerCase()) &&
          (input.dcrImmutableId === undefined || entry.dcrImmutableId === input.dcrImmutableId),
      ),
    );
  }

  requests(input: RequestsQuery = {}): Promise<RecordedRequest[]> {
    return Promise.resolve(
      this.state.requestLog.filter(
        (entry) =>
          (input.tenantId === undefined || entry.tenantId?.toLowerCase() === input.tenantId.toLowerCase()) &&
          (input.face === undefined || entry.face === input.face) &&
          (input.operation === undefined || entry.operation === input.operation) &&
          (input.dcrImmutableId === undefined || entry.dcrImmutableId === input.dcrImmutableId) &&
          (input.afterSeq === undefined || entry.seq > input.afterSeq),
      ),
    );
  }
}
