import { NotFoundError } from '../../domain/errors';
import type { WorkspaceRef } from '../../domain/workspaceResourceId';
import { API_VERSIONS, type ArmClient } from './armClient';
import { type ArmOperation, mapArmError } from './armErrors';

/**
 * Name of the diagnostic setting on our DCR. The Sentinel hunting query EZCA_DcrLogErrors filters
 * DCRLogErrors on the DCR's resource id (pki-siem-export-*), not on this name.
 */
export const DIAGNOSTIC_SETTING_NAME = 'pki-siem-export-errors';

/**
 * Diagnostic setting on the DCR (diagnosticsSettings_API.json 2021-05-01-preview: properties.workspaceId
 * and logs[].category/enabled). LogErrors is the DCR's only log category and lands in DCRLogErrors
 * (Learn: Supported logs for Microsoft.Insights/datacollectionrules; Monitor DCR data collection).
 */
export function diagnosticSettingBody(workspace: WorkspaceRef): unknown {
  return {
    properties: {
      workspaceId: workspace.resourceId,
      logs: [{ category: 'LogErrors', enabled: true }],
    },
  };
}

export async function ensureDiagnosticSetting(
  client: ArmClient,
  tenantId: string,
  workspace: WorkspaceRef,
  dataCollectionRuleId: string,
  signal: AbortSignal,
): Promise<void> {
  const operation: ArmOperation = {
    doing: 'create the diagnostic setting that sends the data collection rule errors to the workspace',
    role: 'Monitoring Contributor',
    why: 'Microsoft.Insights/diagnosticSettings/write, so that rows Azure refuses show up in the DCRLogErrors table',
    workspace,
    tenantId,
  };
  const url = `${client.arm}${dataCollectionRuleId}/providers/Microsoft.Insights/diagnosticSettings/${DIAGNOSTIC_SETTING_NAME}?api-version=${API_VERSIONS.diagnosticSettings}`;
  const response = await client.send(tenantId, 'PUT', url, diagnosticSettingBody(workspace), signal);
  if (response.status === 200 || response.status === 201) return;
  if (response.status === 404) {
    throw new NotFoundError(
      'DataCollectionRuleNotFound',
      `The data collection rule ${lastPathSegment(dataCollectionRuleId)} was not found when adding its diagnostic setting (it may have been deleted meanwhile). Click Create Connection again.`,
    );
  }
  throw mapArmError(response, operation);
}

function lastPathSegment(id: string): string {
  return id.split('/').filter(Boolean).at(-1) ?? id;
}
