import { ServiceBusClient } from '@azure/service-bus';
import { describe, expect, it } from 'vitest';
import { buildEvent, sampleEvent } from '../../src/producer';
import { TenantApi, addTenant, publish, rowCountsByRecordId } from '../support/sandboxClient';
import { e2eSandbox, eventually, refuseNextUpload } from './support/harness';

/**
 * Events that cannot be delivered are parked with their reason, visible to the portal, and replayed
 * once the cause is fixed; nothing is lost and nothing blocks the queue.
 */

interface ParkedItem {
  parkedId: string;
  category: string;
  reason: string;
  eventRecordId?: string;
  eventId?: number;
}

const sandbox = e2eSandbox();

async function parkedItems(api: TenantApi): Promise<ParkedItem[]> {
  const response = await api.parked();
  if (response.status !== 200)
    throw new Error(`GET parked: ${response.status} ${JSON.stringify(response.body)}`);
  return (response.body as { items: ParkedItem[] }).items;
}

/** What a broken producer might put on the queue: not JSON, and JSON that is no audit event. */
async function sendInvalidMessages(
  connectionString: string,
  queueName: string,
  tenantId: string,
): Promise<void> {
  const client = new ServiceBusClient(connectionString);
  const sender = client.createSender(queueName);
  try {
    await sender.sendMessages([
      {
        body: Buffer.from('this is not JSON', 'utf8'),
        messageId: `broken-${Date.now()}`,
        applicationProperties: { tenantId },
      },
      {
        body: { ...buildEvent(sampleEvent(4887, tenantId)), eventId: 9999 },
        contentType: 'application/json',
        messageId: `unknown-${Date.now()}`,
        applicationProperties: { tenantId, eventId: 9999, schemaVersion: '1' },
      },
    ]);
  } finally {
    await sender.close();
    await client.close();
  }
}

describe('parked events', { timeout: 60_000 }, () => {
  it('parks a record the workspace refused and invalid messages with their reasons, and replays the record once fixed', async () => {
    const { info } = sandbox;
    const tenant = await addTenant(info);
    const api = new TenantApi(info.apiBaseUrl, tenant);
    await api.connectAndSave();

    // The workspace refuses the next upload outright (400): not worth retrying.
    // Only the event's table: a heartbeat's health-row upload (one-minute windows here) must not take it.
    await refuseNextUpload(sandbox.azure, tenant.tenantId, 'Custom-EZCA_Certificates_CL');
    const event = buildEvent(sampleEvent(4888, tenant.tenantId));
    await publish(info, [event]);
    await sendInvalidMessages(info.serviceBusConnectionString, info.queueName, tenant.tenantId);

    const parked = await eventually('three parked entries', async () => {
      const items = await parkedItems(api);
      return items.length === 3 ? items : undefined;
    });
    const refused = parked.filter((item) => item.category === 'rejectedByService');
    expect(refused).toEqual([
      expect.objectContaining({
        eventRecordId: event.id,
        reason: expect.stringMatching(/refused/i) as unknown,
      }),
    ]);
    const invalid = parked.filter((item) => item.category === 'invalidMessage');
    expect(invalid).toHaveLength(2);
    for (const item of invalid) expect(item.reason).toMatch(/not a valid audit event/);
    expect((await api.settings()).body).toMatchObject({ health: { parkedCount: 3 } });
    expect((await rowCountsByRecordId(info, tenant.workspaceResourceId)).has(event.id.toLowerCase())).toBe(
      false,
    );

    // The fault was one-off: the workspace is fixed. Replay the refused record only.
    const replay = await api.replay({ categories: ['rejectedByService'] });
    expect(replay.status).toBeLessThan(300);
    expect(replay.body).toMatchObject({ replayed: 1 });

    const counts = await eventually('the replayed event to land', async () => {
      const rows = await rowCountsByRecordId(info, tenant.workspaceResourceId);
      return rows.has(event.id.toLowerCase()) ? rows : undefined;
    });
    expect(counts.get(event.id.toLowerCase())).toBe(1);
    expect((await parkedItems(api)).map((item) => item.category)).toEqual([
      'invalidMessage',
      'invalidMessage',
    ]);
  });

  it('refuses to replay for a tenant whose connection was not saved yet, saying what to do', async () => {
    const { info } = sandbox;
    const tenant = await addTenant(info);
    const api = new TenantApi(info.apiBaseUrl, tenant);
    expect((await api.createConnection()).status).toBe(200);

    const replay = await api.replay({});
    expect(replay.status).toBe(409);
    expect(replay.body).toMatchObject({
      code: 'ExportNotActive',
      detail: expect.stringMatching(/save/i) as unknown,
    });
  });
});
