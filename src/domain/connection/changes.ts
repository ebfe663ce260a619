import { describeActor, withChange, type ConnectionAction } from '../connectionHistory';
import type { HealthChange } from '../exportHealth/healthRow';
import type { TenantConnection } from '../tenantConnection';
import type { ConnectionUseCaseDeps } from './types';

/**
 * Every change to a connection is recorded twice: first in its own history
 * (with the actor who made it), and, with export health on, as a signed row in
 * the customer's workspace.
 */

/** Failing to write the health row never fails the user's action: it is logged. */
export async function recordHealthChange(
  deps: ConnectionUseCaseDeps,
  connection: TenantConnection,
  change: HealthChange,
  reason: string,
): Promise<void> {
  const recorder = deps.healthChanges;
  if (!recorder) return;
  try {
    await recorder.recordChange(connection, change, describeActor(deps.actor), reason);
  } catch (error) {
    deps.logger.error('Export health change row not written; the change itself went through', {
      tenantId: connection.tenantId,
      change,
      error: error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : typeof error,
    });
  }
}

/** `next` with this change and its actor recorded first in its history. */
export function changed(
  deps: ConnectionUseCaseDeps,
  next: TenantConnection,
  action: ConnectionAction,
  summary: string,
  now: Date,
): TenantConnection {
  deps.logger.info('Connection changed', {
    tenantId: next.tenantId,
    action,
    actor: describeActor(deps.actor),
  });
  return withChange(next, {
    at: now.toISOString(),
    action,
    actor: deps.actor,
    state: next.state,
    summary,
  });
}
