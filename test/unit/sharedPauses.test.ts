import { describe, expect, it } from 'vitest';
import {
  PauseCoordinator,
  type OutageFailure,
  type PauseDecision,
  type SharedPauseStore,
} from '../../src/domain/sharedPauses';
import { InMemoryPauseStore } from '../support/fakePauseStore';

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
    pauses: new PauseCoordinator(
      {
        ...(sim.store ? { store: sim.store } : {}),
        clock: { now: () => new Date(clock.nowMs) },
        logger: { warn: () => undefined, info: () => undefined },
        instanceId: `instance-${index + 1}`,
      },
      {
        minPauseMs: sim.pauseMs,
        probeLeaseMs: 30_000,
        cacheMs: sim.cacheMs,
        limits: { maxTenants: 100, idleMs: 3_600_000 },
      },
    ),
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

  it('honours a longer Retry-After for everyone', async () => {
    const store = new InMemoryPauseStore();
    const fleet = [0, 1].map(
      (index) =>
        new PauseCoordinator(
          {
            store,
            clock: { now: () => new Date(T0) },
            logger: { warn: () => undefined, info: () => undefined },
            instanceId: `instance-${index}`,
          },
          { minPauseMs: 1_000, probeLeaseMs: 30_000, cacheMs: 0, limits: { maxTenants: 10, idleMs: 60_000 } },
        ),
    );
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
    const pauses = new PauseCoordinator(
      {
        store,
        clock: { now: () => new Date(clock.nowMs) },
        logger: { warn: (message) => warnings.push(message), info: (message) => infos.push(message) },
        instanceId: 'instance-1',
      },
      { minPauseMs: 1_000, probeLeaseMs: 30_000, cacheMs: 100, limits: { maxTenants: 10, idleMs: 60_000 } },
    );
    for (let step = 0; step < 10; step += 1) {
      clock.nowMs += 150;
      expect(await pauses.check(TENANT)).toEqual({ paused: false, probe: 'none' });
      await pauses.settle(TENANT, { outage: undefined, delivered: true }, { paused: false, probe: 'none' });
    }
    expect(warnings).toEqual([
      'The shared pause store cannot be used: this instance keeps its own pauses until it answers again.',
    ]);
    store.failure = undefined;
    clock.nowMs += 150;
    await pauses.check(TENANT);
    expect(infos).toHaveLength(1);
  });
});
