import { createSasTokenProvider } from '@azure/core-amqp';
import { describe, expect, it } from 'vitest';
import { resourceCovers, validateSasToken, type SasValidation } from '../support/serviceBus/sasToken';

/** Tokens made by the SAS provider the Service Bus SDK itself uses. */
const key = { keyName: 'RootManageSharedAccessKey', key: 'c2VjcmV0LWtleS1mb3ItdGVzdHM=' };
const audience = 'sb://127.0.0.1:5672/audit-events';

/** The refusal's description; fails the test when the token was accepted. */
function refusal(result: SasValidation): string {
  if (result.ok) {
    throw new Error('Expected the token to be refused, but it was accepted.');
  }
  expect(result.statusCode).toBe(401);
  return result.description;
}

async function tokenFor(resource: string, signingKey = key.key, keyName = key.keyName): Promise<string> {
  const provider = createSasTokenProvider({ sharedAccessKeyName: keyName, sharedAccessKey: signingKey });
  return (await provider.getToken(resource)).token;
}

describe('validateSasToken (the $cbs put-token check)', () => {
  it('accepts a token the SDK signed with the key, for the audience it names', async () => {
    const result = validateSasToken(await tokenFor(audience), audience, key, Date.now());
    expect(result).toMatchObject({ ok: true });
  });

  it('accepts a namespace-wide token for an entity below it', async () => {
    const result = validateSasToken(await tokenFor('sb://127.0.0.1:5672/'), audience, key, Date.now());
    expect(result.ok).toBe(true);
  });

  it('refuses a token signed with another key', async () => {
    const result = validateSasToken(await tokenFor(audience, 'd3Jvbmc='), audience, key, Date.now());
    expect(refusal(result)).toMatch(/InvalidSignature/);
  });

  it('refuses a token naming an unknown key', async () => {
    const result = validateSasToken(await tokenFor(audience, key.key, 'SendOnly'), audience, key, Date.now());
    expect(refusal(result)).toMatch(/unknown key 'SendOnly'/);
  });

  it('refuses an expired token', async () => {
    const token = await tokenFor(audience);
    const twoHoursLater = Date.now() + 2 * 3_600_000;
    expect(refusal(validateSasToken(token, audience, key, twoHoursLater))).toMatch(/ExpiredToken/);
  });

  it("refuses a token whose resource does not cover the audience (another queue's token)", async () => {
    const token = await tokenFor('sb://127.0.0.1:5672/other-queue');
    expect(refusal(validateSasToken(token, audience, key, Date.now()))).toMatch(/InvalidAudience/);
  });

  it('refuses something that is not a SAS token', () => {
    expect(refusal(validateSasToken('Bearer eyJ0eXAiOiJKV1QifQ', audience, key, Date.now()))).toMatch(
      /InvalidToken/,
    );
    expect(refusal(validateSasToken(undefined, audience, key, Date.now()))).toMatch(/InvalidToken/);
  });
});

describe('resourceCovers', () => {
  it('matches whole path segments only, case-insensitively', () => {
    expect(resourceCovers('sb://ns/Queue', 'sb://ns/queue/$management')).toBe(true);
    expect(resourceCovers('sb://ns/queue', 'sb://ns/queue-2')).toBe(false);
  });
});
