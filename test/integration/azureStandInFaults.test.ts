import { ClientSecretCredential } from '@azure/identity';
import { isAggregateLogsUploadError, LogsIngestionClient } from '@azure/monitor-ingestion';
import { RestError } from '@azure/core-rest-pipeline';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { CA_TABLE, streamName } from '../../src/domain/tableSchema';
import { AzureStandInAdmin, type StandInInfo } from '../support/azureStandIn';
import {
  ARM_SCOPE,
  arm,
  createTable,
  dcrBody,
  dcrUrl,
  seedCustomer,
  type Customer,
} from './azureStandInHelpers';

const admin = new AzureStandInAdmin(inject('azureStandInUrl'));
const STREAM = streamName(CA_TABLE);
let info: StandInInfo;

beforeAll(async () => {
  info = await admin.info();
});

interface Connected extends Customer {
  immutableId: string;
  endpoint: string;
}

async function connectedCustomer(): Promise<Connected> {
  const customer = await seedCustomer(admin, info);
  await createTable(info, customer);
  const dcr = await arm(customer.credential, 'PUT', dcrUrl(info, customer, 'dcr-siem'), dcrBody(customer));
  return {
    ...customer,
    immutableId: dcr.body.properties.immutableId,
    endpoint: dcr.body.properties.endpoints.logsIngestion,
  };
}

/** The SDK's own retry policy, with short delays so retried faults stay fast. */
function client(target: Connected, maxRetries = 3): LogsIngestionClient {
  return new LogsIngestionClient(target.endpoint, target.credential, {
    retryOptions: { maxRetries, retryDelayInMs: 5, maxRetryDelayInMs: 20 },
  });
}

function row(): Record<string, unknown> {
  return { TimeGenerated: new Date().toISOString(), EventID_d: 4887, Outcome_s: 'Success' };
}

async function uploadStatus(promise: Promise<void>): Promise<number | 'ok'> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (isAggregateLogsUploadError(error) && error.errors[0]?.cause instanceof RestError) {
      return error.errors[0].cause.statusCode ?? -1;
    }
    throw error;
  }
}

async function uploadStatuses(target: Connected): Promise<number[]> {
  const entries = await admin.requests({ dcrImmutableId: target.immutableId, operation: 'upload' });
  return entries.map((entry) => entry.status);
}

describe('fault injection, scoped so one tenant breaks while another works', () => {
  it("breaks one tenant's ingestion with 503 until cleared, while another tenant keeps delivering", async () => {
    const broken = await connectedCustomer();
    const healthy = await connectedCustomer();
    await admin.injectFault({ face: 'ingestion', tenantId: broken.tenant.tenantId, status: 503 });

    expect(await uploadStatus(client(broken, 0).upload(broken.immutableId, STREAM, [row()]))).toBe(503);
    expect(await uploadStatus(client(healthy, 0).upload(healthy.immutableId, STREAM, [row()]))).toBe('ok');
    expect(await admin.rows({ workspaceId: broken.workspaceId, table: CA_TABLE })).toEqual([]);
    expect(await admin.rows({ workspaceId: healthy.workspaceId, table: CA_TABLE })).toHaveLength(1);

    expect(await admin.clearFaults({ tenantId: broken.tenant.tenantId })).toEqual({ removed: 1 });
    expect(await uploadStatus(client(broken, 0).upload(broken.immutableId, STREAM, [row()]))).toBe('ok');
  });

  it('targets a single DCR by immutable id', async () => {
    const target = await connectedCustomer();
    const other = await connectedCustomer();
    const fault = await admin.injectFault({ dcrImmutableId: target.immutableId, status: 500, times: 1 });
    expect(await uploadStatus(client(other, 0).upload(other.immutableId, STREAM, [row()]))).toBe('ok');
    expect(await uploadStatus(client(target, 0).upload(target.immutableId, STREAM, [row()]))).toBe(500);
    expect((await admin.listFaults()).map((entry) => entry.id)).not.toContain(fault.id);
  });

  it('429 with Retry-After is retried by the SDK; 429 without it is not (trap 1 of the contracts)', async () => {
    const target = await connectedCustomer();
    await admin.injectFault({ dcrImmutableId: target.immutableId, status: 429, retryAfter: 0, times: 1 });
    expect(await uploadStatus(client(target).upload(target.immutableId, STREAM, [row()]))).toBe('ok');
    expect(await uploadStatuses(target)).toEqual([429, 204]);

    await admin.injectFault({ dcrImmutableId: target.immutableId, status: 429, times: 1 });
    expect(await uploadStatus(client(target).upload(target.immutableId, STREAM, [row()]))).toBe(429);
    expect(await uploadStatuses(target)).toEqual([429, 204, 429]);
  });

  it('500 and 503 are retried by the SDK until the fault is used up', async () => {
    const target = await connectedCustomer();
    await admin.injectFault({ dcrImmutableId: target.immutableId, status: 500, times: 1 });
    await admin.injectFault({ dcrImmutableId: target.immutableId, status: 503, times: 1 });
    expect(await uploadStatus(client(target).upload(target.immutableId, STREAM, [row()]))).toBe('ok');
    expect(await uploadStatuses(target)).toEqual([500, 503, 204]);
    expect(await admin.rows({ workspaceId: target.workspaceId, table: CA_TABLE })).toHaveLength(1);
  });

  it("resets the connection of one tenant's next ARM request only", async () => {
    const target = await connectedCustomer();
    const url = `${info.armEndpoint}${target.workspaceId}?api-version=2022-10-01`;
    await admin.injectFault({
      face: 'arm',
      tenantId: target.tenant.tenantId,
      resetConnection: true,
      times: 1,
    });
    const token = await target.credential.getToken('https://management.azure.com/.default');
    await expect(fetch(url, { headers: { authorization: `Bearer ${token.token}` } })).rejects.toThrow();
    expect((await fetch(url, { headers: { authorization: `Bearer ${token.token}` } })).status).toBe(200);
    const log = await admin.requests({ tenantId: target.tenant.tenantId, operation: 'workspaceGet' });
    expect(log.map((entry) => entry.errorCode ?? entry.status)).toEqual(['ConnectionReset', 200]);
  });

  it("delays one tenant's ARM answers while another tenant is served at once", async () => {
    const slow = await seedCustomer(admin, info);
    const fast = await seedCustomer(admin, info);
    await admin.injectFault({
      face: 'arm',
      operation: 'workspaceGet',
      tenantId: slow.tenant.tenantId,
      delayMs: 1_500,
    });
    const slowToken = await slow.credential.getToken('https://management.azure.com/.default');

    const slowCall = fetch(`${info.armEndpoint}${slow.workspaceId}?api-version=2022-10-01`, {
      headers: { authorization: `Bearer ${slowToken.token}` },
      signal: AbortSignal.timeout(200),
    });
    const fastCall = arm(
      fast.credential,
      'GET',
      `${info.armEndpoint}${fast.workspaceId}?api-version=2022-10-01`,
    );

    await expect(slowCall).rejects.toThrow(/abort|timeout/i);
    expect((await fastCall).status).toBe(200);
    await admin.clearFaults({ tenantId: slow.tenant.tenantId });
  });

  it("fails one tenant's Entra token requests in Entra's shape while another tenant gets tokens", async () => {
    const broken = await seedCustomer(admin, info);
    const healthy = await seedCustomer(admin, info);
    await admin.injectFault({
      face: 'entra',
      operation: 'token',
      tenantId: broken.tenant.tenantId,
      status: 503,
    });
    const credential = (retryOptions: { maxRetries: number }) =>
      new ClientSecretCredential(broken.tenant.tenantId, broken.clientId, broken.secret, {
        authorityHost: info.authorityHost,
        disableInstanceDiscovery: true,
        retryOptions,
      });

    await expect(credential({ maxRetries: 0 }).getToken(ARM_SCOPE)).rejects.toThrow(/ServiceUnavailable/);
    await expect(healthy.credential.getToken(ARM_SCOPE)).resolves.toBeDefined();
    const attempts = await admin.requests({ tenantId: broken.tenant.tenantId, operation: 'token' });
    expect(attempts.map((entry) => entry.status)).toEqual([503]);

    await admin.clearFaults({ tenantId: broken.tenant.tenantId });
    // MSAL throttles a client application for 60 s after a 5xx from the token endpoint: recovery needs a new credential.
    await expect(credential({ maxRetries: 0 }).getToken(ARM_SCOPE)).resolves.toBeDefined();
  });

  it('rejects a fault that would do nothing', async () => {
    await expect(admin.injectFault({ tenantId: 'x' })).rejects.toThrow(
      /at least one of status, delayMs or resetConnection/,
    );
  });
});
