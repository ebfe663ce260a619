import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { TableSharedPauseStore } from '../../src/adapters/sharedPauseStore';
import { openTable } from '../../src/adapters/tableStorage';
import { ConcurrencyConflictError } from '../../src/domain/errors';
import {
  LISTED_PAUSES_AT_MOST,
  PauseCoordinator,
  type OutageFailure,
  type SharedPause,
} from '../../src/domain/sharedPauses';

/** Pauses shared by forwarder instances, against Azurite: ETag-guarded writes and one probe at a time. */

const settings = { kind: 'connectionString' as const, connectionString: inject('azuriteConnectionString') };
const noCredential = (): never => {
  throw new Error('connection-string tables need no credential');
};
const T0 = Date.parse('2026-12-03T12:00:00.000Z');
const signal = () => AbortSignal.timeout(10_000);
const OUTAGE: OutageFailure = { kind: 'unavailable', status: 503, message: 'Service Unavailable' };

function freshTable(): string {
  return `Pauses${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

function store(table: string): TableSharedPauseStore {
  return new TableSharedPauseStore(openTable(settings, table, noCredential));
}

class Instance {
  readonly warnings: string[] = [];
  readonly pauses: PauseCoordinator;
  constructor(
    readonly clock: { nowMs: number },
    pauseStore: TableSharedPauseStore | undefined,
    storeTimeoutMs = 10_000,
  ) {
    this.pauses = new PauseCoordinator(
      {
        ...(pauseStore ? { store: pauseStore } : {}),
        clock: { now: () => new Date(clock.nowMs) },
        logger: { warn: (message) => this.warnings.push(message), info: () => undefined },
        instanceId: randomUUID(),
      },
      {
        minPauseMs: 1_000,
        maxPauseMs: 300_000,
        probeLeaseMs: 30_000,
        cacheMs: 500,
        storeTimeoutMs,
        limits: { maxTenants: 100, idleMs: 3_600_000 },
      },
    );
  }
}

describe('TableSharedPauseStore', () => {
  it('creates once, replaces only the version read, and deletes only the version read', async () => {
    const pauses = store(freshTable());
    const tenantId = randomUUID();
    const pause: SharedPause = { tenantId, untilMs: T0 + 5_000, failure: { ...OUTAGE, retryAfterMs: 5_000 } };
    const first = await pauses.put(pause, undefined, signal());
    await expect(pauses.put(pause, undefined, signal())).rejects.toBeInstanceOf(ConcurrencyConflictError);
    expect(await pauses.get(tenantId, signal())).toEqual({ value: pause, etag: first });

    const claimed: SharedPause = { ...pause, probe: { holder: 'instance-a', untilMs: T0 + 35_000 } };
    const second = await pauses.put(claimed, first, signal());
    // A second claim on the version both read loses: this is what keeps probes to one at a time.
    await expect(
      pauses.put({ ...pause, probe: { holder: 'instance-b', untilMs: T0 + 35_000 } }, first, signal()),
    ).rejects.toBeInstanceOf(ConcurrencyConflictError);
    expect(await pauses.list(10, signal())).toEqual({
      pauses: [{ value: claimed, etag: second }],
      complete: true,
    });

    await expect(pauses.remove(tenantId, first, signal())).rejects.toBeInstanceOf(ConcurrencyConflictError);
    await pauses.remove(tenantId, second, signal());
    expect(await pauses.get(tenantId, signal())).toBeUndefined();
    // Gone already (another instance's delivery ended it): fine; replacing it is a conflict.
    await pauses.remove(tenantId, second, signal());
    await expect(pauses.put(pause, second, signal())).rejects.toBeInstanceOf(ConcurrencyConflictError);
  });

  it('lists only pauses, not the connections that share the table', async () => {
    const table = freshTable();
    const client = await openTable(settings, table, noCredential).get();
    await client.createEntity({ partitionKey: randomUUID(), rowKey: 'connection', state: 'active' });
    const pauses = store(table);
    const tenantId = randomUUID();
    await pauses.put({ tenantId, untilMs: T0, failure: OUTAGE }, undefined, signal());
    expect((await pauses.list(10, signal())).pauses.map((row) => row.value.tenantId)).toEqual([tenantId]);
  });
  it('lists at most the rows asked for, in one page, and says whether more remain', async () => {
    const pauses = store(freshTable());
    const tenantIds = Array.from({ length: 5 }, () => randomUUID()).sort();
    for (const tenantId of tenantIds) {
      await pauses.put({ tenantId, untilMs: T0, failure: OUTAGE }, undefined, signal());
    }
    const first = await pauses.list(3, signal());
    expect(first.pauses.map((row) => row.value.tenantId)).toEqual(tenantIds.slice(0, 3));
    expect(first.complete).toBe(false);
    expect(await pauses.list(5, signal())).toMatchObject({ complete: true });
    expect((await pauses.list(5, signal())).pauses).toHaveLength(5);
  });
});

describe('PauseCoordinator shared through Table Storage', () => {
  it('pauses every instance after one failed, and lets exactly one of them probe when it runs out', async () => {
    const table = freshTable();
    const clock = { nowMs: T0 };
    const instances = Array.from({ length: 3 }, () => new Instance(clock, store(table)));
    const [a, b, c] = instances as [Instance, Instance, Instance];
    const tenantId = randomUUID();

    // All three read the store (nothing paused) and upload.
    for (const instance of instances)
      expect(await instance.pauses.check(tenantId)).toMatchObject({ paused: false });
    await a.pauses.settle(tenantId, { outage: OUTAGE, delivered: false }, { paused: false, probe: 'none' });

    // Within the staleness b still uses its earlier read; after it, b and c see a's pause.
    clock.nowMs += 600;
    for (const instance of [b, c]) {
      expect(await instance.pauses.check(tenantId)).toMatchObject({ paused: true, untilMs: T0 + 1_000 });
    }

    clock.nowMs = T0 + 1_100;
    const decisions = await Promise.all(instances.map((instance) => instance.pauses.check(tenantId)));
    const probes = decisions.filter((decision) => !decision.paused);
    expect(probes).toEqual([{ paused: false, probe: 'shared' }]);
    const prober = instances[decisions.findIndex((decision) => !decision.paused)]!;

    // The probe fails too: a new pause, and nobody probes before it runs out.
    await prober.pauses.settle(tenantId, { outage: OUTAGE, delivered: false }, probes[0]!);
    clock.nowMs += 600;
    for (const instance of instances)
      expect(await instance.pauses.check(tenantId)).toMatchObject({ paused: true });

    // The next probe delivers: the pause is gone for everyone.
    clock.nowMs += 1_000;
    const next = await Promise.all(instances.map((instance) => instance.pauses.check(tenantId)));
    expect(next.filter((decision) => !decision.paused)).toHaveLength(1);
    const winner = instances[next.findIndex((decision) => !decision.paused)]!;
    await winner.pauses.settle(
      tenantId,
      { outage: undefined, delivered: true },
      next[next.findIndex((d) => !d.paused)]!,
    );
    expect(await store(table).get(tenantId, signal())).toBeUndefined();
    clock.nowMs += 600;
    for (const instance of instances)
      expect(await instance.pauses.check(tenantId)).toEqual({ paused: false, probe: 'none' });
  });

  it('hands the probe back when it learned nothing, so the next batch may probe', async () => {
    const table = freshTable();
    const clock = { nowMs: T0 };
    const [a, b] = [new Instance(clock, store(table)), new Instance(clock, store(table))];
    const tenantId = randomUUID();
    await a.pauses.settle(tenantId, { outage: OUTAGE, delivered: false }, { paused: false, probe: 'none' });
    clock.nowMs += 1_100;
    const claim = await a.pauses.check(tenantId);
    expect(claim).toEqual({ paused: false, probe: 'shared' });
    expect(await b.pauses.check(tenantId)).toMatchObject({ paused: true, probing: true });
    await a.pauses.settle(tenantId, { outage: undefined, delivered: false }, claim);
    clock.nowMs += 600;
    expect(await b.pauses.check(tenantId)).toEqual({ paused: false, probe: 'shared' });
  });

  it('keeps the longer pause when two instances fail at once (Retry-After)', async () => {
    const table = freshTable();
    const clock = { nowMs: T0 };
    const [a, b] = [new Instance(clock, store(table)), new Instance(clock, store(table))];
    const tenantId = randomUUID();
    for (const instance of [a, b]) await instance.pauses.check(tenantId);
    await Promise.all([
      a.pauses.settle(
        tenantId,
        { outage: { ...OUTAGE, kind: 'throttled', status: 429, retryAfterMs: 20_000 }, delivered: false },
        { paused: false, probe: 'none' },
      ),
      b.pauses.settle(tenantId, { outage: OUTAGE, delivered: false }, { paused: false, probe: 'none' }),
    ]);
    expect((await store(table).get(tenantId, signal()))?.value).toMatchObject({
      untilMs: T0 + 20_000,
      failure: { kind: 'throttled', status: 429 },
    });
  });

  it("ends a delivering probe's pause even after this instance lost a claim on another tenant", async () => {
    const table = freshTable();
    const clock = { nowMs: T0 };
    const writer = new Instance(clock, store(table));
    const [t1, t2] = [randomUUID(), randomUUID()];
    for (const tenantId of [t1, t2]) {
      await writer.pauses.settle(
        tenantId,
        { outage: OUTAGE, delivered: false },
        { paused: false, probe: 'none' },
      );
    }
    clock.nowMs += 1_100;
    const [a, b] = [new Instance(clock, store(table)), new Instance(clock, store(table))];
    const probe = await a.pauses.check(t1);
    expect(probe).toEqual({ paused: false, probe: 'shared' });
    expect(await b.pauses.check(t2)).toEqual({ paused: false, probe: 'shared' });
    // a's read shows t2 unclaimed: its claim loses to b's (412 from the table).
    expect(await a.pauses.check(t2)).toMatchObject({ paused: true, probing: true });
    await a.pauses.settle(t1, { outage: undefined, delivered: true }, probe);
    // Before the fix the row kept a's claim for the whole lease, pausing a healthy tenant everywhere.
    expect(await store(table).get(t1, signal())).toBeUndefined();
    expect((await store(table).get(t2, signal()))?.value.probe).toBeDefined();
  });

  it('falls back to its own pauses when Table Storage does not answer, and says so once', async () => {
    const clock = { nowMs: T0 };
    const unreachable = new TableSharedPauseStore(
      openTable(
        {
          kind: 'connectionString',
          // A loopback port nothing listens on (the discard port).
          connectionString: settings.connectionString.replace(
            /TableEndpoint=http:\/\/[^/]+/,
            'TableEndpoint=http://127.0.0.1:9',
          ),
        },
        freshTable(),
        noCredential,
      ),
    );
    const instance = new Instance(clock, unreachable, 1_000);
    const tenantId = randomUUID();
    expect(await instance.pauses.check(tenantId)).toEqual({ paused: false, probe: 'none' });
    await instance.pauses.settle(
      tenantId,
      { outage: OUTAGE, delivered: false },
      { paused: false, probe: 'none' },
    );
    expect(await instance.pauses.check(tenantId)).toMatchObject({ paused: true, untilMs: T0 + 1_000 });
    clock.nowMs += 1_100;
    // Its own pause ran out: one local probe, the next batch waits for it.
    expect(await instance.pauses.check(tenantId)).toEqual({ paused: false, probe: 'local' });
    expect(await instance.pauses.check(tenantId)).toMatchObject({ paused: true, probing: true });
    expect(instance.warnings).toHaveLength(1);
    expect(instance.warnings[0]).toMatch(/keeps its own pauses/);
  });

  it('in a wide outage reads the batch tenants by themselves, and still sees every pause', async () => {
    const table = freshTable();
    const pauses = store(table);
    const clock = { nowMs: T0 };
    // More pauses than one listing asks for: the last of them is not on the first page.
    const paused = Array.from({ length: LISTED_PAUSES_AT_MOST + 2 }, () => randomUUID()).sort();
    await Promise.all(
      paused.map((tenantId) =>
        pauses.put({ tenantId, untilMs: T0 + 60_000, failure: OUTAGE }, undefined, signal()),
      ),
    );
    const instance = new Instance(clock, store(table));
    expect(await instance.pauses.check(paused.at(-1)!)).toMatchObject({ paused: true, untilMs: T0 + 60_000 });
    expect(await instance.pauses.check(paused[0]!)).toMatchObject({ paused: true });
    expect(await instance.pauses.check(randomUUID())).toEqual({ paused: false, probe: 'none' });
  });
});
