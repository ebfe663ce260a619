import pLimit from 'p-limit';
import type { Clock, TenantConnectionStore } from '../ports';
import { TenantCache, type TenantCacheLimits } from '../tenantCache';
import { isDelivering, type TenantConnection, type Versioned } from '../tenantConnection';
import type { ForwarderSettings } from './contract';

/**
 * Most connection reads one instance has under way at once. Every tenant of every batch in flight
 * reads its connection as the batch is taken apart: four batches of 1,000 first-seen tenants started
 * 4,000 Table requests at once, each with its socket, request and pipeline state (a heap snapshot of
 * the 10,000-tenant bench held ~4,000 of each at the peak).
 */
export const CONNECTION_READS_IN_FLIGHT = 64;

/**
 * The tenants' connections as this instance last read or wrote them. Batches
 * reading the same tenant at the same moment share one read.
 */
export class ConnectionCache {
  private readonly cache: TenantCache<{
    entry: Versioned<TenantConnection> | undefined;
    readAtMs: number;
  }>;
  private readonly reading = new Map<
    string,
    { result: Promise<Versioned<TenantConnection> | undefined>; startedAtMs?: number }
  >();
  private readonly reads = pLimit(CONNECTION_READS_IN_FLIGHT);

  constructor(
    private readonly connections: TenantConnectionStore,
    private readonly clock: Clock,
    private readonly settings: Pick<ForwarderSettings, 'connectionCacheMs'>,
    limits: TenantCacheLimits,
  ) {
    this.cache = new TenantCache({
      maxTenants: limits.maxTenants,
      idleMs: settings.connectionCacheMs,
      now: () => clock.now().getTime(),
    });
  }

  /**
   * `notBeforeMs`: when the caller's batch was received. Its events were enqueued before that, so a
   * save they follow is older: a read started later (or not started yet) sees it, an older one, or
   * one of the same millisecond, may not.
   */
  async lookup(
    tenantId: string,
    notBeforeMs = Number.POSITIVE_INFINITY,
  ): Promise<Versioned<TenantConnection> | undefined> {
    const nowMs = this.clock.now().getTime();
    const cached = this.cache.get(tenantId);
    // Only a delivering connection is served from the cache. A cached "no connection", "tested" or
    // "disabled" would skip (complete) events for up to a cache period after the customer clicks
    // "Save changes" in another instance: those events would be lost. A read per batch for a tenant
    // whose export is off is the price of never skipping on stale knowledge.
    if (
      cached?.entry &&
      isDelivering(cached.entry.value.state) &&
      nowMs - cached.readAtMs < this.settings.connectionCacheMs
    ) {
      return cached.entry;
    }
    const shared = this.reading.get(tenantId);
    if (shared && (shared.startedAtMs === undefined || shared.startedAtMs > notBeforeMs))
      return shared.result;
    type Read = { result: Promise<Versioned<TenantConnection> | undefined>; startedAtMs?: number };
    const read: Read = {
      // Runs once the limit lets it, never synchronously: `read` is assigned by then.
      result: this.reads(async () => {
        const readAtMs = this.clock.now().getTime();
        read.startedAtMs = readAtMs;
        const entry = await this.connections.get(tenantId);
        // A read that started earlier but answers later must not replace what a newer read or a write
        // of this instance (remember) put there.
        const newer = this.cache.get(tenantId);
        if (!newer || newer.readAtMs <= readAtMs) this.cache.set(tenantId, { entry, readAtMs });
        return entry;
      }).finally(() => {
        if (this.reading.get(tenantId) === read) this.reading.delete(tenantId);
      }),
    };
    this.reading.set(tenantId, read);
    return read.result;
  }

  /** What was just written or read back after a conflict, as of now. */
  remember(tenantId: string, entry: Versioned<TenantConnection> | undefined): void {
    this.cache.set(tenantId, { entry, readAtMs: this.clock.now().getTime() });
  }

  forget(tenantId: string): void {
    this.cache.delete(tenantId);
  }
}
