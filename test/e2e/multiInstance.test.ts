import { describe, expect, it } from 'vitest';
import { CONNECTION_TEST_EVENT_ID, EVENT_CATALOG } from '../../src/domain/catalog';
import type { AuditEvent } from '../../src/domain/eventContract';
import { CA_TABLE, TABLE_NAMES } from '../../src/domain/tableSchema';
import { buildEvent, sampleEvent } from '../../src/producer';
import { TenantApi, addTenant, publish, rowCountsByRecordId, workspaceRows } from '../support/sandboxClient';
import { e2eSandbox, eventually } from './support/harness';
import type { SandboxTenant } from '../../sandbox/controlServer';

/**
 * Three forwarder hosts (`npm run sandbox -- --instances 3`): separate processes competing for the
 * same queue, each with its own caches. Driven through the public surfaces only: the portal's calls,
 * events through the producer, the rows each workspace received, the Azure stand-in's fault and
 * request log admin API, and the sandbox's progress lines (which instance settled what).
 */

const INSTANCES = 3;
/** Per-tenant uploads one batch has under way at once: half of FORWARDER_MAX_CONCURRENT_UPLOADS. */
const MAX_CONCURRENT_UPLOADS = 4;
const PER_TENANT_IN_FLIGHT = Math.max(1, Math.floor(MAX_CONCURRENT_UPLOADS / 2));
/** The stand-in's Retry-After during the outage: the pause interval P. */
const RETRY_AFTER_SECONDS = 3;

const sandbox = e2eSandbox({
  args: [
    '--instances',
    String(INSTANCES),
    '--setting',
    `FORWARDER_MAX_CONCURRENT_UPLOADS=${MAX_CONCURRENT_UPLOADS}`,
  ],
  readyTimeoutMs: 120_000,
});

async function connectedTenant(): Promise<SandboxTenant> {
  const tenant = await addTenant(sandbox.info);
  await new TenantApi(sandbox.info.apiBaseUrl, tenant).connectAndSave();
  return tenant;
}

/** `count` events for the tenant, cycling through the catalog (both tables). */
function eventsFor(tenantId: string, count: number): AuditEvent[] {
  return Array.from({ length: count }, (_unused, index) =>
    buildEvent(sampleEvent(EVENT_CATALOG[index % EVENT_CATALOG.length]!.eventId, tenantId, index + 1, count)),
  );
}

/** Sends in several producer calls, so batches form over time and every instance gets some. */
async function publishInWaves(events: readonly AuditEvent[], waves: number): Promise<void> {
  const size = Math.ceil(events.length / waves);
  for (let start = 0; start < events.length; start += size) {
    await publish(sandbox.info, events.slice(start, start + size));
  }
}

/** Batches of the queue function each instance settled, from the sandbox's progress lines. */
function batchesSettledByInstance(): Map<number, number> {
  const counts = new Map<number, number>();
  for (const line of sandbox.stderr().split('\n')) {
    const match = /^\[sandbox\] (?:instance (\d+): )?forwardAuditEvents: \d+ message\(s\) completed/.exec(
      line,
    );
    if (!match) continue;
    const instance = match[1] ? Number(match[1]) : 1;
    counts.set(instance, (counts.get(instance) ?? 0) + 1);
  }
  return counts;
}

/** Per instance, the tenant outcome lines that say the tenant was paused (its events re-enqueued unsent). */
function pausedLinesByInstance(tenantId: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const line of sandbox.stderr().split('\n')) {
    if (
      !line.includes('forwarder: tenant outcome') ||
      !line.includes(tenantId) ||
      !line.includes('pausedUntil')
    )
      continue;
    const instance = Number(/^\[sandbox\] instance (\d+): /.exec(line)?.[1] ?? 1);
    counts.set(instance, (counts.get(instance) ?? 0) + 1);
  }
  return counts;
}

async function parkedRecordIds(tenant: SandboxTenant): Promise<Set<string>> {
  const response = await new TenantApi(sandbox.info.apiBaseUrl, tenant).parked();
  if (response.status !== 200) throw new Error(`GET parked: ${response.status}`);
  const items = (response.body as { items: Array<{ eventRecordId?: string }> }).items;
  return new Set(items.flatMap((item) => (item.eventRecordId ? [item.eventRecordId.toLowerCase()] : [])));
}

describe(`${INSTANCES} forwarder instances on one queue`, { timeout: 240_000 }, () => {
  it('delivers or parks every event, each in its own tenant only, once', async () => {
    const tenants = await Promise.all([connectedTenant(), connectedTenant(), connectedTenant()]);
    const [, , refusing] = tenants;
    // One tenant's workspace refuses every CA row outright: those are parked, its certificates land.
    await sandbox.azure.injectFault({
      face: 'ingestion',
      operation: 'upload',
      tenantId: refusing.tenantId,
      stream: `Custom-${CA_TABLE}`,
      status: 400,
      errorCode: 'InvalidRequest',
      message: 'The record does not match the stream declaration.',
    });
    const events = new Map(tenants.map((tenant) => [tenant.tenantId, eventsFor(tenant.tenantId, 60)]));
    // Interleaved, as a PKI serving many customers sends them.
    const all = [...events.values()].flatMap((list, offset) =>
      list.map((event, index) => ({ event, order: index * 10 + offset })),
    );
    await publishInWaves(
      all.sort((a, b) => a.order - b.order).map(({ event }) => event),
      12,
    );

    const outcome = await eventually(
      'every event delivered or parked',
      async () => {
        const perTenant = await Promise.all(
          tenants.map(async (tenant) => ({
            tenant,
            rows: await rowCountsByRecordId(sandbox.info, tenant.workspaceResourceId),
            parked: await parkedRecordIds(tenant),
          })),
        );
        const done = perTenant.every(({ tenant, rows, parked }) =>
          events.get(tenant.tenantId)!.every((event) => rows.has(event.id) || parked.has(event.id)),
        );
        return done ? perTenant : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );

    const tables = Object.fromEntries(
      await Promise.all(
        tenants.map(
          async (tenant) =>
            [tenant.tenantId, await workspaceRows(sandbox.info, tenant.workspaceResourceId)] as const,
        ),
      ),
    );
    for (const { tenant, rows, parked } of outcome) {
      const own = new Set(events.get(tenant.tenantId)!.map((event) => event.id));
      const landed = TABLE_NAMES.flatMap((table) => tables[tenant.tenantId]![table] ?? []);
      // Never another tenant's row in this workspace; besides its events only Create Connection's test rows.
      expect(landed.filter((row) => row.CustomerTenantId_g !== tenant.tenantId.toLowerCase())).toEqual([]);
      expect(
        landed.filter(
          (row) => row.EventID_d !== CONNECTION_TEST_EVENT_ID && !own.has(String(row.EventRecordId_g)),
        ),
      ).toEqual([]);
      // Nothing was lost, redelivered by force or re-enqueued twice: each event exactly once.
      for (const event of events.get(tenant.tenantId)!) {
        expect((rows.get(event.id) ?? 0) + (parked.has(event.id) ? 1 : 0), `event ${event.id}`).toBe(1);
      }
      expect(parked.size).toBe(
        tenant === refusing
          ? events.get(tenant.tenantId)!.filter((e) => catalogTable(e) === CA_TABLE).length
          : 0,
      );
    }
    // The queue had competing consumers: more than one process settled batches.
    expect(batchesSettledByInstance().size).toBeGreaterThan(1);
    await sandbox.azure.clearFaults({ tenantId: refusing.tenantId });
  });

  it(`sends a workspace that throttles throughout at most ⌈T/P⌉ + 1 probes plus what ${INSTANCES} instances had in flight`, async () => {
    const [throttled, healthy] = await Promise.all([connectedTenant(), connectedTenant()]);
    const before = await sandbox.azure.requests({});
    const afterSeq = before.at(-1)?.seq ?? 0;
    const outageStart = Date.now();
    const fault = await sandbox.azure.injectFault({
      face: 'ingestion',
      operation: 'upload',
      tenantId: throttled.tenantId,
      status: 429,
      retryAfter: RETRY_AFTER_SECONDS,
      errorCode: 'TooManyRequests',
      message: 'Rate limit of the data collection rule exceeded.',
    });
    const throttledEvents = eventsFor(throttled.tenantId, 30);
    const healthyEvents = eventsFor(healthy.tenantId, 30);
    // Alternating, one event per producer call: many messages, spread over the instances.
    await publishInWaves(
      throttledEvents.flatMap((event, index) => [event, healthyEvents[index]!]),
      60,
    );

    // The outage lasts until several instances have been holding the tenant's events back, and the
    // workspace has been probed repeatedly.
    await eventually(
      'instances pausing the throttled tenant and the workspace probed repeatedly',
      async () => {
        const paused = pausedLinesByInstance(throttled.tenantId);
        const hits = (await sandbox.azure.listFaults()).find((f) => f.id === fault.id)?.hits ?? 0;
        // The queue hands each message to whichever listener asks first: not every instance need get them.
        if ([...paused.values()].filter((count) => count >= 2).length >= 2 && hits >= 10) return true;
        throw new Error(
          `paused lines per instance ${JSON.stringify([...paused])}, fault hits ${hits}, batches per instance ${JSON.stringify([...batchesSettledByInstance()])}`,
        );
      },
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    await sandbox.azure.clearFaults({ id: fault.id });
    const outageMs = Date.now() - outageStart;

    const requests = (
      await sandbox.azure.requests({
        tenantId: throttled.tenantId,
        face: 'ingestion',
        operation: 'upload',
        afterSeq,
      })
    ).filter((request) => request.faultId === fault.id);
    const pauseMs = RETRY_AFTER_SECONDS * 1000;
    const bound = Math.ceil(outageMs / pauseMs) + 1 + INSTANCES * PER_TENANT_IN_FLIGHT;
    process.stdout.write(
      `outage ${outageMs} ms, P ${pauseMs} ms: ${requests.length} requests to the throttled DCR (bound ${bound}); ` +
        `paused lines per instance ${JSON.stringify([...pausedLinesByInstance(throttled.tenantId)])}, ` +
        `batches per instance ${JSON.stringify([...batchesSettledByInstance()])}\n`,
    );
    expect(requests.length).toBeLessThanOrEqual(bound);

    // The healthy tenant never waited for the throttled one; the throttled one catches up once it answers.
    for (const [tenant, list] of [
      [healthy, healthyEvents],
      [throttled, throttledEvents],
    ] as const) {
      const counts = await eventually(
        `${list.length} events of ${tenant.tenantId}`,
        async () => {
          const rows = await rowCountsByRecordId(sandbox.info, tenant.workspaceResourceId);
          return list.every((event) => rows.has(event.id)) ? rows : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 500 },
      );
      // At least once, and no copy uploaded twice: a 429 means nothing was ingested.
      for (const event of list) expect(counts.get(event.id), `event ${event.id}`).toBe(1);
    }
    const tables = await workspaceRows(sandbox.info, throttled.workspaceResourceId);
    const landed = TABLE_NAMES.flatMap((table) => tables[table] ?? []);
    expect(landed.filter((row) => row.CustomerTenantId_g !== throttled.tenantId.toLowerCase())).toEqual([]);
    const own = new Set(throttledEvents.map((event) => event.id));
    expect(
      landed.filter(
        (row) => row.EventID_d !== CONNECTION_TEST_EVENT_ID && !own.has(String(row.EventRecordId_g)),
      ),
    ).toEqual([]);
  });
});

function catalogTable(event: AuditEvent): string | undefined {
  return EVENT_CATALOG.find((entry) => entry.eventId === event.eventId)?.table;
}
