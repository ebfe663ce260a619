import type { RetrySettings } from '../deliveryAttempts';
import type { Clock } from '../ports';
import { TenantCache, type TenantCacheLimits } from '../tenantCache';
import type { DeliveryFailure, TenantRun } from './batchState';

/**
 * A tenant whose workspace just throttled or failed to answer: until `untilMs`
 * no batch of this process uploads for it (its events are re-enqueued at once),
 * then one batch probes while the others keep re-enqueueing. So a workspace
 * that hangs holds up one batch per pause, not every batch that has its events.
 */
interface TenantPause {
  untilMs: number;
  failure: DeliveryFailure;
  probing: boolean;
}

export class TenantPauses {
  private readonly pauses: TenantCache<TenantPause>;

  constructor(
    private readonly clock: Clock,
    private readonly settings: Pick<RetrySettings, 'retryBaseDelayMs'>,
    limits: TenantCacheLimits,
  ) {
    this.pauses = new TenantCache({ ...limits, now: () => clock.now().getTime() });
  }

  /** The failure to re-enqueue with when the tenant is paused; undefined when this batch may upload (maybe as the probe). */
  pauseFor(tenantId: string): { failure: DeliveryFailure; until: string } | undefined {
    const pause = this.pauses.get(tenantId);
    if (!pause) return undefined;
    const nowMs = this.clock.now().getTime();
    if (nowMs >= pause.untilMs && !pause.probing) {
      pause.probing = true;
      return undefined;
    }
    const until = new Date(Math.max(pause.untilMs, nowMs)).toISOString();
    const failure: DeliveryFailure = {
      ...pause.failure,
      message: `Not attempted: the workspace failed moments ago and uploads for this tenant pause until ${until}${pause.probing ? ' (another batch is trying it)' : ''}. ${pause.failure.message}`,
      retryAfterMs: Math.max(0, pause.untilMs - nowMs),
    };
    return { failure, until };
  }

  /**
   * An outage (throttled, 5xx, no answer) pauses the tenant for as long as the
   * service asked, and at least until the first retry of its events could come
   * back (half the base delay); a delivery ends the pause; a batch that
   * probed without learning either lets the next one probe.
   */
  update(tenantId: string, run: TenantRun): void {
    if (run.outage) {
      const pauseMs = Math.max(run.outage.retryAfterMs ?? 0, this.settings.retryBaseDelayMs / 2);
      this.pauses.set(tenantId, {
        untilMs: this.clock.now().getTime() + pauseMs,
        failure: run.outage,
        probing: false,
      });
    } else if (run.delivered > 0) {
      this.pauses.delete(tenantId);
    } else {
      const pause = this.pauses.get(tenantId);
      if (pause) pause.probing = false;
    }
  }
}
