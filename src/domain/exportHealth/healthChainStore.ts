import type { ChainHead } from './chain';
import type { HealthChange, SignedHealthRow } from './healthRow';
import type { RefusedPendingRow } from './pendingRows';

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
  /** Sealed, not yet uploaded, in sequence order (each read as the row schema: see parsePendingRow). */
  pending: SignedHealthRow[];
  /** Stored pending rows that are not JSON of the row schema: the heartbeat sets them aside, never uploads them. */
  refusedPending?: RefusedPendingRow[];
  etag?: string;
  /** Delivery records that expired unsealed since the last row that reported such a loss. */
  expired?: ExpiredTally;
  /** Changes made outside the service (the operator CLI), waiting for the heartbeat to seal them; oldest first. */
  requests?: ChangeRequest[];
  /** Stored requests refused (see checkChangeRequest): logged and deleted, never sealed. */
  refusedRequests?: RefusedChangeRequest[];
}

export interface RefusedChangeRequest {
  id: string;
  reason: string;
}

/**
 * A change row asked for by a process that holds no signing key (the
 * operator CLI): the heartbeat seals it with the service's key on its next
 * tick, as the change it describes, at the time it happened.
 */
export interface ChangeRequest {
  /** The store's id of the request (set when read). */
  id?: string;
  at: string;
  change: HealthChange;
  actor: string;
  reason?: string;
  connectionState: string;
  connectionReason?: string;
}

export interface AppendExtras {
  /** Clears the tally of exactly this version in the same transaction (a conflict if it grew meanwhile). */
  clearExpired?: ExpiredTally;
  /** Removes these sealed requests in the same transaction. */
  consumedRequests?: readonly string[];
}

/**
 * A counted loss: delivery records that expired before the heartbeat sealed
 * their windows, so no health row lists their ids. The next row sealed for the
 * tenant reports it and clears it in the same transaction.
 */
export interface ExpiredTally {
  /** Start of the earliest and end of the latest window (ISO) whose records expired. */
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
   * `extras` are done in the same transaction (each takes one of its 100 operations).
   */
  append(
    tenantId: string,
    rows: readonly SignedHealthRow[],
    head: ChainHead,
    sealedUpTo: string | undefined,
    etag: string | undefined,
    extras?: AppendExtras,
  ): Promise<string>;
  /** Stores a change for the heartbeat to seal. */
  requestChange(tenantId: string, request: ChangeRequest): Promise<void>;
  /** Deletes refused requests (a request already gone is no error). */
  discardRequests(tenantId: string, ids: readonly string[]): Promise<void>;
  /** Adds a sweep's counts to the tenant's tally (creating it). */
  addExpired(tenantId: string, expired: Omit<ExpiredTally, 'etag'>): Promise<void>;
  /** Forgets pending rows Log Analytics accepted. */
  removePending(tenantId: string, sequences: readonly number[]): Promise<void>;
  /**
   * Sets pending rows aside, never to be uploaded: each is kept, with the
   * reason, where no read of the pending rows finds it again (for an operator
   * to inspect). A row is named by the store's id (refusedPending) or by its
   * sequence number (a row that read well but failed its signature).
   */
  quarantinePending(tenantId: string, rows: readonly QuarantinedPendingRow[]): Promise<void>;
}

/**
 * A pending row to set aside, as it was read: by the store's id when it did not read as a row, else
 * by its sequence number with the row read (the store moves it only while that key still holds
 * exactly this row: another writer may have set it aside and sealed a genuine row there since).
 */
export type QuarantinedPendingRow = ({ id: string } | { sequence: number; row: SignedHealthRow }) & {
  reason: string;
};

/** At most this many rows per append (a Table Storage transaction holds 100 operations, one is the head). */
export const MAX_ROWS_PER_APPEND = 99;
