import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import { DEFAULT_TENANT_CACHE_LIMITS } from '../tenantCache';
import { type BatchUploads, isSharedIngestion } from '../uploadCoalescer';
import { type BatchContext, Settlement, type TenantRun } from './batchState';
import { takeBatchApart } from './batchIntake';
import { ConnectionCache } from './connectionCache';
import { ConnectionStateChanges } from './connectionStateChanges';
import type {
  BatchOutcome,
  ForwarderDependencies,
  ForwarderSettings,
  ForwardOptions,
  ReceivedAuditMessage,
  TenantOutcome,
} from './contract';
import { logOutcome } from './outcomeLog';
import { RetryOrPark } from './retryOrPark';
import { RecentKeys } from './recentKeys';
import { recordDeliveries, storeSettlement } from './settlement';
import { TenantDelivery } from './tenantDelivery';
import { TenantPauses } from './tenantPauses';

/**
 * The forwarder use case: one Service Bus batch of audit events in, every
 * event accounted for out. Each event ends this invocation in exactly one of
 * four ways: delivered to its own tenant's workspace, scheduled again as a
 * copy with backoff, parked with a reason, or skipped because its tenant's
 * export is off. The handler completes the batch after that; it throws (and
 * the host abandons the batch) only when a copy or a parked event could not be
 * stored, because then an event would otherwise be lost.
 *
 * Isolation between tenants: uploads share one concurrency limit per batch, but
 * a tenant may hold at most half of it, a tenant in trouble stops uploading
 * after its first failure, and the batch has a time budget after which
 * whatever did not finish is re-enqueued. So one tenant's slow or failing
 * workspace costs the others at most a few slots, never their events.
 *
 * The steps, each in a file of its own: take the batch apart (batchIntake),
 * deliver each tenant's events (tenantDelivery, with tenantPauses and
 * connectionCache), decide retries and parks (retryOrPark), store them and
 * record deliveries (settlement), record connection state (connectionStateChanges),
 * log the outcome (outcomeLog).
 */

const DEFAULT_DELIVERED_IDS_REMEMBERED = 100_000;

export class Forwarder {
  private readonly connectionCache: ConnectionCache;
  /**
   * `tenant/record id` of rows this instance delivered lately. A producer
   * retry or a redelivered batch brings the same record again; uploading it
   * twice would write two rows. Other instances may still deliver a copy
   * (at least once): rows keep the record id (EventRecordId_g) for that.
   */
  private readonly delivered: RecentKeys;
  private readonly tenantDelivery: TenantDelivery;
  private readonly stateChanges: ConnectionStateChanges;

  constructor(
    private readonly deps: ForwarderDependencies,
    private readonly settings: ForwarderSettings,
  ) {
    const random = deps.random ?? Math.random;
    const limits = settings.tenantCache ?? DEFAULT_TENANT_CACHE_LIMITS;
    this.connectionCache = new ConnectionCache(deps.connections, deps.clock, settings, limits);
    const pauses = new TenantPauses(deps.clock, settings, limits, deps.sharedPauses);
    this.delivered = new RecentKeys(settings.deliveredIdsRemembered ?? DEFAULT_DELIVERED_IDS_REMEMBERED);
    this.tenantDelivery = new TenantDelivery(
      {
        connections: this.connectionCache,
        pauses,
        outcomes: new RetryOrPark(deps.clock, settings, random),
        clock: deps.clock,
        delivered: this.delivered,
      },
      settings,
    );
    this.stateChanges = new ConnectionStateChanges(
      {
        connections: deps.connections,
        cache: this.connectionCache,
        clock: deps.clock,
        healthChanges: deps.healthChanges,
      },
      settings,
    );
  }

  async forwardBatch(
    messages: readonly ReceivedAuditMessage[],
    options: ForwardOptions,
  ): Promise<BatchOutcome> {
    const started = performance.now();
    // Until every tenant's uploads are handed over, other batches' requests for the same lanes
    // may wait for ours (UploadCoalescer); the finally releases them whatever happens.
    const uploads: BatchUploads = isSharedIngestion(this.deps.ingestion)
      ? this.deps.ingestion.beginBatch()
      : { sink: this.deps.ingestion, intakeDone: () => undefined };
    try {
      return await this.forwardTaken(messages, options, started, uploads);
    } finally {
      uploads.intakeDone();
    }
  }

  private async forwardTaken(
    messages: readonly ReceivedAuditMessage[],
    options: ForwardOptions,
    started: number,
    uploads: BatchUploads,
  ): Promise<BatchOutcome> {
    const timeBudget = AbortSignal.timeout(this.settings.timeBudgetMs);
    const signal = options.signal ? AbortSignal.any([timeBudget, options.signal]) : timeBudget;
    // Every upload in flight listens to it (ours and the SDK's): dozens are expected, not a leak.
    setMaxListeners(0, signal);
    const now = this.deps.clock.now();
    const batch: BatchContext = {
      signal,
      receivedAtMs: now.getTime(),
      limit: pLimit(this.settings.maxConcurrentUploads),
      settlement: new Settlement(),
      ingestion: uploads.sink,
      ...(uploads.announce ? { announce: uploads.announce } : {}),
    };

    const { byTenant, invalidIds, duplicates, parks } = takeBatchApart(messages, now, this.delivered);
    for (const park of parks) batch.settlement.parks.push(park);

    const runs: TenantRun[] = [];
    let intakes = byTenant.size;
    if (intakes === 0) uploads.intakeDone();
    const tenants = await Promise.all(
      [...byTenant].map(([tenantId, events]) => {
        let handedOver = false;
        return this.tenantDelivery.forward(tenantId, events, batch, runs, () => {
          if (handedOver) return;
          handedOver = true;
          intakes -= 1;
          if (intakes === 0) uploads.intakeDone();
        });
      }),
    );

    for (const tenant of tenants) tenant.duplicates = duplicates.get(tenant.tenantId) ?? 0;

    try {
      await storeSettlement(batch.settlement, this.deps, options);
    } catch (error) {
      // The batch comes back, but the rows the workspace accepted are there: list them.
      await recordDeliveries(this.deps.deliveries, runs, batch.settlement, now, options, false);
      throw error;
    }
    await recordDeliveries(this.deps.deliveries, runs, batch.settlement, now, options, true);
    await this.stateChanges.apply(batch.settlement.intents, tenants, options.logger);

    const outcome: BatchOutcome = {
      messages: messages.length,
      delivered: sum(tenants, 'delivered'),
      retried: sum(tenants, 'retried'),
      parked: sum(tenants, 'parked') + invalidIds.length,
      skipped: sum(tenants, 'skipped'),
      duplicates: [...duplicates.values()].reduce((total, count) => total + count, 0),
      invalid: invalidIds.length,
      timedOut: timeBudget.aborted,
      durationMs: Math.round(performance.now() - started),
      tenants,
    };
    logOutcome(outcome, invalidIds, messages, options);
    return outcome;
  }

  /** Forgets cached connections (tests, and after the portal changes a connection in this process). */
  forgetConnection(tenantId: string): void {
    this.connectionCache.forget(tenantId);
  }
}

function sum(tenants: readonly TenantOutcome[], key: 'delivered' | 'retried' | 'parked' | 'skipped'): number {
  return tenants.reduce((total, tenant) => total + tenant[key], 0);
}
