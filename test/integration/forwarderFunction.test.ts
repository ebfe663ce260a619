import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TableParkedEventStore, UNATTRIBUTED_PARTITION } from '../../src/adapters/parkedEventStore';
import { openTable } from '../../src/adapters/tableStorage';
import { TableTenantConnectionStore } from '../../src/adapters/tenantConnectionStore';
import { resetCompositionForTests } from '../../src/composition';
import { resetConfigForTests } from '../../src/config';
import {
  invokeServiceBusBatch,
  listFunctions,
  startFunctionApp,
  type ServiceBusTestMessage,
} from '../support/functionsHost';
import { auditEvent, savedConnection } from '../support/forwarderFixtures';

/**
 * The forwarder function through the Functions library's invocation model,
 * with the host's conversions, against Azurite: what happens before any
 * upload (host delivery of non-JSON bodies, validation, parking, skipping).
 */

const suffix = randomUUID().replace(/-/g, '').slice(0, 8);
const env = {
  AUDIT_QUEUE_NAME: 'audit-events',
  ServiceBusConnection:
    'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;',
  TABLE_STORAGE_CONNECTION_STRING: inject('azuriteConnectionString'),
  TENANTS_TABLE: `Connections${suffix}`,
  PARKED_TABLE: `Parked${suffix}`,
  CUSTOMER_APP_CLIENT_ID: '68554b48-233f-42b4-9aa7-2eadca4d7727',
  CUSTOMER_APP_CREDENTIAL: 'secret',
  CUSTOMER_APP_CLIENT_SECRET: 'dev-only',
  API_AUDIENCE: 'api://pki-siem-export',
  API_ISSUERS: 'https://login.microsoftonline.com/{tenantid}/v2.0',
  API_OPERATOR_TENANT_ID: '5e2a7b3c-1d4f-4a6e-9b8c-0f1e2d3c4b5a',
};
const saved = new Map<string, string | undefined>();
const tables = { kind: 'connectionString' as const, connectionString: env.TABLE_STORAGE_CONNECTION_STRING };
const noCredential = (): never => {
  throw new Error('connection-string tables need no credential');
};
const parked = new TableParkedEventStore(openTable(tables, env.PARKED_TABLE, noCredential));
const connections = new TableTenantConnectionStore(openTable(tables, env.TENANTS_TABLE, noCredential));

beforeAll(async () => {
  for (const [name, value] of Object.entries(env)) {
    saved.set(name, process.env[name]);
    process.env[name] = value;
  }
  resetConfigForTests();
  resetCompositionForTests();
  await startFunctionApp({ entryPoints: ['src/functions/forwardAuditEvents.ts'] });
});

afterAll(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  resetConfigForTests();
  resetCompositionForTests();
});

/** A message as the producer sends it: the tenantId application property names the body's tenant. */
function asProduced(event: { id: string; tenantId: string }): ServiceBusTestMessage {
  return {
    body: event,
    messageId: event.id,
    contentType: 'application/json',
    applicationProperties: { tenantId: event.tenantId },
  };
}

describe('forwardAuditEvents (host conversions, Azurite)', () => {
  it('registers a byte-typed batch trigger on the configured queue', () => {
    expect(listFunctions().find((f) => f.name === 'forwardAuditEvents')).toMatchObject({
      triggerType: 'serviceBusTrigger',
      cardinality: 'many',
      dataType: 'binary',
      queueName: '%AUDIT_QUEUE_NAME%',
    });
  });

  it('parks a non-JSON body and a contract violation with their reasons, and completes the batch', async () => {
    const tenant = randomUUID();
    const disabled = randomUUID();
    await connections.create({ ...savedConnection(disabled), state: 'disabled' });
    const invalid = { ...auditEvent(tenant), eventId: 5555 };
    const result = await invokeServiceBusBatch('forwardAuditEvents', [
      {
        body: 'plain text, not an event',
        messageId: 'not-json-1',
        applicationProperties: { tenantId: tenant },
      },
      asProduced(invalid),
      asProduced(auditEvent(disabled)),
      asProduced(auditEvent(randomUUID())),
    ]);
    expect(result.outcome).toBe('completed');

    const page = await parked.list(tenant, { limit: 10 });
    const byMessage = new Map(page.items.map((item) => [item.messageId, item]));
    expect(byMessage.get('not-json-1')).toMatchObject({
      category: 'invalidMessage',
      body: 'plain text, not an event',
      tenantId: tenant,
    });
    expect(byMessage.get('not-json-1')?.reason).toMatch(/not JSON/);
    expect(byMessage.get(invalid.id)).toMatchObject({ category: 'invalidMessage', eventId: 5555 });
    expect(await parked.count(disabled)).toBe(0);

    const batchLine = result.logs.find((line) => line.message.startsWith('forwarder: batch settled'));
    expect(batchLine?.message).toContain('"skipped":2');
    expect(batchLine?.message).toContain('"invalid":2');
    expect(batchLine?.message).toContain(`"invocationId":"${result.invocationId}"`);
  });

  it('parks an empty body and a body that is not UTF-8 under their own message ids, next to valid events', async () => {
    const tenant = randomUUID();
    const notUtf8 = Buffer.from(
      JSON.stringify({ ...auditEvent(tenant), message: 'Zertifikat für café' }),
      'latin1',
    );
    const result = await invokeServiceBusBatch('forwardAuditEvents', [
      asProduced(auditEvent(randomUUID())),
      { body: '', messageId: 'empty-1', applicationProperties: { tenantId: tenant } },
      asProduced(auditEvent(randomUUID())),
      { body: notUtf8, messageId: 'latin1-1', applicationProperties: { tenantId: tenant } },
    ]);
    expect(result.outcome).toBe('completed');

    const page = await parked.list(tenant, { limit: 10 });
    const byMessage = new Map(page.items.map((item) => [item.messageId, item]));
    expect(byMessage.get('empty-1')).toMatchObject({
      category: 'invalidMessage',
      body: '',
      tenantId: tenant,
    });
    expect(byMessage.get('empty-1')?.reason).toMatch(/not JSON/);
    expect(byMessage.get('latin1-1')).toMatchObject({
      category: 'invalidMessage',
      tenantId: tenant,
      bodyEncoding: 'base64',
    });
    expect(byMessage.get('latin1-1')?.reason).toMatch(/not UTF-8/);
    // Nothing replaced: the parked body is the message's exact bytes.
    expect(Buffer.from(byMessage.get('latin1-1')?.body ?? '', 'base64').equals(notUtf8)).toBe(true);
    expect(byMessage.get('empty-1')).not.toHaveProperty('bodyEncoding');
    const batchLine = result.logs.find((line) => line.message.startsWith('forwarder: batch settled'));
    expect(batchLine?.message).toContain('"skipped":2');
    expect(batchLine?.message).toContain('"invalid":2');
  });

  it('parks a message whose property and body name different tenants, or whose body repeats a key, under nobody', async () => {
    const tenantA = randomUUID();
    const tenantB = randomUUID();
    await connections.create(savedConnection(tenantA));
    await connections.create(savedConnection(tenantB));
    const steered = auditEvent(tenantB);
    const twice = auditEvent(tenantA);
    const twiceText = JSON.stringify(twice).replace('{', `{"tenantId":"${tenantB}",`);
    const result = await invokeServiceBusBatch('forwardAuditEvents', [
      { ...asProduced(steered), applicationProperties: { tenantId: tenantA.toUpperCase() } },
      {
        body: twiceText,
        messageId: twice.id,
        contentType: 'application/json',
        applicationProperties: { tenantId: tenantA },
      },
    ]);
    expect(result.outcome).toBe('completed');

    // Filed under nobody: neither tenant's portal lists them, the operator's CLI does.
    expect(await parked.count(tenantA)).toBe(0);
    expect(await parked.count(tenantB)).toBe(0);
    const unattributed = await parked.list(UNATTRIBUTED_PARTITION, { limit: 100 });
    const byMessage = new Map(unattributed.items.map((item) => [item.messageId, item]));
    expect(byMessage.get(steered.id)).toMatchObject({ category: 'invalidMessage', tenantId: undefined });
    expect(byMessage.get(steered.id)?.reason).toContain('disagrees');
    expect(byMessage.get(twice.id)).toMatchObject({ category: 'invalidMessage', body: twiceText });
    expect(byMessage.get(twice.id)?.reason).toContain('names the key "tenantId" twice');
    // Delivered to neither: the batch line counts no delivery.
    const batchLine = result.logs.find((line) => line.message.startsWith('forwarder: batch settled'));
    expect(batchLine?.message).toContain('"invalid":2');
    expect(batchLine?.message).toContain('"delivered":0');
  });

  it('parks a redelivered message once: its entry is keyed by enqueue time and sequence number', async () => {
    const tenant = randomUUID();
    const message = {
      body: 'still not an event',
      messageId: 'redelivered-1',
      applicationProperties: { tenantId: tenant },
      sequenceNumber: 2n ** 40n + 7n,
      enqueuedTimeUtc: new Date('2026-11-24T11:00:00.123Z'),
    };
    expect((await invokeServiceBusBatch('forwardAuditEvents', [message])).outcome).toBe('completed');
    // As if completing it had failed: the same message comes back.
    await invokeServiceBusBatch('forwardAuditEvents', [{ ...message, deliveryCount: 2 }]);
    const page = await parked.list(tenant, { limit: 10 });
    expect(page.items.map((item) => item.parkedId)).toEqual([
      `2026-11-24T11:00:00.123Z_${(2n ** 40n + 7n).toString().padStart(20, '0')}`,
    ]);
  });

  it('parks redelivered messages once when their sequence numbers arrive as doubles above 2^53', async () => {
    const tenant = randomUUID();
    // A partitioned entity puts the partition in the top 16 bits: both round to the same double, 2^60.
    const messages = [2n ** 60n + 1n, 2n ** 60n + 2n].map((sequenceNumber, index) => ({
      body: `not an event ${index}`,
      messageId: `big-seq-${index}`,
      applicationProperties: { tenantId: tenant },
      sequenceNumber,
      enqueuedTimeUtc: new Date('2026-11-24T12:00:00.500Z'),
    }));
    const first = await invokeServiceBusBatch('forwardAuditEvents', messages);
    expect(first.outcome).toBe('completed');
    await invokeServiceBusBatch(
      'forwardAuditEvents',
      messages.map((message) => ({ ...message, deliveryCount: 2 })),
    );
    const page = await parked.list(tenant, { limit: 10 });
    // One entry per message: neither the rounded number (it would merge the two) nor a random id (it
    // would double them on redelivery) keys them.
    expect(page.items).toHaveLength(2);
    expect(page.items.map((item) => item.messageId).sort()).toEqual(['big-seq-0', 'big-seq-1']);
    for (const item of page.items) expect(item.parkedId).toMatch(/^2026-11-24T12:00:00\.500Z_m[0-9a-f]{40}$/);
  });
});
