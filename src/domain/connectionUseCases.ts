import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { regionDisplayName, normalizeLocation } from './azureRegions';
import { CONNECTION_TEST_EVENT_ID } from './catalog';
import {
  attributedReason,
  describeActor,
  lastChange,
  withChange,
  type ConnectionAction,
  type ConnectionActor,
  type ConnectionChange,
} from './connectionHistory';
import { answerFrom, CreateConnectionTurns, LEASE_GRACE_MS, ruleView } from './createConnectionTurns';
import { Deadline, DeadlineExceeded } from './deadline';
import {
  AuthorizationError,
  ConcurrencyConflictError,
  DomainError,
  IngestionFailure,
  NotFoundError,
  StateConflictError,
} from './errors';
import type {
  Clock,
  CreateConnectionLeases,
  CreateConnectionRun,
  IngestionSink,
  Logger,
  ParkedEventStore,
  TenantConnectionStore,
  WorkspaceProvisioner,
} from './ports';
import { connectionTestRow } from './rowMapper';
import type { HealthChange } from './exportHealth/healthRow';
import type { HealthChangeRecorder } from './exportHealth/heartbeat';
import { PROVISIONED_TABLES, TABLE_NAMES, TABLE_SCHEMA_VERSION } from './tableSchema';
import {
  type ConnectionState,
  type ConnectionStep,
  type ConnectionTarget,
  type ConnectionTestResult,
  isDelivering,
  type SchemaUpgradeFailure,
  type StepResult,
  type TenantConnection,
  type TestedConnection,
  type Versioned,
  withState,
} from './tenantConnection';
import { parseWorkspaceResourceId, sameResourceId, type WorkspaceRef } from './workspaceResourceId';

/**
 * The portal's use cases for a tenant's connection: Create Connection
 * (provision + test), the timer that finishes pending tests, Save changes,
 * status, and turning export off. Every write goes through the ETag that was
 * read, so two portal sessions never silently overwrite each other.
 */

export interface ConnectionUseCaseDeps {
  connections: TenantConnectionStore;
  /** One Create Connection at a time per tenant across instances; without it calls are not serialized. */
  leases?: CreateConnectionLeases;
  parked: Pick<ParkedEventStore, 'count'>;
  provisioner: WorkspaceProvisioner;
  ingestion: IngestionSink;
  clock: Clock;
  logger: Logger;
  /** Who is making the changes: the API caller, or the timer. Recorded on every change. */
  actor: ConnectionActor;
  /** Export health (issue 17): each change also becomes a signed row in the customer's workspace. */
  healthChanges?: HealthChangeRecorder;
  settings: {
    /** Longest Create Connection may take before it answers with what it has. */
    timeoutMs: number;
    /** How long after provisioning a 403/404 from ingestion means "not propagated yet". */
    propagationWindowMs: number;
    /** Bound for one re-test of a pending connection by the timer. */
    retestTimeoutMs?: number;
    /** How often a Create Connection waiting for another run of the tenant looks again (default 500 ms). */
    leasePollMs?: number;
  };
}

export interface CreateConnectionInput {
  workspaceResourceId: unknown;
  location: unknown;
}

export interface SaveSettingsInput {
  workspaceResourceId: unknown;
  /** Optional: when given, must be the location the connection was tested with. */
  location?: unknown;
}

export interface CreateConnectionResult {
  tenantId: string;
  workspaceResourceId: string;
  location: string;
  /** The connection's state after this test (a saved export keeps running on its saved target). */
  state: ConnectionState;
  test: ConnectionTestResult;
  dataCollectionRule?: DataCollectionRuleView;
}

export interface DataCollectionRuleView {
  id: string;
  immutableId: string;
  logsIngestionEndpoint: string;
}

export interface SettingsView {
  tenantId: string;
  /** True while events are delivered (state active or degraded). */
  exportEnabled: boolean;
  state: ConnectionState;
  stateReason: string;
  stateChangedAt: string;
  /** What the forwarder delivers to, once saved. */
  saved?: {
    workspaceResourceId: string;
    location: string;
    dataCollectionRule: DataCollectionRuleView;
    streams: Record<string, string>;
    provisionedAt: string;
    /** Table schema version the workspace was provisioned at (a timer upgrades older ones). */
    schemaVersion: number;
  };
  /** Present while the saved workspace could not be upgraded to the current schema version. */
  schemaUpgrade?: SchemaUpgradeFailure;
  /** The last Create Connection and its per-step result. */
  tested?: {
    workspaceResourceId: string;
    location: string;
    test: ConnectionTestResult;
    dataCollectionRule?: DataCollectionRuleView;
  };
  health: {
    lastDeliveryAt?: string;
    lastError?: { at: string; message: string };
    /** The last error after deliveries succeeded again (`at` it happened, `resolvedAt` the recovery). */
    lastResolvedError?: { at: string; message: string; resolvedAt: string };
    parkedCount: number;
  };
  createdAt: string;
  updatedAt: string;
  /** The most recent change to the connection and who made it. */
  lastChange?: ConnectionChange;
}

export interface RetestSummary {
  checked: number;
  succeeded: number;
  stillPending: number;
  failed: number;
  /** Changed by someone else meanwhile: looked at again on the next run. */
  conflicts: number;
}

const STEP_ORDER: readonly ConnectionStep[] = [
  'workspace',
  'tables',
  'dataCollectionRule',
  'testMessage',
  'diagnosticSetting',
];
const MMP = 'Monitoring Metrics Publisher' as const;

export class ConnectionUseCases {
  private readonly retestTimeoutMs: number;
  private readonly turns: CreateConnectionTurns;

  constructor(private readonly deps: ConnectionUseCaseDeps) {
    this.retestTimeoutMs = deps.settings.retestTimeoutMs ?? 20_000;
    this.turns = new CreateConnectionTurns(deps);
  }

  /**
   * "Create Connection": reads the workspace, creates or updates both tables
   * and the Direct DCR, sends a test event to each table, and records the
   * result as the tenant's tested connection. Answers within the configured
   * time with per-step results; re-running it creates nothing twice.
   * Throws ValidationError for input that can never work.
   */
  async createConnection(
    tenantId: string,
    input: CreateConnectionInput,
  ): Promise<Versioned<CreateConnectionResult>> {
    const workspace = parseWorkspaceResourceId(input.workspaceResourceId);
    const location = normalizeLocation(input.location);
    const startedAt = this.deps.clock.now();
    const deadline = new Deadline(this.deps.settings.timeoutMs);
    const run: CreateConnectionRun = {
      runId: randomUUID(),
      startedAt: startedAt.toISOString(),
      // Outlives the time limit and the recording after it; a crashed run frees the tenant after this.
      expiresAt: new Date(startedAt.getTime() + this.deps.settings.timeoutMs + LEASE_GRACE_MS).toISOString(),
      workspaceResourceId: workspace.resourceId,
      location,
    };
    let holding = false;
    try {
      const turn = await this.turns.take(tenantId, run, deadline);
      if (turn !== 'run') return turn;
      holding = true;
      return await this.provisionAndTest(tenantId, workspace, location, run.startedAt, deadline);
    } finally {
      deadline.dispose();
      if (holding) {
        await this.deps.leases?.release(tenantId, run.runId).catch((error: unknown) => {
          // Not fatal: the lease expires on its own at run.expiresAt.
          this.deps.logger.warn('Releasing the Create Connection lease failed', {
            tenantId,
            error: describeError(error),
          });
        });
      }
    }
  }

  private async provisionAndTest(
    tenantId: string,
    workspace: WorkspaceRef,
    location: string,
    runStartedAt: string,
    deadline: Deadline,
  ): Promise<Versioned<CreateConnectionResult>> {
    const { provisioner, clock, logger } = this.deps;
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
            const until = new Date(provisionedAt.getTime() + this.deps.settings.propagationWindowMs);
            const readyTarget = target;
            const sent = await run.step('testMessage', deadline, (signal) =>
              this.sendTestEvents(tenantId, readyTarget, workspace, until, signal),
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
    const recorded = await this.recordTested(tenantId, tested);
    if (recorded.value.tested !== undefined && recorded.value.tested.runStartedAt !== runStartedAt) {
      // A newer run recorded meanwhile: its result is the connection's real state, ours is history.
      logger.info('Create Connection finished after a newer run; answering with the newer result', {
        tenantId,
      });
      return answerFrom(recorded, recorded.value.tested);
    }
    await this.recordHealthChange(
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

  /**
   * Run by a timer (never by a promise left running after a response: the
   * host may freeze the instance): re-sends the test event of every pending
   * connection until it passes or its propagation window ends.
   */
  async retestPendingConnections(): Promise<RetestSummary> {
    const { connections, logger } = this.deps;
    const pending = await connections.listPendingTests();
    const summary: RetestSummary = { checked: 0, succeeded: 0, stillPending: 0, failed: 0, conflicts: 0 };
    const limit = pLimit(8);
    await Promise.all(
      pending.map((entry) =>
        limit(async () => {
          summary.checked += 1;
          try {
            const result = await this.retestOne(entry);
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

  /**
   * "Save changes": turns export on for the tested connection of the
   * workspace named in the request. Refuses a workspace never tested or whose
   * test failed. `ifMatch` (the ETag the portal read) makes a stale save fail
   * instead of overwriting a newer change.
   */
  async saveSettings(
    tenantId: string,
    input: SaveSettingsInput,
    ifMatch?: string,
  ): Promise<Versioned<SettingsView>> {
    const workspace = parseWorkspaceResourceId(input.workspaceResourceId);
    const location =
      input.location === undefined || input.location === null ? undefined : normalizeLocation(input.location);
    const current = await this.deps.connections.get(tenantId);
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

    const now = this.deps.clock.now();
    const value = current.value;
    const alreadySaved =
      value.state === 'active' &&
      value.saved?.dataCollectionRuleImmutableId === target.dataCollectionRuleImmutableId &&
      value.saved.provisionedAt === target.provisionedAt;
    if (alreadySaved) return this.view(current);

    const reason =
      tested.test.outcome === 'pending'
        ? `Export turned on by Save changes; the test event waits for Azure to propagate permissions (until ${tested.test.pendingUntil ?? 'the end of the propagation window'}).`
        : 'Export turned on by Save changes after a successful connection test.';
    const next = this.changed(
      withState(
        { ...value, saved: target, updatedAt: now.toISOString() },
        'active',
        attributedReason(reason, this.deps.actor),
        now,
      ),
      'saveSettings',
      `Saved changes: export on to workspace ${target.workspaceResourceId}.`,
      now,
    );
    const written = await this.deps.connections.replace(next, current.etag);
    await this.recordHealthChange(written.value, 'settingsSaved', reason);
    this.deps.logger.info('Export turned on', { tenantId, testOutcome: tested.test.outcome });
    return this.view(written);
  }

  /** Settings and health of the tenant's export; NotFoundError when nothing was ever configured. */
  async getSettings(tenantId: string): Promise<Versioned<SettingsView>> {
    const current = await this.deps.connections.get(tenantId);
    if (!current) throw notConfigured();
    return this.view(current);
  }

  /** Turns export off (events are then counted and completed, not delivered); keeps the saved target. */
  async disableExport(tenantId: string, ifMatch?: string): Promise<Versioned<SettingsView>> {
    const current = await this.deps.connections.get(tenantId);
    if (!current) throw notConfigured();
    checkIfMatch(current.etag, ifMatch);
    if (current.value.state === 'disabled') return this.view(current);
    // Written while the export is still on, so the row reaches the workspace it is about.
    await this.recordHealthChange(current.value, 'exportDisabled', 'Export turned off.');
    const now = this.deps.clock.now();
    const next = this.changed(
      withState(current.value, 'disabled', attributedReason('Export turned off.', this.deps.actor), now),
      'disableExport',
      'Export turned off.',
      now,
    );
    const written = await this.deps.connections.replace(next, current.etag);
    this.deps.logger.info('Export turned off', { tenantId });
    return this.view(written);
  }

  private async retestOne(
    entry: Versioned<TenantConnection>,
  ): Promise<'succeeded' | 'stillPending' | 'failed'> {
    const connection = entry.value;
    const tested = connection.tested;
    if (!tested || tested.test.outcome !== 'pending') return 'stillPending';
    const now = this.deps.clock.now();
    const pendingUntil = new Date(
      tested.test.pendingUntil ??
        (tested.target
          ? Date.parse(tested.target.provisionedAt) + this.deps.settings.propagationWindowMs
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
      const deadline = new Deadline(this.retestTimeoutMs);
      try {
        step = await deadline.run((signal) =>
          this.sendTestEvents(connection.tenantId, target, workspace, pendingUntil, signal, now),
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
      next = withState(next, 'tested', attributedReason(testedReason(test), this.deps.actor), now);
    next = this.changed(next, 'retestPending', `Pending connection test finished: ${outcome}.`, now);
    await this.deps.connections.replace(next, entry.etag);
    this.deps.logger.info('Pending connection test finished', {
      tenantId: connection.tenantId,
      outcome,
      code: step.code,
    });
    return outcome === 'ok' ? 'succeeded' : 'failed';
  }

  /** One connection-test row per table; 403/404 and outages count as propagation until `pendingUntil`. */
  private async sendTestEvents(
    tenantId: string,
    target: ConnectionTarget,
    workspace: WorkspaceRef,
    pendingUntil: Date,
    signal: AbortSignal,
    now: Date = this.deps.clock.now(),
  ): Promise<StepResult> {
    const results = await Promise.allSettled(
      TABLE_NAMES.map((table) =>
        this.deps.ingestion.upload(
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

  private async recordTested(
    tenantId: string,
    tested: TestedConnection,
  ): Promise<Versioned<TenantConnection>> {
    const { connections, clock } = this.deps;
    // The provisioning already happened: a concurrent write only means re-reading and recording on top of it.
    for (let attempt = 1; ; attempt += 1) {
      const now = clock.now();
      const at = now.toISOString();
      try {
        const current = await connections.get(tenantId);
        const reason = attributedReason(testedReason(tested.test), this.deps.actor);
        const summary = `Create Connection tested workspace ${tested.workspaceResourceId}: ${tested.test.outcome}.`;
        if (!current) {
          return await connections.create(
            this.changed(
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
        return await connections.replace(this.changed(next, 'createConnection', summary, now), current.etag);
      } catch (error) {
        if (!(error instanceof ConcurrencyConflictError) || attempt >= 3) throw error;
      }
    }
  }

  /** Failing to write the health row never fails the user's action: it is logged. */
  private async recordHealthChange(
    connection: TenantConnection,
    change: HealthChange,
    reason: string,
  ): Promise<void> {
    const recorder = this.deps.healthChanges;
    if (!recorder) return;
    try {
      await recorder.recordChange(connection, change, describeActor(this.deps.actor), reason);
    } catch (error) {
      this.deps.logger.error('Export health change row not written; the change itself went through', {
        tenantId: connection.tenantId,
        change,
        error: error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : typeof error,
      });
    }
  }

  /** `next` with this change and its actor recorded first in its history. */
  private changed(
    next: TenantConnection,
    action: ConnectionAction,
    summary: string,
    now: Date,
  ): TenantConnection {
    this.deps.logger.info('Connection changed', {
      tenantId: next.tenantId,
      action,
      actor: describeActor(this.deps.actor),
    });
    return withChange(next, {
      at: now.toISOString(),
      action,
      actor: this.deps.actor,
      state: next.state,
      summary,
    });
  }

  private async view(connection: Versioned<TenantConnection>): Promise<Versioned<SettingsView>> {
    const value = connection.value;
    const parkedCount = await this.deps.parked.count(value.tenantId);
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
}

/** Per-step bookkeeping of one Create Connection: results, deadline, what was not reached. */
class StepRunner {
  private readonly steps: Record<ConnectionStep, StepResult> = {
    workspace: notRun(),
    tables: notRun(),
    dataCollectionRule: notRun(),
    testMessage: notRun(),
    diagnosticSetting: notRun(),
  };
  private timedOut = false;

  constructor(
    private readonly logger: Logger,
    private readonly tenantId: string,
  ) {}

  /** Runs one step within the deadline; on failure records why and returns undefined. */
  async step<T>(
    step: ConnectionStep,
    deadline: Deadline,
    work: (signal: AbortSignal) => Promise<T>,
  ): Promise<T | undefined> {
    if (this.timedOut) return undefined;
    try {
      return await deadline.run(work);
    } catch (error) {
      if (error instanceof DeadlineExceeded) {
        this.timedOut = true;
        const seconds = Math.round(error.ms / 1000);
        this.steps[step] = {
          outcome: 'pending',
          code: 'Timeout',
          detail: `Still running when the ${seconds} s time limit was reached. Azure may finish it on its own; click Create Connection again in a few minutes (it picks up what is already done).`,
        };
        for (const later of STEP_ORDER.slice(STEP_ORDER.indexOf(step) + 1)) {
          this.steps[later] = { outcome: 'skipped', detail: 'Not reached within the time limit.' };
        }
        return undefined;
      }
      this.steps[step] = failure(error);
      if (!(error instanceof DomainError)) {
        this.logger.error('Create Connection step failed unexpectedly', {
          tenantId: this.tenantId,
          step,
          error: describeError(error),
        });
      }
      return undefined;
    }
  }

  ok(step: ConnectionStep, detail: string): void {
    this.steps[step] = { outcome: 'ok', detail };
  }

  fail(step: ConnectionStep, result: StepResult): void {
    this.steps[step] = result;
  }

  set(step: ConnectionStep, result: StepResult): void {
    this.steps[step] = result;
  }

  /** An optional step that failed or timed out: a warning that keeps its code and says events still flow. */
  warnInstead(step: ConnectionStep): void {
    const result = this.steps[step];
    if (result.outcome !== 'failed' && result.outcome !== 'pending') return;
    this.steps[step] = {
      ...result,
      outcome: 'warning',
      detail: `${result.detail} Events are still delivered; only errors Azure logs about dropped rows (table DCRLogErrors) are not sent to your workspace until this is fixed.`,
    };
  }

  outcomeOf(step: ConnectionStep): StepResult['outcome'] {
    return this.steps[step].outcome;
  }

  /** ok only if every step is; pending only when provisioning is done and the test waits; failed otherwise. */
  overall(provisioned: boolean): ConnectionTestResult['outcome'] {
    const outcomes = STEP_ORDER.map((step) => this.steps[step].outcome);
    if (outcomes.every((outcome) => outcome === 'ok' || outcome === 'warning')) return 'ok';
    if (provisioned && this.steps.testMessage.outcome === 'pending') return 'pending';
    return 'failed';
  }

  results(): Record<ConnectionStep, StepResult> {
    return { ...this.steps };
  }
}

function notRun(): StepResult {
  return { outcome: 'skipped', detail: 'Not run: an earlier step did not succeed.' };
}

/** A step's failure as the portal shows it: the domain error's own actionable message, nothing internal. */
function failure(error: unknown): StepResult {
  if (error instanceof AuthorizationError) {
    return {
      outcome: 'failed',
      code: error.code,
      detail: error.message,
      ...(error.missingRole ? { missingRole: error.missingRole } : {}),
      ...(error.scope ? { scope: error.scope } : {}),
    };
  }
  if (error instanceof DomainError) return { outcome: 'failed', code: error.code, detail: error.message };
  return {
    outcome: 'failed',
    code: 'InternalError',
    detail:
      'An unexpected error occurred on our side. It has been logged; try again or contact Keytos support.',
  };
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

function testedReason(test: ConnectionTestResult): string {
  switch (test.outcome) {
    case 'ok':
      return 'Connection tested successfully; click Save changes to turn export on.';
    case 'pending':
      return `Connection provisioned; the test event waits for Azure to propagate permissions (until ${test.pendingUntil ?? 'the end of the propagation window'}). Save changes is already possible.`;
    case 'failed': {
      const step = STEP_ORDER.find((name) => {
        const outcome = test.steps[name]?.outcome;
        return outcome !== undefined && outcome !== 'ok' && outcome !== 'warning';
      });
      const result = step ? test.steps[step] : undefined;
      return `Connection test failed${step && result ? ` at the ${step} step (${result.code ?? result.outcome})` : ''}.`;
    }
  }
}

function lastSegment(id: string): string {
  return id.slice(id.lastIndexOf('/') + 1);
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

/** Error class and first line only: messages of unexpected errors are not written for customers. */
function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${(error.message.split('\n')[0] ?? '').slice(0, 300)}`;
  return typeof error;
}
