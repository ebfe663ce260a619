import { afterEach, describe, expect, it, vi } from 'vitest';
import { PartitionGroupCommit } from '../../src/adapters/partitionGroupCommit';

/** A write the test finishes by hand: no timing involved. */
function controlledWrites(timeoutMs?: number) {
  const writes: {
    partition: string;
    entities: string[];
    signal: AbortSignal;
    finish: (error?: Error) => void;
  }[] = [];
  const commit = new PartitionGroupCommit<string>(
    (partition, entities, signal) =>
      new Promise<void>((resolve, reject) => {
        writes.push({
          partition,
          entities: [...entities],
          signal,
          finish: (error) => (error ? reject(error) : resolve()),
        });
      }),
    timeoutMs,
  );
  return { commit, writes };
}

const settled = async (promise: Promise<void>) => {
  let state = 'pending';
  promise.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  // Let every callback already queued run.
  for (let n = 0; n < 10; n += 1) await Promise.resolve();
  return state;
};

describe('partition group commit', () => {
  it('keeps one write in flight per partition; what arrives meanwhile leaves together, after it', async () => {
    const { commit, writes } = controlledWrites();
    const first = commit.add('a', ['1', '2']);
    const other = commit.add('b', ['x']);
    const second = commit.add('a', ['3']);
    const third = commit.add('a', ['4', '5']);
    expect(writes.map((write) => [write.partition, write.entities])).toEqual([
      ['a', ['1', '2']],
      ['b', ['x']],
    ]);
    expect(await settled(second)).toBe('pending');

    writes[0]!.finish();
    expect(await settled(first)).toBe('resolved');
    // The waiting entities went as one write; their callers wait for it, not for the first.
    expect(writes.map((write) => [write.partition, write.entities])).toEqual([
      ['a', ['1', '2']],
      ['b', ['x']],
      ['a', ['3', '4', '5']],
    ]);
    expect(await settled(second)).toBe('pending');
    expect(await settled(other)).toBe('pending');

    writes[2]!.finish();
    writes[1]!.finish();
    expect([await settled(second), await settled(third), await settled(other)]).toEqual([
      'resolved',
      'resolved',
      'resolved',
    ]);
    // Nothing in flight any more: the next add goes at once.
    const later = commit.add('a', ['6']);
    expect(writes).toHaveLength(4);
    writes[3]!.finish();
    expect(await settled(later)).toBe('resolved');
  });

  it('fails exactly the callers whose write failed, and the partition keeps going', async () => {
    const { commit, writes } = controlledWrites();
    const first = commit.add('a', ['1']);
    const second = commit.add('a', ['2']);
    const third = commit.add('a', ['3']);
    writes[0]!.finish(new Error('503 Server Busy'));
    await expect(first).rejects.toThrow('503 Server Busy');
    expect(writes[1]!.entities).toEqual(['2', '3']);
    const fourth = commit.add('a', ['4']);
    writes[1]!.finish(new Error('timeout'));
    await expect(second).rejects.toThrow('timeout');
    await expect(third).rejects.toThrow('timeout');
    expect(writes[2]!.entities).toEqual(['4']);
    writes[2]!.finish();
    expect(await settled(fourth)).toBe('resolved');
  });

  it('a write that never answers holds its partition only until its time is up: later callers are not wedged behind it', async () => {
    // Before: one Table request that never settled (a silently dropped connection) kept every later
    // batch's records for that shard waiting behind it, and with them the batches, for good.
    vi.useFakeTimers();
    const { commit, writes } = controlledWrites(60_000);
    const hung = commit.add('a', ['1']);
    const behind = commit.add('a', ['2']);
    expect(await settled(behind)).toBe('pending');

    await vi.advanceTimersByTimeAsync(60_000);

    expect(await settled(hung)).toBe('rejected');
    await expect(hung).rejects.toThrow(/did not finish within 60000 ms/);
    expect(writes[0]!.signal.aborted).toBe(true);
    expect(writes.map((write) => write.entities)).toEqual([['1'], ['2']]);
    writes[1]!.finish();
    expect(await settled(behind)).toBe('resolved');
    // The hung request answering late changes nothing any more.
    writes[0]!.finish();
    expect(await settled(commit.add('a', ['3']))).toBe('pending');
    expect(writes).toHaveLength(3);
  });
});

afterEach(() => {
  vi.useRealTimers();
});
