import { describe, expect, it } from 'vitest';
import { errorLine, errorMessage, namedErrorLine } from '../../src/domain/errorText';

/** The shape @azure/core-amqp's retry() gives up with: no message, one error per attempt. */
function refusedAttempts(count: number): AggregateError {
  const refusal = () =>
    Object.assign(
      new Error(
        "Unauthorized access. 'Listen' claim(s) are required to perform this operation. Resource: 'sb://ns/audit-events'.",
      ),
      { name: 'MessagingError', code: 'UnauthorizedError' },
    );
  return new AggregateError(Array.from({ length: count }, refusal));
}

describe('errorMessage', () => {
  it("names an AggregateError's inner errors when it has no message of its own, each distinct one once", () => {
    const error = refusedAttempts(3);
    expect(error.message).toBe('');
    expect(errorMessage(error)).toBe(
      "3 errors: Unauthorized access. 'Listen' claim(s) are required to perform this operation. Resource: 'sb://ns/audit-events'. (3 times)",
    );
    expect(namedErrorLine(error)).toMatch(/^AggregateError: 3 errors: Unauthorized access\. 'Listen' claim/);
  });

  it('keeps an own message and adds the distinct inner ones, at most three, nested aggregates included', () => {
    const error = new AggregateError(
      [
        new Error('connect ECONNREFUSED 127.0.0.1:5671'),
        new AggregateError([new Error('getaddrinfo ENOTFOUND ns')]),
        new Error('a'),
        new Error('b'),
      ],
      'Sending failed',
    );
    expect(errorMessage(error)).toBe(
      'Sending failed (4 errors: connect ECONNREFUSED 127.0.0.1:5671; 1 error: getaddrinfo ENOTFOUND ns; a; and 1 other error(s))',
    );
  });

  it('says which error had no message at all, instead of printing nothing', () => {
    expect(errorMessage(new AggregateError([]))).toBe('AggregateError (no message)');
    expect(errorMessage(new TypeError(''))).toBe('TypeError (no message)');
  });

  it('leaves other errors and values as they are, and errorLine keeps one line of bounded length', () => {
    expect(errorMessage(new Error('plain'))).toBe('plain');
    expect(errorMessage('text')).toBe('text');
    expect(errorLine(new Error(`first\nsecond`))).toBe('first');
    expect(errorLine(new Error('x'.repeat(500)))).toHaveLength(300);
  });
});
