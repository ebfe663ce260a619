import pLimit from 'p-limit';
import { attributedReason, SYSTEM_TIMER, withChange } from './connectionHistory';
import { Deadline, DeadlineExceeded } from './deadline';
import { ConcurrencyConflictError, DomainError } from './errors';
import type { Clock, Logger, TenantConnectionStore, WorkspaceProvisioner } from './ports';
import { PROVISIONED_TABLES, TABLE_SCHEMA_VERSION } from './tableSchema';
import {
  type ConnectionTarget,
  type SchemaUpgradeFailure,
  type TenantConnection,
  type Versioned,
  withState,
} from './tenantConnection';
import { parseWorkspaceResourceId } from './workspaceResourceId';

/**
 * Brings saved connections provisioned at an older TABLE_SCHEMA_VERSION up to
 * date: re-runs the tables and data collection rule steps of Create Connection
 * with the customer's credential (both are idempotent), then records the new
 * version on the saved target so the forwarder sends the new columns. A
 * failure marks the connection degraded, naming the step and what to do; its
 * rows keep leaving out the columns the old DCR does not declare.
 */

export interface SchemaUpgradeDeps {
  connections: TenantConnectionStore;
  provisioner: WorkspaceProvisioner;
  clock: Clock;
  logger: Logger;
  settings: {
    /** Bound for upgrading one connection (tables are long-running operations). */
    timeoutMs: number;
  };
}

export interface SchemaUpgradeSummary {
  /** Saved connections behind the current version. */
  behind: number;
  upgraded: number;
  failed: number;
  /** Changed by someone else meanwhile: looked at again on the next run. */
  conflicts: number;
}

type Step = SchemaUpgradeFailure['step'];

class StepFailed extends Error {
  constructor(
    readonly step: Step,
    readonly error: unknown,
  ) {
    super(`${step} failed`);
  }
}

export class SchemaUpgrades {
  constructor(private readonly deps: SchemaUpgradeDeps) {}

  /** Run by a timer: upgrades every saved connection that is behind, a few at a time. */
  async upgradeConnections(): Promise<SchemaUpgradeSummary> {
    const { connections, logger } = this.deps;
    const behind = (await connections.listSaved()).filter((entry) => needsUpgrade(entry.value));
    const summary: SchemaUpgradeSummary = { behind: behind.length, upgraded: 0, failed: 0, conflicts: 0 };
    const limit = pLimit(4);
    await Promise.all(
      behind.map((entry) =>
        limit(async () => {
          try {
            summary[await this.upgradeOne(entry)] += 1;
          } catch (error) {
            if (error instanceof ConcurrencyConflictError) {
              summary.conflicts += 1;
              return;
            }
            summary.failed += 1;
            logger.error('Upgrading a connection to the current schema failed unexpectedly', {
              tenantId: entry.value.tenantId,
              error: error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : typeof error,
            });
          }
        }),
      ),
    );
    if (summary.behind > 0) logger.info('Connection schema upgrades run', { ...summary });
    return summary;
  }

  private async upgradeOne(entry: Versioned<TenantConnection>): Promise<'upgraded' | 'failed'> {
    const connection = entry.value;
    const saved = connection.saved!;
    const from = saved.schemaVersion ?? 1;
    let upgraded: ConnectionTarget;
    try {
      upgraded = await this.provision(connection.tenantId, saved);
    } catch (error) {
      if (!(error instanceof StepFailed)) throw error;
      await this.recordFailure(entry, from, error);
      return 'failed';
    }

    const now = this.deps.clock.now();
    const { schemaUpgrade: _cleared, ...rest } = connection;
    let next: TenantConnection = { ...rest, saved: upgraded, updatedAt: now.toISOString() };
    // Save changes copies the tested target: keep it as current as the saved one when it is the same DCR.
    const tested = connection.tested;
    if (tested?.target?.dataCollectionRuleImmutableId === saved.dataCollectionRuleImmutableId) {
      next = {
        ...next,
        tested: { ...tested, target: { ...tested.target, schemaVersion: TABLE_SCHEMA_VERSION } },
      };
    }
    if (connection.schemaUpgrade && next.state === 'degraded') {
      next = withState(
        next,
        'active',
        attributedReason(`Upgraded to schema version ${TABLE_SCHEMA_VERSION}.`, SYSTEM_TIMER),
        now,
      );
    }
    next = withChange(next, {
      at: now.toISOString(),
      action: 'schemaUpgrade',
      actor: SYSTEM_TIMER,
      state: next.state,
      summary: `Workspace tables and data collection rule upgraded from schema version ${from} to ${TABLE_SCHEMA_VERSION}.`,
    });
    await this.deps.connections.replace(next, entry.etag);
    this.deps.logger.info('Connection upgraded to the current schema', {
      tenantId: connection.tenantId,
      from,
      to: TABLE_SCHEMA_VERSION,
    });
    return 'upgraded';
  }

  /** The tables, then the DCR, with the customer's credential; throws StepFailed naming the step. */
  private async provision(tenantId: string, saved: ConnectionTarget): Promise<ConnectionTarget> {
    const { provisioner } = this.deps;
    const workspace = parseWorkspaceResourceId(saved.workspaceResourceId);
    const deadline = new Deadline(this.deps.settings.timeoutMs);
    const step = async <T>(name: Step, work: (signal: AbortSignal) => Promise<T>): Promise<T> => {
      try {
        return await deadline.run(work);
      } catch (error) {
        throw new StepFailed(name, error);
      }
    };
    try {
      await step('tables', (signal) =>
        Promise.all(
          PROVISIONED_TABLES.map((table) => provisioner.ensureTable(tenantId, workspace, table, signal)),
        ),
      );
      const rule = await step('dataCollectionRule', (signal) =>
        provisioner.ensureDataCollectionRule(tenantId, workspace, saved.location, signal),
      );
      await this.ensureDiagnosticSetting(tenantId, workspace, rule.id, deadline);
      return {
        ...saved,
        dataCollectionRuleId: rule.id,
        dataCollectionRuleImmutableId: rule.immutableId,
        logsIngestionEndpoint: rule.logsIngestionEndpoint,
        streams: rule.streams,
        schemaVersion: TABLE_SCHEMA_VERSION,
      };
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Connections made before Create Connection added the DCR's LogErrors diagnostic setting get it
   * here. Best effort, as in Create Connection: events flow without it, so a failure is logged and
   * never holds back the schema upgrade.
   */
  private async ensureDiagnosticSetting(
    tenantId: string,
    workspace: ReturnType<typeof parseWorkspaceResourceId>,
    dataCollectionRuleId: string,
    deadline: Deadline,
  ): Promise<void> {
    try {
      await deadline.run((signal) =>
        this.deps.provisioner.ensureDiagnosticSetting(tenantId, workspace, dataCollectionRuleId, signal),
      );
    } catch (error) {
      const { code } = describe(error);
      this.deps.logger.warn('DCR diagnostic setting not created during schema upgrade', { tenantId, code });
    }
  }

  private async recordFailure(
    entry: Versioned<TenantConnection>,
    from: number,
    failure: StepFailed,
  ): Promise<void> {
    const now = this.deps.clock.now();
    const { code, detail } = describe(failure.error);
    const schemaUpgrade: SchemaUpgradeFailure = {
      toVersion: TABLE_SCHEMA_VERSION,
      step: failure.step,
      ...(code ? { code } : {}),
      detail,
      at: now.toISOString(),
    };
    const connection = entry.value;
    let next: TenantConnection = { ...connection, schemaUpgrade, updatedAt: now.toISOString() };
    if (next.state === 'active' || next.state === 'degraded') {
      next = withState(
        next,
        'degraded',
        attributedReason(
          `Updating the workspace for new columns (schema version ${from} to ${TABLE_SCHEMA_VERSION}) failed at the ${failure.step} step${code ? ` (${code})` : ''}: ${detail} Events are still delivered without the new columns; the update is retried every hour, or click Create Connection and Save changes.`,
          SYSTEM_TIMER,
        ),
        now,
      );
    }
    // One history entry per failed upgrade that changes the state, not one per hourly retry.
    if (next.state !== connection.state) {
      next = withChange(next, {
        at: now.toISOString(),
        action: 'schemaUpgrade',
        actor: SYSTEM_TIMER,
        state: next.state,
        summary: `Schema upgrade ${from} -> ${TABLE_SCHEMA_VERSION} failed at the ${failure.step} step.`,
      });
    }
    await this.deps.connections.replace(next, entry.etag);
    this.deps.logger.warn('Connection schema upgrade failed', {
      tenantId: connection.tenantId,
      step: failure.step,
      code,
    });
  }
}

/** Saved, not turned off, and provisioned at an older version than the current one. */
export function needsUpgrade(connection: TenantConnection): boolean {
  return (
    connection.saved !== undefined &&
    connection.state !== 'disabled' &&
    (connection.saved.schemaVersion ?? 1) < TABLE_SCHEMA_VERSION
  );
}

function describe(error: unknown): { code?: string; detail: string } {
  if (error instanceof DeadlineExceeded) {
    return { code: 'Timeout', detail: `Azure did not finish within ${Math.round(error.ms / 1000)} s.` };
  }
  if (error instanceof DomainError) return { code: error.code, detail: error.message };
  return { code: 'InternalError', detail: 'An unexpected error occurred on our side; it has been logged.' };
}
