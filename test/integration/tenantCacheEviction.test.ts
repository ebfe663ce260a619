import { beforeAll, describe, expect, inject, it } from 'vitest';
import { CustomerCredentials } from '../../src/adapters/customerCredentials';
import { LogsIngestionSink } from '../../src/adapters/logsIngestionSink';
import { loadConfig } from '../../src/config';
import { eventToRow } from '../../src/domain/rowMapper';
import { parseEventMessage } from '../../src/domain/eventContract';
import { AzureStandInAdmin, type StandInInfo } from '../support/azureStandIn';
import { forwarderSettings } from '../support/forwarderApp';
import { auditEvent } from '../support/forwarderFixtures';
import {
  type CustomerApp,
  provisionTenant,
  type ProvisionedTenant,
  registerCustomerApp,
  workspaceRows,
} from '../support/forwarderWorld';

/**
 * The bounded credential and client caches against the Azure stand-in: a
 * tenant whose credential and ingestion client were dropped uploads again
 * when seen again, paying one new token request.
 */

const azure = new AzureStandInAdmin(inject('azureStandInUrl'));
let info: StandInInfo;
let app: CustomerApp;
let tenantA: ProvisionedTenant;
let tenantB: ProvisionedTenant;

beforeAll(async () => {
  info = await azure.info();
  app = await registerCustomerApp(azure);
  [tenantA, tenantB] = await Promise.all([
    provisionTenant(azure, info, app),
    provisionTenant(azure, info, app),
  ]);
});

function rowOf(tenantId: string): { stream: string; row: Record<string, unknown>; id: string } {
  const parsed = parseEventMessage(auditEvent(tenantId));
  if (!parsed.ok) throw new Error('the fixture event is invalid');
  const { table, row } = eventToRow(parsed.event);
  return { stream: `Custom-${table}`, row, id: parsed.event.id };
}

async function tokenRequests(tenantId: string): Promise<number> {
  const requests = await azure.requests({ tenantId, face: 'entra', operation: 'token' });
  return requests.filter((request) => request.status === 200).length;
}

describe('a tenant dropped from the bounded caches', () => {
  it('uploads again when seen again, after fetching one new token', async () => {
    const config = loadConfig({
      ...forwarderSettings({
        azuriteConnectionString: inject('azuriteConnectionString'),
        serviceBusConnectionString: inject('serviceBusConnectionString'),
        queueName: 'unused',
        info,
        app,
      }),
      TENANT_CACHE_MAX_TENANTS: '1',
    });
    expect(config.tenantCache.maxTenants).toBe(1);
    const credentials = new CustomerCredentials(config);
    const sink = new LogsIngestionSink(credentials, config.cloud.logsIngestionAudience, config.tenantCache);
    const upload = async (tenant: ProvisionedTenant): Promise<string> => {
      const { stream, row, id } = rowOf(tenant.tenantId);
      await sink.upload(tenant.tenantId, tenant.target, stream, [row]);
      return id;
    };

    const first = await upload(tenantA);
    const tokensBefore = await tokenRequests(tenantA.tenantId);
    await upload(tenantA);
    expect(await tokenRequests(tenantA.tenantId)).toBe(tokensBefore);

    await upload(tenantB);
    expect(credentials.size).toBe(1);
    expect(sink.size).toBe(1);
    const again = await upload(tenantA);

    expect(await tokenRequests(tenantA.tenantId)).toBe(tokensBefore + 1);
    const ids = (await workspaceRows(azure, tenantA)).map((recorded) => String(recorded.row.EventRecordId_g));
    expect(ids).toEqual(expect.arrayContaining([first, again]));
  });
});
