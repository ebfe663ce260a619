/**
 * Provisioning a customer's workspace through ARM:
 * - provisioner.ts: ArmWorkspaceProvisioner (the WorkspaceProvisioner port) and its options;
 * - armClient.ts: pinned api-versions, one token pipeline per tenant, long-running operation polls;
 * - tables.ts: the tables (column plan that keeps the customer's columns, Classic migration, 409 waits);
 * - dataCollectionRule.ts: the Direct DCR; diagnosticSetting.ts: its errors into DCRLogErrors;
 * - armErrors.ts: ARM and Entra refusals as actionable domain errors.
 */
export { API_VERSIONS } from './armClient';
export { mapArmError, safeText } from './armErrors';
export { dataCollectionRuleBody, dataCollectionRuleName } from './dataCollectionRule';
export { DIAGNOSTIC_SETTING_NAME, diagnosticSettingBody } from './diagnosticSetting';
export { ArmWorkspaceProvisioner, type ArmWorkspaceProvisionerOptions } from './provisioner';
export { planTable, type TableColumn, type TablePlan, type TableResource } from './tables';
