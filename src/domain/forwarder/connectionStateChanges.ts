import { attributedReason, describeActor, SYSTEM_FORWARDER, withChange } from '../connectionHistory';
import { ConcurrencyConflictError } from '../errors';
import type { HealthChangeRecorder } from '../exportHealth/heartbeat';
import type { Clock, Logger, TenantConnectionStore } from '../ports';
import {
  type ConnectionState,
  type ConnectionTarget,
  isDelivering,
  type TenantConnection,
  type Versioned,
  withState,
} from '../tenantConnection';
import type { DeliveryFailure, StateIntent } from './batchState';
import type { ConnectionCache } from './connectionCache';
import type { ForwarderSettings, TenantOutcome } from './contract';
import { errorLine } from './failures';

export interface ConnectionStateChangesDependencies {
  connections: TenantConnectionStore;
  cache: ConnectionCache;
  clock: Clock;
  healthChanges?: HealthChangeRecorder | undefined;
}

/**
 * Records what a batch learned about each tenant's connection: degraded,
 * suspended or active again, the last delivery, and the last error (or that
 * it was resolved).
 */
export class ConnectionStateChanges {
  constructor(
    private readonly deps: ConnectionStateChangesDependencies,
    private readonly settings: ForwarderSettings,
  ) {}

  /**
   * Records what the batch learned about each tenant, conditionally on the
   * ETag: on a conflict the entity is read again and the change re-decided,
   * so a concurrent "disable" or "save" by the portal always wins over what an
   * older batch saw. A failure here loses no event (they are settled already)
   * and is only logged.
   */
  async apply(intents: readonly StateIntent[], tenants: TenantOutcome[], logger: Logger): Promise<void> {
    await Promise.all(
      intents.map(async (intent) => {
        try {
          const change = await this.applyStateChange(intent);
          const outcome = tenants.find((tenant) => tenant.tenantId === intent.tenantId);
          if (change && outcome)
            outcome.stateChange = { from: change.from, to: change.to, reason: change.reason };
          if (change?.to === 'suspended')
            await this.recordSuspension(change.connection, change.reason, logger);
        } catch (error) {
          logger.warn('forwarder: could not record the connection state', {
            tenantId: intent.tenantId,
            error: errorLine(error),
          });
        }
      }),
    );
  }

  /** Failing to write the row is logged; it never touches delivery. */
  private async recordSuspension(
    connection: TenantConnection,
    reason: string,
    logger: Logger,
  ): Promise<void> {
    if (!this.deps.healthChanges) return;
    try {
      await this.deps.healthChanges.recordChange(
        connection,
        'suspended',
        describeActor(SYSTEM_FORWARDER),
        reason,
      );
    } catch (error) {
      logger.error('Export health change row not written; the change itself went through', {
        tenantId: connection.tenantId,
        change: 'suspended',
        error: errorLine(error),
      });
    }
  }

  private async applyStateChange(
    intent: StateIntent,
  ): Promise<
    { from: ConnectionState; to: ConnectionState; reason: string; connection: TenantConnection } | undefined
  > {
    let current: Versioned<TenantConnection> | undefined = intent.connection;
    for (let round = 0; round < 5 && current; round += 1) {
      const next = this.nextConnection(current.value, intent);
      if (!next) return undefined;
      try {
        const written = await this.deps.connections.replace(next, current.etag);
        this.deps.cache.remember(intent.tenantId, written);
        return next.state === current.value.state
          ? undefined
          : {
              from: current.value.state,
              to: next.state,
              reason: next.stateReason,
              connection: written.value,
            };
      } catch (error) {
        if (!(error instanceof ConcurrencyConflictError)) throw error;
        current = await this.deps.connections.get(intent.tenantId);
        this.deps.cache.remember(intent.tenantId, current);
      }
    }
    return undefined;
  }

  /** The connection after this batch's news, or undefined when nothing needs writing. */
  private nextConnection(current: TenantConnection, intent: StateIntent): TenantConnection | undefined {
    // The portal turned export off, or saved another target meanwhile: what we saw no longer applies.
    if (!isDelivering(current.state) || !sameTarget(current.saved, intent.target)) return undefined;
    const now = this.deps.clock.now();
    let next = current;
    if (intent.exhausted) {
      const hours = Math.round(this.settings.retryBudgetMs / 3_600_000);
      next = withState(
        next,
        'suspended',
        attributedReason(
          `Deliveries kept failing for more than ${hours} hours (${intent.exhausted.message}). New events are parked: fix the connection, save it again, then replay the parked events.`,
          SYSTEM_FORWARDER,
        ),
        now,
      );
    } else if (intent.accessFailure) {
      next = withState(
        next,
        'degraded',
        attributedReason(accessReason(intent.accessFailure), SYSTEM_FORWARDER),
        now,
      );
    } else if (intent.delivered && next.state === 'degraded' && !next.schemaUpgrade) {
      // A failed schema upgrade stays degraded until the upgrade succeeds, whatever deliveries do.
      next = withState(next, 'active', attributedReason('Deliveries succeed again.', SYSTEM_FORWARDER), now);
    }
    const at = now.toISOString();
    if (next.stateChangedAt !== current.stateChangedAt) {
      next = withChange(next, {
        at,
        action: 'deliveryState',
        actor: SYSTEM_FORWARDER,
        state: next.state,
        summary: `Export ${current.state} -> ${next.state}.`,
      });
    }
    if (intent.delivered) {
      const last = next.lastDeliveryAt ? Date.parse(next.lastDeliveryAt) : Number.NaN;
      // Throttled so a busy tenant costs one write per cache period, not one per batch.
      if (Number.isNaN(last) || now.getTime() - last >= this.settings.connectionCacheMs) {
        next = { ...next, lastDeliveryAt: at, updatedAt: at };
      }
    }
    if (intent.delivered && !intent.lastFailure && next.lastError) {
      // Recovered: a health view still showing the old 429 as current would send someone chasing it.
      const { lastError, ...rest } = next;
      next = {
        ...rest,
        lastResolvedError: { ...lastError, resolvedAt: at },
        lastDeliveryAt: at,
        updatedAt: at,
      };
    }
    if (intent.lastFailure) {
      const previous = next.lastError;
      const stale =
        !previous ||
        previous.message !== intent.lastFailure.message ||
        now.getTime() - Date.parse(previous.at) >= this.settings.connectionCacheMs;
      if (stale) next = { ...next, lastError: { at, message: intent.lastFailure.message }, updatedAt: at };
    }
    return next === current ? undefined : next;
  }
}

function accessReason(failure: DeliveryFailure): string {
  switch (failure.kind) {
    case 'forbidden':
      return `The Logs Ingestion API refused access (403): the app may have lost the Monitoring Metrics Publisher role on the data collection rule's resource group. ${failure.message}`;
    case 'notFound':
      return `The data collection rule or its stream was not found (404): it may have been deleted. Run Create Connection and save again. ${failure.message}`;
    default:
      return `No token could be obtained in the customer's tenant: the app may have been removed from the tenant or its consent revoked. ${failure.message}`;
  }
}

function sameTarget(saved: ConnectionTarget | undefined, used: ConnectionTarget): boolean {
  return (
    saved !== undefined &&
    saved.dataCollectionRuleImmutableId === used.dataCollectionRuleImmutableId &&
    saved.logsIngestionEndpoint === used.logsIngestionEndpoint &&
    saved.provisionedAt === used.provisionedAt
  );
}
