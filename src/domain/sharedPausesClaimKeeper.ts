import { ConcurrencyConflictError } from './errors';
import type { OutageFailure, SharedPause } from './sharedPauses';
import type { CachedPauseReader, PauseRow } from './sharedPausesCachedReader';
import { TenantCache, type TenantCacheLimits } from './tenantCache';

/**
 * The writes of the shared pauses, each guarded by the ETag this instance
 * read: the probe claim of a pause that ran out (two claims on the same
 * version cannot both succeed, so one instance probes), and what a batch
 * settles: the next pause, the end of one, or the claim handed back.
 */

const MAX_MESSAGE_CHARS = 1_000;
const ATTEMPTS_ON_CONFLICT = 3;

export interface ClaimKeeperSettings {
  /** How long a probe claim holds: the longest a probing batch can run. */
  probeLeaseMs: number;
  limits: TenantCacheLimits;
}

export class ProbeClaimKeeper {
  /**
   * The probe claims this instance holds, with the version it wrote: kept apart
   * from the cached reads so that no refresh of those can make the instance
   * forget a claim it has to end or hand back.
   */
  private readonly claims: TenantCache<PauseRow>;

  constructor(
    private readonly reader: CachedPauseReader,
    private readonly instanceId: string,
    private readonly settings: ClaimKeeperSettings,
    now: () => number,
  ) {
    this.claims = new TenantCache({ ...settings.limits, now });
  }

  /**
   * Claims the probe of a pause that ran out: true when this instance probes,
   * false when another instance wrote first (the row is then read again by itself).
   * Other failures throw.
   */
  async claim(row: PauseRow, now: number): Promise<boolean> {
    const tenantId = row.value.tenantId;
    const claimed: SharedPause = {
      ...row.value,
      probe: { holder: this.instanceId, untilMs: now + this.settings.probeLeaseMs },
    };
    try {
      const etag = await this.reader.call((store, signal) => store.put(claimed, row.etag, signal));
      this.claims.set(tenantId, { value: claimed, etag });
      this.reader.remember(tenantId, { value: claimed, etag });
      return true;
    } catch (error) {
      if (!(error instanceof ConcurrencyConflictError)) throw error;
      this.reader.outdated(tenantId);
      return false;
    }
  }

  /** The claim of the tenant's probe is settled (written over, deleted, handed back, or left to run out). */
  forget(tenantId: string): void {
    this.claims.delete(tenantId);
  }

  /** A failed upload: the next pause, unless a longer one already stands. */
  async writePause(tenantId: string, failure: OutageFailure, untilMs: number): Promise<void> {
    const pause: SharedPause = {
      tenantId,
      untilMs,
      failure: { ...failure, message: failure.message.slice(0, MAX_MESSAGE_CHARS) },
    };
    let current = this.known(tenantId);
    for (let attempt = 1; ; attempt += 1) {
      const probing = current?.value.probe?.holder === this.instanceId;
      // A longer pause already stands: nothing to add (unless ours is the probe to hand back).
      if (current && current.value.untilMs >= pause.untilMs && !probing) return;
      try {
        const etag = await this.reader.call((store, signal) => store.put(pause, current?.etag, signal));
        this.reader.remember(tenantId, { value: pause, etag });
        return;
      } catch (error) {
        if (!(error instanceof ConcurrencyConflictError) || attempt >= ATTEMPTS_ON_CONFLICT) throw error;
        current = await this.readAgain(tenantId);
      }
    }
  }

  /** A delivery ends the pause, unless a newer outage was written meanwhile. */
  async endPause(tenantId: string, now: number): Promise<void> {
    let current = this.known(tenantId);
    for (let attempt = 1; current; attempt += 1) {
      if (current.value.untilMs > now) return;
      try {
        const etag = current.etag;
        await this.reader.call((store, signal) => store.remove(tenantId, etag, signal));
        this.reader.remember(tenantId, undefined);
        return;
      } catch (error) {
        if (!(error instanceof ConcurrencyConflictError) || attempt >= ATTEMPTS_ON_CONFLICT) throw error;
        current = await this.readAgain(tenantId);
      }
    }
  }

  /** A probe that learned nothing (nothing sent, or a non-outage answer) lets the next batch probe. */
  async releaseProbe(tenantId: string): Promise<void> {
    const current = this.known(tenantId);
    if (current?.value.probe?.holder !== this.instanceId) return;
    const { probe: _released, ...rest } = current.value;
    try {
      const etag = await this.reader.call((store, signal) => store.put(rest, current.etag, signal));
      this.reader.remember(tenantId, { value: rest, etag });
    } catch (error) {
      // Changed meanwhile (a new pause, or gone): not ours to hand back any more.
      if (!(error instanceof ConcurrencyConflictError)) throw error;
      this.reader.outdated(tenantId);
    }
  }

  /** The row as this instance knows it best: its own claim if it holds one, else the last read. */
  private known(tenantId: string): PauseRow | undefined {
    return this.claims.get(tenantId) ?? this.reader.known(tenantId);
  }

  /** After a conflict: what this instance now knows is newer than its last read, and its next checks go by it. */
  private async readAgain(tenantId: string): Promise<PauseRow | undefined> {
    const current = await this.reader.call((store, signal) => store.get(tenantId, signal));
    this.reader.remember(tenantId, current);
    return current;
  }
}
