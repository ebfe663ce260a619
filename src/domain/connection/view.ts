import { lastChange } from '../connectionHistory';
import { isDelivering, type TenantConnection, type Versioned } from '../tenantConnection';
import { ruleView } from './turns';
import type { ConnectionUseCaseDeps, SettingsView } from './types';

/** The connection as GET /tenants/{tenantId}/siem shows it: what is saved, what was tested, and delivery health. */
export async function settingsView(
  deps: ConnectionUseCaseDeps,
  connection: Versioned<TenantConnection>,
): Promise<Versioned<SettingsView>> {
  const value = connection.value;
  const parkedCount = await deps.parked.count(value.tenantId);
  const view: SettingsView = {
    tenantId: value.tenantId,
    exportEnabled: isDelivering(value.state),
    state: value.state,
    stateReason: value.stateReason,
    stateChangedAt: value.stateChangedAt,
    ...(value.saved
      ? {
          saved: {
            workspaceResourceId: value.saved.workspaceResourceId,
            location: value.saved.location,
            dataCollectionRule: ruleView(value.saved),
            streams: value.saved.streams,
            provisionedAt: value.saved.provisionedAt,
            schemaVersion: value.saved.schemaVersion ?? 1,
          },
        }
      : {}),
    ...(value.schemaUpgrade ? { schemaUpgrade: value.schemaUpgrade } : {}),
    ...(value.tested
      ? {
          tested: {
            workspaceResourceId: value.tested.workspaceResourceId,
            location: value.tested.location,
            test: value.tested.test,
            ...(value.tested.target ? { dataCollectionRule: ruleView(value.tested.target) } : {}),
          },
        }
      : {}),
    health: {
      ...(value.lastDeliveryAt ? { lastDeliveryAt: value.lastDeliveryAt } : {}),
      ...(value.lastError ? { lastError: value.lastError } : {}),
      ...(value.lastResolvedError ? { lastResolvedError: value.lastResolvedError } : {}),
      parkedCount,
    },
    createdAt: value.createdAt,
    updatedAt: value.updatedAt,
    ...(lastChange(value) ? { lastChange: lastChange(value) } : {}),
  };
  return { value: view, etag: connection.etag };
}
