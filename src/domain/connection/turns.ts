import { setTimeout as sleep } from 'node:timers/promises';
import type { CreateConnectionResult, DataCollectionRuleView } from './types';
import type { Deadline } from '../deadline';
import type {
  Clock,
  CreateConnectionLeases,
  CreateConnectionRun,
  Logger,
  TenantConnectionStore,
} from '../ports';
import type {
  ConnectionTarget,
  StepResult,
  TenantConnection,
  TestedConnection,
  Versioned,
} from '../tenantConnection';
import { sameResourceId } from '../workspaceResourceId';

/**
 * Create Connection one run at a time per tenant. A double click (or two
 * portal tabs, or two instances) must not race ARM: Azure refuses a table PUT
 * with 409 while another operation on that table is in progress, and the
 * losing run used to report that 409 for a connection that was fine. So a
 * second call waits for the running one through a lease in Table Storage and,
 * when both asked for the same workspace and location, answers with the
 * result the first one stored.
 */

/** How long a Create Connection lease outlives the run's time limit before another run may take it over. */
export const LEASE_GRACE_MS = 60_000;

export interface CreateConnectionTurnDeps {
  leases?: CreateConnectionLeases;
  connections: TenantConnectionStore;
  clock: Clock;
  logger: Logger;
  settings: { leasePollMs?: number };
}

export class CreateConnectionTurns {
  constructor(private readonly deps: CreateConnectionTurnDeps) {}

  /**
   * 'run' once this call holds the tenant's lease (or no leases are configured).
   * While another run holds it, waits; when that run tested the same workspace
   * and location, its stored result is this call's answer too (a double click
   * converges on one run); otherwise this call takes the lease next. Answers
   * "still in progress" at the deadline rather than racing the other run.
   */
  async take(
    tenantId: string,
    run: CreateConnectionRun,
    deadline: Deadline,
  ): Promise<'run' | Versioned<CreateConnectionResult>> {
    const { leases, clock, connections, logger } = this.deps;
    if (!leases) return 'run';
    for (;;) {
      const holder = await leases.acquire({ ...run, tenantId }, clock.now());
      if (!holder) return 'run';
      logger.info('Create Connection waits for the run already in progress', {
        tenantId,
        runningSince: holder.startedAt,
      });
      const released = await this.waitForRelease(leases, tenantId, holder.runId, deadline);
      const current = await connections.get(tenantId);
      if (!released) return inProgressAnswer(tenantId, run, holder, current, clock.now());
      const tested = current?.value.tested;
      if (
        current &&
        tested &&
        sameResourceId(tested.workspaceResourceId, run.workspaceResourceId) &&
        tested.location === run.location &&
        tested.runStartedAt !== undefined &&
        tested.runStartedAt >= holder.startedAt
      ) {
        return answerFrom(current, tested);
      }
    }
  }

  /** True once `runId` no longer holds the tenant's lease; false when the deadline came first. */
  private async waitForRelease(
    leases: CreateConnectionLeases,
    tenantId: string,
    runId: string,
    deadline: Deadline,
  ): Promise<boolean> {
    const pollMs = this.deps.settings.leasePollMs ?? 500;
    for (;;) {
      try {
        await sleep(pollMs, undefined, { signal: deadline.signal });
      } catch {
        return false;
      }
      const holder = await leases.holder(tenantId, this.deps.clock.now());
      if (holder?.runId !== runId) return true;
    }
  }
}

/** The answer of a Create Connection from a stored tested result (its own, or the run it joined). */
export function answerFrom(
  connection: Versioned<TenantConnection>,
  tested: TestedConnection,
): Versioned<CreateConnectionResult> {
  return {
    etag: connection.etag,
    value: {
      tenantId: connection.value.tenantId,
      workspaceResourceId: tested.workspaceResourceId,
      location: tested.location,
      state: connection.value.state,
      test: tested.test,
      ...(tested.target ? { dataCollectionRule: ruleView(tested.target) } : {}),
    },
  };
}

/** Another run still holds the tenant at this call's deadline: say so, change nothing, race nothing. */
function inProgressAnswer(
  tenantId: string,
  run: CreateConnectionRun,
  holder: CreateConnectionRun,
  current: Versioned<TenantConnection> | undefined,
  now: Date,
): Versioned<CreateConnectionResult> {
  const skipped: StepResult = {
    outcome: 'skipped',
    detail: 'Not run: another Create Connection is running.',
  };
  return {
    etag: current?.etag ?? '',
    value: {
      tenantId,
      workspaceResourceId: run.workspaceResourceId,
      location: run.location,
      state: current?.value.state ?? 'tested',
      test: {
        outcome: 'pending',
        testedAt: now.toISOString(),
        steps: {
          workspace: {
            outcome: 'pending',
            code: 'CreateConnectionInProgress',
            detail: `Another Create Connection for this tenant (started ${holder.startedAt}, workspace ${holder.workspaceResourceId}) was still running when the time limit was reached; this call did not start a second one. Reload the settings in a minute to see its result.`,
          },
          tables: skipped,
          dataCollectionRule: skipped,
          testMessage: skipped,
        },
      },
    },
  };
}

export function ruleView(target: ConnectionTarget): DataCollectionRuleView {
  return {
    id: target.dataCollectionRuleId,
    immutableId: target.dataCollectionRuleImmutableId,
    logsIngestionEndpoint: target.logsIngestionEndpoint,
  };
}
