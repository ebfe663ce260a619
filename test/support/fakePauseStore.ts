import { ConcurrencyConflictError } from '../../src/domain/errors';
import type { Logger } from '../../src/domain/ports';
import { PauseCoordinator, type SharedPause, type SharedPauseStore } from '../../src/domain/sharedPauses';
import type { Versioned } from '../../src/domain/tenantConnection';

/** The pause store's contract in memory: ETags change on every write, stale ones conflict. */
export class InMemoryPauseStore implements SharedPauseStore {
  private readonly rows = new Map<string, Versioned<SharedPause>>();
  private version = 0;
  reads = 0;
  /** Of the reads: listings (at most `limit` rows each) and point reads. */
  lists = 0;
  gets = 0;
  /** Rows the reads handed out: what counts against a partition's throughput. */
  entitiesRead = 0;
  writes = 0;
  /** When set, every call fails with it (Table Storage down). */
  failure: Error | undefined;

  list(limit: number): Promise<{ pauses: Array<Versioned<SharedPause>>; complete: boolean }> {
    this.reads += 1;
    this.lists += 1;
    return this.answer(() => {
      // Table Storage returns a partition's rows in RowKey order.
      const sorted = [...this.rows.values()].sort((a, b) => (a.value.tenantId < b.value.tenantId ? -1 : 1));
      const pauses = structuredClone(sorted.slice(0, limit));
      this.entitiesRead += pauses.length;
      return { pauses, complete: sorted.length <= limit };
    });
  }

  get(tenantId: string): Promise<Versioned<SharedPause> | undefined> {
    this.reads += 1;
    this.gets += 1;
    return this.answer(() => {
      const row = this.rows.get(tenantId);
      if (row) this.entitiesRead += 1;
      return structuredClone(row);
    });
  }

  put(pause: SharedPause, etag: string | undefined): Promise<string> {
    this.writes += 1;
    return this.answer(() => {
      const current = this.rows.get(pause.tenantId);
      if (etag === undefined ? current !== undefined : current?.etag !== etag) {
        throw new ConcurrencyConflictError(`pause of ${pause.tenantId} changed`);
      }
      const next = `W/"${(this.version += 1)}"`;
      this.rows.set(pause.tenantId, { value: structuredClone(pause), etag: next });
      return next;
    });
  }

  remove(tenantId: string, etag: string): Promise<void> {
    this.writes += 1;
    return this.answer(() => {
      const current = this.rows.get(tenantId);
      if (!current) return;
      if (current.etag !== etag) throw new ConcurrencyConflictError(`pause of ${tenantId} changed`);
      this.rows.delete(tenantId);
    });
  }

  /** Puts pauses in place without counting them as requests (a wide outage already under way). */
  seed(pauses: readonly SharedPause[]): void {
    for (const pause of pauses) {
      this.rows.set(pause.tenantId, { value: structuredClone(pause), etag: `W/"${(this.version += 1)}"` });
    }
  }

  peek(tenantId: string): SharedPause | undefined {
    return this.rows.get(tenantId)?.value;
  }

  private answer<T>(work: () => T): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

export interface CoordinatorOptions {
  cacheMs?: number;
  minPauseMs?: number;
  maxPauseMs?: number;
  probeLeaseMs?: number;
  storeTimeoutMs?: number;
  maxTenants?: number;
  logger?: Pick<Logger, 'warn' | 'info'>;
}

const SILENT = { warn: () => undefined, info: () => undefined };

/** One instance's coordinator on a clock the test moves (`clock.nowMs`); without a store, pauses are its own. */
export function pauseCoordinator(
  store: SharedPauseStore | undefined,
  clock: { nowMs: number },
  instanceId: string,
  options: CoordinatorOptions = {},
): PauseCoordinator {
  return new PauseCoordinator(
    {
      ...(store ? { store } : {}),
      clock: { now: () => new Date(clock.nowMs) },
      logger: options.logger ?? SILENT,
      instanceId,
    },
    {
      minPauseMs: options.minPauseMs ?? 1_000,
      maxPauseMs: options.maxPauseMs ?? 300_000,
      probeLeaseMs: options.probeLeaseMs ?? 30_000,
      cacheMs: options.cacheMs ?? 5_000,
      ...(options.storeTimeoutMs !== undefined ? { storeTimeoutMs: options.storeTimeoutMs } : {}),
      limits: { maxTenants: options.maxTenants ?? 100, idleMs: 3_600_000 },
    },
  );
}
