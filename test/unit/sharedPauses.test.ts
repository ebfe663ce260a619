import { describe, expect, it } from 'vitest';
import {
  LISTED_PAUSES_AT_MOST,
  STORE_RETRY_AFTER_FAILURE_MS,
  type OutageFailure,
  type PauseCoordinator,
  type PauseDecision,
  type SharedPauseStore,
} from '../../src/domain/sharedPauses';
import { InMemoryPauseStore, pauseCoordinator } from '../support/fakePauseStore';

/**
 * The request bound of shared pauses, on a simulated fleet: every instance always has a batch for
 * the tenant whose workspace fails every request, one batch at a time per instance (as the Service
 * Bus extension runs a batch function), each request taking `latencyMs` to fail.
 */

const T0 = Date.parse('2026-12-03T12:00:00.000Z');
const TENANT = '0b7c2a3e-0000-4000-8000-000000000001';
const OUTAGE: OutageFailure = { kind: 'unavailable', status: 503, message: 'Service Unavailable' };

interface Simulation {
  instances: number;
  store: SharedPauseStore | undefined;
  outageMs: number;
  pauseMs: number;
  cacheMs: number;
  latencyMs: number;
  tickMs?: number;
}

interface SimulationResult {
  /** Requests the workspace received during the outage. */
  requests: number;
  /** Whether every instance delivered again after the outage ended. */
  recovered: boolean;
}

async function simulate(sim: Simulation): Promise<SimulationResult> {
  const tickMs = sim.tickMs ?? 50;
  const clock = { nowMs: T0 };
  const fleet = Array.from({ length: sim.instances }, (_unused, index) => ({
    pauses: pauseCoordinator(sim.store, clock, `instance-${index + 1}`, {
      minPauseMs: sim.pauseMs,
      cacheMs: sim.cacheMs,
    }),
    inFlight: undefined as { answersAtMs: number; decision: PauseDecision } | undefined,
  }));
  let requests = 0;
  const deliveredAfter = new Set<number>();
  const end = T0 + sim.outageMs + 60_000;
  for (; clock.nowMs <= end; clock.nowMs += tickMs) {
    const outage = clock.nowMs < T0 + sim.outageMs;
    for (const [index, instance] of fleet.entries()) {
      if (instance.inFlight && clock.nowMs >= instance.inFlight.answersAtMs) {
        const { decision } = instance.inFlight;
        instance.inFlight = undefined;
        if (outage) {
          instance.pauses.noteOutage(TENANT, OUTAGE);
          await instance.pauses.settle(TENANT, { outage: OUTAGE, delivered: false }, decision);
        } else {
          await instance.pauses.settle(TENANT, { outage: undefined, delivered: true }, decision);
          deliveredAfter.add(index);
        }
      }
      if (instance.inFlight) continue;
      const decision = await instance.pauses.check(TENANT);
      if (decision.paused) continue;
      if (outage) requests += 1;
      instance.inFlight = { answersAtMs: clock.nowMs + sim.latencyMs, decision };
    }
  }
  return { requests, recovered: fleet.every((_instance, index) => deliveredAfter.has(index)) };
}

/** The documented bound: ⌈T/P⌉ + 1 probes, plus what each instance had under way when it learned. */
function bound(sim: Simulation, inFlightPerInstance: number): number {
  return Math.ceil(sim.outageMs / sim.pauseMs) + 1 + sim.instances * inFlightPerInstance;
}

describe('shared pauses bound the requests a fleet sends to a failing workspace', () => {
  const outage: Omit<Simulation, 'store'> = {
    instances: 3,
    outageMs: 60_000,
    pauseMs: 1_000,
    // Staleness longer than the pause: instances learn from their own failure, not only from reads.
    cacheMs: 5_000,
    latencyMs: 200,
  };

  it('stays within ⌈T/P⌉ + 1 + instances × in-flight, and recovers once the workspace answers', async () => {
    const store = new InMemoryPauseStore();
    const result = await simulate({ ...outage, store });
    expect(result.requests).toBeLessThanOrEqual(bound({ ...outage, store }, 1));
    // Still probing throughout (at least one probe per two pause intervals), not just silent.
    expect(result.requests).toBeGreaterThanOrEqual(outage.outageMs / (2 * outage.pauseMs));
    expect(result.recovered).toBe(true);
    expect(store.peek(TENANT)).toBeUndefined();
  });

  it('holds with ten instances too, while per-instance pauses alone would exceed it', async () => {
    const ten = { ...outage, instances: 10 };
    const shared = await simulate({ ...ten, store: new InMemoryPauseStore() });
    expect(shared.requests).toBeLessThanOrEqual(bound({ ...ten, store: undefined }, 1));
    // The same fleet without the store: every instance probes on its own, about ten times as often.
    const alone = await simulate({ ...ten, store: undefined });
    expect(alone.requests).toBeGreaterThan(bound({ ...ten, store: undefined }, 1));
    expect(alone.recovered).toBe(true);
  });

  it('holds in a wide outage too, where the tenant is read by itself rather than listed', async () => {
    const store = new InMemoryPauseStore();
    // Other tenants paused, all sorting before TENANT: the listing's first page never shows it.
    store.seed(
      Array.from({ length: 3 * LISTED_PAUSES_AT_MOST }, (_unused, index) => ({
        tenantId: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
        untilMs: T0 + 3_600_000,
        failure: OUTAGE,
      })),
    );
    const ten = { ...outage, instances: 10, store };
    const result = await simulate(ten);
    expect(result.requests).toBeLessThanOrEqual(bound(ten, 1));
    expect(result.recovered).toBe(true);
    expect(store.gets).toBeGreaterThan(0);
  });

  it('honours a longer Retry-After for everyone', async () => {
    const store = new InMemoryPauseStore();
    const clock = { nowMs: T0 };
    const fleet = [0, 1].map((index) => pauseCoordinator(store, clock, `instance-${index}`, { cacheMs: 0 }));
    await fleet[0]!.settle(
      TENANT,
      {
        outage: { kind: 'throttled', status: 429, message: 'Too Many Requests', retryAfterMs: 30_000 },
        delivered: false,
      },
      { paused: false, probe: 'none' },
    );
    expect(await fleet[1]!.check(TENANT)).toMatchObject({
      paused: true,
      untilMs: T0 + 30_000,
      failure: { kind: 'throttled', status: 429 },
    });
  });

  it('keeps delivering on its own pauses when the store fails, and logs that once', async () => {
    const store = new InMemoryPauseStore();
    store.failure = new Error('connect ECONNREFUSED 127.0.0.1:10002');
    const warnings: string[] = [];
    const infos: string[] = [];
    const clock = { nowMs: T0 };
    const pauses = pauseCoordinator(store, clock, 'instance-1', {
      cacheMs: 100,
      logger: { warn: (message) => warnings.push(message), info: (message) => infos.push(message) },
    });
    for (let step = 0; step < 10; step += 1) {
      clock.nowMs += 150;
      expect(await pauses.check(TENANT)).toEqual({ paused: false, probe: 'none' });
      await pauses.settle(TENANT, { outage: undefined, delivered: true }, { paused: false, probe: 'none' });
    }
    expect(warnings).toEqual([
      'The shared pause store cannot be used: this instance keeps its own pauses until it answers again.',
    ]);
    store.failure = undefined;
    // A failed read backs off: the store is tried again only STORE_RETRY_AFTER_FAILURE_MS later.
    clock.nowMs += STORE_RETRY_AFTER_FAILURE_MS;
    await pauses.check(TENANT);
    expect(infos).toHaveLength(1);
  });
});

describe('shared pauses after an adversarial review', () => {
  const T1 = '0b7c2a3e-0000-4000-8000-0000000000a1';
  const T2 = '0b7c2a3e-0000-4000-8000-0000000000a2';

  function coordinator(
    store: SharedPauseStore | undefined,
    clock: { nowMs: number },
    instanceId: string,
    options: { cacheMs?: number; maxPauseMs?: number } = {},
  ): PauseCoordinator {
    return pauseCoordinator(store, clock, instanceId, { probeLeaseMs: 120_000, cacheMs: 60_000, ...options });
  }

  /** T1 and T2 paused by another instance, both pauses run out by now. */
  async function pausedAndRunOut(store: SharedPauseStore, clock: { nowMs: number }): Promise<void> {
    const writer = coordinator(store, clock, 'writer');
    for (const tenant of [T1, T2]) {
      await writer.settle(tenant, { outage: OUTAGE, delivered: false }, { paused: false, probe: 'none' });
    }
    clock.nowMs += 2_000;
  }

  it("a delivering probe ends its tenant's pause even after a claim conflict on another tenant", async () => {
    const store = new InMemoryPauseStore();
    const clock = { nowMs: T0 };
    await pausedAndRunOut(store, clock);
    const a = coordinator(store, clock, 'instance-a');
    const b = coordinator(store, clock, 'instance-b');
    const probeT1 = await a.check(T1);
    expect(probeT1).toEqual({ paused: false, probe: 'shared' });
    expect(await b.check(T2)).toEqual({ paused: false, probe: 'shared' });
    // A's cached read still shows T2 unclaimed: its claim conflicts with B's.
    expect(await a.check(T2)).toMatchObject({ paused: true, probing: true });

    await a.settle(T1, { outage: undefined, delivered: true }, probeT1);
    // The old code forgot every row on the conflict and left T1 claimed by A for the whole lease.
    expect(store.peek(T1)).toBeUndefined();
    expect(await coordinator(store, clock, 'instance-c').check(T1)).toEqual({ paused: false, probe: 'none' });
    // And T2, whose row A knows to be outdated, is read again by itself: B's claim stands.
    expect(store.peek(T2)?.probe?.holder).toBe('instance-b');
    expect(await a.check(T2)).toMatchObject({ paused: true, probing: true });
  });

  it('a probe that learned nothing hands its claim back even after a conflict on another tenant', async () => {
    const store = new InMemoryPauseStore();
    const clock = { nowMs: T0 };
    await pausedAndRunOut(store, clock);
    const a = coordinator(store, clock, 'instance-a');
    const b = coordinator(store, clock, 'instance-b');
    const probeT1 = await a.check(T1);
    await b.check(T2);
    await a.check(T2);
    await a.settle(T1, { outage: undefined, delivered: false }, probeT1);
    expect(store.peek(T1)).toBeDefined();
    expect(store.peek(T1)?.probe).toBeUndefined();
    expect(await coordinator(store, clock, 'instance-c').check(T1)).toEqual({
      paused: false,
      probe: 'shared',
    });
  });

  it('a store that fails after a long wait is not waited on again for 30 s, and is read again after', async () => {
    const inner = new InMemoryPauseStore();
    const clock = { nowMs: T0 };
    let lists = 0;
    let failing = true;
    // Each read takes the whole store timeout (5 s) and then fails, as a hanging store does.
    const hanging: SharedPauseStore = {
      list: (limit) => {
        lists += 1;
        if (!failing) return inner.list(limit);
        clock.nowMs += 5_000;
        return Promise.reject(new Error('The shared pause store did not answer within 5000 ms.'));
      },
      get: (tenantId) => inner.get(tenantId),
      put: (pause, etag) => inner.put(pause, etag),
      remove: (tenantId, etag) => inner.remove(tenantId, etag),
    };
    const pauses = coordinator(hanging, clock, 'instance-a', { cacheMs: 5_000 });
    expect(await pauses.check(TENANT)).toEqual({ paused: false, probe: 'none' });
    // Its own pause goes on meanwhile.
    pauses.noteOutage(T1, OUTAGE);
    expect(await pauses.check(T1)).toMatchObject({ paused: true });
    for (let step = 0; step < 28; step += 1) {
      clock.nowMs += 1_000;
      await pauses.check(TENANT);
    }
    // The old code stamped the read with its start and read again on every later batch.
    expect(lists).toBe(1);
    failing = false;
    clock.nowMs += 3_000;
    await pauses.check(TENANT);
    expect(lists).toBe(2);
  });

  it('leaves a store alone for 30 s after a write hung too, not only after a read', async () => {
    const inner = new InMemoryPauseStore();
    const clock = { nowMs: T0 };
    await pausedAndRunOut(inner, clock);
    let calls = 0;
    // Reads answer; every write takes the whole store timeout and fails.
    const hangingWrites: SharedPauseStore = {
      list: (limit) => ((calls += 1), inner.list(limit)),
      get: (tenantId) => ((calls += 1), inner.get(tenantId)),
      put: () => {
        calls += 1;
        clock.nowMs += 5_000;
        return Promise.reject(new Error('The shared pause store did not answer within 5000 ms.'));
      },
      remove: () => ((calls += 1), Promise.reject(new Error('unreachable'))),
    };
    const pauses = coordinator(hangingWrites, clock, 'instance-a', { cacheMs: 5_000 });
    // The claim of T1 fails: its own (absent) pause lets it probe locally.
    expect(await pauses.check(T1)).toEqual({ paused: false, probe: 'none' });
    expect(calls).toBe(2);
    // T2's pause has run out too: the old code tried (and waited for) a claim of it at once.
    expect(await pauses.check(T2)).toEqual({ paused: false, probe: 'none' });
    await pauses.settle(T2, { outage: undefined, delivered: true }, { paused: false, probe: 'none' });
    expect(calls).toBe(2);
  });

  it.each([
    ['without a shared store', undefined],
    ['with a shared store', new InMemoryPauseStore()],
  ])(
    'keeps a fresh pause when a batch that delivered before it settles after it (%s); a probe ends it',
    async (_label, store) => {
      const clock = { nowMs: T0 };
      const instance = coordinator(store, clock, 'instance-a');
      const inFlight = await instance.check(TENANT);
      expect(inFlight).toEqual({ paused: false, probe: 'none' });
      // Another batch's upload just failed: the tenant pauses at once ...
      instance.noteOutage(TENANT, OUTAGE);
      await instance.settle(TENANT, { outage: OUTAGE, delivered: false }, inFlight);
      // ... and a batch whose rows a request delivered earlier settles only now.
      clock.nowMs += 10;
      await instance.settle(TENANT, { outage: undefined, delivered: true }, inFlight);
      expect(await instance.check(TENANT)).toMatchObject({ paused: true });

      clock.nowMs += 60_000;
      const probe = await instance.check(TENANT);
      expect(probe).toMatchObject({ paused: false });
      await instance.settle(TENANT, { outage: undefined, delivered: true }, probe);
      expect(await instance.check(TENANT)).toEqual({ paused: false, probe: 'none' });
    },
  );

  it('caps a huge Retry-After at the longest pause, in the store and locally', async () => {
    const store = new InMemoryPauseStore();
    const clock = { nowMs: T0 };
    const a = coordinator(store, clock, 'instance-a', { maxPauseMs: 60_000 });
    const throttled: OutageFailure = {
      kind: 'throttled',
      status: 429,
      message: 'Too Many Requests',
      retryAfterMs: 30 * 24 * 3_600_000,
    };
    a.noteOutage(TENANT, throttled);
    expect(await a.check(TENANT)).toMatchObject({ paused: true, untilMs: T0 + 60_000 });
    await a.settle(TENANT, { outage: throttled, delivered: false }, { paused: false, probe: 'none' });
    expect(store.peek(TENANT)?.untilMs).toBe(T0 + 60_000);
    const b = coordinator(store, clock, 'instance-b', { maxPauseMs: 60_000 });
    expect(await b.check(TENANT)).toMatchObject({ paused: true, untilMs: T0 + 60_000 });
  });
});
