import { describe, expect, it } from 'vitest';
import { IngestionFailure } from '../../src/domain/errors';
import type { IngestionSink, IngestionTarget } from '../../src/domain/ports';
import { UploadCoalescer } from '../../src/domain/uploadCoalescer';

type Row = Readonly<Record<string, unknown>>;

interface HeldCall {
  tenantId: string;
  stream: string;
  rows: readonly Row[];
  signal: AbortSignal | undefined;
  succeed: () => void;
  fail: (error: unknown) => void;
}

/** A sink whose every request stays open until the test answers it. */
class HeldSink implements IngestionSink {
  readonly calls: HeldCall[] = [];

  upload(
    tenantId: string,
    _target: IngestionTarget,
    stream: string,
    rows: readonly Row[],
    signal?: AbortSignal,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.calls.push({ tenantId, stream, rows, signal, succeed: resolve, fail: reject });
    });
  }

  call(index: number): HeldCall {
    const call = this.calls[index];
    if (!call) throw new Error(`no call ${index}; ${this.calls.length} so far`);
    return call;
  }
}

const TARGET: IngestionTarget = {
  logsIngestionEndpoint: 'https://dce-a.westeurope-1.ingest.monitor.azure.com',
  dataCollectionRuleImmutableId: 'dcr-00000000000000000000000000000001',
};
const STREAM = 'Custom-PkiCertificateEvents_CL';

function rows(prefix: string, count: number, padding = 0): Row[] {
  return Array.from({ length: count }, (_, index) => ({ id: `${prefix}${index}`, pad: 'x'.repeat(padding) }));
}

/** Lets the coalescer's promise chains run (a settled request starts the next one). */
async function flush(): Promise<void> {
  for (let i = 0; i < 10; i += 1) await Promise.resolve();
}

type Settled = { status: 'fulfilled' } | { status: 'rejected'; reason: unknown } | { status: 'pending' };

function track(promise: Promise<void>): { readonly state: Settled } {
  const tracker: { state: Settled } = { state: { status: 'pending' } };
  promise.then(
    () => (tracker.state = { status: 'fulfilled' }),
    (reason: unknown) => (tracker.state = { status: 'rejected', reason }),
  );
  return tracker;
}

/** A coalescer over a held sink, and an upload to its lane for tenant t1, TARGET and STREAM. */
function coalescerOverHeldSink(maxRequestBytes?: number) {
  const sink = new HeldSink();
  const coalescer = new UploadCoalescer(sink, maxRequestBytes);
  const upload = (batch: readonly Row[], signal?: AbortSignal, bytes?: number) =>
    coalescer.upload('t1', TARGET, STREAM, batch, signal, bytes);
  return { sink, coalescer, upload };
}

const refused = (): IngestionFailure =>
  new IngestionFailure('rejected', 'The Logs Ingestion API answered 400: bad record', { status: 400 });

describe('UploadCoalescer', () => {
  it('sends an upload to an idle lane at once, with its own rows and signal', async () => {
    const { sink, upload } = coalescerOverHeldSink();
    const signal = new AbortController().signal;
    const sent = track(upload(rows('a', 2), signal));
    expect(sink.calls).toHaveLength(1);
    expect(sink.call(0)).toMatchObject({ tenantId: 't1', rows: rows('a', 2), signal });
    sink.call(0).succeed();
    await flush();
    expect(sent.state).toEqual({ status: 'fulfilled' });
  });

  it('sends what arrives while a request is in flight as one request after it', async () => {
    const { sink, upload } = coalescerOverHeldSink();
    const first = track(upload(rows('a', 1)));
    const second = track(upload(rows('b', 2)));
    const third = track(upload(rows('c', 1)));
    expect(sink.calls).toHaveLength(1);

    sink.call(0).succeed();
    await flush();
    expect(first.state.status).toBe('fulfilled');
    expect(second.state.status).toBe('pending');
    expect(sink.calls).toHaveLength(2);
    expect(sink.call(1).rows).toEqual([...rows('b', 2), ...rows('c', 1)]);

    sink.call(1).succeed();
    await flush();
    expect([second.state.status, third.state.status]).toEqual(['fulfilled', 'fulfilled']);
    // The lane emptied and was released: the next upload goes straight out again.
    void upload(rows('d', 1));
    expect(sink.calls).toHaveLength(3);
  });

  it('never merges other tenants, streams or rules, and runs them side by side', () => {
    const { sink, coalescer, upload } = coalescerOverHeldSink();
    void upload(rows('a', 1));
    void coalescer.upload('t2', TARGET, STREAM, rows('b', 1));
    void coalescer.upload('t1', TARGET, 'Custom-PkiCaEvents_CL', rows('c', 1));
    void coalescer.upload(
      't1',
      { ...TARGET, dataCollectionRuleImmutableId: 'dcr-00000000000000000000000000000002' },
      STREAM,
      rows('d', 1),
    );
    expect(sink.calls.map((call) => call.rows[0]?.id)).toEqual(['a0', 'b0', 'c0', 'd0']);
  });

  it('keeps a shared request under the size limit; whoever does not fit waits for the next one', async () => {
    // Rows of ~120 bytes of JSON; a limit of 300 takes two of them, never three.
    const { sink, upload } = coalescerOverHeldSink(300);
    void upload(rows('a', 1, 100));
    for (const prefix of ['b', 'c', 'd']) void upload(rows(prefix, 1, 100));
    sink.call(0).succeed();
    await flush();
    expect(sink.call(1).rows.map((row) => row.id)).toEqual(['b0', 'c0']);
    sink.call(1).succeed();
    await flush();
    expect(sink.call(2).rows.map((row) => row.id)).toEqual(['d0']);
  });

  it('goes by the size a caller measured rather than measuring again', async () => {
    const { sink, upload } = coalescerOverHeldSink(300);
    void upload(rows('a', 1));
    // Tiny rows, but their callers say 140 bytes each: only two of them fit under 300.
    for (const prefix of ['b', 'c', 'd']) {
      void upload(rows(prefix, 1), undefined, 140);
    }
    sink.call(0).succeed();
    await flush();
    expect(sink.call(1).rows.map((row) => row.id)).toEqual(['b0', 'c0']);
    sink.call(1).succeed();
    await flush();
    expect(sink.call(2).rows.map((row) => row.id)).toEqual(['d0']);
  });

  it('sends an upload of half a request or more straight out, even while its lane is busy', () => {
    const { sink, upload } = coalescerOverHeldSink(300);
    void upload(rows('a', 1));
    void upload(rows('big', 1), undefined, 150);
    void upload(rows('small', 1), undefined, 149);
    expect(sink.calls.map((call) => call.rows[0]?.id)).toEqual(['a0', 'big0']);
  });

  it('sends a refused shared request again per caller, so only the caller with the bad record sees the refusal', async () => {
    const { sink, upload } = coalescerOverHeldSink();
    void upload(rows('a', 1));
    const good = track(upload(rows('good', 2)));
    const bad = track(upload(rows('bad', 2)));
    sink.call(0).succeed();
    await flush();
    sink.call(1).fail(refused());
    await flush();
    expect(sink.calls.slice(2).map((call) => call.rows)).toEqual([rows('good', 2), rows('bad', 2)]);
    sink.call(2).succeed();
    sink.call(3).fail(refused());
    await flush();
    expect(good.state).toEqual({ status: 'fulfilled' });
    expect(bad.state).toMatchObject({ status: 'rejected', reason: { kind: 'rejected' } });
  });

  it('gives every caller of a shared request a failure that concerns the workspace', async () => {
    const { sink, upload } = coalescerOverHeldSink();
    void upload(rows('a', 1));
    const second = track(upload(rows('b', 1)));
    const third = track(upload(rows('c', 1)));
    sink.call(0).succeed();
    await flush();
    const throttled = new IngestionFailure('throttled', 'The Logs Ingestion API answered 429', {
      status: 429,
      retryAfterMs: 5_000,
    });
    sink.call(1).fail(throttled);
    await flush();
    expect(second.state).toEqual({ status: 'rejected', reason: throttled });
    expect(third.state).toEqual({ status: 'rejected', reason: throttled });
    expect(sink.calls).toHaveLength(2);
  });

  it('drops a caller that gives up while waiting: its rows are never sent', async () => {
    const { sink, upload } = coalescerOverHeldSink();
    void upload(rows('a', 1));
    const budget = new AbortController();
    const quitter = track(upload(rows('quit', 1), budget.signal));
    void upload(rows('stay', 1));
    budget.abort();
    await flush();
    expect(quitter.state).toMatchObject({ status: 'rejected', reason: { name: 'AbortError' } });
    sink.call(0).succeed();
    await flush();
    expect(sink.call(1).rows).toEqual(rows('stay', 1));
    expect(sink.calls.flatMap((call) => call.rows).map((row) => row.id)).not.toContain('quit0');
  });

  it('frees its lane when every caller of a request that never settles has given up', async () => {
    const { sink, upload } = coalescerOverHeldSink();
    const budget = new AbortController();
    const stuck = track(upload(rows('stuck', 1), budget.signal));
    budget.abort();
    await flush();
    // The sink never answers call 0, yet the caller is told and the next upload goes out.
    expect(stuck.state).toMatchObject({ status: 'rejected', reason: { name: 'AbortError' } });
    void upload(rows('next', 1));
    await flush();
    expect(sink.calls.map((call) => call.rows[0]?.id)).toEqual(['stuck0', 'next0']);
  });

  it('refuses at once an upload whose signal has already aborted', async () => {
    const { sink, upload } = coalescerOverHeldSink();
    await expect(upload(rows('a', 1), AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
    expect(sink.calls).toHaveLength(0);
  });

  it('cuts off a shared request only once every caller in it has given up', async () => {
    const { sink, upload } = coalescerOverHeldSink();
    void upload(rows('a', 1));
    const first = new AbortController();
    const second = new AbortController();
    void upload(rows('b', 1), first.signal).catch(() => undefined);
    void upload(rows('c', 1), second.signal).catch(() => undefined);
    sink.call(0).succeed();
    await flush();
    const shared = sink.call(1).signal;
    expect(shared).toBeDefined();
    first.abort();
    expect(shared?.aborted).toBe(false);
    second.abort();
    expect(shared?.aborted).toBe(true);
  });

  it('never cuts off a shared request that holds a caller without a signal', async () => {
    const { sink, upload } = coalescerOverHeldSink();
    void upload(rows('a', 1));
    const budget = new AbortController();
    void upload(rows('b', 1), budget.signal).catch(() => undefined);
    void upload(rows('c', 1));
    sink.call(0).succeed();
    await flush();
    expect(sink.call(1).rows).toHaveLength(2);
    expect(sink.call(1).signal).toBeUndefined();
  });
});

/** One turn of the event loop: a finished intake is let go on the next one. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('UploadCoalescer: batches being taken apart', () => {
  /** The wait bound is far past the test timeout: only intake signals release a request here. */
  const NEVER_BY_TIMER_MS = 60_000;

  function sharing(maxWaitMs = NEVER_BY_TIMER_MS) {
    const sink = new HeldSink();
    const coalescer = new UploadCoalescer(sink, undefined, maxWaitMs);
    return { sink, coalescer };
  }

  it('sends at once when no other batch is being taken apart, its own intake notwithstanding', () => {
    const { sink, coalescer } = sharing();
    const own = coalescer.beginBatch();
    void own.sink.upload('t1', TARGET, STREAM, rows('a', 1));
    expect(sink.calls).toHaveLength(1);
  });

  it("holds an idle lane's request until the other batches under way have handed their rows over", async () => {
    const { sink, coalescer } = sharing();
    const first = coalescer.beginBatch();
    const second = coalescer.beginBatch();
    const a = track(first.sink.upload('t1', TARGET, STREAM, rows('a', 1)));
    await nextTurn();
    expect(sink.calls).toHaveLength(0);
    const b = track(second.sink.upload('t1', TARGET, STREAM, rows('b', 2)));
    second.intakeDone();
    await nextTurn();
    await nextTurn();
    expect(sink.calls.map((call) => call.rows)).toEqual([[...rows('a', 1), ...rows('b', 2)]]);
    sink.call(0).succeed();
    await flush();
    expect([a.state.status, b.state.status]).toEqual(['fulfilled', 'fulfilled']);
  });

  it('waits only for the batches under way when the request arrived: later ones cannot keep it waiting', async () => {
    const { sink, coalescer } = sharing();
    const first = coalescer.beginBatch();
    const second = coalescer.beginBatch();
    void first.sink.upload('t1', TARGET, STREAM, rows('a', 1));
    const later = coalescer.beginBatch();
    second.intakeDone();
    await nextTurn();
    await nextTurn();
    expect(sink.calls.map((call) => call.rows)).toEqual([rows('a', 1)]);
    // The later batch is still being taken apart; its rows wait for the request in flight, as before.
    void later.sink.upload('t1', TARGET, STREAM, rows('c', 1));
    expect(sink.calls).toHaveLength(1);
  });

  it('never waits with a wait bound of 0', () => {
    const { sink, coalescer } = sharing(0);
    coalescer.beginBatch();
    void coalescer.beginBatch().sink.upload('t1', TARGET, STREAM, rows('a', 1));
    expect(sink.calls).toHaveLength(1);
  });

  it('drops a request that gives up while it waits, and frees the lane', async () => {
    const { sink, coalescer } = sharing();
    const first = coalescer.beginBatch();
    const other = coalescer.beginBatch();
    const budget = new AbortController();
    const quitter = track(first.sink.upload('t1', TARGET, STREAM, rows('quit', 1), budget.signal));
    budget.abort();
    await flush();
    expect(quitter.state).toMatchObject({ status: 'rejected', reason: { name: 'AbortError' } });
    other.intakeDone();
    first.intakeDone();
    await nextTurn();
    await nextTurn();
    expect(sink.calls).toHaveLength(0);
    void coalescer.upload('t1', TARGET, STREAM, rows('next', 1));
    expect(sink.calls.map((call) => call.rows)).toEqual([rows('next', 1)]);
  });
});

describe('UploadCoalescer: rows announced before their batch has a slot', () => {
  const NEVER_BY_TIMER_MS = 60_000;

  function announcing() {
    const sink = new HeldSink();
    const coalescer = new UploadCoalescer(sink, undefined, NEVER_BY_TIMER_MS);
    const announce = (
      batch: ReturnType<UploadCoalescer['beginBatch']>,
      prefix: string,
      signal = new AbortController().signal,
    ) => {
      const ticket = batch.announce?.('t1', TARGET, STREAM, rows(prefix, 1), signal, undefined);
      if (!ticket) throw new Error('no ticket');
      return ticket;
    };
    return { sink, coalescer, announce };
  }

  it("carries every batch's announced rows in the lane's next request, whichever batch sends it", async () => {
    const { sink, coalescer, announce } = announcing();
    const batches = [coalescer.beginBatch(), coalescer.beginBatch(), coalescer.beginBatch()];
    const tickets = batches.map((batch, index) => announce(batch, `b${index}-`));
    for (const batch of batches) batch.intakeDone();
    await nextTurn();
    expect(sink.calls).toHaveLength(0);

    // The second batch gets a slot first: its request carries all three batches' rows.
    const second = track(tickets[1]!.send(undefined));
    await nextTurn();
    expect(sink.calls.map((call) => call.rows)).toEqual([
      [...rows('b0-', 1), ...rows('b1-', 1), ...rows('b2-', 1)],
    ]);
    // The others, reaching their slots later, are told the outcome of that request, not sent again.
    const first = track(tickets[0]!.send(undefined));
    const third = track(tickets[2]!.send(undefined));
    sink.call(0).succeed();
    await flush();
    expect([first.state.status, second.state.status, third.state.status]).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect(sink.calls).toHaveLength(1);
  });

  it('gives the carried rows the failure of the request that carried them', async () => {
    const { sink, coalescer, announce } = announcing();
    const [a, b] = [coalescer.beginBatch(), coalescer.beginBatch()];
    const [ta, tb] = [announce(a, 'a'), announce(b, 'b')];
    a.intakeDone();
    b.intakeDone();
    await nextTurn();
    const sent = track(ta.send(undefined));
    await nextTurn();
    const throttled = new IngestionFailure('throttled', 'The Logs Ingestion API answered 429', {
      status: 429,
    });
    sink.call(0).fail(throttled);
    await flush();
    expect(tb.withdraw()).toBe(false);
    await expect(tb.send(undefined)).rejects.toBe(throttled);
    expect(sent.state).toMatchObject({ status: 'rejected', reason: throttled });
  });

  it('splits a refused request per caller, announced rows included, so only the bad rows are refused', async () => {
    const { sink, coalescer, announce } = announcing();
    const [a, b] = [coalescer.beginBatch(), coalescer.beginBatch()];
    const [ta, tb] = [announce(a, 'good'), announce(b, 'bad')];
    a.intakeDone();
    b.intakeDone();
    await nextTurn();
    const good = track(ta.send(undefined));
    await nextTurn();
    sink.call(0).fail(refused());
    await flush();
    expect(sink.calls.slice(1).map((call) => call.rows)).toEqual([rows('good', 1), rows('bad', 1)]);
    sink.call(1).succeed();
    sink.call(2).fail(refused());
    await flush();
    expect(good.state.status).toBe('fulfilled');
    await expect(tb.send(undefined)).rejects.toMatchObject({ kind: 'rejected' });
  });

  it('does not claim rows taken back once send() has them waiting for a request', async () => {
    const { sink, coalescer, announce } = announcing();
    const [a, b] = [coalescer.beginBatch(), coalescer.beginBatch()];
    const ticket = announce(a, 'sent');
    a.intakeDone();
    await nextTurn();
    // b is still being taken apart: the request a's send() starts waits for it, holding a's rows.
    const sent = track(ticket.send(undefined));
    expect(ticket.withdraw()).toBe(false);
    b.intakeDone();
    // One turn for b's intake to end, one for the request waiting on it to go.
    await nextTurn();
    await nextTurn();
    expect(sink.calls.map((call) => call.rows)).toEqual([rows('sent', 1)]);
    sink.call(0).succeed();
    await flush();
    expect(sent.state.status).toBe('fulfilled');
  });

  it('never sends rows taken back before a request carried them, and forgets an empty lane', async () => {
    const { sink, coalescer, announce } = announcing();
    const batch = coalescer.beginBatch();
    const ticket = announce(batch, 'gone');
    batch.intakeDone();
    await nextTurn();
    expect(ticket.withdraw()).toBe(true);
    void coalescer.upload('t1', TARGET, STREAM, rows('next', 1));
    expect(sink.calls.map((call) => call.rows)).toEqual([rows('next', 1)]);
  });

  it("drops announced rows when their batch's signal aborts first", async () => {
    const { sink, coalescer, announce } = announcing();
    const [a, b] = [coalescer.beginBatch(), coalescer.beginBatch()];
    const budget = new AbortController();
    const dropped = announce(a, 'late', budget.signal);
    const kept = announce(b, 'kept');
    budget.abort();
    a.intakeDone();
    b.intakeDone();
    await nextTurn();
    void kept.send(undefined);
    await nextTurn();
    expect(sink.calls.map((call) => call.rows)).toEqual([rows('kept', 1)]);
    expect(dropped.withdraw()).toBe(true);
  });

  it('a plain upload that opens the lane carries the rows announced there too', async () => {
    const { sink, coalescer, announce } = announcing();
    const batch = coalescer.beginBatch();
    const ticket = announce(batch, 'early');
    batch.intakeDone();
    await nextTurn();
    void coalescer.upload('t1', TARGET, STREAM, rows('plain', 1));
    await nextTurn();
    expect(sink.calls.map((call) => call.rows)).toEqual([[...rows('early', 1), ...rows('plain', 1)]]);
    sink.call(0).succeed();
    await expect(ticket.send(undefined)).resolves.toBeUndefined();
  });

  it('cuts off a request once its callers present gave up, not at the budget of batches whose rows it carries', async () => {
    const { sink, coalescer, announce } = announcing();
    const [a, b] = [coalescer.beginBatch(), coalescer.beginBatch()];
    const batchBudget = new AbortController();
    const [ta, tb] = [announce(a, 'a', batchBudget.signal), announce(b, 'b', batchBudget.signal)];
    a.intakeDone();
    b.intakeDone();
    await nextTurn();
    const uploadTimeout = new AbortController();
    const sent = track(ta.send(uploadTimeout.signal));
    await nextTurn();
    expect(sink.call(0).rows).toHaveLength(2);
    uploadTimeout.abort();
    await flush();
    expect(sink.call(0).signal?.aborted).toBe(true);
    expect(sent.state).toMatchObject({ status: 'rejected', reason: { name: 'AbortError' } });
    expect(batchBudget.signal.aborted).toBe(false);
    // Batch b gave up nothing: cut off for a's time, its rows' fate is unknown, and b sends them again
    // itself when its slot comes (an AbortError would read as an outage of b's tenant).
    const resent = track(tb.send(new AbortController().signal));
    await nextTurn();
    expect(sink.calls.slice(1).map((call) => call.rows)).toEqual([rows('b', 1)]);
    sink.call(1).succeed();
    await flush();
    expect(resent.state.status).toBe('fulfilled');
  });

  it('gives announced rows their own abort when their batch gave up too, without sending them again', async () => {
    const { sink, coalescer, announce } = announcing();
    const [a, b] = [coalescer.beginBatch(), coalescer.beginBatch()];
    const budgetA = new AbortController();
    const budgetB = new AbortController();
    const [ta, tb] = [announce(a, 'a', budgetA.signal), announce(b, 'b', budgetB.signal)];
    a.intakeDone();
    b.intakeDone();
    await nextTurn();
    void ta.send(budgetA.signal).catch(() => undefined);
    await nextTurn();
    budgetB.abort();
    budgetA.abort();
    await flush();
    await expect(tb.send(budgetB.signal)).rejects.toMatchObject({ name: 'AbortError' });
    expect(sink.calls).toHaveLength(1);
  });

  it('announces nothing with sharing off (a wait bound of 0) or for half a request or more', () => {
    const sink = new HeldSink();
    const off = new UploadCoalescer(sink, undefined, 0).beginBatch();
    expect(
      off.announce?.('t1', TARGET, STREAM, rows('a', 1), new AbortController().signal, undefined),
    ).toBeUndefined();
    const on = new UploadCoalescer(sink, 1000, NEVER_BY_TIMER_MS).beginBatch();
    expect(
      on.announce?.('t1', TARGET, STREAM, rows('big', 1), new AbortController().signal, 500),
    ).toBeUndefined();
  });
});
