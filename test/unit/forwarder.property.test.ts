import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Forwarder, type ReceivedAuditMessage } from '../../src/domain/forwarder';
import type { ParkCategory } from '../../src/domain/ports';
import { UploadCoalescer } from '../../src/domain/uploadCoalescer';
import type { Fault } from '../support/fakeIngestion';
import {
  auditEvent,
  forwarderFakes,
  received,
  savedConnection,
  targetFor,
} from '../support/forwarderFixtures';

/**
 * Random batches of tenants, events and faults, run to quiescence: copies the
 * forwarder schedules come back when their time is due, as the queue would
 * deliver them. Whatever happens, every event ends delivered exactly once to
 * its own tenant's workspace, or parked, or (export off) skipped, never lost,
 * never sent anywhere else.
 */

type TenantSetup = 'active' | 'degraded' | 'freshlyProvisioned' | 'suspended' | 'disabled' | 'none';

const faultArbitrary: fc.Arbitrary<Fault | undefined> = fc.oneof(
  fc.constant(undefined),
  fc
    .record({
      kind: fc.constant('throttled' as const),
      retryAfterMs: fc.option(fc.integer({ min: 1, max: 600_000 }), { nil: undefined }),
    })
    .map((fault) => (fault.retryAfterMs === undefined ? { kind: 'throttled' as const } : fault)),
  fc.constant({ kind: 'unavailable' as const }),
  fc.constant({ kind: 'forbidden' as const }),
  fc.constant({ kind: 'notFound' as const }),
  fc.constant({ kind: 'unauthenticated' as const }),
);

const scenarioArbitrary = fc.record({
  tenants: fc.array(
    fc.record({
      setup: fc.constantFrom<TenantSetup>(
        'active',
        'active',
        'degraded',
        'freshlyProvisioned',
        'suspended',
        'disabled',
        'none',
      ),
      /** Consumed one per upload call; after the list, the workspace answers 204. */
      faults: fc.array(faultArbitrary, { maxLength: 8 }),
    }),
    { minLength: 1, maxLength: 5 },
  ),
  events: fc.array(
    fc.record({
      tenant: fc.nat(),
      caEvent: fc.boolean(),
      refusedByService: fc.integer({ min: 0, max: 14 }).map((n) => n === 0),
      invalid: fc.integer({ min: 0, max: 14 }).map((n) => n === 0),
    }),
    { minLength: 1, maxLength: 60 },
  ),
  batchSize: fc.integer({ min: 1, max: 40 }),
  maxConcurrentUploads: fc.integer({ min: 1, max: 6 }),
  /** Batches the host runs at once; they share requests through the coalescer when it is on. */
  concurrentBatches: fc.integer({ min: 1, max: 3 }),
  coalesce: fc.boolean(),
});

type Scenario = typeof scenarioArbitrary extends fc.Arbitrary<infer T> ? T : never;

/**
 * Always run first: batches of one event, three at once, all for one tenant and
 * table: the first goes alone, the other two share a request, and in the first
 * round that request holds a record the service refuses next to a good one.
 */
const SHARED_REQUESTS_EXAMPLE: Scenario = {
  tenants: [{ setup: 'active', faults: [] }],
  events: Array.from({ length: 9 }, (_, index) => ({
    tenant: 0,
    caEvent: false,
    refusedByService: index === 2,
    invalid: false,
  })),
  batchSize: 1,
  maxConcurrentUploads: 4,
  concurrentBatches: 3,
  coalesce: true,
};

interface Scheduled {
  message: ReceivedAuditMessage;
  dueMs: number;
}

describe('Forwarder: property', () => {
  it('delivers every event exactly once to its own tenant, or parks or skips it; never loses one', async () => {
    // Requests that carried rows of more than one batch: the property must have exercised sharing.
    let sharedRequests = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary, async (scenario) => {
        const { clock, connections, parked, sink, queue, logger } = forwarderFakes();
        const batchOfRecord = new Map<string, string>();
        const upload = sink.upload.bind(sink);
        sink.upload = (tenantId, target, stream, rows, signal) => {
          const sources = new Set(rows.map((row) => batchOfRecord.get(String(row.EventRecordId_g))));
          if (sources.size > 1) sharedRequests += 1;
          // A request takes a turn of the event loop, as a real one does, so concurrent batches meet in it.
          return new Promise((resolve) => setImmediate(resolve)).then(() =>
            upload(tenantId, target, stream, rows, signal),
          );
        };
        const forwarder = new Forwarder(
          {
            connections,
            parked,
            ingestion: scenario.coalesce ? new UploadCoalescer(sink) : sink,
            queue,
            clock,
            random: () => 0.5,
          },
          {
            maxConcurrentUploads: scenario.maxConcurrentUploads,
            timeBudgetMs: 10_000,
            uploadTimeoutMs: 30_000,
            connectionCacheMs: 30_000,
            propagationWindowMs: 30 * 60_000,
            retryBudgetMs: 6 * 3_600_000,
            retryBaseDelayMs: 30_000,
            retryMaxDelayMs: 3_600_000,
          },
        );

        const tenantIds = scenario.tenants.map(() => randomUUID());
        const refusedByTenant = new Map<string, Set<string>>();
        const setups = new Map<string, TenantSetup>();
        for (const [index, tenant] of scenario.tenants.entries()) {
          const tenantId = tenantIds[index] as string;
          setups.set(tenantId, tenant.setup);
          const faults = [...tenant.faults];
          const refused = new Set<string>();
          sink.faults.set(tenantId, (rows) => {
            const next = faults.shift();
            if (next) return next;
            return rows.some((row) => refused.has(String(row.EventRecordId_g)))
              ? { kind: 'rejectRecords', recordIds: refused }
              : undefined;
          });
          refusedByTenant.set(tenantId, refused);
          if (tenant.setup === 'none') continue;
          const provisionedAt =
            tenant.setup === 'freshlyProvisioned'
              ? new Date(clock.now().getTime() - 60_000).toISOString()
              : '2026-10-01T00:00:00.000Z';
          const state = tenant.setup === 'freshlyProvisioned' ? 'active' : tenant.setup;
          await connections.create(savedConnection(tenantId, { state, provisionedAt }));
        }

        const expected = scenario.events.map((spec) => {
          const tenantId = tenantIds[spec.tenant % tenantIds.length] as string;
          const event = auditEvent(tenantId, { eventId: spec.caEvent ? 19 : 4870 });
          if (spec.refusedByService) refusedByTenant.get(tenantId)?.add(event.id);
          const body = spec.invalid ? { ...event, eventId: 4242 } : event;
          return { spec, tenantId, event, message: received(body) };
        });

        let pending: Scheduled[] = expected.map(({ message }) => ({ message, dueMs: clock.now().getTime() }));
        let skipped = 0;
        for (let round = 0; pending.length > 0; round += 1) {
          if (round > 2_000) throw new Error('did not settle');
          const nowMs = clock.now().getTime();
          const due = pending
            .filter((item) => item.dueMs <= nowMs)
            .slice(0, scenario.batchSize * scenario.concurrentBatches);
          if (due.length === 0) {
            clock.set(new Date(Math.min(...pending.map((item) => item.dueMs))));
            continue;
          }
          pending = pending.filter((item) => !due.includes(item));
          const sentBefore = queue.sent.length;
          // Dealt round-robin, so two due messages already make two batches running at once.
          const batches = Array.from({ length: scenario.concurrentBatches }, (_, index) =>
            due.filter((_item, position) => position % scenario.concurrentBatches === index),
          ).filter((batch) => batch.length > 0);
          for (const [index, batch] of batches.entries()) {
            for (const item of batch) {
              const id = (item.message.body as { id?: unknown }).id;
              batchOfRecord.set(String(id), `${round}-${index}`);
            }
          }
          const outcomes = await Promise.all(
            batches.map((batch, index) =>
              forwarder.forwardBatch(
                batch.map((item) => item.message),
                { invocationId: `round-${round}-${index}`, logger },
              ),
            ),
          );
          for (const [index, outcome] of outcomes.entries()) {
            expect(
              outcome.delivered + outcome.retried + outcome.parked + outcome.skipped + outcome.duplicates,
            ).toBe(batches[index]?.length);
            skipped += outcome.skipped;
          }
          for (const copy of queue.sent.slice(sentBefore)) {
            pending.push({
              message: received(JSON.parse(copy.body), copy.applicationProperties, copy.messageId),
              dueMs: copy.scheduledEnqueueTime?.getTime() ?? nowMs,
            });
          }
          clock.advance(1_000);
        }

        const deliveries = sink.deliveredRecords();
        for (const delivery of deliveries) {
          expect(delivery.tenantId).toBe(delivery.rowTenant);
          expect(delivery.endpoint).toBe(targetFor(delivery.tenantId).logsIngestionEndpoint);
        }
        const deliveredCount = new Map<string, number>();
        for (const delivery of deliveries) {
          deliveredCount.set(delivery.recordId, (deliveredCount.get(delivery.recordId) ?? 0) + 1);
        }
        const parkedBy = new Map<string, ParkCategory[]>();
        for (const entry of parked.all()) {
          const key = entry.eventRecordId ?? '';
          parkedBy.set(key, [...(parkedBy.get(key) ?? []), entry.category]);
          expect(entry.tenantId).toBe(expected.find((item) => item.event.id === key)?.tenantId);
        }

        let expectedSkipped = 0;
        for (const { spec, tenantId, event } of expected) {
          const deliveredTimes = deliveredCount.get(event.id) ?? 0;
          const parkings = parkedBy.get(event.id) ?? [];
          const setup = setups.get(tenantId);
          if (spec.invalid) {
            expect(deliveredTimes).toBe(0);
            expect(parkings).toEqual(['invalidMessage']);
          } else if (setup === 'none' || setup === 'disabled') {
            expect(deliveredTimes + parkings.length).toBe(0);
            expectedSkipped += 1;
          } else {
            expect(deliveredTimes + parkings.length).toBe(1);
            if (spec.refusedByService) expect(deliveredTimes).toBe(0);
            // Only the record the service refused is parked as refused, never a neighbour it shared a request with.
            if (parkings.includes('rejectedByService')) expect(spec.refusedByService).toBe(true);
            if (setup === 'suspended') expect(parkings).toEqual(['connectionSuspended']);
          }
        }
        expect(skipped).toBe(expectedSkipped);
      }),
      { numRuns: 80, examples: [[SHARED_REQUESTS_EXAMPLE]] },
    );
    expect(sharedRequests).toBeGreaterThan(0);
  });
});
