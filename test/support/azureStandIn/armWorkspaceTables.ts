import { randomUUID } from 'node:crypto';
import { tableBody, workspaceBody } from './armBodies';
import { ACTIONS, API_VERSIONS, readJson, type ArmGate } from './armGate';
import { armError, json, type Reply, type RequestContext } from './http';
import type { SubscriptionRecord, TableOperation, TableRecord, WorkspaceRecord } from './model';
import { validateTablePut } from './validation';

/**
 * Log Analytics workspaces and their tables: GET a workspace, GET and PUT a table (the PUT starts a
 * long-running operation, see armOperations.ts) and migrate a Classic table.
 */

/** A table whose creation has completed; one still being created is not found, as in ARM. */
function committedTable(
  arm: ArmGate,
  subscription: SubscriptionRecord,
  m: Record<string, string>,
): {
  workspace: WorkspaceRecord;
  table: TableRecord & { committed: NonNullable<TableRecord['committed']> };
} {
  type Committed = TableRecord & { committed: NonNullable<TableRecord['committed']> };
  const group = arm.resourceGroup(subscription, m.rg!);
  const workspace = arm.workspace(group, m.ws!);
  const table = workspace.tables.get(m.table!.toLowerCase());
  const isCommitted = (candidate: TableRecord | undefined): candidate is Committed =>
    candidate?.committed !== undefined;
  if (!isCommitted(table)) {
    // Not the generic ARM text: the Tables API answers with its own, quoted from a real error in a
    // public Terraform module ("The specified table: 'AzureDiagnostics' was not found"). The code
    // is not quoted there; ResourceNotFound is assumed.
    throw armError(404, 'ResourceNotFound', `The specified table: '${m.table!}' was not found`);
  }
  return { workspace, table };
}

export async function getWorkspace(
  arm: ArmGate,
  request: RequestContext,
  m: Record<string, string>,
): Promise<Reply> {
  const { subscription } = await arm.gate(
    request,
    m.sub!,
    API_VERSIONS.workspaces,
    'workspaces',
    ACTIONS.workspaceRead,
  );
  const workspace = arm.workspace(arm.resourceGroup(subscription, m.rg!), m.ws!);
  return json(200, workspaceBody(workspace));
}

export async function getTable(
  arm: ArmGate,
  request: RequestContext,
  m: Record<string, string>,
): Promise<Reply> {
  const { subscription } = await arm.gate(
    request,
    m.sub!,
    API_VERSIONS.tables,
    'workspaces/tables',
    ACTIONS.tableRead,
  );
  const { workspace, table } = committedTable(arm, subscription, m);
  return json(200, tableBody(workspace, table));
}

export async function putTable(
  arm: ArmGate,
  request: RequestContext,
  m: Record<string, string>,
): Promise<Reply> {
  const { subscription, apiVersion } = await arm.gate(
    request,
    m.sub!,
    API_VERSIONS.tables,
    'workspaces/tables',
    ACTIONS.tableWrite,
  );
  const workspace = arm.workspace(arm.resourceGroup(subscription, m.rg!), m.ws!);
  const body = await readJson(request);
  const tableName = m.table!;
  const existing = workspace.tables.get(tableName.toLowerCase());
  if (existing?.pending) {
    // A second PUT while the table's operation runs is refused, not queued. No public recording or
    // issue quoting Azure's exact answer was found (searched azure-cli / terraform-provider-azurerm
    // issues); this is the stricter choice, and it is what a double-clicked Create Connection used
    // to run into before calls for one tenant were serialized (test/integration/connectionProvisioning.test.ts).
    throw armError(
      409,
      'Conflict',
      `Table '${existing.name}' is locked (provisioningState 'Updating') by an operation still in progress; retry when it has completed.`,
    );
  }
  if (existing?.committed?.tableSubType === 'Classic') {
    throw armError(
      400,
      'InvalidParameter',
      `Table '${existing.name}' is a Classic table (created by the Data Collector API); migrate it to DataCollectionRuleBased with ` +
        `POST …/tables/${existing.name}/migrate before changing it through the Tables API.`,
    );
  }
  const result = validateTablePut(tableName, body, existing);
  if (!result.shape) {
    const [first, ...rest] = result.problems;
    throw armError(
      400,
      'InvalidParameter',
      `${first?.message ?? 'Invalid table.'}${rest.length > 0 ? ` (and ${rest.length} more problem(s), see details)` : ''}`,
      result.problems.map((problem) => ({
        code: problem.code,
        message: problem.message,
        ...(problem.target ? { target: problem.target } : {}),
      })),
    );
  }
  const settings = arm.state.settings(subscription.tenantId);
  const table: TableRecord = existing ?? {
    name: tableName,
    tableType: 'CustomLog',
    standardColumns: [{ name: 'TenantId', type: 'guid' }],
    typeHistory: new Map(),
  };
  const operation: TableOperation = {
    id: randomUUID(),
    subscriptionId: subscription.id,
    tenantId: subscription.tenantId,
    location: workspace.location,
    workspace,
    tableName: table.name,
    kind: 'upsert',
    startedAt: Date.now(),
    polls: 0,
    inProgressPolls: settings.tableOperationPolls,
    maxMs: settings.tableOperationMaxMs,
    visibilityDelayMs: settings.tableVisibilityDelayMs,
    target: result.shape,
  };
  table.pending = operation;
  workspace.tables.set(table.name.toLowerCase(), table);
  arm.state.operations.set(operation.id, operation);
  const base = `${arm.context.baseUrl()}/subscriptions/${subscription.id}/providers/Microsoft.OperationalInsights/locations/${workspace.location}`;
  return json(202, undefined, {
    'azure-asyncoperation': `${base}/operationStatuses/${operation.id}?api-version=${apiVersion}`,
    location: `${base}/operationResults/${operation.id}?api-version=${apiVersion}`,
  });
}

export async function migrateTable(
  arm: ArmGate,
  request: RequestContext,
  m: Record<string, string>,
): Promise<Reply> {
  const { subscription } = await arm.gate(
    request,
    m.sub!,
    API_VERSIONS.tables,
    'workspaces/tables',
    ACTIONS.tableMigrate,
  );
  const { table } = committedTable(arm, subscription, m);
  if (table.pending) {
    throw armError(
      409,
      'Conflict',
      `Table '${table.name}' is locked by an operation still in progress; retry when it has completed.`,
    );
  }
  if (table.committed.tableSubType === 'Classic')
    table.committed = { ...table.committed, tableSubType: 'DataCollectionRuleBased' };
  return json(200, undefined);
}
