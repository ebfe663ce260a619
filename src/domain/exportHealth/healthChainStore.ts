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
}

export interface HealthChainStore {
  get(tenantId: string): Promise<HealthChainState>;
  /**
   * Adds sealed rows and moves the head, atomically and only if the state is
   * still `etag` (ConcurrencyConflictError otherwise). Returns the new etag.
   */
  append(
    tenantId: string,
    rows: readonly SignedHealthRow[],
    head: ChainHead,
    sealedUpTo: string | undefined,
    etag: string | undefined,
  ): Promise<string>;
  /** Forgets pending rows Log Analytics accepted. */
  removePending(tenantId: string, sequences: readonly number[]): Promise<void>;
}

/** At most this many rows per append (a Table Storage transaction holds 100 operations, one is the head). */
export const MAX_ROWS_PER_APPEND = 99;
