import { describe, expect, it } from 'vitest';
import { receivedBatch } from '../../src/triggers/serviceBusBatch';

describe('receivedBatch', () => {
  it('pairs each body with the metadata entries at its index', () => {
    const batch = receivedBatch([{ a: 1 }, 'not json'], {
      messageIdArray: ['m-1', 42],
      applicationPropertiesArray: [{ tenantId: 't-1' }, {}],
      deliveryCountArray: [1, 3],
    });
    expect(batch.misalignedMetadata).toEqual([]);
    expect(batch.messages).toEqual([
      { body: { a: 1 }, messageId: 'm-1', applicationProperties: { tenantId: 't-1' }, deliveryCount: 1 },
      { body: 'not json', messageId: '42', applicationProperties: {}, deliveryCount: 3 },
    ]);
  });

  it('ignores a metadata array whose length differs from the batch instead of shifting it onto the wrong messages', () => {
    const batch = receivedBatch(['x', 'y', 'z'], {
      messageIdArray: ['m-1', 'm-3'],
      applicationPropertiesArray: [{ tenantId: 'a' }, { tenantId: 'b' }, { tenantId: 'c' }],
    });
    expect(batch.misalignedMetadata).toEqual(['messageIdArray']);
    expect(batch.messages.map((message) => message.messageId)).toEqual([undefined, undefined, undefined]);
    expect(batch.messages.map((message) => message.applicationProperties?.tenantId)).toEqual(['a', 'b', 'c']);
  });

  it('reads sequence numbers from Longs and enqueue times as the host writes them, for idempotent parking', () => {
    const batch = receivedBatch(['a', 'b', 'c'], {
      sequenceNumberArray: [
        { low: 5, high: 1, unsigned: false },
        { low: -1, high: 0, unsigned: false },
        { low: 0, high: -1, unsigned: false },
      ],
      enqueuedTimeUtcArray: ['2026-11-24T10:20:30.4560000Z', '2026-11-24T10:20:31.0000001', 'yesterday'],
    });
    expect(batch.messages.map(({ sequenceNumber, enqueuedAt }) => ({ sequenceNumber, enqueuedAt }))).toEqual([
      { sequenceNumber: String(2 ** 32 + 5), enqueuedAt: '2026-11-24T10:20:30.456Z' },
      { sequenceNumber: String(2 ** 32 - 1), enqueuedAt: '2026-11-24T10:20:31.000Z' },
      // A negative sequence number and an unreadable time are no key: a random parked id is used.
      { sequenceNumber: undefined, enqueuedAt: undefined },
    ]);
  });

  it('takes a number-typed sequence number only while it is exact', () => {
    const batch = receivedBatch(['a', 'b', 'c'], {
      sequenceNumberArray: [Number.MAX_SAFE_INTEGER, Number(2n ** 60n + 1n), 17],
    });
    expect(batch.messages.map((message) => message.sequenceNumber)).toEqual([
      String(Number.MAX_SAFE_INTEGER),
      // Rounded: 2^60 + 1 and 2^60 + 2 both arrive as 2^60, so it names no single message.
      undefined,
      '17',
    ]);
  });

  it('accepts a single message and missing metadata', () => {
    expect(receivedBatch('only', undefined).messages).toEqual([
      { body: 'only', messageId: undefined, applicationProperties: undefined, deliveryCount: undefined },
    ]);
  });
});
