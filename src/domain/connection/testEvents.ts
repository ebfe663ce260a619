import { randomUUID } from 'node:crypto';
import { CONNECTION_TEST_EVENT_ID } from '../catalog';
import { IngestionFailure } from '../errors';
import { connectionTestRow } from '../rowMapper';
import { TABLE_NAMES } from '../tableSchema';
import type { ConnectionTarget, StepResult } from '../tenantConnection';
import type { WorkspaceRef } from '../workspaceResourceId';
import type { ConnectionUseCaseDeps } from './types';

const MMP = 'Monitoring Metrics Publisher' as const;

/** One connection-test row per table; 403/404 and outages count as propagation until `pendingUntil`. */
export async function sendTestEvents(
  deps: ConnectionUseCaseDeps,
  tenantId: string,
  target: ConnectionTarget,
  workspace: WorkspaceRef,
  pendingUntil: Date,
  signal: AbortSignal,
  now: Date = deps.clock.now(),
): Promise<StepResult> {
  const results = await Promise.allSettled(
    TABLE_NAMES.map((table) =>
      deps.ingestion.upload(
        tenantId,
        target,
        target.streams[table],
        [connectionTestRow(table, tenantId, now, randomUUID())],
        signal,
      ),
    ),
  );
  const failures = results
    .filter((result): result is PromiseRejectedResult => result.status === 'rejected')
    .map((result) => result.reason as unknown);
  if (failures.length === 0) {
    return {
      outcome: 'ok',
      detail: `A test event (EventID_d == ${CONNECTION_TEST_EVENT_ID}) was accepted for ${TABLE_NAMES.join(' and ')}. New tables can take up to 15 minutes to show their first rows.`,
    };
  }
  const ingestionFailures = failures.filter(
    (error): error is IngestionFailure => error instanceof IngestionFailure,
  );
  const other = failures.find((error) => !(error instanceof IngestionFailure));
  if (other !== undefined) throw other instanceof Error ? other : new Error('Non-error rejection');
  const scope = workspace.resourceGroupId;
  const inWindow = now < pendingUntil;
  const until = pendingUntil.toISOString();
  const fatal = ingestionFailures.find(
    (error) => error.kind === 'rejected' || error.kind === 'unauthenticated',
  );
  if (fatal) {
    return fatal.kind === 'unauthenticated'
      ? {
          outcome: 'failed',
          code: 'TokenRequestFailed',
          detail: `No token could be obtained for your tenant to send the test event (${fatal.message}). Check that the Keytos application is still registered in your tenant, then click Create Connection again.`,
        }
      : {
          outcome: 'failed',
          code: 'TestEventRejected',
          detail: `The ingestion API rejected the test event (${fatal.details.status ?? '?'}${fatal.details.serviceCode ? ` ${fatal.details.serviceCode}` : ''}). Click Create Connection again to bring the tables and the data collection rule back in line; contact Keytos support if it persists.`,
        };
  }
  const forbidden = ingestionFailures.find((error) => error.kind === 'forbidden');
  if (forbidden) {
    return inWindow
      ? {
          outcome: 'pending',
          code: 'PropagationPending',
          missingRole: MMP,
          scope,
          detail: `The ingestion API refused the test event (403): the ${MMP} role on ${scope} has not reached the new data collection rule yet. Role assignments can take up to 30 minutes to apply; the test is retried automatically until ${until}. If you have not granted the Keytos application ${MMP} on ${scope}, grant it now.`,
        }
      : {
          outcome: 'failed',
          code: 'AuthorizationFailed',
          missingRole: MMP,
          scope,
          detail: `The ingestion API still refuses the test event (403) after the propagation window: grant the Keytos application the ${MMP} role on the resource group ${scope} (it is needed to send events to the data collection rule), then click Create Connection again.`,
        };
  }
  const notFound = ingestionFailures.find((error) => error.kind === 'notFound');
  if (notFound) {
    return inWindow
      ? {
          outcome: 'pending',
          code: 'PropagationPending',
          detail: `The ingestion API does not see the new data collection rule yet (404). This usually clears within minutes; the test is retried automatically until ${until}.`,
        }
      : {
          outcome: 'failed',
          code: 'DataCollectionRuleNotFound',
          detail: `The ingestion API still cannot find the data collection rule ${target.dataCollectionRuleImmutableId} (404). If it was deleted, click Create Connection again to recreate it.`,
        };
  }
  const first = ingestionFailures[0];
  return inWindow
    ? {
        outcome: 'pending',
        code: 'DependencyUnavailable',
        detail: `The ingestion API is busy or unavailable (${first?.details.status ?? 'no answer'}); the test is retried automatically until ${until}.`,
      }
    : {
        outcome: 'failed',
        code: 'DependencyUnavailable',
        detail: `The ingestion API stayed busy or unavailable (${first?.details.status ?? 'no answer'}). Click Create Connection again later.`,
      };
}
