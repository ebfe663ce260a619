import { describe, expect, it } from 'vitest';
import { RecentKeys } from '../../src/domain/forwarder/recentKeys';

describe('RecentKeys (delivered record ids an instance remembers)', () => {
  it('remembers at most its capacity, forgetting the oldest first', () => {
    const keys = new RecentKeys(3);
    for (const key of ['a', 'b', 'c', 'd']) keys.set(key, true);
    expect(keys.size).toBe(3);
    expect(['a', 'b', 'c', 'd'].map((key) => keys.has(key))).toEqual([false, true, true, true]);
  });

  it('moves a key delivered again to the back of the line; a read does not', () => {
    const keys = new RecentKeys(2);
    keys.set('a', true);
    keys.set('b', true);
    keys.set('a', true);
    expect(keys.has('b')).toBe(true);
    keys.set('c', true);
    expect([keys.has('a'), keys.has('b'), keys.has('c')]).toEqual([true, false, true]);
    keys.has('a');
    keys.set('d', true);
    expect([keys.has('a'), keys.has('c'), keys.has('d')]).toEqual([false, true, true]);
  });
});
