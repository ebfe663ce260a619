import { ConcurrencyConflictError } from './errors';
import type { Clock, Logger } from './ports';
import { TenantCache, type TenantCacheLimits } from './tenantCache';
import type { Versioned } from './tenantConnection';

/**
 * Pauses of throttled or failing workspaces, shared by every forwarder instance.
 *
 * An instance whose upload for a tenant is throttled (429) or fails (5xx, no
 * answer) pauses that tenant: no upload until `untilMs`. Each instance keeps
 * its own pause at once, and writes it to a shared store (ETag-guarded) so the
 * others learn it on their next read of the store, which each instance caches
 * for `cacheMs`. When the pause has run out, one instance claims the probe (an
 * ETag-conditional update of the pause: two claims on the same version cannot
 * both succeed) and uploads; the others keep re-enqueueing. A failed probe
 * writes the next pause, a delivery deletes it.
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
  /** Every pause in the store: one read whatever the number of tenants. */
  list(signal: AbortSignal): Promise<Array<Versioned<SharedPause>>>;
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

const DEFAULT_STORE_TIMEOUT_MS = 5_000;
/** After a failed read of the store, how long the instance goes by its own pauses before trying it again. */
export const STORE_RETRY_AFTER_FAILURE_MS = 30_000;
/** A pause nobody probed for this long belongs to a tenant without traffic: forgotten, and deleted. */
const ABANDONED_AFTER_MS = 60 * 60_000;
const MAX_MESSAGE_CHARS = 1_000;
const GO: PauseDecision = { paused: false, probe: 'none' };

export class PauseCoordinator {
  private readonly local: TenantCache<LocalPause>;
  private snapshot: { readAtMs: number; rows: Map<string, Versioned<SharedPause>> | undefined } | undefined;
  /**
   * The probe claims this instance holds, with the version it wrote: kept apart
   * from the cached read so that no refresh or invalidation of that read can
   * make the instance forget a claim it has to end or hand back.
   */
  private readonly claims: TenantCache<Versioned<SharedPause>>;
  /** Tenants whose cached row is known to be outdated (a conflicting write): read by themselves next time. */
  private readonly outdated: TenantCache<{ since: number }>;
  private refreshing: Promise<Map<string, Versioned<SharedPause>> | undefined> | undefined;
  private storeDown = false;

  constructor(
    private readonly deps: PauseCoordinatorDependencies,
    private readonly settings: PauseCoordinatorSettings,
  ) {
    this.local = new TenantCache({ ...settings.limits, now: () => this.nowMs() });
    this.claims = new TenantCache({ ...settings.limits, now: () => this.nowMs() });
    this.outdated = new TenantCache({ ...settings.limits, now: () => this.nowMs() });
  }

  /** Before uploading a tenant's events. */
  async check(tenantId: string): Promise<PauseDecision> {
    const now = this.nowMs();
    const local = this.local.get(tenantId);
    // The instance's own fresh failure needs no store read.
    if (local && now < local.untilMs) return pausedBy(local.untilMs, local.failure, local.probing);
    const rows = this.deps.store ? await this.rows() : undefined;
    let row = rows?.get(tenantId);
    if (rows && this.outdated.get(tenantId)) {
      // Only this tenant's row changed under us: read it alone rather than the whole store again.
      try {
        row = await this.storeCall((signal) => this.deps.store!.get(tenantId, signal));
        this.outdated.delete(tenantId);
        this.remember(tenantId, row);
      } catch (error) {
        this.noteStoreDown(error);
        return this.localProbe(local, now);
      }
    }
    if (!row) {
      if (!rows) return this.localProbe(local, now);
      // The store answered and holds no pause: a probe elsewhere delivered (or none was needed), so
      // this instance's own expired pause is history, whichever instance's probe won the race.
      this.local.delete(tenantId);
      return GO;
    }
    const pause = row.value;
    if (now < pause.untilMs) return pausedBy(pause.untilMs, pause.failure, false);
    // Someone probes: another instance, or another batch of this one (its claim is settled by that batch).
    if (pause.probe && pause.probe.untilMs > now) return pausedBy(now, pause.failure, true);
    const claimed: SharedPause = {
      ...pause,
      probe: { holder: this.deps.instanceId, untilMs: now + this.settings.probeLeaseMs },
    };
    try {
      const etag = await this.storeCall((signal) => this.deps.store!.put(claimed, row.etag, signal));
      this.claims.set(tenantId, { value: claimed, etag });
      this.remember(tenantId, { value: claimed, etag });
      return { paused: false, probe: 'shared' };
    } catch (error) {
      if (error instanceof ConcurrencyConflictError) {
        // Another instance claimed it (or wrote a new pause): this tenant's row, and only it, is read again.
        this.outdated.set(tenantId, { since: now });
        return pausedBy(now, pause.failure, true);
      }
      this.noteStoreDown(error);
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
      this.local.delete(tenantId);
    } else {
      const local = this.local.get(tenantId);
      if (local) local.probing = false;
    }
    try {
      // The last read failed: no write either before the next read finds the store answering again.
      if (!this.deps.store || (this.storeDown && !this.snapshot?.rows)) return;
      if (evidence.outage) await this.writePause(tenantId, evidence.outage, now);
      else if (evidence.delivered) await this.endPause(tenantId, now);
      else if (!decision.paused && decision.probe === 'shared') await this.releaseProbe(tenantId);
    } catch (error) {
      this.noteStoreDown(error);
    } finally {
      // Settled one way or another (written, deleted, handed back, or the lease will run out).
      if (!decision.paused && decision.probe === 'shared') this.claims.delete(tenantId);
    }
  }

  /** The row as this instance knows it best: its own claim if it holds one, else the last read. */
  private known(tenantId: string): Versioned<SharedPause> | undefined {
    return this.claims.get(tenantId) ?? this.snapshot?.rows?.get(tenantId);
  }

  private async writePause(tenantId: string, failure: OutageFailure, now: number): Promise<void> {
    const pause: SharedPause = {
      tenantId,
      untilMs: now + this.pauseMs(failure),
      failure: { ...failure, message: failure.message.slice(0, MAX_MESSAGE_CHARS) },
    };
    let current = this.known(tenantId);
    for (let attempt = 1; ; attempt += 1) {
      const probing = current?.value.probe?.holder === this.deps.instanceId;
      // A longer pause already stands: nothing to add (unless ours is the probe to hand back).
      if (current && current.value.untilMs >= pause.untilMs && !probing) return;
      try {
        const etag = await this.storeCall((signal) => this.deps.store!.put(pause, current?.etag, signal));
        this.remember(tenantId, { value: pause, etag });
        return;
      } catch (error) {
        if (!(error instanceof ConcurrencyConflictError) || attempt >= 3) throw error;
        current = await this.storeCall((signal) => this.deps.store!.get(tenantId, signal));
        // What this instance now knows is newer than its last read: its next checks go by it.
        this.remember(tenantId, current);
      }
    }
  }

  private remember(tenantId: string, row: Versioned<SharedPause> | undefined): void {
    const rows = this.snapshot?.rows;
    if (!rows) return;
    if (row) rows.set(tenantId, row);
    else rows.delete(tenantId);
  }

  /** A delivery ends the pause, unless a newer outage was written meanwhile. */
  private async endPause(tenantId: string, now: number): Promise<void> {
    let current = this.known(tenantId);
    for (let attempt = 1; current; attempt += 1) {
      if (current.value.untilMs > now) return;
      try {
        const etag = current.etag;
        await this.storeCall((signal) => this.deps.store!.remove(tenantId, etag, signal));
        this.remember(tenantId, undefined);
        return;
      } catch (error) {
        if (!(error instanceof ConcurrencyConflictError) || attempt >= 3) throw error;
        current = await this.storeCall((signal) => this.deps.store!.get(tenantId, signal));
        this.remember(tenantId, current);
      }
    }
  }

  /** A probe that learned nothing (nothing sent, or a non-outage answer) lets the next batch probe. */
  private async releaseProbe(tenantId: string): Promise<void> {
    const current = this.known(tenantId);
    if (current?.value.probe?.holder !== this.deps.instanceId) return;
    const { probe: _released, ...rest } = current.value;
    try {
      const etag = await this.storeCall((signal) => this.deps.store!.put(rest, current.etag, signal));
      this.remember(tenantId, { value: rest, etag });
    } catch (error) {
      // Changed meanwhile (a new pause, or gone): not ours to hand back any more.
      if (!(error instanceof ConcurrencyConflictError)) throw error;
      this.outdated.set(tenantId, { since: this.nowMs() });
    }
  }

  /**
   * The pauses as last read, read again when older than cacheMs (counted from
   * when the read answered); undefined when the store failed, and then not
   * tried again for STORE_RETRY_AFTER_FAILURE_MS.
   */
  private rows(): Promise<Map<string, Versioned<SharedPause>> | undefined> {
    const now = this.nowMs();
    if (this.snapshot) {
      const validMs = this.snapshot.rows ? this.settings.cacheMs : STORE_RETRY_AFTER_FAILURE_MS;
      if (now - this.snapshot.readAtMs < validMs) return Promise.resolve(this.snapshot.rows);
    }
    this.refreshing ??= this.read().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async read(): Promise<Map<string, Versioned<SharedPause>> | undefined> {
    let rows: Map<string, Versioned<SharedPause>> | undefined;
    try {
      const listed = await this.storeCall((signal) => this.deps.store!.list(signal));
      const now = this.nowMs();
      rows = new Map();
      for (const row of listed) {
        if (now - Math.max(row.value.untilMs, row.value.probe?.untilMs ?? 0) > ABANDONED_AFTER_MS) {
          void this.storeCall((signal) =>
            this.deps.store!.remove(row.value.tenantId, row.etag, signal),
          ).catch(() => undefined);
          continue;
        }
        rows.set(row.value.tenantId, row);
      }
      if (this.storeDown) {
        this.storeDown = false;
        this.deps.logger.info('The shared pause store answers again: pauses are shared by all instances.');
      }
    } catch (error) {
      this.noteStoreDown(error);
    }
    // Stamped when the read answered: a store that hangs costs one wait, then the cache (or the
    // back-off after a failure) runs from there, not from when the wait began.
    this.snapshot = { readAtMs: this.nowMs(), rows };
    return rows;
  }

  private localProbe(local: LocalPause | undefined, now: number): PauseDecision {
    if (!local) return GO;
    if (!local.probing) {
      local.probing = true;
      return { paused: false, probe: 'local' };
    }
    return pausedBy(Math.max(local.untilMs, now), local.failure, true);
  }

  /** Any failed call, not only a read: the store is left alone for STORE_RETRY_AFTER_FAILURE_MS. */
  private noteStoreDown(error: unknown): void {
    this.snapshot = { readAtMs: this.nowMs(), rows: undefined };
    if (this.storeDown) return;
    this.storeDown = true;
    this.deps.logger.warn(
      'The shared pause store cannot be used: this instance keeps its own pauses until it answers again.',
      { error: error instanceof Error ? error.message : String(error) },
    );
  }

  /** Bounded in time whatever the store does (its client may retry a refused connection for seconds). */
  private storeCall<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeoutMs = this.settings.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`The shared pause store did not answer within ${timeoutMs} ms.`));
      }, timeoutMs);
    });
    const called = call(controller.signal);
    // The call may still settle after the timeout: its outcome is no longer anyone's business.
    called.catch(() => undefined);
    return Promise.race([called, timedOut]).finally(() => clearTimeout(timer));
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
