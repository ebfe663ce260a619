import {
  workspaceResourceId,
  type DcrRecord,
  type RoleAssignmentRecord,
  type TableRecord,
  type WorkspaceRecord,
} from './model';
import {
  type DcrInfo,
  type FaultInfo,
  type RoleAssignmentInfo,
  type TableInfo,
  type WorkspaceInfo,
} from './types';

// What the control answers with: plain, JSON-safe views of the stand-in's records.

export function workspaceInfo(workspace: WorkspaceRecord): WorkspaceInfo {
  return {
    id: workspaceResourceId(workspace.subscriptionId, workspace.resourceGroup, workspace.name),
    name: workspace.name,
    location: workspace.location,
    customerId: workspace.customerId,
    subscriptionId: workspace.subscriptionId,
    resourceGroup: workspace.resourceGroup,
    tenantId: workspace.tenantId,
  };
}

export function assignmentInfo(assignment: RoleAssignmentRecord): RoleAssignmentInfo {
  return {
    id: assignment.id,
    tenantId: assignment.tenantId,
    principalId: assignment.principalId,
    ...(assignment.clientId ? { clientId: assignment.clientId } : {}),
    role: assignment.role,
    scope: assignment.scope,
    createdAt: new Date(assignment.createdAt).toISOString(),
  };
}

export function tableInfo(workspace: WorkspaceRecord, table: TableRecord): TableInfo {
  const committed = table.committed;
  return {
    id: `${workspaceResourceId(workspace.subscriptionId, workspace.resourceGroup, workspace.name)}/tables/${table.name}`,
    name: table.name,
    tableType: table.tableType,
    tableSubType: committed?.tableSubType ?? 'DataCollectionRuleBased',
    provisioningState: table.pending ? 'Updating' : 'Succeeded',
    columns: [...table.standardColumns, ...(committed?.columns ?? [])].map((column) => ({
      name: column.name,
      type: column.type,
    })),
    visibleToDcr:
      committed !== undefined && committed.tableSubType !== 'Classic' && (table.visibleAt ?? 0) <= Date.now(),
  };
}

export function faultInfo(fault: FaultInfo & { remaining?: number }): FaultInfo {
  const { remaining: _remaining, ...info } = fault;
  return { ...info };
}

export function dcrInfo(dcr: DcrRecord): DcrInfo {
  return {
    id: dcr.id,
    name: dcr.name,
    tenantId: dcr.tenantId,
    location: dcr.location,
    immutableId: dcr.immutableId,
    logsIngestionEndpoint: dcr.logsIngestionEndpoint,
    streams: Object.keys(dcr.streamDeclarations),
    createdAt: new Date(dcr.createdAt).toISOString(),
    diagnosticSettings: [...(dcr.diagnosticSettings?.values() ?? [])].map((setting) => ({
      name: setting.name,
      workspaceId: setting.workspaceId,
      categories: [...setting.categories],
    })),
  };
}
