import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TableParkedEventStore } from '../../src/adapters/parkedEventStore';
import { openTable } from '../../src/adapters/tableStorage';
import type { ParkCategory, ParkedEvent } from '../../src/domain/ports';
import { AzureStandInAdmin, type StandInInfo } from '../support/azureStandIn';
import { applySettings, forwarderSettings } from '../support/forwarderApp';
import { parkedEntry, savedConnection } from '../support/forwarderFixtures';
import { connectionStore, registerCustomerApp } from '../support/forwarderWorld';
import { invokeHttp, type HttpInvocationResult, startFunctionApp } from '../support/functionsHost';
import { documentedContentType, responseValidator } from '../support/openApi';
import { ServiceBusStandInAdmin } from '../support/serviceBus';

/**
 * GET …/siem/parked and POST …/siem/replay through the registered functions
 * (the library's HTTP invocation model), with bearer tokens from the Azure
 * stand-in's Entra, Azurite for the parked events and connections, and the
 * Service Bus stand-in for the replayed messages. Every answer is checked
 * against the OpenAPI document.
 */

const azure = new AzureStandInAdmin(inject('azureStandInUrl'));
const bus = new ServiceBusStandInAdmin(inject('serviceBusAdminUrl'));
const azurite = inject('azuriteConnectionString');
const REQUIRED_ROLE = 'SiemExport.Manage';
const PARKED_ROUTE = '/tenants/{tenantId}/siem/parked';
const REPLAY_ROUTE = '/tenants/{tenantId}/siem/replay';
let info: StandInInfo;
let queueName: string;
let restore: () => void;
let parkedStore: TableParkedEventStore;
let connections: ReturnType<typeof connectionStore>;

beforeAll(async () => {
  info = await azure.info();
  const app = await registerCustomerApp(azure);
  queueName = await bus.createUniqueQueue({ requiresDuplicateDetection: true }, 'routes');
  const settings = forwarderSettings({
    azuriteConnectionString: azurite,
    serviceBusConnectionString: inject('serviceBusConnectionString'),
    queueName,
    info,
    app,
    overrides: { API_REQUIRED_ROLE: REQUIRED_ROLE },
  });
  restore = applySettings(settings);
  parkedStore = new TableParkedEventStore(
    openTable(
      { kind: 'connectionString', connectionString: azurite },
      settings.PARKED_TABLE as string,
      () => {
        throw new Error('no credential needed');
      },
    ),
  );
  connections = connectionStore(azurite, settings.TENANTS_TABLE as string);
  await startFunctionApp({
    entryPoints: ['src/functions/siemParked.ts', 'src/functions/siemReplay.ts'],
  });
});

afterAll(async () => {
  restore();
  await bus.deleteQueue(queueName);
});

async function bearer(tenantId: string, roles = [REQUIRED_ROLE]): Promise<string> {
  return (await azure.mintToken({ tenantId, roles })).token;
}

function documented(result: HttpInvocationResult, method: string, route: string): HttpInvocationResult {
  expect(result.headers.get('content-type') ?? '').toContain(
    documentedContentType(method, route, result.status) ?? 'none',
  );
  const validate = responseValidator(method, route, result.status);
  if (!validate(result.json())) {
    throw new Error(
      `${method} ${route} ${result.status}: ${JSON.stringify(validate.errors)}\n${result.text()}`,
    );
  }
  return result;
}

async function listParked(tenantId: string, query = '', token?: string): Promise<HttpInvocationResult> {
  const result = await invokeHttp({
    method: 'GET',
    path: `/api/tenants/${tenantId}/siem/parked${query}`,
    headers: { authorization: `Bearer ${token ?? (await bearer(tenantId))}` },
  });
  return documented(result, 'GET', PARKED_ROUTE);
}

async function replay(tenantId: string, json?: unknown): Promise<HttpInvocationResult> {
  const result = await invokeHttp({
    method: 'POST',
    path: `/api/tenants/${tenantId}/siem/replay`,
    headers: { authorization: `Bearer ${await bearer(tenantId)}` },
    ...(json !== undefined ? { json } : {}),
  });
  return documented(result, 'POST', REPLAY_ROUTE);
}

const entry = (tenantId: string, category: ParkCategory): ParkedEvent =>
  parkedEntry(tenantId, category, [
    { at: new Date().toISOString(), error: 'The Logs Ingestion API answered 503' },
  ]);

interface Page {
  items: ParkedEvent[];
  continuationToken?: string;
}

describe('GET /api/tenants/{tenantId}/siem/parked', () => {
  it('pages through the tenant parked events with their reasons and bodies', async () => {
    const tenant = randomUUID();
    const entries = [0, 1, 2].map(() => entry(tenant, 'retryBudgetExhausted'));
    await parkedStore.park([...entries, entry(randomUUID(), 'invalidMessage')]);

    const first = await listParked(tenant, '?limit=2');
    expect(first.status).toBe(200);
    const page = first.json<Page>();
    expect(page.items).toHaveLength(2);
    const second = await listParked(
      tenant,
      `?limit=2&continuationToken=${encodeURIComponent(page.continuationToken ?? '')}`,
    );
    const rest = second.json<Page>();
    expect(rest.continuationToken).toBeUndefined();
    const all = [...page.items, ...rest.items];
    expect(all.map((item) => item.parkedId).sort()).toEqual(entries.map((item) => item.parkedId).sort());
    expect(all.every((item) => item.tenantId === tenant && item.reason.includes('Parked for the test'))).toBe(
      true,
    );
    expect(all.map((item) => item.body).sort()).toEqual(entries.map((item) => item.body).sort());
  });

  it.each([
    ['?limit=0', 'InvalidPageSize'],
    ['?limit=abc', 'InvalidPageSize'],
    ['?continuationToken=not-a-token', 'InvalidContinuationToken'],
  ])('answers %s with 400 %s', async (query, code) => {
    const result = await listParked(randomUUID(), query);
    expect(result.status).toBe(400);
    expect(result.json<{ code: string }>().code).toBe(code);
  });

  it('refuses a caller without a token (401) and a caller of another tenant (403)', async () => {
    const tenant = randomUUID();
    const anonymous = await invokeHttp({ method: 'GET', path: `/api/tenants/${tenant}/siem/parked` });
    expect(documented(anonymous, 'GET', PARKED_ROUTE).status).toBe(401);
    const other = await listParked(tenant, '', await bearer(randomUUID()));
    expect(other.status).toBe(403);
  });
});

describe('POST /api/tenants/{tenantId}/siem/replay', () => {
  it('replays everything without a body: fresh message ids on the queue, parked list emptied', async () => {
    const tenant = randomUUID();
    await connections.create(savedConnection(tenant));
    const entries = [entry(tenant, 'retryBudgetExhausted'), entry(tenant, 'rejectedByService')];
    await parkedStore.park(entries);
    await bus.purgeQueue(queueName);

    const result = await replay(tenant);
    expect(result.status).toBe(200);
    expect(result.json()).toEqual({ replayed: 2, notFound: [], remaining: false });
    const onQueue = await bus.activeMessages(queueName);
    expect(
      onQueue.map((message) => Buffer.from(message.bodyBase64 ?? '', 'base64').toString('utf8')).sort(),
    ).toEqual(entries.map((item) => item.body).sort());
    for (const message of onQueue) {
      expect(entries.map((item) => item.messageId)).not.toContain(message.messageId);
      expect(message.applicationProperties.tenantId).toBe(tenant);
    }
    expect(await parkedStore.count(tenant)).toBe(0);
  });

  it('lists a body that was not UTF-8 in base64 and replays its exact bytes', async () => {
    const tenant = randomUUID();
    await connections.create(savedConnection(tenant));
    const bytes = Buffer.from('{"message":"Zertifikat für café"}', 'latin1');
    const binary: ParkedEvent = {
      ...entry(tenant, 'invalidMessage'),
      body: bytes.toString('base64'),
      bodyEncoding: 'base64',
    };
    await parkedStore.park([binary]);
    await bus.purgeQueue(queueName);

    const listed = (await listParked(tenant)).json<Page>().items;
    expect(listed).toMatchObject([{ body: bytes.toString('base64'), bodyEncoding: 'base64' }]);
    expect((await replay(tenant)).json()).toMatchObject({ replayed: 1 });
    const [onQueue] = await bus.activeMessages(queueName);
    expect(onQueue?.bodyBase64).toBe(bytes.toString('base64'));
  });

  it('replays the selected ids and reports those not parked', async () => {
    const tenant = randomUUID();
    await connections.create(savedConnection(tenant, { state: 'degraded' }));
    const [keep, pick] = [entry(tenant, 'connectionSuspended'), entry(tenant, 'connectionSuspended')];
    await parkedStore.park([keep, pick]);
    const result = await replay(tenant, { parkedIds: [pick.parkedId, 'gone'] });
    expect(result.json()).toEqual({ replayed: 1, notFound: ['gone'], remaining: false });
    expect((await parkedStore.list(tenant, { limit: 10 })).items.map((item) => item.parkedId)).toEqual([
      keep.parkedId,
    ]);
  });

  it('refuses with 409 ExportNotActive while the connection is suspended, keeping everything parked', async () => {
    const tenant = randomUUID();
    await connections.create(savedConnection(tenant, { state: 'suspended', stateReason: 'Role removed' }));
    await parkedStore.park([entry(tenant, 'connectionSuspended')]);
    const result = await replay(tenant);
    expect(result.status).toBe(409);
    expect(result.json<{ code: string; detail: string }>()).toMatchObject({ code: 'ExportNotActive' });
    expect(await parkedStore.count(tenant)).toBe(1);
  });

  it.each([
    [{ categories: ['lost'] }, 'InvalidReplaySelection'],
    [{ parkedIds: 'one' }, 'InvalidReplaySelection'],
    [{ parkedIds: [] }, 'InvalidReplaySelection'],
  ])('answers the selection %j with 400 %s', async (json, code) => {
    const tenant = randomUUID();
    await connections.create(savedConnection(tenant));
    const result = await replay(tenant, json);
    expect(result.status).toBe(400);
    expect(result.json<{ code: string }>().code).toBe(code);
  });
});
