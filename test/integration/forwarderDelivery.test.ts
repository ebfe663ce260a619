import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { TableParkedEventStore } from '../../src/adapters/parkedEventStore';
import { openTable } from '../../src/adapters/tableStorage';
import { resetCompositionForTests } from '../../src/composition';
import { ATTEMPT_PROPERTY, FIRST_ATTEMPT_PROPERTY } from '../../src/domain/deliveryAttempts';
import { AzureStandInAdmin, type StandInInfo } from '../support/azureStandIn';
import { applySettings, forwarderSettings } from '../support/forwarderApp';
import { auditEvent, type AuditEventBody } from '../support/forwarderFixtures';
import {
  connectionStore,
  type CustomerApp,
  provisionTenant,
  type ProvisionedTenant,
  registerCustomerApp,
  saveConnection,
  workspaceRows,
} from '../support/forwarderWorld';
import {
  invokeServiceBusBatch,
  type ServiceBusInvocationResult,
  type ServiceBusTestMessage,
  startFunctionApp,
} from '../support/functionsHost';
import { ServiceBusStandInAdmin, type StandInMessage } from '../support/serviceBus';

/**
 * The forwarder function through the Functions library's invocation model
 * (with the host's conversions), uploading with the real LogsIngestionClient
 * to the Azure stand-in, re-enqueueing with the real @azure/service-bus
 * client to the Service Bus stand-in, keeping state in Azurite. One failure
 * per test; in every one, each event ends delivered exactly once in its own
 * tenant's workspace, scheduled again, or parked with its reason.
 */

const azure = new AzureStandInAdmin(inject('azureStandInUrl'));
const bus = new ServiceBusStandInAdmin(inject('serviceBusAdminUrl'));
let info: StandInInfo;
let app: CustomerApp;
let queueName: string;
let settings: Record<string, string>;
let restore: () => void;
let store: ReturnType<typeof connectionStore>;
let parked: TableParkedEventStore;

const TIME_BUDGET_SECONDS = 3;

beforeAll(async () => {
  info = await azure.info();
  app = await registerCustomerApp(azure);
  queueName = await bus.createUniqueQueue({ requiresDuplicateDetection: true }, 'audit');
  settings = forwarderSettings({
    azuriteConnectionString: inject('azuriteConnectionString'),
    serviceBusConnectionString: inject('serviceBusConnectionString'),
    queueName,
    info,
    app,
    overrides: { FORWARDER_TIME_BUDGET_SECONDS: String(TIME_BUDGET_SECONDS) },
  });
  restore = applySettings(settings);
  store = connectionStore(inject('azuriteConnectionString'), settings.TENANTS_TABLE as string);
  parked = new TableParkedEventStore(
    openTable(
      { kind: 'connectionString', connectionString: inject('azuriteConnectionString') },
      settings.PARKED_TABLE as string,
      () => {
        throw new Error('connection-string tables need no credential');
      },
    ),
  );
  await startFunctionApp({ entryPoints: ['src/functions/forwardAuditEvents.ts'] });
});

afterAll(() => restore());

beforeEach(async () => {
  // A fresh forwarder per test: its connection cache must not carry one test's states into the next.
  resetCompositionForTests();
  await bus.purgeQueue(queueName);
});

async function activeTenant(options: Parameters<typeof provisionTenant>[3] = {}): Promise<ProvisionedTenant> {
  const tenant = await provisionTenant(azure, info, app, options);
  await saveConnection(store, tenant);
  return tenant;
}

function asMessage(
  event: AuditEventBody,
  properties: Record<string, string | number> = {},
): ServiceBusTestMessage {
  return {
    body: event,
    messageId: event.id,
    contentType: 'application/json',
    applicationProperties: {
      tenantId: event.tenantId,
      eventId: event.eventId,
      schemaVersion: '1',
      ...properties,
    },
  };
}

function events(tenant: ProvisionedTenant, count: number): AuditEventBody[] {
  return Array.from({ length: count }, (_, index) =>
    auditEvent(tenant.tenantId, { eventId: index % 3 === 0 ? 28 : 4887 }),
  );
}

async function forward(messages: ServiceBusTestMessage[]): Promise<ServiceBusInvocationResult> {
  return invokeServiceBusBatch('forwardAuditEvents', messages);
}

/** Record ids in the tenant's workspace, after checking each row came with that tenant's token and names it. */
async function deliveredIds(tenant: ProvisionedTenant): Promise<string[]> {
  const rows = await workspaceRows(azure, tenant);
  for (const row of rows) {
    expect(row.tenantId).toBe(tenant.tenantId);
    expect(row.row.CustomerTenantId_g).toBe(tenant.tenantId);
  }
  return rows.map((row) => String(row.row.EventRecordId_g)).sort();
}

const ids = (list: AuditEventBody[]): string[] => list.map((event) => event.id).sort();

async function copiesOnQueue(): Promise<StandInMessage[]> {
  return [...(await bus.scheduledMessages(queueName)), ...(await bus.activeMessages(queueName))];
}

function bodyText(message: StandInMessage): string {
  return Buffer.from(message.bodyBase64 ?? '', 'base64').toString('utf8');
}

async function stateOf(tenant: ProvisionedTenant): Promise<{ state: string; stateReason: string }> {
  const found = await store.get(tenant.tenantId);
  if (!found) throw new Error('no connection');
  return found.value;
}

function batchLine(result: ServiceBusInvocationResult): string {
  return result.logs.find((line) => line.message.startsWith('forwarder: batch settled'))?.message ?? '';
}

describe('forwardAuditEvents: delivery', () => {
  it("delivers every event once, to its own tenant's workspace with that tenant's token", async () => {
    const tenants = await Promise.all([activeTenant(), activeTenant(), activeTenant()]);
    const byTenant = tenants.map((tenant) => events(tenant, 12));
    const interleaved = (byTenant[0] ?? []).flatMap((_, i) =>
      byTenant.map((list) => list[i] as AuditEventBody),
    );
    const result = await forward(interleaved.map((event) => asMessage(event)));

    expect(result.outcome).toBe('completed');
    for (const [index, tenant] of tenants.entries()) {
      expect(await deliveredIds(tenant)).toEqual(ids(byTenant[index] ?? []));
    }
    expect(await copiesOnQueue()).toEqual([]);
    expect((await stateOf(tenants[0])).state).toBe('active');
  });
});

describe('forwardAuditEvents: transient failures', () => {
  it('re-enqueues a throttled tenant after Retry-After with a copy id of its own; the other tenant is delivered', async () => {
    const [throttled, healthy] = await Promise.all([activeTenant(), activeTenant()]);
    await azure.injectFault({
      face: 'ingestion',
      tenantId: throttled.tenantId,
      status: 429,
      retryAfter: 600,
    });
    const slow = events(throttled, 4);
    const fine = events(healthy, 4);
    const before = Date.now();
    const result = await forward([...slow, ...fine].map((event) => asMessage(event)));

    expect(result.outcome).toBe('completed');
    expect(await deliveredIds(healthy)).toEqual(ids(fine));
    expect(await deliveredIds(throttled)).toEqual([]);
    const copies = await bus.scheduledMessages(queueName);
    expect(copies.map((copy) => copy.messageId).sort()).toEqual(
      slow.map((event) => `${event.tenantId}:${event.id}:2`).sort(),
    );
    for (const copy of copies) {
      expect(Date.parse(copy.scheduledEnqueueTimeUtc ?? '')).toBeGreaterThanOrEqual(before + 600_000);
      const original = slow.find((event) => copy.messageId === `${event.tenantId}:${event.id}:2`);
      expect(JSON.parse(bodyText(copy))).toEqual(original);
      expect(copy.applicationProperties).toMatchObject({
        tenantId: throttled.tenantId,
        [ATTEMPT_PROPERTY]: 2,
      });
    }
    await azure.clearFaults({ tenantId: throttled.tenantId });
  });

  it.each([
    ['429 without Retry-After', { status: 429 }],
    ['503', { status: 503 }],
    ['500', { status: 500 }],
    ['a connection reset', { resetConnection: true }],
    ['an answer slower than the time budget', { delayMs: (TIME_BUDGET_SECONDS + 2) * 1000 }],
  ])('re-enqueues with backoff after %s and parks nothing', async (_name, fault) => {
    const [failing, healthy] = await Promise.all([activeTenant(), activeTenant()]);
    await azure.injectFault({ face: 'ingestion', tenantId: failing.tenantId, ...fault });
    const failed = events(failing, 3);
    const fine = events(healthy, 3);
    const result = await forward([...failed, ...fine].map((event) => asMessage(event)));

    expect(result.outcome).toBe('completed');
    expect(await deliveredIds(healthy)).toEqual(ids(fine));
    const copies = await bus.scheduledMessages(queueName);
    expect(copies.map((copy) => copy.messageId).sort()).toEqual(
      failed.map((event) => `${event.tenantId}:${event.id}:2`).sort(),
    );
    expect((await parked.list(failing.tenantId, { limit: 10 })).items).toEqual([]);
    expect((await stateOf(failing)).state).toBe('active');
    await azure.clearFaults({ tenantId: failing.tenantId });
  });

  it('gives two tenants whose producers used the same event id copies of their own: duplicate detection drops neither', async () => {
    const [one, two] = await Promise.all([activeTenant(), activeTenant()]);
    for (const tenant of [one, two]) {
      await azure.injectFault({ face: 'ingestion', tenantId: tenant.tenantId, status: 503 });
    }
    const shared = auditEvent(one.tenantId).id;
    const first = { ...auditEvent(one.tenantId), id: shared };
    const second = { ...auditEvent(two.tenantId), id: shared };
    const result = await forward([asMessage(first), asMessage(second)]);

    expect(result.outcome).toBe('completed');
    expect(batchLine(result)).toContain('"retried":2');
    // The queue requires duplicate detection: a copy id shared across tenants would keep one copy only.
    const copies = await bus.scheduledMessages(queueName);
    expect(copies.map((copy) => copy.messageId).sort()).toEqual(
      [`${one.tenantId}:${shared}:2`, `${two.tenantId}:${shared}:2`].sort(),
    );
    expect(copies.map((copy) => (JSON.parse(bodyText(copy)) as AuditEventBody).tenantId).sort()).toEqual(
      [one.tenantId, two.tenantId].sort(),
    );
    for (const tenant of [one, two]) await azure.clearFaults({ tenantId: tenant.tenantId });
  });

  it('treats 403 inside the propagation window as pending: retried, connection still active', async () => {
    const fresh = await activeTenant({ provisionedAt: new Date().toISOString() });
    await azure.configure({ tenantId: fresh.tenantId, propagation: { afterRoleGrantedMs: 3_600_000 } });
    const pending = events(fresh, 2);
    const result = await forward(pending.map((event) => asMessage(event)));

    expect(result.outcome).toBe('completed');
    expect((await bus.scheduledMessages(queueName)).map((copy) => copy.messageId).sort()).toEqual(
      pending.map((event) => `${event.tenantId}:${event.id}:2`).sort(),
    );
    expect(await stateOf(fresh)).toMatchObject({ state: 'active' });
    expect(batchLine(result)).toContain('"retried":2');
  });
});

describe('forwardAuditEvents: access lost', () => {
  it('degrades the connection when the role is removed, with the reason, and keeps the events', async () => {
    const tenant = await activeTenant();
    await azure.revokeRole({
      tenantId: tenant.tenantId,
      clientId: app.clientId,
      role: 'Monitoring Metrics Publisher',
    });
    const kept = events(tenant, 2);
    const result = await forward(kept.map((event) => asMessage(event)));

    expect(result.outcome).toBe('completed');
    const state = await stateOf(tenant);
    expect(state.state).toBe('degraded');
    expect(state.stateReason).toMatch(/Monitoring Metrics Publisher/);
    expect((await bus.scheduledMessages(queueName)).map((copy) => copy.messageId).sort()).toEqual(
      kept.map((event) => `${event.tenantId}:${event.id}:2`).sort(),
    );
  });

  it('degrades the connection when the DCR was deleted', async () => {
    const tenant = await activeTenant();
    await azure.deleteDcr({ id: tenant.target.dataCollectionRuleId });
    const result = await forward(events(tenant, 1).map((event) => asMessage(event)));

    expect(result.outcome).toBe('completed');
    const state = await stateOf(tenant);
    expect(state.state).toBe('degraded');
    expect(state.stateReason).toMatch(/not found/);
    expect(await bus.scheduledMessages(queueName)).toHaveLength(1);
  });

  it('recovers to active on the first delivery that succeeds again', async () => {
    const tenant = await activeTenant();
    await azure.injectFault({
      face: 'ingestion',
      tenantId: tenant.tenantId,
      status: 403,
      errorCode: 'OperationFailed',
      times: 1,
    });
    const [event] = events(tenant, 1) as [AuditEventBody];
    await forward([asMessage(event)]);
    expect((await stateOf(tenant)).state).toBe('degraded');

    // The host delivers the scheduled copy when it is due; here, now.
    const [copy] = await bus.scheduledMessages(queueName);
    if (!copy?.messageId) throw new Error('expected a scheduled copy');
    resetCompositionForTests();
    const again = await forward([
      {
        body: bodyText(copy),
        messageId: copy.messageId,
        contentType: 'application/json',
        applicationProperties: copy.applicationProperties as Record<string, string | number>,
      },
    ]);
    expect(again.outcome).toBe('completed');
    expect(await deliveredIds(tenant)).toEqual([event.id]);
    expect((await stateOf(tenant)).state).toBe('active');
  });
});

describe('forwardAuditEvents: refused records', () => {
  it('isolates the records the service refuses, parks each with its reason, delivers the neighbours', async () => {
    // A DCR whose streams lack ActorUpn_s: the service refuses exactly the rows that carry it.
    const tenant = await activeTenant({ omitStreamColumns: ['ActorUpn_s'] });

    const plain = Array.from({ length: 14 }, () =>
      auditEvent(tenant.tenantId, { actor: { ipAddress: '198.51.100.4' } }),
    );
    const refused = [auditEvent(tenant.tenantId), auditEvent(tenant.tenantId)];
    const all = [...plain.slice(0, 5), refused[0], ...plain.slice(5, 11), refused[1], ...plain.slice(11)];
    const result = await forward(all.map((event) => asMessage(event as AuditEventBody)));

    expect(result.outcome).toBe('completed');
    expect(await deliveredIds(tenant)).toEqual(ids(plain));
    const entries = (await parked.list(tenant.tenantId, { limit: 10 })).items;
    expect(entries.map((entry) => entry.eventRecordId).sort()).toEqual(ids(refused));
    for (const entry of entries) {
      expect(entry.category).toBe('rejectedByService');
      expect(entry.reason).toMatch(/ActorUpn_s/);
      expect(JSON.parse(entry.body)).toEqual(refused.find((event) => event?.id === entry.eventRecordId));
    }
    expect(await copiesOnQueue()).toEqual([]);
  });
});

describe('forwardAuditEvents: retry budget and suspension', () => {
  it('parks events failing past the retry budget and suspends the tenant with the reason', async () => {
    const tenant = await activeTenant();
    await azure.injectFault({ face: 'ingestion', tenantId: tenant.tenantId, status: 503 });
    const [old] = events(tenant, 1) as [AuditEventBody];
    const eightDaysAgo = new Date(Date.now() - 8 * 86_400_000).toISOString();
    const result = await forward([
      asMessage(old, { [ATTEMPT_PROPERTY]: 37, [FIRST_ATTEMPT_PROPERTY]: eightDaysAgo }),
    ]);

    expect(result.outcome).toBe('completed');
    expect((await parked.list(tenant.tenantId, { limit: 10 })).items).toMatchObject([
      { eventRecordId: old.id, category: 'retryBudgetExhausted', attempts: 37, firstAttemptAt: eightDaysAgo },
    ]);
    const state = await stateOf(tenant);
    expect(state.state).toBe('suspended');
    expect(state.stateReason).toMatch(/168 hours/);
    expect(await copiesOnQueue()).toEqual([]);

    // Later events of the suspended tenant are parked at once, not attempted.
    await azure.clearFaults({ tenantId: tenant.tenantId });
    resetCompositionForTests();
    const [next] = events(tenant, 1) as [AuditEventBody];
    await forward([asMessage(next)]);
    const categories = (await parked.list(tenant.tenantId, { limit: 10 })).items.map(
      (entry) => entry.category,
    );
    expect(categories.sort()).toEqual(['connectionSuspended', 'retryBudgetExhausted']);
    expect(await deliveredIds(tenant)).toEqual([]);
  });
});

describe('forwardAuditEvents: settlement', () => {
  it('fails the invocation (the host abandons the batch) when the copies cannot be enqueued', async () => {
    const tenant = await activeTenant();
    await azure.injectFault({ face: 'ingestion', tenantId: tenant.tenantId, status: 503 });
    const doomedQueue = await bus.createUniqueQueue({}, 'gone');
    await bus.deleteQueue(doomedQueue);
    const undo = applySettings({ AUDIT_QUEUE_NAME: doomedQueue });
    try {
      const result = await forward([
        asMessage(events(tenant, 1)[0] as AuditEventBody),
        { body: 'not json', messageId: 'invalid-1', applicationProperties: { tenantId: tenant.tenantId } },
      ]);
      expect(result).toMatchObject({ outcome: 'failed', failedIn: 'function' });
      // Nothing was parked either: the whole batch comes back and is decided again.
      expect((await parked.list(tenant.tenantId, { limit: 10 })).items).toEqual([]);
    } finally {
      undo();
      await azure.clearFaults({ tenantId: tenant.tenantId });
    }
  });
});

describe('forwardAuditEvents: a failing tenant in a large batch', () => {
  it("settles a 1,000-message batch when one tenant's endpoint hangs: every healthy row delivered, the rest re-enqueued", async () => {
    const tenants = await Promise.all(Array.from({ length: 5 }, () => activeTenant()));
    const [hanging, ...healthy] = tenants as [ProvisionedTenant, ...ProvisionedTenant[]];
    await azure.injectFault({
      face: 'ingestion',
      tenantId: hanging.tenantId,
      delayMs: (TIME_BUDGET_SECONDS + 2) * 1000,
    });
    const perTenant = tenants.map((tenant) => events(tenant, 200));
    const messages =
      perTenant[0]?.flatMap((_, i) => perTenant.map((list) => list[i] as AuditEventBody)) ?? [];
    expect(messages).toHaveLength(1_000);

    const result = await forward(messages.map((event) => asMessage(event)));

    expect(result.outcome).toBe('completed');
    expect(batchLine(result)).toContain('"timedOut":true');
    for (const [index, tenant] of healthy.entries()) {
      expect(await deliveredIds(tenant)).toEqual(ids(perTenant[index + 1] ?? []));
    }
    const copies = await bus.scheduledMessages(queueName);
    expect(copies.map((copy) => copy.messageId).sort()).toEqual(
      (perTenant[0] ?? []).map((event) => `${event.tenantId}:${event.id}:2`).sort(),
    );
    await azure.clearFaults({ tenantId: hanging.tenantId });
  });
});
