import { describe, expect, it } from 'vitest';
import { CONNECTION_READS_IN_FLIGHT, ConnectionCache } from '../../src/domain/forwarder/connectionCache';
import type { TenantConnectionStore } from '../../src/domain/ports';
import type { TenantConnection, Versioned } from '../../src/domain/tenantConnection';
import { FakeClock } from '../support/fakes';
import { savedConnection } from '../support/forwarderFixtures';

const tenant = (index: number): string => `44444444-4444-4444-8444-${String(index).padStart(12, '0')}`;

/** A store whose reads stay open until the test answers them: what runs at once is observed, not timed. */
function heldStore() {
  const held: Array<{ tenantId: string; answer: () => void }> = [];
  const store: Pick<TenantConnectionStore, 'get'> = {
    get: (tenantId) =>
      new Promise<Versioned<TenantConnection> | undefined>((resolve) => {
        // Each read sees the version current when it was made: W/"1", W/"2", ...
        const etag = `W/"${held.length + 1}"`;
        held.push({
          tenantId,
          answer: () => resolve({ etag, value: savedConnection(tenantId) }),
        });
      }),
  };
  return { store: store as TenantConnectionStore, held };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const limits = { maxTenants: 100_000, idleMs: 60_000 };

describe('ConnectionCache reads', () => {
  it('shares one read among batches received before it started, and reads again for a batch received after', async () => {
    const clock = new FakeClock();
    const { store, held } = heldStore();
    const cache = new ConnectionCache(store, clock, { connectionCacheMs: 30_000 }, limits);
    const receivedAt = clock.now().getTime();
    const first = cache.lookup(tenant(1), receivedAt);
    const second = cache.lookup(tenant(1), receivedAt);
    await settle();
    expect(held).toHaveLength(1);

    // A batch received after that read started may follow a save the read did not see.
    clock.advance(1);
    const later = cache.lookup(tenant(1), clock.now().getTime());
    await settle();
    expect(held).toHaveLength(2);
    for (const read of held) read.answer();
    const results = await Promise.all([first, second, later]);
    expect(results.map((entry) => entry?.value.tenantId)).toEqual([tenant(1), tenant(1), tenant(1)]);
  });

  it('keeps the newer of two reads that answer out of order', async () => {
    const clock = new FakeClock();
    const { store, held } = heldStore();
    const cache = new ConnectionCache(store, clock, { connectionCacheMs: 30_000 }, limits);
    const older = cache.lookup(tenant(1), clock.now().getTime());
    await settle();
    clock.advance(1);
    const newer = cache.lookup(tenant(1), clock.now().getTime());
    await settle();
    held[1]?.answer();
    held[0]?.answer();
    expect((await newer)?.etag).toBe('W/"2"');
    expect((await older)?.etag).toBe('W/"1"');
    // Served from the cache now: the newer read's version, not the one that answered last.
    expect((await cache.lookup(tenant(1), clock.now().getTime()))?.etag).toBe('W/"2"');
    expect(held).toHaveLength(2);
  });

  it(`has at most ${CONNECTION_READS_IN_FLIGHT} reads under way; the others start as reads finish`, async () => {
    const clock = new FakeClock();
    const { store, held } = heldStore();
    const cache = new ConnectionCache(store, clock, { connectionCacheMs: 30_000 }, limits);
    const receivedAt = clock.now().getTime();
    const count = CONNECTION_READS_IN_FLIGHT + 10;
    const lookups = Array.from({ length: count }, (_, index) => cache.lookup(tenant(index), receivedAt));
    await settle();
    expect(held).toHaveLength(CONNECTION_READS_IN_FLIGHT);
    held[0]?.answer();
    await settle();
    expect(held).toHaveLength(CONNECTION_READS_IN_FLIGHT + 1);
    for (let index = 1; index < count; index += 1) {
      await settle();
      held[index]?.answer();
    }
    expect(await Promise.all(lookups)).toHaveLength(count);
  });
});
