import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { TableDeliveryRecordStore } from '../../src/adapters/deliveryRecordStore';
import { openTable } from '../../src/adapters/tableStorage';
import type { DeliveryRecorder } from '../../src/domain/exportHealth/deliveryRecorder';
import { windowContaining } from '../../src/domain/exportHealth/windows';
import { Forwarder, SettlementError } from '../../src/domain/forwarder';
import { CA_TABLE, CERTIFICATE_TABLE } from '../../src/domain/tableSchema';
import {
  auditEvent,
  forwarderFakes,
  received,
  savedConnection,
  FORWARDER_TEST_SETTINGS,
} from '../support/forwarderFixtures';

/**
 * The forwarder's side of export health through the real path: Forwarder
 * instances (each with its own delivered-id cache, as separate hosts have)
 * recording into one Table Storage delivery record table on Azurite.
 */
const settings = { kind: 'connectionString' as const, connectionString: inject('azuriteConnectionString') };
const noCredential = (): never => {
  throw new Error('connection-string tables need no credential');
};
const INTERVAL = 15;

function world() {
  const fakes = forwarderFakes();
  const table = openTable(settings, `fwdrec${randomUUID().replace(/-/g, '').slice(0, 12)}`, noCredential);
  const stores = [0, 1, 2].map(() => new TableDeliveryRecordStore(table, INTERVAL));
  const instances = stores.map(
    (deliveries) =>
      new Forwarder(
        {
          connections: fakes.connections,
          parked: fakes.parked,
          ingestion: fakes.sink,
          queue: fakes.queue,
          clock: fakes.clock,
          random: () => 1,
          deliveries,
        },
        FORWARDER_TEST_SETTINGS,
      ),
  );
  const run = (instance: Forwarder, messages: Parameters<Forwarder['forwardBatch']>[0]) =>
    instance.forwardBatch(messages, { invocationId: randomUUID(), logger: fakes.logger });
  return { ...fakes, stores, instances, run };
}

describe('forwarder records deliveries for export health (Azurite)', () => {
  it('counts distinct ids with concurrent batches on three instances, redeliveries, a late delivery, parks and retries', async () => {
    const w = world();
    const tenant = randomUUID();
    const other = randomUUID();
    await w.connections.create(savedConnection(tenant));
    await w.connections.create(savedConnection(other));
    const windowAt = new Date('2026-12-03T10:01:00Z');
    w.clock.set(windowAt);
    const window = windowContaining(windowAt, INTERVAL);

    const certs = Array.from({ length: 60 }, () => auditEvent(tenant));
    const cas = Array.from({ length: 12 }, () => auditEvent(tenant, { eventId: 12 }));
    const all = [...certs, ...cas];
    // Ten batches of ~7 events run at once, spread over the three instances.
    const batches = Array.from({ length: 10 }, (_, n) => all.slice(n * 8, n * 8 + 8));
    const outcomes = await Promise.all(
      batches.map((batch, n) =>
        w.run(
          w.instances[n % 3]!,
          batch.map((event) => received(event)),
        ),
      ),
    );
    expect(outcomes.reduce((total, outcome) => total + outcome.delivered, 0)).toBe(all.length);

    // Redeliveries: the same messages come back to other instances (their caches never saw them),
    // so the workspace gets second copies; the health rows must count distinct ids.
    await Promise.all([
      w.run(
        w.instances[1]!,
        batches[0]!.map((event) => received(event)),
      ),
      w.run(
        w.instances[2]!,
        batches[1]!.map((event) => received(event)),
      ),
    ]);
    // A days-late event (its own time long past) delivered now counts in this window.
    const late = auditEvent(tenant, { time: '2026-11-20T08:00:00.000Z' });
    w.clock.set(new Date(window.end.getTime() - 1000));
    await w.run(w.instances[0]!, [received(late)]);

    // The other tenant's workspace refuses for now: re-enqueued, not delivered; an unreadable
    // message naming it is parked.
    w.sink.faults.set(other, { kind: 'unavailable' });
    const refused = [auditEvent(other), auditEvent(other)];
    await w.run(w.instances[2]!, [
      ...refused.map((event) => received(event)),
      received({ tenantId: other, not: 'an audit event' }),
    ]);

    const read = await w.stores[0]!.readUpTo(tenant, window);
    const deliveries = read.windows.get(window.start.toISOString());
    expect(deliveries?.delivered[CERTIFICATE_TABLE]).toEqual(
      new Set([...certs, late].map((event) => event.id.toLowerCase())),
    );
    expect(deliveries?.delivered[CA_TABLE]).toEqual(new Set(cas.map((event) => event.id.toLowerCase())));
    expect(deliveries?.parked).toBe(0);
    expect(deliveries?.reenqueued).toBe(0);
    // The workspace really holds duplicates of the redelivered ids: counts are of ids, not rows.
    expect(w.sink.deliveredRecords().filter((record) => record.tenantId === tenant).length).toBe(
      all.length + batches[0]!.length + batches[1]!.length + 1,
    );

    const otherRead = await w.stores[1]!.readUpTo(other, window);
    const otherWindow = otherRead.windows.get(window.start.toISOString());
    expect(otherWindow?.delivered[CERTIFICATE_TABLE].size).toBe(0);
    expect(otherWindow?.reenqueued).toBe(2);
    expect(otherWindow?.parked).toBe(1);
  });

  it('lists what the workspace accepted even when settlement fails and the batch comes back', async () => {
    const w = world();
    const tenant = randomUUID();
    const failing = randomUUID();
    await w.connections.create(savedConnection(tenant));
    await w.connections.create(savedConnection(failing));
    w.clock.set(new Date('2026-12-03T11:05:00Z'));
    const window = windowContaining(w.clock.now(), INTERVAL);
    w.sink.faults.set(failing, { kind: 'unavailable' });
    w.queue.failWith = new Error('Service Bus unreachable');
    const delivered = auditEvent(tenant);

    await expect(
      w.run(w.instances[0]!, [received(delivered), received(auditEvent(failing))]),
    ).rejects.toBeInstanceOf(SettlementError);

    const read = await w.stores[0]!.readUpTo(tenant, window);
    expect(read.windows.get(window.start.toISOString())?.delivered[CERTIFICATE_TABLE]).toEqual(
      new Set([delivered.id.toLowerCase()]),
    );
    // Nothing was re-enqueued after all: no count claims it was.
    const failed = await w.stores[0]!.readUpTo(failing, window);
    expect(failed.windows.size).toBe(0);
  });

  it('delivers and logs when recording fails: export health never fails delivery', async () => {
    const fakes = forwarderFakes();
    const tenant = randomUUID();
    await fakes.connections.create(savedConnection(tenant));
    const broken: DeliveryRecorder = {
      record: () => Promise.reject(new Error('Table Storage unreachable')),
    };
    const forwarder = new Forwarder(
      { ...fakes, ingestion: fakes.sink, random: () => 1, deliveries: broken },
      FORWARDER_TEST_SETTINGS,
    );
    const event = auditEvent(tenant);
    const outcome = await forwarder.forwardBatch([received(event)], {
      invocationId: 'inv',
      logger: fakes.logger,
    });
    expect(outcome.delivered).toBe(1);
    expect(fakes.sink.deliveredRecords().map((record) => record.recordId)).toEqual([event.id]);
    expect(
      fakes.logger.lines.some(
        (entry) =>
          entry.level === 'error' &&
          entry.message.includes('could not record deliveries') &&
          JSON.stringify(entry.fields).includes('Table Storage unreachable'),
      ),
    ).toBe(true);
  });
});
