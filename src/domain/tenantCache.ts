import { LRUCache } from 'lru-cache';

/**
 * Bounds for what an instance keeps per tenant (credentials, ingestion
 * clients, ARM pipelines, connections, pauses). A Flex Consumption instance
 * serves whichever tenants its batches carry, so without a bound it grows with
 * the customer count until the platform recycles it.
 */
export interface TenantCacheLimits {
  /** Most tenants kept; the least recently used goes first. */
  maxTenants: number;
  /** A tenant not used for this long is dropped. */
  idleMs: number;
}

/** Defaults for a 2 GB instance: about 33 kB per credential and client pair (bench/tenantCache.ts). */
export const DEFAULT_TENANT_CACHE_LIMITS: TenantCacheLimits = { maxTenants: 2_000, idleMs: 60 * 60_000 };

export interface TenantCacheOptions<V> extends TenantCacheLimits {
  /** Milliseconds now; tests pin it. */
  now?: () => number;
  /** Called once for every value that leaves the cache (evicted, idle, replaced or deleted). */
  onEvict?: (value: V, key: string) => void;
}

/**
 * An LRU map whose entries also expire after `idleMs` without use. Expired
 * entries are swept at most once per idle period from the access path, so an
 * instance that stops seeing tenants frees them without a timer per entry.
 */
export class TenantCache<V extends object> {
  private readonly cache: LRUCache<string, V>;
  private readonly now: () => number;
  private readonly sweepEveryMs: number;
  private nextSweepMs: number;

  constructor(options: TenantCacheOptions<V>) {
    this.now = options.now ?? (() => performance.now());
    const onEvict = options.onEvict;
    this.cache = new LRUCache<string, V>({
      max: options.maxTenants,
      ttl: options.idleMs,
      updateAgeOnGet: true,
      // lru-cache otherwise reuses one reading of the clock for a millisecond of real time, which a pinned clock outruns.
      ttlResolution: 0,
      perf: { now: this.now },
      ...(onEvict ? { dispose: (value: V, key: string) => onEvict(value, key) } : {}),
    });
    this.sweepEveryMs = options.idleMs;
    this.nextSweepMs = this.now() + this.sweepEveryMs;
  }

  get size(): number {
    return this.cache.size;
  }

  get(key: string): V | undefined {
    this.sweep();
    return this.cache.get(key);
  }

  /** The cached value, or the one `build` makes (then cached). */
  getOrCreate(key: string, build: () => V): V {
    const cached = this.get(key);
    if (cached !== undefined) return cached;
    const built = build();
    this.cache.set(key, built);
    return built;
  }

  set(key: string, value: V): void {
    this.sweep();
    this.cache.set(key, value);
  }

  delete(key: string): void {
    this.cache.delete(key);
  }

  private sweep(): void {
    const nowMs = this.now();
    if (nowMs < this.nextSweepMs) return;
    this.nextSweepMs = nowMs + this.sweepEveryMs;
    this.cache.purgeStale();
  }
}
