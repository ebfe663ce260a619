import { dcrId, diagnosticSettingBody } from './armBodies';
import { ACTIONS, API_VERSIONS, readJson, resourceNotFound, type ArmGate } from './armGate';
import { validateDiagnosticSettingPut } from './diagnosticSettings';
import { json, type Reply, type RequestContext } from './http';
import type { DcrRecord, DiagnosticSettingRecord, SubscriptionRecord } from './model';

/** Diagnostic settings of a data collection rule (GET, PUT, DELETE), where its own errors are sent. */

/** The DCR a diagnostic setting hangs off; a missing one is ARM's ResourceNotFound for the parent. */
async function diagnosticSettingParent(
  arm: ArmGate,
  request: RequestContext,
  m: Record<string, string>,
  action: string,
): Promise<{ dcr: DcrRecord; subscription: SubscriptionRecord }> {
  const { subscription } = await arm.gate(
    request,
    m.sub!,
    API_VERSIONS.diagnosticSettings,
    'diagnosticSettings',
    action,
  );
  const group = arm.resourceGroup(subscription, m.rg!);
  const dcr = arm.state.dcrsById.get(dcrId(subscription.id, group.name, m.name!).toLowerCase());
  if (!dcr) throw resourceNotFound('Microsoft.Insights/dataCollectionRules', m.name!, group.name);
  return { dcr, subscription };
}

export async function getDiagnosticSetting(
  arm: ArmGate,
  request: RequestContext,
  m: Record<string, string>,
): Promise<Reply> {
  const { dcr } = await diagnosticSettingParent(arm, request, m, ACTIONS.diagnosticSettingRead);
  const setting = dcr.diagnosticSettings?.get(m.setting!.toLowerCase());
  if (!setting) {
    throw resourceNotFound('Microsoft.Insights/diagnosticSettings', m.setting!, dcr.resourceGroup);
  }
  return json(200, diagnosticSettingBody(dcr, setting));
}

/** The spec's DiagnosticSettings_Delete answers 200 when it deleted one and 204 when there was none. */

export async function putDiagnosticSetting(
  arm: ArmGate,
  request: RequestContext,
  m: Record<string, string>,
): Promise<Reply> {
  const { dcr, subscription } = await diagnosticSettingParent(
    arm,

    request,
    m,
    ACTIONS.diagnosticSettingWrite,
  );
  const parsed = validateDiagnosticSettingPut(await readJson(request), (resourceId) => {
    const workspace = arm.state.workspaceByResourceId(resourceId);
    return (
      workspace !== undefined && workspace.tenantId.toLowerCase() === subscription.tenantId.toLowerCase()
    );
  });
  const setting: DiagnosticSettingRecord = { name: m.setting!, ...parsed };
  dcr.diagnosticSettings ??= new Map();
  dcr.diagnosticSettings.set(setting.name.toLowerCase(), setting);
  // The spec lists 200 (created or updated) as the only success answer of this PUT.
  return json(200, diagnosticSettingBody(dcr, setting));
}

export async function deleteDiagnosticSetting(
  arm: ArmGate,
  request: RequestContext,
  m: Record<string, string>,
): Promise<Reply> {
  const { dcr } = await diagnosticSettingParent(arm, request, m, ACTIONS.diagnosticSettingDelete);
  const deleted = dcr.diagnosticSettings?.delete(m.setting!.toLowerCase()) ?? false;
  return json(deleted ? 200 : 204, undefined);
}
