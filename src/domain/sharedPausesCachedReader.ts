import type { Clock, Logger } from './ports';
import type { SharedPause, SharedPauseStore } from './sharedPauses';
import { TenantCache, type TenantCacheLimits } from './tenantCache';
import type { Versioned } from './tenantConnection';

/**
 * What an instance knows of the shared pauses, read as cheaply as the batches
 * allow and kept for `cacheMs` (the staleness every instance accepts).
 *
 * One request per `cacheMs` asks for at most LISTED_PAUSES_AT_MOST rows of the
 * pause partition. When the partition holds no more (the usual case: no or few
 * workspaces failing), that one answer covers every tenant, paused or not, so
 * a batch over any number of healthy tenants costs no further read. When it
 * holds more (a wide outage), the listing is not read on: each tenant a batch
 * carries that the first rows do not show is read by itself (one point read,
 * the answer, "no pause" included, kept for `cacheMs` in a bounded cache), so
 * an instance reads at most the tenants it serves once per `cacheMs`, never
 * the whole partition.
 *
 * Any failed call leaves the store alone for STORE_RETRY_AFTER_FAILURE_MS
 * (the instance goes by its own pauses meanwhile): delivery waits for a store
 * that hangs at most one call per that period.
 */

/** Rows one listing asks for: one request, a bounded number of entities against the partition's throughput. */
export const LISTED_PAUSES_AT_MOST = 100;
/** After a failed call, how long the instance goes by its own pauses before trying the store again. */
export const STORE_RETRY_AFTER_FAILURE_MS = 30_000;
const DEFAULT_STORE_TIMEOUT_MS = 5_000;
/** A pause nobody probed for this long belongs to a tenant without traffic: forgotten, and deleted. */
const ABANDONED_AFTER_MS = 60 * 60_000;

export type PauseRow = Versioned<SharedPause>;

/** The store's answer for one tenant (`row` undefined: no pause), or undefined when the store cannot be used. */
export type PauseLookup = { row: PauseRow | undefined } | undefined;

export interface CachedReaderSettings {
  /** How long one answer of the store is used before asking again (the staleness). */
  cacheMs: number;
  /** Longest one store call may take before the instance uses its own pauses instead. */
  storeTimeoutMs?: number;
  limits: TenantCacheLimits;
}

interface Listing {
  rows: Map<string, PauseRow>;
  /** Whether `rows` is the whole partition: then a tenant missing from it has no pause. */
  complete: boolean;
  /** When the listing was asked for: a tenant's own answer from then on is at least as new. */
  askedAtMs: number;
  /** When it answered: the staleness counts from here. */
  answeredAtMs: number;
}

interface TenantAnswer {
  row: PauseRow | undefined;
  atMs: number;
  /** The row changed under this instance (a conflicting write): read by itself next time, whatever the listing says. */
  outdated: boolean;
}

export class CachedPauseReader {
  private listing: Listing | undefined;
  private listingUnderWay: Promise<Listing | undefined> | undefined;
  private readonly answers: TenantCache<TenantAnswer>;
  private readonly pointReads = new Map<string, Promise<PauseLookup>>();
  private failedAtMs: number | undefined;

  constructor(
    private readonly store: SharedPauseStore,
    private readonly clock: Clock,
    private readonly logger: Pick<Logger, 'warn' | 'info'>,
    private readonly settings: CachedReaderSettings,
  ) {
    this.answers = new TenantCache({ ...settings.limits, now: () => this.nowMs() });
  }

  /** Whether the store may be called now: not within STORE_RETRY_AFTER_FAILURE_MS of a failed call. */
  usable(): boolean {
    return this.failedAtMs === undefined;
  }

  /** The tenant's pause as the store had it at most `cacheMs` ago. */
  async read(tenantId: string): Promise<PauseLookup> {
    const failed = this.failedAtMs !== undefined;
    if (failed && !this.backOffOver()) return undefined;
    // After a failure nothing cached counts: the next answer is what tells the store is back.
    const cached = failed ? undefined : this.fresh(tenantId);
    if (cached) return cached;
    if (failed || !this.listingFresh()) {
      this.listingUnderWay ??= this.list().finally(() => {
        this.listingUnderWay = undefined;
      });
      const listing = await this.listingUnderWay;
      if (!listing) return undefined;
      const listed = this.fresh(tenantId, listing);
      if (listed) return listed;
    }
    let pending = this.pointReads.get(tenantId);
    if (!pending) {
      pending = this.pointRead(tenantId).finally(() => this.pointReads.delete(tenantId));
      this.pointReads.set(tenantId, pending);
    }
    return pending;
  }

  /** The row as last read or written by this instance, however old (writes are ETag-guarded anyway). */
  known(tenantId: string): PauseRow | undefined {
    const answer = this.answers.get(tenantId);
    if (answer && (!this.listing || answer.atMs >= this.listing.askedAtMs)) return answer.row;
    return this.listing?.rows.get(tenantId) ?? answer?.row;
  }

  /** What this instance wrote or read by itself: newer than its last listing. */
  remember(tenantId: string, row: PauseRow | undefined): void {
    this.answers.set(tenantId, { row, atMs: this.nowMs(), outdated: false });
  }

  /** The tenant's row changed under this instance: its next check reads it by itself. */
  outdated(tenantId: string): void {
    this.answers.set(tenantId, { row: this.known(tenantId), atMs: this.nowMs(), outdated: true });
  }

  /** Any failed call, not only a read: the store is left alone for STORE_RETRY_AFTER_FAILURE_MS. */
  noteFailure(error: unknown): void {
    const first = this.failedAtMs === undefined;
    this.failedAtMs = this.nowMs();
    if (!first) return;
    this.logger.warn(
      'The shared pause store cannot be used: this instance keeps its own pauses until it answers again.',
      { error: error instanceof Error ? error.message : String(error) },
    );
  }

  /** Bounded in time whatever the store does (its client may retry a refused connection for seconds). */
  call<T>(call: (store: SharedPauseStore, signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeoutMs = this.settings.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`The shared pause store did not answer within ${timeoutMs} ms.`));
      }, timeoutMs);
    });
    const called = call(this.store, controller.signal);
    // The call may still settle after the timeout: its outcome is no longer anyone's business.
    called.catch(() => undefined);
    return Promise.race([called, timedOut]).finally(() => clearTimeout(timer));
  }

  /**
   * The cached answer for the tenant if still fresh: its own when newer than
   * the listing (or the listing does not show it), else the listing's when
   * that covers it. `justListed` counts as fresh whatever `cacheMs` (0 included).
   */
  private fresh(tenantId: string, justListed?: Listing): { row: PauseRow | undefined } | undefined {
    const answer = this.answers.get(tenantId);
    if (answer?.outdated) return undefined;
    const own =
      answer && this.nowMs() - answer.atMs < this.settings.cacheMs ? { row: answer.row } : undefined;
    const listing = justListed ?? (this.listingFresh() ? this.listing : undefined);
    if (!listing || (answer && answer.atMs >= listing.askedAtMs)) return own;
    const row = listing.rows.get(tenantId);
    return row || listing.complete ? { row } : own;
  }

  private listingFresh(): boolean {
    return this.listing !== undefined && this.nowMs() - this.listing.answeredAtMs < this.settings.cacheMs;
  }

  /** After a failure, whether STORE_RETRY_AFTER_FAILURE_MS has passed (counted from when the failed call answered). */
  private backOffOver(): boolean {
    return this.failedAtMs === undefined || this.nowMs() - this.failedAtMs >= STORE_RETRY_AFTER_FAILURE_MS;
  }

  private async list(): Promise<Listing | undefined> {
    const askedAtMs = this.nowMs();
    try {
      const listed = await this.call((store, signal) => store.list(LISTED_PAUSES_AT_MOST, signal));
      const rows = new Map<string, PauseRow>();
      for (const row of listed.pauses) if (!this.abandoned(row)) rows.set(row.value.tenantId, row);
      this.answered();
      // Stamped when the read answered: a store that hangs costs one wait, then the cache (or the
      // back-off after a failure) runs from there, not from when the wait began.
      this.listing = { rows, complete: listed.complete, askedAtMs, answeredAtMs: this.nowMs() };
      return this.listing;
    } catch (error) {
      this.noteFailure(error);
      return undefined;
    }
  }

  private async pointRead(tenantId: string): Promise<PauseLookup> {
    try {
      const read = await this.call((store, signal) => store.get(tenantId, signal));
      const row = read && !this.abandoned(read) ? read : undefined;
      this.answered();
      this.remember(tenantId, row);
      return { row };
    } catch (error) {
      this.noteFailure(error);
      return undefined;
    }
  }

  /** Deletes (in the background) and ignores a pause nobody has touched for an hour. */
  private abandoned(row: PauseRow): boolean {
    if (this.nowMs() - Math.max(row.value.untilMs, row.value.probe?.untilMs ?? 0) <= ABANDONED_AFTER_MS) {
      return false;
    }
    void this.call((store, signal) => store.remove(row.value.tenantId, row.etag, signal)).catch(
      () => undefined,
    );
    return true;
  }

  private answered(): void {
    if (this.failedAtMs === undefined) return;
    this.failedAtMs = undefined;
    this.logger.info('The shared pause store answers again: pauses are shared by all instances.');
  }

  private nowMs(): number {
    return this.clock.now().getTime();
  }
}
