import { describe, expect, it } from 'vitest';
import {
  AppNotRegisteredError,
  AuthorizationError,
  ConcurrencyConflictError,
  DependencyRejectedError,
  NotFoundError,
  StateConflictError,
  TransientDependencyError,
  ValidationError,
} from '../../src/domain/errors';
import { Forbidden, Unauthenticated } from '../../src/http/auth';
import { errorToProblem, HttpProblem, PROBLEM_CONTENT_TYPE } from '../../src/http/problem';

function mapped(error: unknown, conditional = false) {
  const { response, unexpected } = errorToProblem(error, conditional);
  const headers = response.headers as Record<string, string>;
  return {
    status: response.status,
    headers,
    body: JSON.parse(response.body as string) as Record<string, unknown>,
    unexpected,
  };
}

describe('errorToProblem', () => {
  it.each([
    [new ValidationError('InvalidLocation', 'pick a region', 'location'), 400, 'InvalidLocation'],
    [new HttpProblem(413, 'PayloadTooLarge', 'too big'), 413, 'PayloadTooLarge'],
    [new NotFoundError('ConnectionNotFound', 'none'), 404, 'ConnectionNotFound'],
    [new StateConflictError('ConnectionNotTested', 'test first'), 409, 'ConnectionNotTested'],
    [new ConcurrencyConflictError('changed'), 409, 'ConcurrentModification'],
    [
      new AuthorizationError(
        'grant it',
        'Monitoring Contributor',
        '/subscriptions/x/resourceGroups/rg',
        undefined,
      ),
      409,
      'AuthorizationFailed',
    ],
    [new AppNotRegisteredError('consent'), 409, 'AppNotRegisteredInTenant'],
    [new DependencyRejectedError('InvalidPayload', 'Azure refused'), 502, 'InvalidPayload'],
    [new TransientDependencyError('later'), 503, 'DependencyUnavailable'],
    [new Forbidden('no role', 'MissingAppRole'), 403, 'MissingAppRole'],
  ])('maps %o to %i %s as RFC 9457 problem details', (error, status, code) => {
    const result = mapped(error);
    expect(result.status).toBe(status);
    expect(result.headers['content-type']).toBe(PROBLEM_CONTENT_TYPE);
    expect(result.body).toMatchObject({
      status,
      code,
      type: `urn:pki-siem-export:problem:${code}`,
    });
    expect(typeof result.body.detail).toBe('string');
    expect(typeof result.body.title).toBe('string');
    expect(result.unexpected).toBe(false);
  });

  it('answers a lost ETag race 412 when the request carried If-Match', () => {
    expect(mapped(new ConcurrencyConflictError('changed'), true).status).toBe(412);
  });

  it('challenges with Bearer, adding invalid_token only when a token was sent', () => {
    expect(mapped(new Unauthenticated('A bearer token is required')).headers['www-authenticate']).toBe(
      'Bearer',
    );
    expect(
      mapped(new Unauthenticated('The bearer token has expired.', 'invalid_token')).headers[
        'www-authenticate'
      ],
    ).toBe('Bearer error="invalid_token", error_description="The bearer token has expired."');
  });

  it('tells a retry-after on dependency outages', () => {
    expect(mapped(new TransientDependencyError('later', 12_500)).headers['retry-after']).toBe('13');
  });

  it('hides everything about unexpected errors', () => {
    const result = mapped(new Error('connection string AccountKey=abc123 at line 7'));
    expect(result).toMatchObject({ status: 500, unexpected: true, body: { code: 'InternalError' } });
    expect(JSON.stringify(result.body)).not.toContain('AccountKey');
  });
});
