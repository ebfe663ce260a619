import type { RoleName } from './types';

interface RoleDefinition {
  actions: string[];
  notActions: string[];
  dataActions: string[];
}

/**
 * Built-in Azure role definitions, trimmed to the entries that matter here but
 * otherwise as Azure publishes them (Azure built-in roles reference). Notably:
 * Log Analytics Contributor and Monitoring Contributor both carry `*\/read`;
 * only Log Analytics Contributor may write tables; only Monitoring Contributor
 * may write data collection rules; Monitoring Metrics Publisher holds the
 * ingestion data action and almost nothing else; Owner and Contributor have
 * no data actions at all, so they cannot ingest.
 */
const ROLE_DEFINITIONS: Record<RoleName, RoleDefinition> = {
  Owner: { actions: ['*'], notActions: [], dataActions: [] },
  Contributor: {
    actions: ['*'],
    notActions: [
      'Microsoft.Authorization/*/Delete',
      'Microsoft.Authorization/*/Write',
      'Microsoft.Authorization/elevateAccess/Action',
    ],
    dataActions: [],
  },
  Reader: { actions: ['*/read'], notActions: [], dataActions: [] },
  // Reads every table of the workspace (the Logs Query API checks `…/query/read`, which `*/read` covers), not its keys.
  'Log Analytics Reader': {
    actions: [
      '*/read',
      'Microsoft.OperationalInsights/workspaces/analytics/query/action',
      'Microsoft.OperationalInsights/workspaces/search/action',
      'Microsoft.Support/*',
    ],
    notActions: ['Microsoft.OperationalInsights/workspaces/sharedKeys/read'],
    dataActions: [],
  },
  'Log Analytics Contributor': {
    actions: [
      '*/read',
      'Microsoft.ClassicCompute/virtualMachines/extensions/*',
      'Microsoft.ClassicStorage/storageAccounts/listKeys/action',
      'Microsoft.Compute/virtualMachines/extensions/*',
      'Microsoft.HybridCompute/machines/extensions/write',
      'Microsoft.Insights/alertRules/*',
      'Microsoft.Insights/diagnosticSettings/*',
      'Microsoft.OperationalInsights/*',
      'Microsoft.OperationsManagement/*',
      'Microsoft.Resources/deployments/*',
      'Microsoft.Resources/subscriptions/resourcegroups/deployments/*',
      'Microsoft.Storage/storageAccounts/listKeys/action',
      'Microsoft.Support/*',
    ],
    notActions: [],
    dataActions: [],
  },
  'Monitoring Contributor': {
    actions: [
      '*/read',
      'Microsoft.AlertsManagement/alerts/*',
      'Microsoft.AlertsManagement/alertsSummary/*',
      'Microsoft.Insights/actiongroups/*',
      'Microsoft.Insights/activityLogAlerts/*',
      'Microsoft.Insights/AlertRules/*',
      'Microsoft.Insights/components/*',
      'Microsoft.Insights/dataCollectionEndpoints/*',
      'Microsoft.Insights/dataCollectionRules/*',
      'Microsoft.Insights/dataCollectionRuleAssociations/*',
      'Microsoft.Insights/DiagnosticSettings/*',
      'Microsoft.Insights/eventtypes/*',
      'Microsoft.Insights/LogDefinitions/*',
      'Microsoft.Insights/metricalerts/*',
      'Microsoft.Insights/MetricDefinitions/*',
      'Microsoft.Insights/Metrics/*',
      'Microsoft.Insights/Register/Action',
      'Microsoft.Insights/scheduledqueryrules/*',
      'Microsoft.Insights/webtests/*',
      'Microsoft.Insights/workbooks/*',
      'Microsoft.OperationalInsights/workspaces/intelligencepacks/*',
      'Microsoft.OperationalInsights/workspaces/savedSearches/*',
      'Microsoft.OperationalInsights/workspaces/search/action',
      'Microsoft.OperationalInsights/workspaces/sharedKeys/action',
      'Microsoft.OperationalInsights/workspaces/storageinsightconfigs/*',
      'Microsoft.Resources/deployments/*',
      'Microsoft.Resources/subscriptions/resourcegroups/deployments/*',
      'Microsoft.Support/*',
    ],
    notActions: [],
    dataActions: [],
  },
  'Monitoring Metrics Publisher': {
    actions: [
      'Microsoft.Insights/Register/Action',
      'Microsoft.Support/*',
      'Microsoft.Resources/subscriptions/resourceGroups/read',
    ],
    notActions: [],
    dataActions: ['Microsoft.Insights/Metrics/Write', 'Microsoft.Insights/Telemetry/Write'],
  },
  // Azure built-in roles reference, "Azure Service Bus Data Owner/Sender/Receiver" (data actions only
  // shown; their read actions on queues and topics do not matter here).
  'Azure Service Bus Data Owner': {
    actions: ['Microsoft.ServiceBus/*'],
    notActions: [],
    dataActions: ['Microsoft.ServiceBus/*'],
  },
  'Azure Service Bus Data Sender': {
    actions: [],
    notActions: [],
    dataActions: ['Microsoft.ServiceBus/namespaces/messages/send/action'],
  },
  'Azure Service Bus Data Receiver': {
    actions: [],
    notActions: [],
    dataActions: ['Microsoft.ServiceBus/namespaces/messages/receive/action'],
  },
};

export const ROLE_NAMES = Object.keys(ROLE_DEFINITIONS) as RoleName[];

export function isRoleName(value: string): value is RoleName {
  return (ROLE_NAMES as string[]).includes(value);
}

/** Azure's wildcard rule: `*` matches any run of characters, case-insensitively. */
function matches(pattern: string, action: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.*')}$`,
    'i',
  );
  return regex.test(action);
}

export function roleAllows(role: RoleName, action: string, kind: 'action' | 'dataAction'): boolean {
  const definition = ROLE_DEFINITIONS[role];
  if (kind === 'dataAction') return definition.dataActions.some((pattern) => matches(pattern, action));
  return (
    definition.actions.some((pattern) => matches(pattern, action)) &&
    !definition.notActions.some((pattern) => matches(pattern, action))
  );
}

/** An assignment at `scope` applies to `resource` when the resource is that scope or below it. */
export function scopeCovers(scope: string, resource: string): boolean {
  const normalizedScope = scope.replace(/\/+$/, '').toLowerCase();
  const normalizedResource = resource.replace(/\/+$/, '').toLowerCase();
  return normalizedResource === normalizedScope || normalizedResource.startsWith(`${normalizedScope}/`);
}
