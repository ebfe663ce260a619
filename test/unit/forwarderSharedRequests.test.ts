import { InvocationContext } from '@azure/functions';
import { beforeEach, describe, expect, it } from 'vitest';
import { contextLogger } from '../../src/contextLogger';
import { Forwarder, type ReceivedAuditMessage } from '../../src/domain/forwarder';
import type { IngestionSink, TenantConnectionStore } from '../../src/domain/ports';
import { CA_TABLE, CERTIFICATE_TABLE } from '../../src/domain/tableSchema';
import type { TenantConnection, Versioned } from '../../src/domain/tenantConnection';
import { UploadCoalescer } from '../../src/domain/uploadCoalescer';
import {
  auditEvent,
  forwarderFakes,
  FORWARDER_TEST_SETTINGS,
  received,
  savedConnection,
  type ForwarderFakes,
} from '../support/forwarderFixtures';

/**
 * Request sharing across the batches one instance runs at once (group commit,
 * UploadCoalescer), through the Forwarder: batches handed over together share
 * their first requests, a batch alone is not held back, and a batch whose
 * intake fails releases the requests waiting for it. The share wait is a
 * minute here, far past the test timeout: only the intake signals release a
 * waiting request, never the timer.
 */

const TENANT_A = '11111111-1111-4111-8111-111111111111';
const TENANT_B = '22222222-2222-4222-8222-222222222222';
const NEVER_BY_TIMER_MS = 60_000;

let fakes: ForwarderFakes;

beforeEach(async () => {
  fakes = forwarderFakes();
  await fakes.connections.create(savedConnection(TENANT_A));
  await fakes.connections.create(savedConnection(TENANT_B));
});

function forwarderWith(connections: TenantConnectionStore = fakes.connections): Forwarder {
  return new Forwarder(
    {
      connections,
      parked: fakes.parked,
      ingestion: new UploadCoalescer(fakes.sink, undefined, NEVER_BY_TIMER_MS),
      queue: fakes.queue,
      clock: fakes.clock,
      random: () => 1,
    },
    FORWARDER_TEST_SETTINGS,
  );
}

/** Runs a batch as the handler does: a real InvocationContext, its lines through contextLogger. */
function forward(forwarder: Forwarder, messages: ReceivedAuditMessage[], invocationId: string) {
  const context = new InvocationContext({
    invocationId,
    functionName: 'forwardAuditEvents',
    logHandler: () => undefined,
  });
  return forwarder.forwardBatch(messages, { invocationId, logger: contextLogger(context) });
}

/** One turn of the event loop: every promise chain that can run has run. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A batch with both tables' events for each tenant. */
function batchFor(...tenants: string[]): ReceivedAuditMessage[] {
  return tenants.flatMap((tenantId) => [
    received(auditEvent(tenantId)),
    received(auditEvent(tenantId)),
    received(auditEvent(tenantId, { eventId: 12 })),
  ]);
}

/** A connection store whose reads of one tenant wait until the test lets them go. */
function heldStore(tenantId: string, answer: () => Promise<Versioned<TenantConnection> | undefined>) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const inner = fakes.connections;
  const store: TenantConnectionStore = {
    get: async (id) => {
      if (id !== tenantId) return inner.get(id);
      await released;
      return answer();
    },
    create: (connection) => inner.create(connection),
    replace: (connection, etag) => inner.replace(connection, etag),
    listPendingTests: () => inner.listPendingTests(),
    listSaved: () => inner.listSaved(),
  };
  return { store, release };
}

describe('Forwarder: requests shared by batches handed over together', () => {
  it('sends one request per tenant and table for four batches that arrive together', async () => {
    const forwarder = forwarderWith();
    const batches = [1, 2, 3, 4].map(() => batchFor(TENANT_A, TENANT_B));
    const outcomes = await Promise.all(
      batches.map((batch, index) => forward(forwarder, batch, `inv-${index}`)),
    );

    expect(outcomes.map((outcome) => outcome.delivered)).toEqual([6, 6, 6, 6]);
    // Two tenants, two tables: four requests, each holding the rows of all four batches.
    expect(fakes.sink.calls).toBe(4);
    for (const upload of fakes.sink.delivered) expect(upload.rows.length).toBeGreaterThanOrEqual(4);
    const streams = fakes.sink.delivered.map((upload) => `${upload.tenantId} ${upload.stream}`).sort();
    expect(streams).toEqual(
      [TENANT_A, TENANT_B].flatMap((tenant) => [
        `${tenant} Custom-${CA_TABLE}`,
        `${tenant} Custom-${CERTIFICATE_TABLE}`,
      ]),
    );
    expect(fakes.sink.deliveredRecords()).toHaveLength(24);
  });

  it("shares a tenant's request among batches whose uploads wait for upload slots (rows join their lane at hand-over)", async () => {
    // More tenants than a batch has upload slots (4): a batch reaches most tenants only after others
    // finished, at a different moment than its companions; the request that goes first carries them all.
    const tenants = Array.from(
      { length: 12 },
      (_, index) => `33333333-3333-4333-8333-${String(index).padStart(12, '0')}`,
    );
    for (const tenantId of tenants) await fakes.connections.create(savedConnection(tenantId));
    const forwarder = forwarderWith();
    const outcomes = await Promise.all(
      [1, 2, 3, 4].map((round) =>
        forward(
          forwarder,
          tenants.map((tenantId) => received(auditEvent(tenantId))),
          `inv-${round}`,
        ),
      ),
    );
    expect(outcomes.map((outcome) => outcome.delivered)).toEqual([12, 12, 12, 12]);
    expect(fakes.sink.deliveredRecords()).toHaveLength(48);
    // One request per tenant, with the row of each of the four batches.
    expect(fakes.sink.calls).toBe(12);
    for (const upload of fakes.sink.delivered) expect(upload.rows).toHaveLength(4);
  });

  it('counts rows another batch delivered for it as delivered when its own time ran out before its slot', async () => {
    // Batch 2's four upload slots hang on tenants whose workspace never answers; its row for tenant A
    // rides batch 1's request, which succeeds. Then batch 2's time runs out before a slot frees.
    const hanging = Array.from(
      { length: 4 },
      (_, index) => `44444444-4444-4444-8444-${String(index).padStart(12, '0')}`,
    );
    for (const tenantId of hanging) {
      await fakes.connections.create(savedConnection(tenantId));
      fakes.sink.faults.set(tenantId, { kind: 'hang' });
    }
    const forwarder = forwarderWith();
    const shutdown = new AbortController();
    const context = new InvocationContext({ invocationId: 'inv-2', functionName: 'forwardAuditEvents' });
    const second = forwarder.forwardBatch(
      [...hanging.map((tenantId) => received(auditEvent(tenantId))), received(auditEvent(TENANT_A))],
      { invocationId: 'inv-2', logger: contextLogger(context), signal: shutdown.signal },
    );
    const first = await forward(forwarder, [received(auditEvent(TENANT_A))], 'inv-1');
    expect(first.delivered).toBe(1);
    const ofA = fakes.sink.delivered.filter((upload) => upload.tenantId === TENANT_A);
    expect(ofA.map((upload) => upload.rows.length)).toEqual([2]);

    shutdown.abort();
    const outcome = await second;
    // Delivered by batch 1's request: counted, not retried (a copy in the workspace) nor parked.
    expect(outcome.tenants.find((tenant) => tenant.tenantId === TENANT_A)).toMatchObject({
      delivered: 1,
      retried: 0,
    });
    expect(outcome.retried).toBe(4);
    expect(fakes.sink.deliveredRecords()).toHaveLength(2);
  });

  it("sends its rows itself when the request carrying them was cut off for another batch's time, not its own", async () => {
    // Batch 2's slots wait on four tenants' uploads until the test lets them go; its row for tenant A
    // rides batch 1's request, which hangs until batch 1's time runs out.
    const hanging = Array.from(
      { length: 4 },
      (_, index) => `55555555-5555-4555-8555-${String(index).padStart(12, '0')}`,
    );
    for (const tenantId of hanging) await fakes.connections.create(savedConnection(tenantId));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const gated: IngestionSink = {
      upload: async (tenantId, target, stream, rows, signal) => {
        if (hanging.includes(tenantId)) await gate;
        return fakes.sink.upload(tenantId, target, stream, rows, signal);
      },
    };
    let callsOfA = 0;
    fakes.sink.faults.set(TENANT_A, () => (++callsOfA === 1 ? { kind: 'hang' } : undefined));
    const forwarder = new Forwarder(
      {
        connections: fakes.connections,
        parked: fakes.parked,
        ingestion: new UploadCoalescer(gated, undefined, NEVER_BY_TIMER_MS),
        queue: fakes.queue,
        clock: fakes.clock,
        random: () => 1,
      },
      FORWARDER_TEST_SETTINGS,
    );
    const shutdown = new AbortController();
    const context = new InvocationContext({ invocationId: 'inv-1', functionName: 'forwardAuditEvents' });
    const first = forwarder.forwardBatch([received(auditEvent(TENANT_A))], {
      invocationId: 'inv-1',
      logger: contextLogger(context),
      signal: shutdown.signal,
    });
    // Batch 2 arrives later and reads tenant A itself (a read started before it arrived is not shared),
    // so it reaches tenant A after its four other tenants, as their uploads hold its slots.
    await nextTurn();
    fakes.clock.advance(1);
    const second = forward(
      forwarder,
      [...hanging.map((tenantId) => received(auditEvent(tenantId))), received(auditEvent(TENANT_A))],
      'inv-2',
    );
    while (callsOfA === 0) await nextTurn();
    shutdown.abort();
    expect((await first).retried).toBe(1);

    release();
    const outcome = await second;
    // Batch 2's time has not run out and tenant A never failed: no outage, its row delivered.
    expect(outcome.tenants.find((tenant) => tenant.tenantId === TENANT_A)).toMatchObject({
      delivered: 1,
      retried: 0,
    });
    expect(outcome.delivered).toBe(5);
  });

  it('holds a request only while another batch is being taken apart, then sends it with that batch rows', async () => {
    // Batch 2 reads tenant B's connection slowly: its intake is not over, so batch 1's request waits.
    const { store, release } = heldStore(TENANT_B, () => fakes.connections.get(TENANT_B));
    const forwarder = forwarderWith(store);
    const first = forward(forwarder, batchFor(TENANT_A), 'inv-1');
    const second = forward(forwarder, batchFor(TENANT_A, TENANT_B), 'inv-2');
    await nextTurn();
    expect(fakes.sink.calls).toBe(0);

    release();
    const outcomes = await Promise.all([first, second]);
    expect(outcomes.map((outcome) => outcome.delivered)).toEqual([3, 6]);
    // Tenant A's rows of both batches in one request per table; tenant B's alone.
    expect(fakes.sink.calls).toBe(4);
    const ofA = fakes.sink.delivered.filter((upload) => upload.tenantId === TENANT_A);
    expect(ofA.map((upload) => upload.rows.length).sort()).toEqual([2, 4]);
  });

  it('does not hold back a batch alone, nor one whose companions finished their intake', async () => {
    const forwarder = forwarderWith();
    const alone = forward(forwarder, batchFor(TENANT_A), 'inv-alone');
    // No other intake under way: its requests are out before the next turn of the event loop.
    await Promise.resolve();
    await nextTurn();
    expect(fakes.sink.calls).toBe(2);
    await alone;

    // Batches started one after the other, each after the last finished: a request each.
    await forward(forwarder, batchFor(TENANT_B), 'inv-next');
    expect(fakes.sink.calls).toBe(4);
  });

  it('releases the requests waiting for a batch whose intake throws', async () => {
    // Tenant B's connection comes back corrupted: reading its state throws (a bug, not a store outage).
    const corrupted = (): Promise<Versioned<TenantConnection>> =>
      Promise.resolve({
        etag: 'W/"1"',
        get value(): TenantConnection {
          throw new Error('corrupted connection entity');
        },
      });
    const { store, release } = heldStore(TENANT_B, corrupted);
    const forwarder = forwarderWith(store);
    const first = forward(forwarder, batchFor(TENANT_A), 'inv-1');
    const failing = forward(forwarder, batchFor(TENANT_B), 'inv-2');
    await nextTurn();
    expect(fakes.sink.calls).toBe(0);

    release();
    await expect(failing).rejects.toThrow('corrupted connection entity');
    const outcome = await first;
    expect(outcome.delivered).toBe(3);
    expect(fakes.sink.calls).toBe(2);
  });
});
