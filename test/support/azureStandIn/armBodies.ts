import { randomBytes } from 'node:crypto';
import {
  workspaceResourceId,
  type DcrRecord,
  type DiagnosticSettingRecord,
  type TableRecord,
  type WorkspaceRecord,
} from './model';

// The resource bodies ARM answers with, and the ids and endpoint names it derives.

export function dcrId(subscriptionId: string, resourceGroup: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Insights/dataCollectionRules/${name}`;
}

export function endpointSlug(name: string, location: string): string {
  const cleaned =
    name
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '')
      .slice(0, 24) || 'dcr';
  return `${cleaned}-${randomBytes(2).toString('hex')}.${location}-1.logs`;
}

export function workspaceBody(workspace: WorkspaceRecord): Record<string, unknown> {
  return {
    properties: {
      customerId: workspace.customerId,
      provisioningState: 'Succeeded',
      sku: { name: 'PerGB2018' },
      retentionInDays: 30,
      features: { enableLogAccessUsingOnlyResourcePermissions: true },
      workspaceCapping: { dailyQuotaGb: -1 },
      publicNetworkAccessForIngestion: 'Enabled',
      publicNetworkAccessForQuery: 'Enabled',
    },
    id: workspaceResourceId(workspace.subscriptionId, workspace.resourceGroup, workspace.name),
    name: workspace.name,
    type: 'Microsoft.OperationalInsights/workspaces',
    location: workspace.location,
  };
}

export function tableBody(workspace: WorkspaceRecord, table: TableRecord): Record<string, unknown> {
  const shape = table.committed!;
  const retentionInDays = shape.retentionInDays === -1 ? 30 : shape.retentionInDays;
  const totalRetentionInDays =
    shape.totalRetentionInDays === -1 ? retentionInDays : shape.totalRetentionInDays;
  const column = (
    entry: { name: string; type: string; description?: string; displayName?: string; dataTypeHint?: string },
    hidden: boolean,
  ) => ({
    ...entry,
    // GET spells the type as KQL does: "datetime", not the Tables API's "dateTime" (azure-cli
    // recording test_monitor_log_analytics_workspace_table.yaml, every table GET in it).
    type: entry.type === 'dateTime' ? 'datetime' : entry.type,
    isDefaultDisplay: false,
    isHidden: hidden,
  });
  return {
    properties: {
      totalRetentionInDays,
      archiveRetentionInDays: totalRetentionInDays - retentionInDays,
      plan: shape.plan,
      retentionInDaysAsDefault: shape.retentionInDaysAsDefault,
      totalRetentionInDaysAsDefault: shape.totalRetentionInDaysAsDefault,
      schema: {
        name: table.name,
        tableSubType: shape.tableSubType,
        tableType: table.tableType,
        columns: shape.columns.map((entry) => column(entry, false)),
        standardColumns: table.standardColumns.map((entry) => column(entry, entry.name === 'TenantId')),
        solutions: ['LogManagement'],
      },
      provisioningState: table.pending ? 'Updating' : 'Succeeded',
      retentionInDays,
    },
    id: `${workspaceResourceId(workspace.subscriptionId, workspace.resourceGroup, workspace.name)}/tables/${table.name}`,
    name: table.name,
    type: 'Microsoft.OperationalInsights/workspaces/tables',
  };
}

/** Shape of createOrUpdateDiagnosticSetting.json's response (2021-05-01-preview). */
export function diagnosticSettingBody(
  dcr: DcrRecord,
  setting: DiagnosticSettingRecord,
): Record<string, unknown> {
  return {
    id: `${dcr.id}/providers/microsoft.insights/diagnosticSettings/${setting.name}`,
    type: 'Microsoft.Insights/diagnosticSettings',
    name: setting.name,
    properties: {
      workspaceId: setting.workspaceId,
      logs: setting.categories.map((category) => ({
        category,
        enabled: true,
        retentionPolicy: { enabled: false, days: 0 },
      })),
      metrics: [],
    },
  };
}

export function dcrBody(dcr: DcrRecord): Record<string, unknown> {
  const endpointBase = dcr.logsIngestionEndpoint;
  return {
    id: dcr.id,
    name: dcr.name,
    type: 'Microsoft.Insights/dataCollectionRules',
    location: dcr.location,
    kind: dcr.kind,
    ...(dcr.tags ? { tags: dcr.tags } : {}),
    etag: dcr.etag,
    systemData: {
      createdAt: new Date(dcr.createdAt).toISOString(),
      lastModifiedAt: new Date(dcr.updatedAt).toISOString(),
    },
    properties: {
      ...(dcr.description !== undefined ? { description: dcr.description } : {}),
      immutableId: dcr.immutableId,
      endpoints: {
        logsIngestion: endpointBase,
        metricsIngestion: endpointBase.replace('/ingest/', '/metrics/').replace('.logs', '.metrics'),
      },
      streamDeclarations: dcr.streamDeclarations,
      destinations: {
        logAnalytics: dcr.logAnalytics.map((destination) => ({
          workspaceResourceId: destination.workspaceResourceId,
          workspaceId: destination.workspace.customerId,
          name: destination.name,
        })),
      },
      dataFlows: dcr.dataFlows,
      provisioningState: 'Succeeded',
    },
  };
}
