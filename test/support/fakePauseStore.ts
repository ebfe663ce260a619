import { ConcurrencyConflictError } from '../../src/domain/errors';
import type { SharedPause, SharedPauseStore } from '../../src/domain/sharedPauses';
import type { Versioned } from '../../src/domain/tenantConnection';

/** The pause store's contract in memory: ETags change on every write, stale ones conflict. */
export class InMemoryPauseStore implements SharedPauseStore {
  private readonly rows = new Map<string, Versioned<SharedPause>>();
  private version = 0;
  reads = 0;
  writes = 0;
  /** When set, every call fails with it (Table Storage down). */
  failure: Error | undefined;

  list(): Promise<Array<Versioned<SharedPause>>> {
    this.reads += 1;
    return this.answer(() => [...this.rows.values()].map((row) => structuredClone(row)));
  }

  get(tenantId: string): Promise<Versioned<SharedPause> | undefined> {
    this.reads += 1;
    return this.answer(() => structuredClone(this.rows.get(tenantId)));
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
