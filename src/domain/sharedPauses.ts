import type { Clock, Logger } from './ports';
import { CachedPauseReader } from './sharedPausesCachedReader';
import { ProbeClaimKeeper } from './sharedPausesClaimKeeper';
import { TenantCache, type TenantCacheLimits } from './tenantCache';
import type { Versioned } from './tenantConnection';

export { LISTED_PAUSES_AT_MOST, STORE_RETRY_AFTER_FAILURE_MS } from './sharedPausesCachedReader';

/**
 * Pauses of throttled or failing workspaces, shared by every forwarder instance.
 *
 * An instance whose upload for a tenant is throttled (429) or fails (5xx, no
 * answer) pauses that tenant: no upload until `untilMs`. Each instance keeps
 * its own pause at once, and writes it to a shared store (ETag-guarded) so the
 * others learn it when they next read that tenant's pause, which each instance
 * caches for `cacheMs` (CachedPauseReader: what is read, and what it costs).
 * When the pause has run out, one instance claims the probe (ProbeClaimKeeper:
 * an ETag-conditional update of the pause, two claims on the same version
 * cannot both succeed) and uploads; the others keep re-enqueueing. A failed
 * probe writes the next pause, a delivery deletes it.
 *
 * Bound during a sustained outage of length T with pause interval P: at most
 * ⌈T / P⌉ + 1 probes (one request each: a probe sends one upload at a time),
 * plus, per instance, the uploads it had under way for that tenant when it
 * learned of the pause (its own first failed answer, or its next store read).
 *
 * The store is never in delivery's way: when it cannot be read or written, the
 * instance falls back to its own pauses (as a single instance would) and logs
 * that once, until the store answers again; after a failed call it waits
 * STORE_RETRY_AFTER_FAILURE_MS before the next. Pauses are capped at
 * `maxPauseMs`, whatever Retry-After says.
 */

/** The failures that pause a tenant: the workspace is overloaded or does not answer. */
export type OutageKind = 'throttled' | 'unavailable';

export interface OutageFailure {
  kind: OutageKind;
  message: string;
  status?: number;
  retryAfterMs?: number;
}

export interface SharedPause {
  tenantId: string;
  /** No instance uploads for the tenant before this time (epoch milliseconds). */
  untilMs: number;
  failure: OutageFailure;
  /** The instance probing the workspace now; its claim holds until `untilMs`. */
  probe?: { holder: string; untilMs: number };
}

/** Where the pauses live (Table Storage in production). */
export interface SharedPauseStore {
  /**
   * At most `limit` pauses, one request; `complete` when the store holds no
   * more (then a tenant missing from them has no pause).
   */
  list(
    limit: number,
    signal: AbortSignal,
  ): Promise<{ pauses: Array<Versioned<SharedPause>>; complete: boolean }>;
  get(tenantId: string, signal: AbortSignal): Promise<Versioned<SharedPause> | undefined>;
  /**
   * Creates the pause (etag undefined) or replaces the version read (etag);
   * returns the new ETag. ConcurrencyConflictError when someone else wrote first.
   */
  put(pause: SharedPause, etag: string | undefined, signal: AbortSignal): Promise<string>;
  /** Deletes the version read; ConcurrencyConflictError when it changed; already gone is fine. */
  remove(tenantId: string, etag: string, signal: AbortSignal): Promise<void>;
}

export interface PauseCoordinatorSettings {
  /** Shortest pause after an outage; longer when the service asked (Retry-After). */
  minPauseMs: number;
  /**
   * Longest pause, whatever Retry-After says: a huge or far-future Retry-After
   * must not stop a tenant on every instance for long (the retry settings' max delay).
   */
  maxPauseMs: number;
  /** How long a probe claim holds: the longest a probing batch can run. */
  probeLeaseMs: number;
  /** How long an instance uses one read of the store before reading it again (the staleness). */
  cacheMs: number;
  /** Longest one store call may take before the instance uses its own pauses instead. */
  storeTimeoutMs?: number;
  limits: TenantCacheLimits;
}

export interface PauseCoordinatorDependencies {
  /** Undefined: pauses are this instance's only. */
  store?: SharedPauseStore;
  clock: Clock;
  /** The process's logger: store outages are logged once, not per batch. */
  logger: Pick<Logger, 'warn' | 'info'>;
  /** Names this instance in probe claims. */
  instanceId: string;
}

/** Whether a batch may upload for the tenant now, and if so whether as the probe. */
export type PauseDecision =
  | { paused: false; probe: 'none' | 'local' | 'shared' }
  | { paused: true; untilMs: number; failure: OutageFailure; probing: boolean };

/** What a batch learned about the tenant's workspace. */
export interface PauseEvidence {
  outage: OutageFailure | undefined;
  delivered: boolean;
}

interface LocalPause {
  untilMs: number;
  failure: OutageFailure;
  probing: boolean;
}

const GO: PauseDecision = { paused: false, probe: 'none' };

export class PauseCoordinator {
  private readonly local: TenantCache<LocalPause>;
  private readonly shared: { reader: CachedPauseReader; claims: ProbeClaimKeeper } | undefined;

  constructor(
    private readonly deps: PauseCoordinatorDependencies,
    private readonly settings: PauseCoordinatorSettings,
  ) {
    const now = (): number => this.nowMs();
    this.local = new TenantCache({ ...settings.limits, now });
    if (deps.store) {
      const reader = new CachedPauseReader(deps.store, deps.clock, deps.logger, {
        cacheMs: settings.cacheMs,
        ...(settings.storeTimeoutMs !== undefined ? { storeTimeoutMs: settings.storeTimeoutMs } : {}),
        limits: settings.limits,
      });
      const claims = new ProbeClaimKeeper(
        reader,
        deps.instanceId,
        { probeLeaseMs: settings.probeLeaseMs, limits: settings.limits },
        now,
      );
      this.shared = { reader, claims };
    }
  }

  /** Before uploading a tenant's events. */
  async check(tenantId: string): Promise<PauseDecision> {
    const now = this.nowMs();
    const local = this.local.get(tenantId);
    // The instance's own fresh failure needs no store read.
    if (local && now < local.untilMs) return pausedBy(local.untilMs, local.failure, local.probing);
    const lookup = await this.shared?.reader.read(tenantId);
    if (!this.shared || !lookup) return this.localProbe(local, now);
    const row = lookup.row;
    if (!row) {
      // The store answered and holds no pause: a probe elsewhere delivered (or none was needed), so
      // this instance's own expired pause is history, whichever instance's probe won the race.
      this.local.delete(tenantId);
      return GO;
    }
    const pause = row.value;
    if (now < pause.untilMs) return pausedBy(pause.untilMs, pause.failure, false);
    // Someone probes: another instance, or another batch of this one (its claim is settled by that batch).
    if (pause.probe && pause.probe.untilMs > now) return pausedBy(now, pause.failure, true);
    try {
      // Lost to another instance's claim (or a new pause): that tenant's row, and only it, is read again next time.
      if (!(await this.shared.claims.claim(row, now))) return pausedBy(now, pause.failure, true);
      return { paused: false, probe: 'shared' };
    } catch (error) {
      this.shared.reader.noteFailure(error);
      return this.localProbe(local, now);
    }
  }

  /**
   * The moment an upload answers with an outage: this instance stops uploading
   * for the tenant at once, before its batch has settled.
   */
  noteOutage(tenantId: string, failure: OutageFailure): void {
    const untilMs = this.nowMs() + this.pauseMs(failure);
    const local = this.local.get(tenantId);
    if (!local || local.untilMs < untilMs) this.local.set(tenantId, { untilMs, failure, probing: false });
  }

  /** After a batch's uploads for the tenant: a new pause, the end of one, or the probe handed back. */
  async settle(tenantId: string, evidence: PauseEvidence, decision: PauseDecision): Promise<void> {
    const now = this.nowMs();
    if (evidence.outage) {
      this.local.set(tenantId, {
        untilMs: now + this.pauseMs(evidence.outage),
        failure: evidence.outage,
        probing: false,
      });
    } else if (evidence.delivered) {
      // As in the store (endPause): a delivery ends a pause that has run out, i.e. a probe's. A batch
      // whose rows were delivered before a newer outage, settling after it, says nothing of it.
      const local = this.local.get(tenantId);
      if (!local || local.untilMs <= now) this.local.delete(tenantId);
    } else {
      const local = this.local.get(tenantId);
      if (local) local.probing = false;
    }
    const probed = !decision.paused && decision.probe === 'shared';
    if (!this.shared) return;
    const { reader, claims } = this.shared;
    try {
      // The last call failed: no write either before a read finds the store answering again.
      if (!reader.usable()) return;
      if (evidence.outage)
        await claims.writePause(tenantId, evidence.outage, now + this.pauseMs(evidence.outage));
      else if (evidence.delivered) await claims.endPause(tenantId, now);
      else if (probed) await claims.releaseProbe(tenantId);
    } catch (error) {
      reader.noteFailure(error);
    } finally {
      // Settled one way or another (written, deleted, handed back, or the lease will run out).
      if (probed) claims.forget(tenantId);
    }
  }

  private localProbe(local: LocalPause | undefined, now: number): PauseDecision {
    if (!local) return GO;
    if (!local.probing) {
      local.probing = true;
      return { paused: false, probe: 'local' };
    }
    return pausedBy(Math.max(local.untilMs, now), local.failure, true);
  }

  private pauseMs(failure: OutageFailure): number {
    return Math.min(Math.max(failure.retryAfterMs ?? 0, this.settings.minPauseMs), this.settings.maxPauseMs);
  }

  private nowMs(): number {
    return this.deps.clock.now().getTime();
  }
}

function pausedBy(untilMs: number, failure: OutageFailure, probing: boolean): PauseDecision {
  return { paused: true, untilMs, failure, probing };
}
