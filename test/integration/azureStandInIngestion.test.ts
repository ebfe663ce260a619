import { gzipSync } from 'node:zlib';
import { isAggregateLogsUploadError, LogsIngestionClient } from '@azure/monitor-ingestion';
import { RestError } from '@azure/core-rest-pipeline';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { CA_TABLE, streamName } from '../../src/domain/tableSchema';
import { AzureStandInAdmin, type StandInInfo } from '../support/azureStandIn';
import { arm, createTable, dcrBody, dcrUrl, seedCustomer, type Customer } from './azureStandInHelpers';

const admin = new AzureStandInAdmin(inject('azureStandInUrl'));
const STREAM = streamName(CA_TABLE);
let info: StandInInfo;

beforeAll(async () => {
  info = await admin.info();
});

interface Connected extends Customer {
  immutableId: string;
  endpoint: string;
  client: LogsIngestionClient;
}

/** A customer whose table and Direct DCR exist: what a successful "Create Connection" leaves behind. */
async function connectedCustomer(options: Parameters<typeof seedCustomer>[2] = {}): Promise<Connected> {
  const customer = await seedCustomer(admin, info, options);
  await createTable(info, customer);
  const dcr = await arm(customer.credential, 'PUT', dcrUrl(info, customer, 'dcr-siem'), dcrBody(customer));
  if (dcr.status !== 201) throw new Error(`DCR PUT answered ${dcr.status}: ${JSON.stringify(dcr.body)}`);
  const endpoint = dcr.body.properties.endpoints.logsIngestion;
  return {
    ...customer,
    immutableId: dcr.body.properties.immutableId,
    endpoint,
    client: new LogsIngestionClient(endpoint, customer.credential, { retryOptions: { maxRetries: 0 } }),
  };
}

function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    TimeGenerated: new Date().toISOString(),
    EventID_d: 4888,
    EventRecordId_g: crypto.randomUUID(),
    EventSummary_s: 'Certificate request denied due to insufficient permissions',
    Criticality_s: 'High',
    Outcome_s: 'Denied',
    ...overrides,
  };
}

/** The HTTP status of the single failed chunk of an upload. */
async function uploadStatus(promise: Promise<void>): Promise<number | 'ok'> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (!isAggregateLogsUploadError(error)) throw error;
    const cause = error.errors[0]?.cause;
    if (!(cause instanceof RestError)) throw cause ?? error;
    return cause.statusCode ?? -1;
  }
}

async function uploadError(promise: Promise<void>): Promise<RestError> {
  try {
    await promise;
  } catch (error) {
    if (isAggregateLogsUploadError(error) && error.errors[0]?.cause instanceof RestError)
      return error.errors[0].cause;
    throw error;
  }
  throw new Error('upload succeeded');
}

async function rawUpload(
  target: Connected,
  body: Buffer | string,
  headers: Record<string, string> = {},
  stream = STREAM,
): Promise<{ status: number; error?: { code: string; message: string } }> {
  const token = await target.credential.getToken('https://monitor.azure.com/.default');
  const response = await fetch(
    `${target.endpoint}/dataCollectionRules/${target.immutableId}/streams/${stream}?api-version=2023-01-01`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json', ...headers },
      body,
    },
  );
  const text = await response.text();
  return {
    status: response.status,
    ...(text ? (JSON.parse(text) as { error: { code: string; message: string } }) : {}),
  };
}

describe('Logs Ingestion stand-in with the real LogsIngestionClient', () => {
  it("lands uploaded rows in the DCR's output table, recorded with the uploading tenant", async () => {
    const target = await connectedCustomer();
    const rows = [event(), event({ EventID_d: 4870, Outcome_s: 'Success' })];

    await target.client.upload(target.immutableId, STREAM, rows);

    const recorded = await admin.rows({ workspaceId: target.workspaceId, table: CA_TABLE });
    expect(recorded.map((entry) => entry.row)).toEqual(rows);
    expect(recorded.every((entry) => entry.tenantId === target.tenant.tenantId)).toBe(true);
    expect(recorded[0]).toMatchObject({ dcrImmutableId: target.immutableId, stream: STREAM });
    const requests = await admin.requests({ dcrImmutableId: target.immutableId, operation: 'upload' });
    expect(requests).toEqual([expect.objectContaining({ status: 204, rowCount: 2 })]);
  });

  it('refuses a token for another audience (401)', async () => {
    const target = await connectedCustomer();
    const client = new LogsIngestionClient(target.endpoint, target.credential, {
      audience: 'https://management.azure.com',
      retryOptions: { maxRetries: 0 },
    });
    const error = await uploadError(client.upload(target.immutableId, STREAM, [event()]));
    expect(error.statusCode).toBe(401);
    expect(error.code).toBe('InvalidAuthenticationTokenAudience');
  });

  it('is never reached over plain http: the SDK refuses to send a bearer token without TLS', async () => {
    const target = await connectedCustomer();
    const client = new LogsIngestionClient(target.endpoint.replace(/^https:/, 'http:'), target.credential);
    const before = await admin.requests({ dcrImmutableId: target.immutableId });

    const failure = await client.upload(target.immutableId, STREAM, [event()]).then(
      () => undefined,
      (error: unknown) => error,
    );

    expect(isAggregateLogsUploadError(failure)).toBe(true);
    const cause = isAggregateLogsUploadError(failure) ? failure.errors[0]?.cause : undefined;
    expect(cause?.message).toContain(
      'Bearer token authentication is not permitted for non-TLS protected (non-https) URLs.',
    );
    expect(await admin.requests({ dcrImmutableId: target.immutableId })).toEqual(before);
  });

  it('answers 204 to a body that is not a JSON array and ingests nothing, recording why; 400 only for JSON that does not parse', async () => {
    const target = await connectedCustomer();
    const response = await rawUpload(target, gzipSync(JSON.stringify(event())), {
      'content-encoding': 'gzip',
    });
    expect(response.status).toBe(204);
    expect(await admin.rows({ workspaceId: target.workspaceId, table: CA_TABLE })).toEqual([]);
    const [dropped] = await admin.dropped({ dcrImmutableId: target.immutableId });
    expect(dropped).toMatchObject({ kind: 'body', stream: STREAM, tenantId: target.tenant.tenantId });
    expect(dropped?.reason).toContain('not a JSON array');

    const malformed = await rawUpload(target, '[{"TimeGenerated": ');
    expect(malformed.status).toBe(400);
    expect(malformed.error?.code).toBe('InvalidJson');
  });

  it('refuses more than 1 MB, uncompressed or once decompressed (413)', async () => {
    const target = await connectedCustomer();
    const huge = event({ Message_s: 'x'.repeat(1_100_000) });
    expect(await uploadStatus(target.client.upload(target.immutableId, STREAM, [huge]))).toBe(413);

    const plain = await rawUpload(target, JSON.stringify([huge]));
    expect(plain.status).toBe(413);
    expect(plain.error?.code).toBe('ContentLengthLimitExceeded');

    const rows = Array.from({ length: 120 }, () => event({ Message_s: 'y'.repeat(9_000) }));
    const compressed = gzipSync(JSON.stringify(rows));
    expect(compressed.length).toBeLessThan(1024 * 1024);
    expect((await rawUpload(target, compressed, { 'content-encoding': 'gzip' })).status).toBe(413);
  });

  it('refuses an unknown stream and an unknown DCR (404)', async () => {
    const target = await connectedCustomer();
    const unknownStream = await uploadError(
      target.client.upload(target.immutableId, 'Custom-Nope_CL', [event()]),
    );
    expect(unknownStream.statusCode).toBe(404);
    const unknownDcr = await uploadError(
      target.client.upload('dcr-00000000000000000000000000000000', STREAM, [event()]),
    );
    expect(unknownDcr.statusCode).toBe(404);
  });

  it('answers 204 and drops undeclared columns and mistyped rows, as Azure does, recording which row and column', async () => {
    const target = await connectedCustomer();
    const kept = event();
    await target.client.upload(target.immutableId, STREAM, [
      kept,
      event({ TenantId: 'x', Message_s: 'undeclared column' }),
      event({ EventID_d: '4888' }),
      event({ TimeGenerated: 'yesterday' }),
    ]);

    const stored = await admin.rows({ workspaceId: target.workspaceId, table: CA_TABLE });
    expect(stored.map((entry) => entry.row.Message_s)).toEqual([kept.Message_s, 'undeclared column']);
    expect(stored[1]?.row).not.toHaveProperty('TenantId');
    const dropped = await admin.dropped({ dcrImmutableId: target.immutableId });
    expect(dropped.map(({ kind, rowIndex, column }) => ({ kind, rowIndex, column }))).toEqual([
      { kind: 'property', rowIndex: 1, column: 'TenantId' },
      { kind: 'row', rowIndex: 2, column: 'EventID_d' },
      { kind: 'row', rowIndex: 3, column: 'TimeGenerated' },
    ]);
    expect(dropped[1]?.reason).toContain("Column 'EventID_d' (real) must be a JSON number");
    expect(dropped[2]?.reason).toContain('ISO 8601');
    const requests = await admin.requests({ dcrImmutableId: target.immutableId, operation: 'upload' });
    expect(requests.at(-1)).toMatchObject({ status: 204 });
  });

  it('refuses an identity without Monitoring Metrics Publisher, and one from another tenant (403 OperationFailed)', async () => {
    const target = await connectedCustomer({
      roles: ['Monitoring Contributor', 'Log Analytics Contributor'],
    });
    const error = await uploadError(target.client.upload(target.immutableId, STREAM, [event()]));
    expect(error.statusCode).toBe(403);
    expect(error.code).toBe('OperationFailed');
    expect(error.message).toContain(
      `The authentication token provided does not have access to ingest data for the data collection rule with immutable Id '${target.immutableId}'`,
    );

    const intruder = await seedCustomer(admin, info);
    const foreign = new LogsIngestionClient(target.endpoint, intruder.credential, {
      retryOptions: { maxRetries: 0 },
    });
    expect(await uploadStatus(foreign.upload(target.immutableId, STREAM, [event()]))).toBe(403);

    await admin.grantRole({
      tenantId: target.tenant.tenantId,
      clientId: target.clientId,
      role: 'Monitoring Metrics Publisher',
      scope: target.tenant.resourceGroup.id,
    });
    expect(await uploadStatus(target.client.upload(target.immutableId, STREAM, [event()]))).toBe('ok');
  });

  it('answers 404 during the DCR propagation window and 403 during the role propagation window', async () => {
    const target = await connectedCustomer();
    await admin.configure({
      tenantId: target.tenant.tenantId,
      propagation: { afterDcrCreatedMs: 3_600_000 },
    });
    expect(await uploadStatus(target.client.upload(target.immutableId, STREAM, [event()]))).toBe(404);

    await admin.configure({
      tenantId: target.tenant.tenantId,
      propagation: { afterDcrCreatedMs: 0, afterRoleGrantedMs: 3_600_000 },
    });
    expect(await uploadStatus(target.client.upload(target.immutableId, STREAM, [event()]))).toBe(403);

    await admin.configure({ tenantId: target.tenant.tenantId, propagation: { afterRoleGrantedMs: 0 } });
    expect(await uploadStatus(target.client.upload(target.immutableId, STREAM, [event()]))).toBe('ok');
  });

  it('imitates what Azure does to accepted rows: 64 KB field truncation, TimeGenerated outside [-2 d, +1 d] replaced', async () => {
    const target = await connectedCustomer();
    const old = new Date(Date.now() - 3 * 86_400_000).toISOString();
    await target.client.upload(target.immutableId, STREAM, [
      event({ TimeGenerated: old, Details_s: 'z'.repeat(70_000) }),
    ]);

    const [recorded] = await admin.rows({ workspaceId: target.workspaceId, table: CA_TABLE });
    expect(recorded?.timeGeneratedReplaced).toBe(true);
    expect(recorded?.row.TimeGenerated).toBe(recorded?.receivedAt);
    expect(recorded?.truncatedColumns).toEqual(['Details_s']);
    expect(String(recorded?.row.Details_s)).toHaveLength(65_536);
  });

  it('requires the api-version and a JSON content type, accepting plain JSON as well as gzip', async () => {
    const target = await connectedCustomer();
    const plain = await rawUpload(target, JSON.stringify([event()]));
    expect(plain.status).toBe(204);
    const wrongType = await rawUpload(target, JSON.stringify([event()]), { 'content-type': 'text/plain' });
    expect(wrongType.status).toBe(415);
    const token = await target.credential.getToken('https://monitor.azure.com/.default');
    const noVersion = await fetch(
      `${target.endpoint}/dataCollectionRules/${target.immutableId}/streams/${STREAM}`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
        body: JSON.stringify([event()]),
      },
    );
    expect(noVersion.status).toBe(400);
    expect(await admin.rows({ workspaceId: target.workspaceId, table: CA_TABLE })).toHaveLength(1);
  });
});
