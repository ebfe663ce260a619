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

  it('accepts a single message and missing metadata', () => {
    expect(receivedBatch('only', undefined).messages).toEqual([
      { body: 'only', messageId: undefined, applicationProperties: undefined, deliveryCount: undefined },
    ]);
  });
});
