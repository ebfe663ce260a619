import { setTimeout as sleep } from 'node:timers/promises';
import { StateConflictError } from '../../domain/errors';
import type { TableProvisioning } from '../../domain/ports';
import { PROVISIONED_TABLES, type ProvisionedTable, tablesApiColumns } from '../../domain/tableSchema';
import type { WorkspaceRef } from '../../domain/workspaceResourceId';
import { API_VERSIONS, type ArmClient, type ArmResponse, workspacePath } from './armClient';
import { armError, type ArmOperation, mapArmError, retryAfterMs } from './armErrors';

export interface TableColumn {
  name: string;
  type: string;
  description?: string;
  displayName?: string;
  dataTypeHint?: string;
}

export interface TableResource {
  properties?: {
    plan?: string;
    retentionInDays?: number;
    totalRetentionInDays?: number;
    retentionInDaysAsDefault?: boolean;
    totalRetentionInDaysAsDefault?: boolean;
    schema?: {
      tableSubType?: string;
      columns?: TableColumn[];
      standardColumns?: TableColumn[];
    };
  };
}

export async function ensureTable(
  client: ArmClient,
  tenantId: string,
  workspace: WorkspaceRef,
  table: ProvisionedTable,
  signal: AbortSignal,
): Promise<TableProvisioning> {
  const operation: ArmOperation = {
    doing: `create or update the table ${table}`,
    role: 'Log Analytics Contributor',
    why: `to create and update the tables ${PROVISIONED_TABLES.join(', ')} in the workspace`,
    workspace,
    tenantId,
  };
  const url = tableUrl(client.arm, workspace, table);
  const current = await client.send(tenantId, 'GET', url, undefined, signal);
  let existing: TableResource | undefined;
  if (current.status === 200) existing = current.body as TableResource;
  else if (current.status !== 404 || isWorkspaceMissing(current.body)) throw mapArmError(current, operation);

  const plan = planTable(table, existing);
  if (plan.action === 'unchanged') return { table, action: 'unchanged', keptColumns: plan.keptColumns };

  let action: TableProvisioning['action'] = existing ? 'updated' : 'created';
  if (existing?.properties?.schema?.tableSubType === 'Classic') {
    // Converting is idempotent and irreversible; the Data Collector API keeps writing the existing columns.
    const migrated = await client.send(
      tenantId,
      'POST',
      tableUrl(client.arm, workspace, table, '/migrate'),
      undefined,
      signal,
    );
    if (migrated.status !== 200 && migrated.status !== 202 && migrated.status !== 204)
      throw mapArmError(migrated, { ...operation, doing: `migrate the Classic table ${table}` });
    if (migrated.status === 202) await client.awaitOperation(tenantId, migrated, operation, signal);
    action = 'migrated';
  }

  let put = await client.send(tenantId, 'PUT', url, plan.body, signal);
  // 409 Conflict: another operation on the table is still running (the schema upgrade timer, or a
  // Create Connection of another instance whose lease expired). Our PUT is idempotent: wait, then
  // send it again, within the caller's deadline, rather than report a failure for a healthy table.
  for (
    let wait = client.pollIntervalMs;
    isTableBusy(put);
    wait = Math.min(wait * 2, client.maxPollIntervalMs)
  ) {
    await sleep(retryAfterMs(put) ?? wait, undefined, { signal });
    put = await client.send(tenantId, 'PUT', url, plan.body, signal);
  }
  if (put.status === 202) await client.awaitOperation(tenantId, put, operation, signal);
  else if (put.status !== 200 && put.status !== 201) throw mapArmError(put, operation);
  return { table, action, keptColumns: plan.keptColumns };
}

export interface TablePlan {
  action: 'create' | 'update' | 'unchanged';
  keptColumns: string[];
  body: unknown;
}

/**
 * What to PUT for a table. A PUT replaces the custom column list, so columns
 * the customer added are carried over; a column we define that exists with
 * another type is refused (Log Analytics never changes a column's type).
 */
export function planTable(table: ProvisionedTable, existing: TableResource | undefined): TablePlan {
  const ours = tablesApiColumns(table);
  const ourNames = new Set(ours.map((column) => column.name));
  const schema = existing?.properties?.schema;
  const customColumns = schema?.columns ?? [];
  const standardNames = new Set((schema?.standardColumns ?? []).map((column) => column.name));
  const allExisting = new Map(
    [...(schema?.standardColumns ?? []), ...customColumns].map((column) => [column.name, column]),
  );

  const clashes = ours.filter((column) => {
    const found = allExisting.get(column.name);
    return found !== undefined && found.type.toLowerCase() !== column.type.toLowerCase();
  });
  if (clashes.length > 0) {
    const list = clashes
      .map(
        (column) =>
          `${column.name} is ${allExisting.get(column.name)?.type ?? '?'} but must be ${column.type}`,
      )
      .join('; ');
    throw new StateConflictError(
      'TableColumnConflict',
      `The existing table ${table} has columns of another type than the export writes (${list}). Log Analytics cannot change a column's type: rename or remove these columns, or delete the table, then click Create Connection again.`,
    );
  }

  const kept = customColumns
    .filter((column) => !ourNames.has(column.name))
    .map(({ name, type, description, displayName, dataTypeHint }) => ({
      name,
      type,
      ...(description ? { description } : {}),
      ...(displayName ? { displayName } : {}),
      ...(dataTypeHint ? { dataTypeHint } : {}),
    }));
  const keptColumns = kept.map((column) => column.name);

  const complete = ours.every((column) => allExisting.has(column.name));
  if (existing && complete && schema?.tableSubType !== 'Classic') {
    return { action: 'unchanged', keptColumns, body: undefined };
  }

  const properties = existing?.properties;
  return {
    action: existing ? 'update' : 'create',
    keptColumns,
    body: {
      properties: {
        // Carried over so an update never resets the customer's plan or retention.
        ...(properties?.plan ? { plan: properties.plan } : {}),
        ...(properties?.retentionInDays !== undefined && properties.retentionInDaysAsDefault !== true
          ? { retentionInDays: properties.retentionInDays }
          : {}),
        ...(properties?.totalRetentionInDays !== undefined &&
        properties.totalRetentionInDaysAsDefault !== true
          ? { totalRetentionInDays: properties.totalRetentionInDays }
          : {}),
        // A migrated Classic table keeps TimeGenerated and the other Data Collector API columns as
        // standard columns: the PUT lists only custom columns, or Azure refuses it.
        schema: {
          name: table,
          columns: [...ours.filter((column) => !standardNames.has(column.name)), ...kept],
        },
      },
    },
  };
}

function isWorkspaceMissing(body: unknown): boolean {
  const { code, message } = armError(body);
  return (
    code === 'ResourceGroupNotFound' ||
    code === 'SubscriptionNotFound' ||
    code === 'WorkspaceNotFound' ||
    (code === 'ResourceNotFound' && /workspaces\/[^/']+'/i.test(message ?? ''))
  );
}

/** ARM refusing a table PUT because an operation on that table is in progress. */
function isTableBusy(response: ArmResponse): boolean {
  return response.status === 409 && armError(response.body).code === 'Conflict';
}

function tableUrl(arm: string, workspace: WorkspaceRef, table: ProvisionedTable, action = ''): string {
  return `${arm}${workspacePath(workspace)}/tables/${table}${action}?api-version=${API_VERSIONS.tables}`;
}
