import type { ChainHead } from './chain';
import type { SignedHealthRow } from './healthRow';

/**
 * Where each tenant's chain stands, and the sealed rows not yet uploaded.
 * Sealed rows are kept until Log Analytics accepted them: a failed upload is
 * retried with the very same rows (same sequence, same signature), so a
 * retry never forks the chain and a duplicate upload is the same row twice.
 */
export interface HealthChainState {
  head: ChainHead;
  /** End of the newest sealed window (ISO); undefined before the first window. */
  sealedUpTo?: string;
  /** Sealed, not yet uploaded, in sequence order. */
  pending: SignedHealthRow[];
  etag?: string;
  /** Delivery records that expired unsealed since the last row that reported such a loss. */
  expired?: ExpiredTally;
}

/**
 * A counted loss: delivery records that expired before the heartbeat sealed
 * their windows, so no health row lists their ids. The next row sealed for the
 * tenant reports it and clears it in the same transaction.
 */
export interface ExpiredTally {
  /** Earliest and latest window start (ISO) whose records expired. */
  firstWindow: string;
  lastWindow: string;
  /** Windows with expired records (a window swept twice counts twice). */
  windows: number;
  /** Record ids per table among them (never fewer than were dropped; a sweep retried after a crash may count some twice). */
  delivered: Partial<Record<string, number>>;
  parked: number;
  reenqueued: number;
  /** The store's version of the tally; `append` clears exactly this version. */
  etag: string;
}

export interface HealthChainStore {
  get(tenantId: string): Promise<HealthChainState>;
  /**
   * Adds sealed rows and moves the head, atomically and only if the state is
   * still `etag` (ConcurrencyConflictError otherwise). Returns the new etag.
   * With `clearExpired`, the tally of that version is removed in the same
   * transaction (a conflict if it grew meanwhile; then at most 98 rows).
   */
  append(
    tenantId: string,
    rows: readonly SignedHealthRow[],
    head: ChainHead,
    sealedUpTo: string | undefined,
    etag: string | undefined,
    clearExpired?: ExpiredTally,
  ): Promise<string>;
  /** Adds a sweep's counts to the tenant's tally (creating it). */
  addExpired(tenantId: string, expired: Omit<ExpiredTally, 'etag'>): Promise<void>;
  /** Forgets pending rows Log Analytics accepted. */
  removePending(tenantId: string, sequences: readonly number[]): Promise<void>;
}

/** At most this many rows per append (a Table Storage transaction holds 100 operations, one is the head). */
export const MAX_ROWS_PER_APPEND = 99;
