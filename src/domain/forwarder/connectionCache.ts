import type { Clock, TenantConnectionStore } from '../ports';
import { TenantCache, type TenantCacheLimits } from '../tenantCache';
import { isDelivering, type TenantConnection, type Versioned } from '../tenantConnection';
import type { ForwarderSettings } from './contract';

/** The tenants' connections as this instance last read or wrote them. */
export class ConnectionCache {
  private readonly cache: TenantCache<{
    entry: Versioned<TenantConnection> | undefined;
    readAtMs: number;
  }>;

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

  async lookup(tenantId: string): Promise<Versioned<TenantConnection> | undefined> {
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
    const entry = await this.connections.get(tenantId);
    this.cache.set(tenantId, { entry, readAtMs: nowMs });
    return entry;
  }

  /** What was just written or read back after a conflict, as of now. */
  remember(tenantId: string, entry: Versioned<TenantConnection> | undefined): void {
    this.cache.set(tenantId, { entry, readAtMs: this.clock.now().getTime() });
  }

  forget(tenantId: string): void {
    this.cache.delete(tenantId);
  }
}
