import { describe, expect, it } from 'vitest';
import { retryMessageId } from '../../src/domain/deliveryAttempts';

const TENANT_A = 'AAAAAAAA-0000-4000-8000-000000000001';
const TENANT_B = 'bbbbbbbb-0000-4000-8000-000000000002';
const EVENT = 'eeeeeeee-0000-4000-8000-000000000003';
const a = TENANT_A.toLowerCase();

describe('retryMessageId', () => {
  it('differs between tenants for the same event id and attempt', () => {
    const source = { messageId: EVENT, attempt: 1 };
    expect(retryMessageId(TENANT_A, EVENT, 2, source)).toBe(`${a}:${EVENT}:2`);
    expect(retryMessageId(TENANT_B, EVENT, 2, source)).toBe(`${TENANT_B}:${EVENT}:2`);
  });

  it("continues the producer's chain from its own copies, and from copies enqueued before ids carried the tenant", () => {
    expect(retryMessageId(TENANT_A, EVENT, 3, { messageId: `${a}:${EVENT}:2`, attempt: 2 })).toBe(
      `${a}:${EVENT}:3`,
    );
    expect(retryMessageId(TENANT_A, EVENT, 3, { messageId: `${EVENT}:2`, attempt: 2 })).toBe(
      `${a}:${EVENT}:3`,
    );
  });

  it("starts the producer's chain from its message, whose id is `<tenant>:<event id>` (or the bare event id of older producers)", () => {
    expect(retryMessageId(TENANT_A, EVENT, 2, { messageId: `${a}:${EVENT}`, attempt: 1 })).toBe(
      `${a}:${EVENT}:2`,
    );
    expect(retryMessageId(TENANT_A, EVENT, 2, { messageId: EVENT, attempt: 1 })).toBe(`${a}:${EVENT}:2`);
  });

  it('gives any other message of the event (a replay, another tenant’s copy) ids of its own, stable per message', () => {
    const replay = { messageId: `${EVENT}:replay:1234`, attempt: 1 };
    const id = retryMessageId(TENANT_A, EVENT, 2, replay);
    expect(id).toMatch(new RegExp(`^${a}:${EVENT}:2:[0-9a-f]{16}$`));
    expect(retryMessageId(TENANT_A, EVENT, 2, replay)).toBe(id);
    // A copy of tenant B's chain arriving under tenant A is not A's chain.
    expect(retryMessageId(TENANT_A, EVENT, 3, { messageId: `${TENANT_B}:${EVENT}:2`, attempt: 2 })).toMatch(
      /:3:[0-9a-f]{16}$/,
    );
    expect(id.length).toBeLessThanOrEqual(128);
  });
});
