import {
  createEmptyPipeline,
  createHttpHeaders,
  createPipelineRequest,
  type HttpClient,
  RestError,
} from '@azure/core-rest-pipeline';
import { AuthenticationError, AuthenticationRequiredError } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { CustomerCredentials } from '../../src/adapters/customerCredentials';
import {
  classifyUploadError,
  LogsIngestionSink,
  staleConnectionPolicy,
} from '../../src/adapters/logsIngestionSink';

function restError(
  status: number | undefined,
  headers: Record<string, string> = {},
  code?: string,
): RestError {
  const request = createPipelineRequest({ url: 'https://127.0.0.1/dataCollectionRules/dcr-1/streams/s' });
  return new RestError(`status ${status ?? 'none'}`, {
    ...(code ? { code } : {}),
    ...(status === undefined
      ? {}
      : { statusCode: status, response: { status, headers: createHttpHeaders(headers), request } }),
  });
}

describe('classifyUploadError', () => {
  it('maps statuses to the forwarder kinds', () => {
    expect(classifyUploadError(restError(429)).kind).toBe('throttled');
    expect(classifyUploadError(restError(503)).kind).toBe('unavailable');
    expect(classifyUploadError(restError(500)).kind).toBe('unavailable');
    expect(classifyUploadError(restError(403)).kind).toBe('forbidden');
    expect(classifyUploadError(restError(404)).kind).toBe('notFound');
    expect(classifyUploadError(restError(400)).kind).toBe('rejected');
    expect(classifyUploadError(restError(413)).kind).toBe('rejected');
    expect(classifyUploadError(restError(401)).kind).toBe('unauthenticated');
  });

  it('reads Retry-After in seconds and in milliseconds', () => {
    expect(classifyUploadError(restError(429, { 'retry-after': '7' })).details.retryAfterMs).toBe(7000);
    expect(classifyUploadError(restError(429, { 'retry-after-ms': '250' })).details.retryAfterMs).toBe(250);
    expect(classifyUploadError(restError(429)).details.retryAfterMs).toBeUndefined();
  });

  it('treats a connection reset as unavailable, naming the code', () => {
    const failure = classifyUploadError(restError(undefined, {}, 'ECONNRESET'));
    expect(failure.kind).toBe('unavailable');
    expect(failure.message).toContain('ECONNRESET');
  });

  it('treats a token the tenant will not issue as unauthenticated, whichever error MSAL chose', () => {
    const scopes = ['https://monitor.azure.com/.default'];
    expect(
      classifyUploadError(new AuthenticationRequiredError({ scopes, message: 'AADSTS700016' })).kind,
    ).toBe('unauthenticated');
    expect(classifyUploadError(new AuthenticationError(400, { error: 'invalid_client' })).kind).toBe(
      'unauthenticated',
    );
  });

  it('unwraps the SDK aggregate error and keeps only the first line of a service message', () => {
    const cause = new RestError('line one\nsecret second line', { statusCode: 400 });
    const aggregate = Object.assign(new Error('undefined\n}'), {
      name: 'AggregateLogsUploadError',
      errors: [{ failedLogs: [], cause }],
    });
    const failure = classifyUploadError(aggregate);
    expect(failure.kind).toBe('rejected');
    expect(failure.message).not.toContain('secret second line');
  });
});

describe('staleConnectionPolicy', () => {
  // A pooled keep-alive connection the server closed while idle fails before any answer; the SDK's
  // default retry policy would resend at once, and with its retries off this policy does, once.
  function pipelineAnswering(answers: Array<number | string>) {
    const sent: Array<string | undefined> = [];
    const httpClient: HttpClient = {
      sendRequest(request) {
        sent.push(typeof request.body === 'string' ? request.body : undefined);
        const answer = answers.shift();
        if (typeof answer === 'string') {
          return Promise.reject(new RestError(`socket ${answer}`, { code: answer, request }));
        }
        return Promise.resolve({ status: answer ?? 500, headers: createHttpHeaders(), request });
      },
    };
    const pipeline = createEmptyPipeline();
    pipeline.addPolicy(staleConnectionPolicy);
    const send = (abortSignal?: AbortSignal) =>
      pipeline.sendRequest(
        httpClient,
        createPipelineRequest({
          url: 'https://127.0.0.1/dataCollectionRules/dcr-1/streams/s',
          method: 'POST',
          body: 'gzipped rows',
          ...(abortSignal ? { abortSignal } : {}),
        }),
      );
    return { sent, send };
  }

  it('sends the same body again once after a reset before any answer', async () => {
    const { sent, send } = pipelineAnswering(['ECONNRESET', 204]);
    expect((await send()).status).toBe(204);
    expect(sent).toEqual(['gzipped rows', 'gzipped rows']);
  });

  it('gives a second reset to the forwarder as the outage it is', async () => {
    const { sent, send } = pipelineAnswering(['EPIPE', 'ECONNRESET', 204]);
    await expect(send()).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(sent).toHaveLength(2);
  });

  it('leaves answers, other network errors and aborted uploads alone', async () => {
    const answered = pipelineAnswering([503, 204]);
    expect((await answered.send()).status).toBe(503);
    expect(answered.sent).toHaveLength(1);
    const refused = pipelineAnswering(['ECONNREFUSED', 204]);
    await expect(refused.send()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(refused.sent).toHaveLength(1);
    const controller = new AbortController();
    controller.abort();
    const aborted = pipelineAnswering(['ECONNRESET', 204]);
    await expect(aborted.send(controller.signal)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(aborted.sent).toHaveLength(1);
  });
});

describe('LogsIngestionSink clients', () => {
  it('retry a reset after gzip, so the second attempt sends the same compressed bytes', () => {
    const credentials = new CustomerCredentials({
      customerApp: {
        clientId: '00000000-0000-4000-8000-000000000001',
        credential: { kind: 'secret', clientSecret: 'not-a-secret' },
      },
      cloud: {
        authorityHost: 'https://login.microsoftonline.com',
        disableInstanceDiscovery: true,
        armEndpoint: 'https://management.azure.com',
        logsIngestionAudience: 'https://monitor.azure.com',
      },
    });
    const sink = new LogsIngestionSink(credentials, 'https://monitor.azure.com');
    const names = sink
      .clientFor('00000000-0000-4000-8000-000000000002', 'https://dce.westeurope-1.ingest.monitor.azure.com')
      .pipeline.getOrderedPolicies()
      .map((policy) => policy.name);
    expect(names.indexOf('staleConnectionRetry')).toBe(names.indexOf('GzippingPolicy') + 1);
  });
});
