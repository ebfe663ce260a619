import { normalizeLocation } from '../azureRegions';
import { attributedReason } from '../connectionHistory';
import { ConcurrencyConflictError, NotFoundError, StateConflictError } from '../errors';
import { type Versioned, withState } from '../tenantConnection';
import { parseWorkspaceResourceId, sameResourceId } from '../workspaceResourceId';
import { changed, recordHealthChange } from './changes';
import { STEP_ORDER } from './steps';
import type { ConnectionUseCaseDeps, SaveSettingsInput, SettingsView } from './types';
import { settingsView } from './view';

/**
 * "Save changes": turns export on for the tested connection of the
 * workspace named in the request. Refuses a workspace never tested or whose
 * test failed. `ifMatch` (the ETag the portal read) makes a stale save fail
 * instead of overwriting a newer change.
 */
export async function saveSettings(
  deps: ConnectionUseCaseDeps,
  tenantId: string,
  input: SaveSettingsInput,
  ifMatch?: string,
): Promise<Versioned<SettingsView>> {
  const workspace = parseWorkspaceResourceId(input.workspaceResourceId);
  const location =
    input.location === undefined || input.location === null ? undefined : normalizeLocation(input.location);
  const current = await deps.connections.get(tenantId);
  const tested = current?.value.tested;
  if (!current || !tested) {
    throw new StateConflictError(
      'ConnectionNotTested',
      'No connection has been tested for this tenant yet. Click Create Connection first; Save changes turns export on once the test succeeds.',
    );
  }
  checkIfMatch(current.etag, ifMatch);
  if (!sameResourceId(tested.workspaceResourceId, workspace.resourceId)) {
    throw new StateConflictError(
      'ConnectionNotTested',
      `The last Create Connection tested the workspace ${tested.workspaceResourceId}, not ${workspace.resourceId}. Click Create Connection for this workspace first.`,
    );
  }
  if (location !== undefined && location !== tested.location) {
    throw new StateConflictError(
      'ConnectionNotTested',
      `The connection was tested with the location ${tested.location}, not ${location}. Click Create Connection again with the location you want.`,
    );
  }
  const target = tested.target;
  if (tested.test.outcome === 'failed' || !target) {
    const failed = STEP_ORDER.map((step) => [step, tested.test.steps[step]] as const).find(
      ([, result]) => result?.outcome === 'failed',
    );
    const why = failed ? ` at the ${failed[0]} step: ${failed[1]?.detail}` : '.';
    throw new StateConflictError(
      'ConnectionTestFailed',
      `The last connection test failed${why} Fix this and click Create Connection again before saving.`,
    );
  }

  const now = deps.clock.now();
  const value = current.value;
  const alreadySaved =
    value.state === 'active' &&
    value.saved?.dataCollectionRuleImmutableId === target.dataCollectionRuleImmutableId &&
    value.saved.provisionedAt === target.provisionedAt;
  if (alreadySaved) return settingsView(deps, current);

  const reason =
    tested.test.outcome === 'pending'
      ? `Export turned on by Save changes; the test event waits for Azure to propagate permissions (until ${tested.test.pendingUntil ?? 'the end of the propagation window'}).`
      : 'Export turned on by Save changes after a successful connection test.';
  const next = changed(
    deps,
    withState(
      { ...value, saved: target, updatedAt: now.toISOString() },
      'active',
      attributedReason(reason, deps.actor),
      now,
    ),
    'saveSettings',
    `Saved changes: export on to workspace ${target.workspaceResourceId}.`,
    now,
  );
  const written = await deps.connections.replace(next, current.etag);
  await recordHealthChange(deps, written.value, 'settingsSaved', reason);
  deps.logger.info('Export turned on', { tenantId, testOutcome: tested.test.outcome });
  return settingsView(deps, written);
}

/** Settings and health of the tenant's export; NotFoundError when nothing was ever configured. */
export async function getSettings(
  deps: ConnectionUseCaseDeps,
  tenantId: string,
): Promise<Versioned<SettingsView>> {
  const current = await deps.connections.get(tenantId);
  if (!current) throw notConfigured();
  return settingsView(deps, current);
}

/** Turns export off (events are then counted and completed, not delivered); keeps the saved target. */
export async function disableExport(
  deps: ConnectionUseCaseDeps,
  tenantId: string,
  ifMatch?: string,
): Promise<Versioned<SettingsView>> {
  const current = await deps.connections.get(tenantId);
  if (!current) throw notConfigured();
  checkIfMatch(current.etag, ifMatch);
  if (current.value.state === 'disabled') return settingsView(deps, current);
  // Written while the export is still on, so the row reaches the workspace it is about.
  await recordHealthChange(deps, current.value, 'exportDisabled', 'Export turned off.');
  const now = deps.clock.now();
  const next = changed(
    deps,
    withState(current.value, 'disabled', attributedReason('Export turned off.', deps.actor), now),
    'disableExport',
    'Export turned off.',
    now,
  );
  const written = await deps.connections.replace(next, current.etag);
  deps.logger.info('Export turned off', { tenantId });
  return settingsView(deps, written);
}

function notConfigured(): NotFoundError {
  return new NotFoundError(
    'ConnectionNotFound',
    'SIEM export has not been configured for this tenant. Enter the workspace Resource ID and location, then click Create Connection.',
  );
}

function checkIfMatch(etag: string, ifMatch: string | undefined): void {
  if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== etag) {
    throw new ConcurrencyConflictError(
      'The settings were changed since you loaded them (for example in another browser tab). Reload the page and try again.',
    );
  }
}
