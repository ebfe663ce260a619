import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { AuthenticationError, AuthenticationRequiredError } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { classifyUploadError } from '../../src/adapters/logsIngestionSink';

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
