import pLimit from 'p-limit';
import { attributedReason } from '../connectionHistory';
import { Deadline, DeadlineExceeded } from '../deadline';
import { ConcurrencyConflictError } from '../errors';
import {
  type ConnectionTestResult,
  type StepResult,
  type TenantConnection,
  type Versioned,
  withState,
} from '../tenantConnection';
import { parseWorkspaceResourceId } from '../workspaceResourceId';
import { changed } from './changes';
import { describeError, testedReason } from './steps';
import { sendTestEvents } from './testEvents';
import type { ConnectionUseCaseDeps, RetestSummary } from './types';

/**
 * Run by a timer (never by a promise left running after a response: the
 * host may freeze the instance): re-sends the test event of every pending
 * connection until it passes or its propagation window ends.
 */
export async function retestPendingConnections(
  deps: ConnectionUseCaseDeps,
  retestTimeoutMs: number,
): Promise<RetestSummary> {
  const { connections, logger } = deps;
  const pending = await connections.listPendingTests();
  const summary: RetestSummary = { checked: 0, succeeded: 0, stillPending: 0, failed: 0, conflicts: 0 };
  const limit = pLimit(8);
  await Promise.all(
    pending.map((entry) =>
      limit(async () => {
        summary.checked += 1;
        try {
          const result = await retestOne(deps, retestTimeoutMs, entry);
          summary[result] += 1;
        } catch (error) {
          if (error instanceof ConcurrencyConflictError) {
            summary.conflicts += 1;
            return;
          }
          logger.error('Re-testing a pending connection failed', {
            tenantId: entry.value.tenantId,
            error: describeError(error),
          });
        }
      }),
    ),
  );
  if (summary.checked > 0) logger.info('Pending connection tests re-run', { ...summary });
  return summary;
}

async function retestOne(
  deps: ConnectionUseCaseDeps,
  retestTimeoutMs: number,
  entry: Versioned<TenantConnection>,
): Promise<'succeeded' | 'stillPending' | 'failed'> {
  const connection = entry.value;
  const tested = connection.tested;
  if (!tested || tested.test.outcome !== 'pending') return 'stillPending';
  const now = deps.clock.now();
  const pendingUntil = new Date(
    tested.test.pendingUntil ??
      (tested.target
        ? Date.parse(tested.target.provisionedAt) + deps.settings.propagationWindowMs
        : now.getTime()),
  );
  let step: StepResult;
  if (!tested.target) {
    step = {
      outcome: 'failed',
      code: 'ConnectionIncomplete',
      detail: 'The connection has no data collection rule. Click Create Connection again.',
    };
  } else {
    const workspace = parseWorkspaceResourceId(tested.target.workspaceResourceId);
    const target = tested.target;
    const deadline = new Deadline(retestTimeoutMs);
    try {
      step = await deadline.run((signal) =>
        sendTestEvents(deps, connection.tenantId, target, workspace, pendingUntil, signal, now),
      );
    } catch (error) {
      if (!(error instanceof DeadlineExceeded)) throw error;
      step = {
        outcome: now < pendingUntil ? 'pending' : 'failed',
        code: 'DependencyUnavailable',
        detail: `The ingestion API did not answer the test event in time.${now < pendingUntil ? ` We retry until ${pendingUntil.toISOString()}.` : ' Click Create Connection again.'}`,
      };
    } finally {
      deadline.dispose();
    }
  }
  if (step.outcome === 'pending') return 'stillPending';

  const outcome: ConnectionTestResult['outcome'] = step.outcome === 'ok' ? 'ok' : 'failed';
  const { pendingUntil: _done, ...rest } = tested.test;
  const test: ConnectionTestResult = {
    ...rest,
    outcome,
    steps: { ...tested.test.steps, testMessage: step },
  };
  let next: TenantConnection = { ...connection, tested: { ...tested, test }, updatedAt: now.toISOString() };
  if (next.state === 'tested')
    next = withState(next, 'tested', attributedReason(testedReason(test), deps.actor), now);
  next = changed(deps, next, 'retestPending', `Pending connection test finished: ${outcome}.`, now);
  await deps.connections.replace(next, entry.etag);
  deps.logger.info('Pending connection test finished', {
    tenantId: connection.tenantId,
    outcome,
    code: step.code,
  });
  return outcome === 'ok' ? 'succeeded' : 'failed';
}
