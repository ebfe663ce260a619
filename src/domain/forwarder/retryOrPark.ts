import {
  attemptProperties,
  type DeliveryAttempts,
  isRetryBudgetExhausted,
  retryDelayMs,
  retryMessageId,
  withFailure,
} from '../deliveryAttempts';
import type { Clock, ParkCategory } from '../ports';
import { type ConnectionTarget, isWithinPropagationWindow } from '../tenantConnection';
import {
  type BatchContext,
  type DeliveryFailure,
  NOT_ATTEMPTED,
  type PendingEvent,
  type TenantRun,
} from './batchState';
import type { ForwarderSettings } from './contract';
import { bodyText, parkedBody, parkedEvent } from './parkedEntry';

/**
 * Decides what becomes of events that were not delivered: a copy scheduled
 * with backoff, or a parked entry once the retry budget is spent. Nothing is
 * stored here; the decisions go into the batch's settlement.
 */
export class RetryOrPark {
  constructor(
    private readonly clock: Clock,
    private readonly settings: ForwarderSettings,
    private readonly random: () => number,
  ) {}

  /** Schedules copies of events for a later attempt, or parks them once their retry budget is spent. */
  retry(
    run: TenantRun,
    events: readonly PendingEvent[],
    batch: BatchContext,
    failure: DeliveryFailure,
  ): void {
    const now = this.clock.now();
    const isFailure = failure !== NOT_ATTEMPTED;
    if (isFailure) {
      run.lastFailure = failure;
      if (this.isAccessFailure(failure, run.target, now)) run.accessFailure ??= failure;
    }
    // One due time per attempt number for the events of this call: every distinct time costs the
    // queue a send of its own (see AuditQueue.send), so jitter spreads tenants and batches, not events.
    const dueTimes = new Map<number, Date | undefined>();
    const dueTimeOf = (failedAttempt: number): Date | undefined => {
      if (!isFailure) return undefined;
      if (!dueTimes.has(failedAttempt)) {
        const delayMs = retryDelayMs(failedAttempt, this.settings, this.random, failure.retryAfterMs);
        dueTimes.set(failedAttempt, delayMs > 0 ? retryDueTime(now, delayMs) : undefined);
      }
      return dueTimes.get(failedAttempt);
    };
    for (const event of events) {
      if (isFailure && isRetryBudgetExhausted(event.attempts, now, this.settings)) {
        run.exhausted ??= failure;
        const hours = Math.round(this.settings.retryBudgetMs / 3_600_000);
        this.park(
          run,
          event,
          'retryBudgetExhausted',
          `Delivery kept failing for more than ${hours} hours (${event.attempts.attempt} attempts); last failure: ${failure.message}`,
          batch,
          withFailure(event.attempts.history, now, failure.message),
        );
        continue;
      }
      const next: DeliveryAttempts = {
        attempt: event.attempts.attempt + 1,
        firstAttemptAt: event.attempts.firstAttemptAt,
        history: isFailure
          ? withFailure(event.attempts.history, now, failure.message)
          : event.attempts.history,
      };
      const due = dueTimeOf(event.attempts.attempt);
      batch.settlement.copies.push({
        messageId: retryMessageId(event.eventRecordId, next.attempt, {
          messageId: event.messageId,
          attempt: event.attempts.attempt,
        }),
        body: bodyText(event.receivedBody),
        applicationProperties: {
          tenantId: event.tenantId,
          eventId: event.eventId,
          schemaVersion: event.schemaVersion,
          ...attemptProperties(next),
        },
        ...(due ? { scheduledEnqueueTime: due } : {}),
      });
      run.retried += 1;
      if (event.messageId !== undefined) run.retriedIds.push(event.messageId);
    }
  }

  park(
    run: TenantRun,
    event: PendingEvent,
    category: ParkCategory,
    reason: string,
    batch: BatchContext,
    history = event.attempts.history,
  ): void {
    const now = this.clock.now();
    batch.settlement.parks.push(
      parkedEvent(
        {
          tenantId: event.tenantId,
          messageId: event.messageId,
          eventRecordId: event.eventRecordId,
          eventId: event.eventId,
          ...parkedBody(event.receivedBody),
          attempts: { ...event.attempts, history },
          parkKey: event.parkKey,
        },
        category,
        reason,
        now,
      ),
    );
    run.parked += 1;
    if (event.messageId !== undefined) run.parkedIds.push(event.messageId);
  }

  /**
   * 403/404 right after provisioning only mean the role or the DCR has not
   * propagated yet; later they (and a tenant that issues no token) mean access
   * was lost: the connection is degraded, the events still retried.
   */
  private isAccessFailure(
    failure: DeliveryFailure,
    target: ConnectionTarget | undefined,
    now: Date,
  ): boolean {
    if (failure.kind === 'unauthenticated') return true;
    if (failure.kind !== 'forbidden' && failure.kind !== 'notFound') return false;
    return !target || !isWithinPropagationWindow(target, now, this.settings.propagationWindowMs);
  }
}

/**
 * A retry's due time, rounded up to the whole second: copies of different
 * tenants whose jitter fell in the same bucket (see retryDelayMs) then share
 * one time, and so one send.
 */
function retryDueTime(now: Date, delayMs: number): Date {
  return new Date(Math.ceil((now.getTime() + delayMs) / 1000) * 1000);
}
