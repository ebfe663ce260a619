import { randomUUID } from 'node:crypto';
import { regionDisplayName, normalizeLocation } from '../azureRegions';
import { attributedReason } from '../connectionHistory';
import { Deadline } from '../deadline';
import { ConcurrencyConflictError } from '../errors';
import type { CreateConnectionRun } from '../ports';
import { PROVISIONED_TABLES, TABLE_SCHEMA_VERSION } from '../tableSchema';
import {
  type ConnectionTarget,
  type ConnectionTestResult,
  type TenantConnection,
  type TestedConnection,
  type Versioned,
  withState,
} from '../tenantConnection';
import { parseWorkspaceResourceId, type WorkspaceRef } from '../workspaceResourceId';
import { changed, recordHealthChange } from './changes';
import { describeError, STEP_ORDER, StepRunner, testedReason } from './steps';
import { sendTestEvents } from './testEvents';
import { answerFrom, type CreateConnectionTurns, LEASE_GRACE_MS, ruleView } from './turns';
import type { ConnectionUseCaseDeps, CreateConnectionInput, CreateConnectionResult } from './types';

/**
 * "Create Connection": reads the workspace, creates or updates both tables
 * and the Direct DCR, sends a test event to each table, and records the
 * result as the tenant's tested connection. Answers within the configured
 * time with per-step results; re-running it creates nothing twice.
 * Throws ValidationError for input that can never work.
 */
export async function createConnection(
  deps: ConnectionUseCaseDeps,
  turns: CreateConnectionTurns,
  tenantId: string,
  input: CreateConnectionInput,
): Promise<Versioned<CreateConnectionResult>> {
  const workspace = parseWorkspaceResourceId(input.workspaceResourceId);
  const location = normalizeLocation(input.location);
  const startedAt = deps.clock.now();
  const deadline = new Deadline(deps.settings.timeoutMs);
  const run: CreateConnectionRun = {
    runId: randomUUID(),
    startedAt: startedAt.toISOString(),
    // Outlives the time limit and the recording after it; a crashed run frees the tenant after this.
    expiresAt: new Date(startedAt.getTime() + deps.settings.timeoutMs + LEASE_GRACE_MS).toISOString(),
    workspaceResourceId: workspace.resourceId,
    location,
  };
  let holding = false;
  try {
    const turn = await turns.take(tenantId, run, deadline);
    if (turn !== 'run') return turn;
    holding = true;
    return await provisionAndTest(deps, tenantId, workspace, location, run.startedAt, deadline);
  } finally {
    deadline.dispose();
    if (holding) {
      await deps.leases?.release(tenantId, run.runId).catch((error: unknown) => {
        // Not fatal: the lease expires on its own at run.expiresAt.
        deps.logger.warn('Releasing the Create Connection lease failed', {
          tenantId,
          error: describeError(error),
        });
      });
    }
  }
}

async function provisionAndTest(
  deps: ConnectionUseCaseDeps,
  tenantId: string,
  workspace: WorkspaceRef,
  location: string,
  runStartedAt: string,
  deadline: Deadline,
): Promise<Versioned<CreateConnectionResult>> {
  const { provisioner, clock, logger } = deps;
  const run = new StepRunner(logger, tenantId);
  let target: ConnectionTarget | undefined;
  let pendingUntil: string | undefined;

  {
    const found = await run.step('workspace', deadline, (signal) =>
      provisioner.readWorkspace(tenantId, workspace, signal),
    );
    if (found && found.location !== location) {
      run.fail('workspace', {
        outcome: 'failed',
        code: 'RegionMismatch',
        detail: `The workspace is in ${regionDisplayName(found.location)} (${found.location}), not in ${regionDisplayName(location)} (${location}) as selected. Select ${regionDisplayName(found.location)} in the Location dropdown and click Create Connection again.`,
      });
    } else if (found) {
      run.ok(
        'workspace',
        `Found the workspace ${workspace.workspaceName} in ${regionDisplayName(found.location)} (${found.location}).`,
      );

      const tables = await run.step('tables', deadline, (signal) =>
        Promise.all(
          PROVISIONED_TABLES.map((table) => provisioner.ensureTable(tenantId, workspace, table, signal)),
        ),
      );
      if (tables) {
        run.ok('tables', describeTables(tables));

        const rule = await run.step('dataCollectionRule', deadline, (signal) =>
          provisioner.ensureDataCollectionRule(tenantId, workspace, found.location, signal),
        );
        if (rule) {
          const provisionedAt = clock.now();
          target = {
            workspaceResourceId: workspace.resourceId,
            location: found.location,
            dataCollectionRuleId: rule.id,
            dataCollectionRuleImmutableId: rule.immutableId,
            logsIngestionEndpoint: rule.logsIngestionEndpoint,
            streams: rule.streams,
            provisionedAt: provisionedAt.toISOString(),
            schemaVersion: TABLE_SCHEMA_VERSION,
          };
          run.ok(
            'dataCollectionRule',
            `The data collection rule ${lastSegment(rule.id)} is ready in ${found.location} (immutable id ${rule.immutableId}).`,
          );
          const until = new Date(provisionedAt.getTime() + deps.settings.propagationWindowMs);
          const readyTarget = target;
          const sent = await run.step('testMessage', deadline, (signal) =>
            sendTestEvents(deps, tenantId, readyTarget, workspace, until, signal),
          );
          if (sent) run.set('testMessage', sent);
          if (run.outcomeOf('testMessage') === 'pending') pendingUntil = until.toISOString();

          // Last, and never fatal: without it events still arrive, only Azure's silent drops go unseen.
          const diagnosed = await run.step('diagnosticSetting', deadline, (signal) =>
            provisioner.ensureDiagnosticSetting(tenantId, workspace, rule.id, signal).then(() => true),
          );
          if (diagnosed) {
            run.ok(
              'diagnosticSetting',
              `The data collection rule sends its errors (category LogErrors) to the workspace: rows Azure refuses appear in the DCRLogErrors table.`,
            );
          } else {
            run.warnInstead('diagnosticSetting');
          }
        }
      }
    }
  }

  const test: ConnectionTestResult = {
    outcome: run.overall(target !== undefined),
    testedAt: clock.now().toISOString(),
    steps: run.results(),
    ...(pendingUntil && target ? { pendingUntil } : {}),
  };
  const tested: TestedConnection = {
    workspaceResourceId: workspace.resourceId,
    location,
    test,
    ...(target ? { target } : {}),
    runStartedAt,
  };
  const recorded = await recordTested(deps, tenantId, tested);
  if (recorded.value.tested !== undefined && recorded.value.tested.runStartedAt !== runStartedAt) {
    // A newer run recorded meanwhile: its result is the connection's real state, ours is history.
    logger.info('Create Connection finished after a newer run; answering with the newer result', {
      tenantId,
    });
    return answerFrom(recorded, recorded.value.tested);
  }
  await recordHealthChange(
    deps,
    recorded.value,
    'connectionCreated',
    `Create Connection tested workspace ${workspace.resourceId}: ${test.outcome}.`,
  );
  logger.info('Create Connection finished', {
    tenantId,
    outcome: test.outcome,
    steps: Object.fromEntries(
      STEP_ORDER.map((step) => [step, test.steps[step]?.code ?? test.steps[step]?.outcome]),
    ),
  });
  return {
    etag: recorded.etag,
    value: {
      tenantId,
      workspaceResourceId: workspace.resourceId,
      location,
      state: recorded.value.state,
      test,
      ...(target ? { dataCollectionRule: ruleView(target) } : {}),
    },
  };
}

async function recordTested(
  deps: ConnectionUseCaseDeps,
  tenantId: string,
  tested: TestedConnection,
): Promise<Versioned<TenantConnection>> {
  const { connections, clock } = deps;
  // The provisioning already happened: a concurrent write only means re-reading and recording on top of it.
  for (let attempt = 1; ; attempt += 1) {
    const now = clock.now();
    const at = now.toISOString();
    try {
      const current = await connections.get(tenantId);
      const reason = attributedReason(testedReason(tested.test), deps.actor);
      const summary = `Create Connection tested workspace ${tested.workspaceResourceId}: ${tested.test.outcome}.`;
      if (!current) {
        return await connections.create(
          changed(
            deps,
            {
              tenantId,
              state: 'tested',
              stateReason: reason,
              stateChangedAt: at,
              tested,
              createdAt: at,
              updatedAt: at,
            },
            'createConnection',
            summary,
            now,
          ),
        );
      }
      const stored = current.value.tested?.runStartedAt;
      if (stored !== undefined && tested.runStartedAt !== undefined && stored > tested.runStartedAt)
        return current;
      let next: TenantConnection = { ...current.value, tested, updatedAt: at };
      // A saved export keeps running on its saved target: testing never redirects it.
      if (next.state === 'tested') next = withState(next, 'tested', reason, now);
      return await connections.replace(changed(deps, next, 'createConnection', summary, now), current.etag);
    } catch (error) {
      if (!(error instanceof ConcurrencyConflictError) || attempt >= 3) throw error;
    }
  }
}

function describeTables(
  tables: ReadonlyArray<{ table: string; action: string; keptColumns: string[] }>,
): string {
  const words: Record<string, string> = {
    created: 'created',
    updated: 'updated',
    migrated: 'migrated from a Classic (Data Collector API) table and updated',
    unchanged: 'already up to date',
  };
  return tables
    .map(
      ({ table, action, keptColumns }) =>
        `${table} ${words[action] ?? action}${keptColumns.length > 0 ? ` (your columns kept: ${keptColumns.join(', ')})` : ''}.`,
    )
    .join(' ');
}

function lastSegment(id: string): string {
  return id.slice(id.lastIndexOf('/') + 1);
}
