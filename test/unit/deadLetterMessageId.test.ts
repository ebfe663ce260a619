import { describe, expect, it } from 'vitest';
import { requeuedMessageId } from '../../src/adapters/deadLetterQueue';

describe('requeuedMessageId', () => {
  it('adds the sequence number to the original id, replacing an earlier requeue suffix', () => {
    expect(requeuedMessageId('event-1:3', '42')).toBe('event-1:3:dlq:42');
    expect(requeuedMessageId('event-1:3:dlq:42', '97')).toBe('event-1:3:dlq:97');
    expect(requeuedMessageId(undefined, '7')).toBe('dead-lettered:dlq:7');
  });

  it('stays within the 128 characters Service Bus allows for a message id, distinct per original', () => {
    const long = requeuedMessageId('x'.repeat(120), '123456789');
    const other = requeuedMessageId('y'.repeat(120), '123456789');
    expect(long.length).toBeLessThanOrEqual(128);
    expect(long).toMatch(/:dlq:123456789$/);
    expect(long).not.toBe(other);
  });
});
