import { createRequire } from 'node:module';
import { app } from '@azure/functions';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deliveries } from '../fixtures/functionsApp/functions';
import {
  findHttpFunction,
  findServiceBusFunction,
  getFunction,
  getWorkerCapabilities,
  HostConversionError,
  invokeHttp,
  invokeServiceBusBatch,
  invokeServiceBusMessage,
  listFunctions,
  type ServiceBusTestMessage,
} from '../support/functionsHost';

// Extra routes for the routing rules; registered before the first invocation ends app startup.
const ok = () => ({ status: 204 });
app.get('byLiteral', { route: 'items/special', handler: ok });
app.get('byParameter', { route: 'items/{id}', handler: ok });
app.get('byIntConstraint', { route: 'orders/{id:int}', handler: ok });
app.get('byOptional', { route: 'reports/{year?}', handler: ok });
app.get('byCatchAll', { route: 'files/{*rest}', handler: ok });
app.http('byName', { methods: ['DELETE'], handler: ok });

function clearDeliveries(): void {
  for (const list of Object.values(deliveries)) list.length = 0;
}

describe('registration through the module loader', () => {
  it('gives the library our @azure/functions-core, so app.* calls register instead of going to test mode', () => {
    const core = createRequire(import.meta.url)('@azure/functions-core') as Record<string, unknown>;
    expect(typeof core.registerFunction).toBe('function');
    expect(typeof core.setProgrammingModel).toBe('function');
    expect((core.getProgrammingModel as () => { name: string })().name).toBe('@azure/functions');
    expect(listFunctions().map((f) => f.name)).toEqual(
      expect.arrayContaining(['echoConnection', 'typedBatch', 'stringBatch', 'singleMessage', 'byLiteral']),
    );
  });

  it('describes each trigger as registered, with the generated binding name', () => {
    expect(getFunction('echoConnection')).toMatchObject({
      triggerType: 'httpTrigger',
      route: 'tenants/{tenantId}/siem/connection',
      methods: ['GET', 'POST'],
      authLevel: 'anonymous',
    });
    expect(getFunction('typedBatch')).toMatchObject({
      triggerType: 'serviceBusTrigger',
      queueName: '%FIXTURE_TYPED_QUEUE%',
      connection: 'ServiceBusConnection',
      cardinality: 'many',
      dataType: undefined,
      autoCompleteMessages: true,
    });
    expect(getFunction('stringBatch')).toMatchObject({ cardinality: 'many', dataType: 'string' });
    expect(getFunction('stringBatch').triggerBindingName).toMatch(/^serviceBusTrigger[0-9a-f]+$/);
    expect(() => getFunction('nope')).toThrow(/No function named "nope".*echoConnection/);
  });

  it('refuses names the Functions host would refuse', () => {
    expect(() => app.get('has space', ok)).toThrow(/refuse the function name "has space"/);
    expect(() => app.get('host', ok)).toThrow(/refuse the function name "host"/);
  });
});

describe('HTTP routing', () => {
  it('matches route templates under the api/ prefix and extracts decoded params', () => {
    const match = findHttpFunction('post', '/api/Tenants/t%201/siem/connection?x=1');
    expect(match?.function.name).toBe('echoConnection');
    expect(match?.params).toEqual({ tenantId: 't 1' });
    expect(findHttpFunction('PUT', '/api/tenants/t1/siem/connection')).toBeUndefined();
    expect(findHttpFunction('GET', '/tenants/t1/siem/connection')).toBeUndefined();
  });

  it('prefers literals to parameters and applies constraints, optional and catch-all parameters', () => {
    expect(findHttpFunction('GET', '/api/items/special')?.function.name).toBe('byLiteral');
    expect(findHttpFunction('GET', '/api/items/other')?.params).toEqual({ id: 'other' });
    expect(findHttpFunction('GET', '/api/orders/42')?.params).toEqual({ id: '42' });
    expect(findHttpFunction('GET', '/api/orders/forty-two')).toBeUndefined();
    expect(findHttpFunction('GET', '/api/reports')?.params).toEqual({});
    expect(findHttpFunction('GET', '/api/reports/2024/')?.params).toEqual({ year: '2024' });
    expect(findHttpFunction('GET', '/api/files/a/b%2Fc.txt')?.params).toEqual({ rest: 'a/b/c.txt' });
    expect(findHttpFunction('DELETE', '/api/byName')?.function.name).toBe('byName');
  });
});

describe('invokeHttp', () => {
  it('runs the handler through the library: status, headers, JSON body, params, query, request body', async () => {
    const response = await invokeHttp({
      method: 'POST',
      path: '/api/tenants/tenant-1/siem/connection?a=1',
      query: { b: ['2', '3'] },
      json: { workspace: 'w' },
    });
    expect(response.functionName).toBe('echoConnection');
    expect(response.status).toBe(201);
    expect(response.headers.get('x-echo-method')).toBe('POST');
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.json()).toEqual({
      method: 'POST',
      url: 'http://localhost:7071/api/tenants/tenant-1/siem/connection?a=1&b=2&b=3',
      params: { tenantId: 'tenant-1' },
      query: { a: '1', b: '2,3' },
      contentType: 'application/json',
      body: '{"workspace":"w"}',
      triggerMetadata: null,
    });
  });

  it('gives the handler "" for a request without a body', async () => {
    const response = await invokeHttp({ method: 'GET', path: '/api/tenants/t/siem/connection' });
    expect(response.status).toBe(200);
    expect(response.json()).toMatchObject({ body: '', contentType: null });
  });

  it('captures every log line of the invocation with its level', async () => {
    const { logs, invocationId } = await invokeHttp({
      method: 'GET',
      path: '/api/tenants/t-42/siem/connection',
    });
    const user = logs.filter((l) => l.category === 'user');
    expect(user.map((l) => [l.level, l.message])).toEqual([
      ['information', 'echo for tenant t-42'],
      ['warning', 'a warning line'],
    ]);
    expect(user.every((l) => l.invocationId === invocationId && l.functionName === 'echoConnection')).toBe(
      true,
    );
    expect(logs.at(-1)?.category).toBe('host');
    expect(logs.at(-1)?.message).toContain('Succeeded');
  });

  it('answers 500 when the handler throws, and logs the error as the host does', async () => {
    const response = await invokeHttp({ method: 'GET', path: '/api/tenants/t/siem/connection?fail=yes' });
    expect(response.status).toBe(500);
    expect(response.text()).toBe('');
    expect(response.error).toBeInstanceOf(Error);
    expect(response.logs.at(-1)).toMatchObject({ level: 'error', category: 'host' });
    expect(response.logs.at(-1)?.message).toContain('handler failed on purpose');
  });

  it('answers 404 when no route matches', async () => {
    const response = await invokeHttp({ method: 'GET', path: '/api/unknown' });
    expect(response.status).toBe(404);
    expect(response.functionName).toBeUndefined();
  });
});

describe('Service Bus', () => {
  const savedQueue = process.env.FIXTURE_TYPED_QUEUE;
  beforeEach(() => {
    process.env.FIXTURE_TYPED_QUEUE = 'typed-queue';
    clearDeliveries();
  });
  afterEach(() => {
    if (savedQueue === undefined) delete process.env.FIXTURE_TYPED_QUEUE;
    else process.env.FIXTURE_TYPED_QUEUE = savedQueue;
  });

  const event = (n: number): ServiceBusTestMessage => ({
    body: { n },
    messageId: `m-${n}`,
    contentType: 'application/json',
    applicationProperties: { TenantId: 't1', SchemaVersion: '1' },
  });

  it('finds triggers by queue name, resolving %SETTING% references', () => {
    expect(findServiceBusFunction('typed-queue')?.name).toBe('typedBatch');
    expect(findServiceBusFunction('fixture-string-queue')?.name).toBe('stringBatch');
    expect(findServiceBusFunction('other')).toBeUndefined();
    delete process.env.FIXTURE_TYPED_QUEUE;
    expect(() => findServiceBusFunction('typed-queue')).toThrow(/FIXTURE_TYPED_QUEUE.*not set/);
  });

  it('delivers a JSON batch to a typed trigger as parsed bodies', async () => {
    const result = await invokeServiceBusBatch('typedBatch', [event(1), event(2)]);
    expect(result.outcome).toBe('completed');
    expect(deliveries.typedBatch).toHaveLength(1);
    expect(deliveries.typedBatch![0]!.messages).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('fails the whole typed batch in the host when one body is not JSON: the handler never runs', async () => {
    const result = await invokeServiceBusBatch('typedBatch', [
      event(1),
      { body: 'not json', messageId: 'bad' },
    ]);
    expect(result.outcome).toBe('failed');
    if (result.outcome !== 'failed') return;
    expect(result.failedIn).toBe('host');
    expect(result.error).toBeInstanceOf(HostConversionError);
    expect(result.error).toMatchObject({ messageIndex: 1, messageId: 'bad' });
    expect(deliveries.typedBatch).toHaveLength(0);
  });

  it('delivers non-JSON bodies as strings to a dataType string trigger, JSON ones parsed by the library', async () => {
    const result = await invokeServiceBusBatch('stringBatch', [
      event(1),
      { body: 'not json', messageId: 'text' },
      { body: Buffer.from('"quoted"'), messageId: 'bytes' },
    ]);
    expect(result.outcome).toBe('completed');
    expect(deliveries.stringBatch![0]!.messages).toEqual([{ n: 1 }, 'not json', 'quoted']);
  });

  it('reports a handler exception as a failure in the function (the host abandons the batch)', async () => {
    const result = await invokeServiceBusBatch('stringBatch', [{ body: 'throw', messageId: 'x' }]);
    expect(result).toMatchObject({ outcome: 'failed', failedIn: 'function' });
    if (result.outcome === 'failed') expect(String(result.error)).toMatch(/handler refused the batch/);
  });

  it('drops empty entries from string arrays and bodies without the capability, misaligning them', async () => {
    expect((await getWorkerCapabilities()).IncludeEmptyEntriesInMessagePayload).toBeUndefined();
    await invokeServiceBusBatch('stringBatch', [
      { body: 'a', messageId: 'm-a', contentType: 'text/plain' },
      { body: '', messageId: 'm-empty' },
      { body: 'c', messageId: 'm-c', correlationId: 'corr-c', contentType: 'text/csv' },
    ]);
    const [delivery] = deliveries.stringBatch!;
    expect(delivery!.messages).toEqual(['a', 'c']);
    expect(delivery!.triggerMetadata).toMatchObject({
      messageIdArray: ['m-a', 'm-empty', 'm-c'],
      contentTypeArray: ['text/plain', 'text/csv'],
      correlationIdArray: ['corr-c'],
      replyToArray: [],
    });
  });

  it('keeps every body of a dataType binary batch, empty ones included, without the capability', async () => {
    expect((await getWorkerCapabilities()).IncludeEmptyEntriesInMessagePayload).toBeUndefined();
    await invokeServiceBusBatch('binaryBatch', [
      { body: '{"n":1}', messageId: 'm-a', contentType: 'application/json' },
      { body: '', messageId: 'm-empty' },
      { body: Buffer.from([0xff, 0xfe]), messageId: 'm-bytes', correlationId: 'corr-c' },
    ]);
    const [delivery] = deliveries.binaryBatch!;
    // Bytes as they were sent: no JSON parsing by the library, and the host drops only null byte arrays.
    expect(delivery!.messages.map((body) => Buffer.isBuffer(body) && [...body])).toEqual([
      [...Buffer.from('{"n":1}')],
      [],
      [0xff, 0xfe],
    ]);
    expect(delivery!.triggerMetadata).toMatchObject({
      messageIdArray: ['m-a', 'm-empty', 'm-bytes'],
      contentTypeArray: ['application/json'],
      correlationIdArray: ['corr-c'],
    });
  });

  it('delivers the batch metadata as the host and library shape it', async () => {
    const big = 2n ** 32n + 5n;
    await invokeServiceBusBatch('typedBatch', [
      {
        ...event(1),
        messageId: '12345',
        sequenceNumber: big,
        deliveryCount: 3,
        enqueuedTimeUtc: new Date('2024-05-01T10:20:30.456Z'),
      },
      { ...event(2), sequenceNumber: 7, applicationProperties: { Nested: { InnerKey: 1 } as never } },
    ]);
    const metadata = deliveries.typedBatch![0]!.triggerMetadata!;
    // Plain numbers, as the worker decodes sint64 (protobufjs longs: Number).
    expect(metadata.sequenceNumberArray).toEqual([Number(big), 7]);
    expect(metadata.deliveryCountArray).toEqual([3, 1]);
    expect(metadata.enqueuedTimeUtcArray).toEqual([
      '2024-05-01T10:20:30.4560000Z',
      expect.stringMatching(/\.\d{7}Z$/),
    ]);
    expect(metadata.applicationPropertiesArray).toEqual([
      { tenantId: 't1', schemaVersion: '1' },
      { nested: { innerKey: 1 } },
    ]);
    // The library JSON-parses each string entry: a numeric-looking message id becomes a number.
    expect(metadata.messageIdArray).toEqual([12345, 'm-2']);
    expect(Object.keys(metadata)).not.toContain('DeliveryCountArray');
  });

  it('rounds sequence numbers above 2^53 like the worker, or hands over Longs as worker 3.16.0 did', async () => {
    const huge = 2n ** 60n + 3n;
    await invokeServiceBusBatch('typedBatch', [{ ...event(3), sequenceNumber: huge }]);
    expect(deliveries.typedBatch!.at(-1)!.triggerMetadata!.sequenceNumberArray).toEqual([2 ** 60]);
    await invokeServiceBusBatch('typedBatch', [{ ...event(4), sequenceNumber: huge }], { longs: 'Long' });
    expect(deliveries.typedBatch!.at(-1)!.triggerMetadata!.sequenceNumberArray).toEqual([
      { low: 3, high: 2 ** 28, unsigned: false },
    ]);
  });

  it('invokes a single-message trigger with single-message metadata', async () => {
    const result = await invokeServiceBusMessage('singleMessage', { ...event(9), sequenceNumber: 99 });
    expect(result.outcome).toBe('completed');
    const [delivery] = deliveries.singleMessage!;
    expect(delivery!.messages).toEqual([{ n: 9 }]);
    expect(delivery!.triggerMetadata).toMatchObject({
      messageId: 'm-9',
      sequenceNumber: 99,
      deliveryCount: 1,
      applicationProperties: { tenantId: 't1', schemaVersion: '1' },
    });
    await expect(invokeServiceBusMessage('typedBatch', event(1))).rejects.toThrow(/cardinality "many"/);
  });
});

describe('after startup', () => {
  it('locks app.setup and registration, as the worker does once the app has started', async () => {
    await getWorkerCapabilities();
    expect(() => app.setup({ capabilities: { Late: 'true' } })).toThrow(/after app startup/);
    expect(() => app.get('tooLate', ok)).toThrow(/only be registered during app startup/);
  });
});
