import type { RetrySettings } from '../deliveryAttempts';
import type { Clock, Logger } from '../ports';
import {
  PauseCoordinator,
  type OutageFailure,
  type PauseDecision,
  type SharedPauseStore,
} from '../sharedPauses';
import type { TenantCacheLimits } from '../tenantCache';
import type { DeliveryFailure, TenantRun } from './batchState';

/**
 * A tenant whose workspace just throttled or failed to answer: until the
 * pause runs out no batch uploads for it (its events are re-enqueued at once),
 * then one batch probes while the others keep re-enqueueing. So a workspace
 * that hangs holds up one batch per pause, not every batch that has its events.
 * With a shared store the pause and the probe are shared by every instance
 * (see PauseCoordinator); without one, they are this process's.
 */

export interface SharedPausesOption {
  store: SharedPauseStore;
  /** Names this process in probe claims. */
  instanceId: string;
  /** The process's logger: the store's outages are logged once, not per batch. */
  logger: Pick<Logger, 'warn' | 'info'>;
}

const DEFAULT_PAUSE_CACHE_MS = 5_000;

export class TenantPauses {
  private readonly coordinator: PauseCoordinator;

  constructor(
    private readonly clock: Clock,
    settings: Pick<RetrySettings, 'retryBaseDelayMs' | 'retryMaxDelayMs'> & {
      timeBudgetMs: number;
      pauseCacheMs?: number;
    },
    limits: TenantCacheLimits,
    shared?: SharedPausesOption,
  ) {
    this.coordinator = new PauseCoordinator(
      {
        ...(shared ? { store: shared.store } : {}),
        clock,
        logger: shared?.logger ?? { warn: () => undefined, info: () => undefined },
        instanceId: shared?.instanceId ?? 'this-process',
      },
      {
        minPauseMs: settings.retryBaseDelayMs / 2,
        // Retry-After has no upper limit of its own; no tenant is paused fleet-wide longer than a retry may wait.
        maxPauseMs: settings.retryMaxDelayMs,
        // No probing batch outlives its time budget.
        probeLeaseMs: settings.timeBudgetMs,
        cacheMs: settings.pauseCacheMs ?? DEFAULT_PAUSE_CACHE_MS,
        limits,
      },
    );
  }

  /** Whether this batch may upload for the tenant (maybe as the probe). */
  decide(tenantId: string): Promise<PauseDecision> {
    return this.coordinator.check(tenantId);
  }

  /** The failure to re-enqueue a paused tenant's events with. */
  pausedFailure(decision: Extract<PauseDecision, { paused: true }>): {
    failure: DeliveryFailure;
    until: string;
  } {
    const nowMs = this.clock.now().getTime();
    const until = new Date(Math.max(decision.untilMs, nowMs)).toISOString();
    const failure: DeliveryFailure = {
      ...decision.failure,
      message: `Not attempted: the workspace failed moments ago and uploads for this tenant pause until ${until}${decision.probing ? ' (another batch is trying it)' : ''}. ${decision.failure.message}`,
      retryAfterMs: Math.max(0, decision.untilMs - nowMs),
    };
    return { failure, until };
  }

  /** The first answer that says the workspace is overloaded or unreachable: stop uploading for it at once. */
  noteOutage(tenantId: string, failure: DeliveryFailure): void {
    const outage = asOutage(failure);
    if (outage) this.coordinator.noteOutage(tenantId, outage);
  }

  /**
   * An outage (throttled, 5xx, no answer) pauses the tenant for as long as the
   * service asked, and at least until the first retry of its events could come
   * back (half the base delay); a delivery ends the pause; a batch that
   * probed without learning either lets the next one probe.
   */
  update(tenantId: string, run: TenantRun, decision: PauseDecision): Promise<void> {
    return this.coordinator.settle(
      tenantId,
      { outage: run.outage ? asOutage(run.outage) : undefined, delivered: run.delivered > 0 },
      decision,
    );
  }
}

function asOutage(failure: DeliveryFailure): OutageFailure | undefined {
  if (failure.kind !== 'throttled' && failure.kind !== 'unavailable') return undefined;
  return {
    kind: failure.kind,
    message: failure.message,
    ...(failure.status !== undefined ? { status: failure.status } : {}),
    ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
  };
}
