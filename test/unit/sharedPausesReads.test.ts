import { describe, expect, it } from 'vitest';
import {
  LISTED_PAUSES_AT_MOST,
  type OutageFailure,
  type SharedPause,
  type SharedPauseStore,
} from '../../src/domain/sharedPauses';
import { InMemoryPauseStore, pauseCoordinator } from '../support/fakePauseStore';

/**
 * What the shared pauses cost Table Storage: an instance reads the tenants its
 * batches carry, never the whole `pauses` partition, and a healthy tenant
 * costs no read per batch once its answer is cached.
 */

const T0 = Date.parse('2026-12-03T12:00:00.000Z');
const CACHE_MS = 5_000;
const THROTTLED: OutageFailure = {
  kind: 'throttled',
  status: 429,
  message: 'Too Many Requests',
  retryAfterMs: 60_000,
};

function tenant(prefix: 'a' | 'b' | 'c', index: number): string {
  return `${prefix}0000000-0000-4000-8000-${String(index).padStart(12, '0')}`;
}

function tenants(prefix: 'a' | 'b' | 'c', count: number): string[] {
  return Array.from({ length: count }, (_unused, index) => tenant(prefix, index));
}

/** A wide outage already under way: `count` tenants paused for an hour, all sorting before the tenants under test. */
function wideOutage(store: InMemoryPauseStore, count: number): void {
  const pauses: SharedPause[] = tenants('a', count).map((tenantId) => ({
    tenantId,
    untilMs: T0 + 3_600_000,
    failure: THROTTLED,
  }));
  store.seed(pauses);
}

/** Every listing's requested row count, to hold the store to one bounded page. */
function recordingLimits(store: InMemoryPauseStore): { store: SharedPauseStore; limits: number[] } {
  const limits: number[] = [];
  return {
    limits,
    store: {
      list: (limit) => (limits.push(limit), store.list(limit)),
      get: (tenantId) => store.get(tenantId),
      put: (pause, etag) => store.put(pause, etag),
      remove: (tenantId, etag) => store.remove(tenantId, etag),
    },
  };
}

describe('shared pauses read only what a batch needs', () => {
  it('nothing paused: one listing of at most one bounded page per freshness period covers a batch of 1,000 tenants', async () => {
    const inner = new InMemoryPauseStore();
    const { store, limits } = recordingLimits(inner);
    const clock = { nowMs: T0 };
    const pauses = pauseCoordinator(store, clock, 'instance-a', { cacheMs: CACHE_MS, maxTenants: 2_000 });
    const batch = tenants('b', 1_000);
    for (let round = 0; round < 3; round += 1) {
      for (const tenantId of batch)
        expect(await pauses.check(tenantId)).toEqual({ paused: false, probe: 'none' });
      clock.nowMs += CACHE_MS / 5;
    }
    expect({ lists: inner.lists, gets: inner.gets }).toEqual({ lists: 1, gets: 0 });
    clock.nowMs += CACHE_MS;
    await Promise.all(batch.map((tenantId) => pauses.check(tenantId)));
    expect({ lists: inner.lists, gets: inner.gets }).toEqual({ lists: 2, gets: 0 });
    // The old code asked for the whole partition (no limit at all).
    expect(limits).toEqual([LISTED_PAUSES_AT_MOST, LISTED_PAUSES_AT_MOST]);
  });

  it('10,000 tenants paused: reads one bounded page and the batch’s own tenants, once per freshness period', async () => {
    const store = new InMemoryPauseStore();
    wideOutage(store, 10_000);
    const clock = { nowMs: T0 };
    const pauses = pauseCoordinator(store, clock, 'instance-a', { cacheMs: CACHE_MS, maxTenants: 2_000 });
    const healthy = tenants('b', 1_000);
    // Paused tenants the first page does not show: the end of the partition.
    const pausedLate = tenants('a', 10_000).slice(-50);

    const first = await Promise.all([...healthy, ...pausedLate].map((tenantId) => pauses.check(tenantId)));
    expect(first.filter((decision) => decision.paused)).toHaveLength(50);
    expect(first.slice(0, 1_000).every((decision) => !decision.paused)).toBe(true);
    // The old code listed all 10,000 rows on every instance every period.
    expect(store.entitiesRead).toBe(LISTED_PAUSES_AT_MOST + 50);
    expect({ lists: store.lists, gets: store.gets }).toEqual({ lists: 1, gets: 1_050 });

    // Later batches within the period: no request at all, healthy or paused.
    clock.nowMs += CACHE_MS - 1;
    for (const tenantId of [...healthy, ...pausedLate]) await pauses.check(tenantId);
    expect({ lists: store.lists, gets: store.gets }).toEqual({ lists: 1, gets: 1_050 });

    // Paused tenants on the first page need no point read of their own.
    const pausedEarly = tenants('a', 10);
    clock.nowMs += 1;
    const early = await Promise.all(pausedEarly.map((tenantId) => pauses.check(tenantId)));
    expect(early.every((decision) => decision.paused)).toBe(true);
    expect({ lists: store.lists, gets: store.gets }).toEqual({ lists: 2, gets: 1_050 });
  });

  it('keeps at most maxTenants answers: an evicted tenant costs one more point read', async () => {
    const store = new InMemoryPauseStore();
    wideOutage(store, LISTED_PAUSES_AT_MOST + 1);
    const clock = { nowMs: T0 };
    const pauses = pauseCoordinator(store, clock, 'instance-a', { cacheMs: CACHE_MS, maxTenants: 10 });
    const batch = tenants('b', 20);
    for (const tenantId of batch) await pauses.check(tenantId);
    expect(store.gets).toBe(20);
    // The ten most recent are still cached, the ten before them were dropped.
    for (const tenantId of batch.slice(10)) await pauses.check(tenantId);
    expect(store.gets).toBe(20);
    for (const tenantId of batch.slice(0, 10)) await pauses.check(tenantId);
    expect(store.gets).toBe(30);
  });

  for (const [name, paused] of [
    ['few pauses', 0],
    ['a wide outage', 10_000],
  ] as const) {
    it(`sees a pause another instance wrote within the freshness period (${name})`, async () => {
      const store = new InMemoryPauseStore();
      wideOutage(store, paused);
      const clock = { nowMs: T0 };
      const a = pauseCoordinator(store, clock, 'instance-a', { cacheMs: CACHE_MS, maxPauseMs: 300_000 });
      const b = pauseCoordinator(store, clock, 'instance-b', { cacheMs: CACHE_MS, maxPauseMs: 300_000 });
      const target = tenant('c', 1);
      // A has cached "no pause" for the tenant; then B's upload is throttled.
      expect(await a.check(target)).toEqual({ paused: false, probe: 'none' });
      await b.settle(target, { outage: THROTTLED, delivered: false }, { paused: false, probe: 'none' });
      clock.nowMs += CACHE_MS;
      expect(await a.check(target)).toMatchObject({
        paused: true,
        untilMs: T0 + 60_000,
        failure: { kind: 'throttled', status: 429 },
      });
    });
  }

  it('concurrent batches with the same tenant share one point read', async () => {
    const store = new InMemoryPauseStore();
    wideOutage(store, LISTED_PAUSES_AT_MOST + 1);
    const clock = { nowMs: T0 };
    const pauses = pauseCoordinator(store, clock, 'instance-a', { cacheMs: CACHE_MS });
    const target = tenant('b', 7);
    const decisions = await Promise.all(Array.from({ length: 8 }, () => pauses.check(target)));
    expect(decisions).toEqual(Array.from({ length: 8 }, () => ({ paused: false, probe: 'none' })));
    expect({ lists: store.lists, gets: store.gets }).toEqual({ lists: 1, gets: 1 });
  });

  it('a failed point read falls back to own pauses, warns once, and leaves the store alone for 30 s', async () => {
    const store = new InMemoryPauseStore();
    wideOutage(store, LISTED_PAUSES_AT_MOST + 1);
    const warnings: string[] = [];
    const clock = { nowMs: T0 };
    const pauses = pauseCoordinator(store, clock, 'instance-a', {
      cacheMs: CACHE_MS,
      logger: { warn: (message) => warnings.push(message), info: () => undefined },
    });
    expect(await pauses.check(tenant('b', 1))).toEqual({ paused: false, probe: 'none' });
    store.failure = new Error('503 Server Busy');
    pauses.noteOutage(tenant('b', 2), THROTTLED);
    expect(await pauses.check(tenant('b', 3))).toEqual({ paused: false, probe: 'none' });
    expect(await pauses.check(tenant('b', 2))).toMatchObject({ paused: true, untilMs: T0 + 60_000 });
    const calls = store.reads;
    for (const index of [4, 5, 6]) {
      clock.nowMs += CACHE_MS;
      expect(await pauses.check(tenant('b', index))).toEqual({ paused: false, probe: 'none' });
    }
    expect(store.reads).toBe(calls);
    expect(warnings).toHaveLength(1);
  });
});
