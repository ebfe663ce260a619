import { IngestionFailure } from './errors';
import { MAX_REQUEST_BYTES, rowBytes } from './ingestionChunks';
import type { IngestionSink, IngestionTarget } from './ports';

type Row = Readonly<Record<string, unknown>>;

interface Waiter {
  rows: readonly Row[];
  signal: AbortSignal | undefined;
  resolve: () => void;
  reject: (error: unknown) => void;
  /** UTF-8 bytes of the rows' JSON: as the caller measured them, else measured when the waiter may share a request. */
  bytes?: number;
  stopWaiting?: () => void;
  /** A request has carried (or is carrying) the rows: they can no longer be taken back. */
  taken?: boolean;
  /** Announced rows whose batch has not come for them yet (no slot): their signal is only the batch's. */
  announced?: boolean;
  /** Announced rows whose request was cut off because the callers present gave up, not their own batch. */
  carrierGaveUp?: boolean;
}

interface Lane {
  tenantId: string;
  target: IngestionTarget;
  stream: string;
  waiting: Waiter[];
  /** A drain is sending the lane's requests; until one starts, announced rows only wait in it. */
  draining: boolean;
}

/**
 * Rows a batch has announced for a lane before it holds an upload slot for
 * them (see BatchUploads.announce): any request of the lane may carry them.
 */
export interface UploadTicket {
  /**
   * Sends the rows now, or, when a request has carried them already, waits for
   * its outcome: resolves when the workspace accepted them, rejects as an
   * upload would. `signal` bounds this caller's part from now on.
   */
  send(signal: AbortSignal | undefined): Promise<void>;
  /**
   * Takes the rows back, so they are never sent: true, unless a request has
   * carried them already (false: send() tells its outcome).
   */
  withdraw(): boolean;
  /** A request carrying the rows has succeeded: they are in the workspace, whatever happens to their batch. */
  readonly delivered: boolean;
}

/** A batch of this instance that is still being taken apart: its rows may yet join a request. */
interface Intake {
  done: boolean;
  /** Settles when the batch has handed its uploads over, or ended in any other way. */
  finished: Promise<void>;
  finish: () => void;
}

/** What a batch tells of rows it announces: tenant, target, stream, rows, its signal, their bytes. */
type AnnounceArguments = [
  tenantId: string,
  target: IngestionTarget,
  stream: string,
  rows: readonly Row[],
  signal: AbortSignal,
  bytes: number | undefined,
];

/** One batch's part in request sharing: its uploads, and the signal that it has handed them over. */
export interface BatchUploads {
  /** The batch's uploads: a request of an idle lane never waits for this batch's own intake. */
  readonly sink: IngestionSink;
  /**
   * The batch has handed every tenant's uploads over (or decided against them): requests waiting
   * for it may go. Idempotent; call it in a `finally` too, so a batch that throws releases them.
   */
  intakeDone(): void;
  /**
   * Puts rows in their lane before the batch holds an upload slot for them, so the next request of
   * the lane, whichever batch sends it, carries them. Every ticket must end in send() or withdraw().
   * Undefined when the rows go alone anyway (half a request or more) or sharing is off. `signal`
   * (the batch's) drops them from the lane if it aborts before a request takes them.
   */
  announce?: (...args: AnnounceArguments) => UploadTicket | undefined;
}

/** An ingestion sink that shares requests among the batches an instance runs at once. */
export interface SharedIngestion extends IngestionSink {
  beginBatch(): BatchUploads;
}

export function isSharedIngestion(sink: IngestionSink): sink is SharedIngestion {
  return typeof (sink as Partial<SharedIngestion>).beginBatch === 'function';
}

/** Longest a request of an idle lane waits for other batches' intake (FORWARDER_SHARE_WAIT_MS). */
export const DEFAULT_SHARE_WAIT_MS = 500;

/**
 * Group commit for Logs Ingestion uploads. The host runs several batches at
 * once and each holds a few rows per tenant and table (1,000 messages over 50
 * tenants are about 100 requests of 10 rows), and per request the HTTPS and
 * SDK work costs far more than the rows. So one request at a time goes out per
 * tenant, endpoint, DCR and stream; uploads arriving meanwhile wait and leave
 * together in the next request, up to the request size limit. One of half a
 * request or more gains nothing from company and goes straight out.
 *
 * Batches the host hands over together would still pay one request each for
 * the first of their lanes: the first batch to be taken apart flushes its rows
 * before the others have theirs ready. So an upload that finds its lane idle
 * waits while other batches of this instance are still being taken apart
 * (their intake: decoding, connection lookups, pause decisions, up to handing
 * their uploads over; see beginBatch), and their rows for the lane join it.
 * It waits only for the intakes under way when it arrived (later ones cannot
 * keep it waiting), at most `maxWaitMs`, and never for its own batch; with no
 * other intake under way it leaves at once, so a lone batch is never held
 * back. An intake never waits for a request, so there is no cycle to deadlock.
 *
 * A batch has only so many upload slots, so with many tenants it reaches most
 * lanes after its companions' requests there have gone. So a batch announces
 * its rows at hand-over (BatchUploads.announce), before it holds a slot: they
 * wait in the lane, the next request of the lane carries them whoever sends
 * it, and the batch, when its slot comes, learns that request's outcome
 * (UploadTicket). A request never waits for announced rows, so this adds no
 * waiting either; it is cut off once the callers present have given up, and
 * the batches whose rows it carried then send them again themselves.
 *
 * Each caller still gets the outcome of its own rows:
 * - a shared request that succeeds delivered everyone's rows;
 * - a shared request the service refuses (400/413, which belongs to some
 *   record) is sent again as one request per caller, so a refusal only ever
 *   reaches the caller whose rows caused it and its splitting stays exact;
 * - any other failure (throttling, outage, access) concerns the tenant's
 *   workspace, not the rows, and reaches every caller of the request;
 * - a caller whose signal aborts while waiting is dropped from the lane and
 *   its rows are never sent; a shared request in flight is cut off only when
 *   every caller in it has given up.
 */
export class UploadCoalescer implements SharedIngestion {
  private readonly lanes = new Map<string, Lane>();
  private readonly intakes = new Set<Intake>();

  constructor(
    private readonly inner: IngestionSink,
    private readonly maxRequestBytes = MAX_REQUEST_BYTES,
    private readonly maxWaitMs = DEFAULT_SHARE_WAIT_MS,
  ) {}

  /** Starts a batch's intake; its uploads go through the returned sink. */
  beginBatch(): BatchUploads {
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const intake: Intake = { done: false, finished, finish };
    this.intakes.add(intake);
    return {
      sink: {
        upload: (tenantId, target, stream, rows, signal, bytes) =>
          this.submit(tenantId, target, stream, rows, signal, bytes, intake),
      },
      announce: (...args) => this.announce(intake, ...args),
      intakeDone: () => {
        if (intake.done) return;
        intake.done = true;
        // On the next turn: the uploads the batch has just queued are a few promise hops (its
        // concurrency limits) from this coalescer, and requests waiting for them should see them.
        setImmediate(() => {
          this.intakes.delete(intake);
          intake.finish();
        });
      },
    };
  }

  /** An upload of no batch in particular: it waits for every intake under way. */
  upload(
    tenantId: string,
    target: IngestionTarget,
    stream: string,
    rows: readonly Row[],
    signal?: AbortSignal,
    bytes?: number,
  ): Promise<void> {
    return this.submit(tenantId, target, stream, rows, signal, bytes, undefined);
  }

  private laneKey(tenantId: string, target: IngestionTarget, stream: string): string {
    return JSON.stringify([
      tenantId,
      target.logsIngestionEndpoint,
      target.dataCollectionRuleImmutableId,
      stream,
    ]);
  }

  private laneFor(key: string, tenantId: string, target: IngestionTarget, stream: string): Lane {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { tenantId, target, stream, waiting: [], draining: false };
      this.lanes.set(key, lane);
    }
    return lane;
  }

  private submit(
    tenantId: string,
    target: IngestionTarget,
    stream: string,
    rows: readonly Row[],
    signal: AbortSignal | undefined,
    bytes: number | undefined,
    own: Intake | undefined,
  ): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    // Rows that fill half a request already pay for it; queued, a big tenant's chunks would go one
    // at a time (and the last ones could time out waiting).
    if (bytes !== undefined && bytes >= this.maxRequestBytes / 2) {
      return this.inner.upload(tenantId, target, stream, rows, signal, bytes);
    }
    const key = this.laneKey(tenantId, target, stream);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { rows, signal, resolve, reject, ...(bytes !== undefined ? { bytes } : {}) };
      const lane = this.laneFor(key, tenantId, target, stream);
      this.wait(lane, waiter);
      if (!lane.draining) this.start(key, lane, own);
    });
  }

  /** Puts a waiter in its lane, dropped from it (and rejected) if its signal aborts first. */
  private wait(lane: Lane, waiter: Waiter): void {
    lane.waiting.push(waiter);
    this.listen(lane, waiter);
  }

  /** Drops a waiter from its lane and rejects it if its signal aborts before a request takes it. */
  private listen(lane: Lane, waiter: Waiter): void {
    const { signal } = waiter;
    if (!signal) return;
    const onAbort = (): void => {
      const index = lane.waiting.indexOf(waiter);
      if (index >= 0) lane.waiting.splice(index, 1);
      waiter.reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    waiter.stopWaiting = () => signal.removeEventListener('abort', onAbort);
  }

  /**
   * Starts a lane's drain: at once when no other batch is being taken apart,
   * else once their intakes are over (their rows for the lane then leave too).
   */
  private start(key: string, lane: Lane, own: Intake | undefined): void {
    lane.draining = true;
    const others = [...this.intakes].filter((intake) => intake !== own);
    if (others.length === 0 || this.maxWaitMs <= 0) {
      void this.drain(key, lane, this.nextGroup(lane));
      return;
    }
    void this.gather(others).then(() => this.drain(key, lane, this.nextGroup(lane)));
  }

  private announce(
    own: Intake,
    ...[tenantId, target, stream, rows, signal, bytes]: AnnounceArguments
  ): UploadTicket | undefined {
    if (this.maxWaitMs <= 0 || signal.aborted) return undefined;
    if (bytes !== undefined && bytes >= this.maxRequestBytes / 2) return undefined;
    const key = this.laneKey(tenantId, target, stream);
    let settle!: Pick<Waiter, 'resolve' | 'reject'>;
    let delivered = false;
    const outcome = new Promise<void>(
      (resolve, reject) =>
        (settle = {
          resolve: () => {
            delivered = true;
            resolve();
          },
          reject,
        }),
    );
    // Nobody may be listening yet (the batch sends or withdraws later): never an unhandled rejection.
    outcome.catch(() => undefined);
    const waiter: Waiter = {
      rows,
      signal,
      ...settle,
      announced: true,
      ...(bytes !== undefined ? { bytes } : {}),
    };
    const lane = this.laneFor(key, tenantId, target, stream);
    this.wait(lane, waiter);
    let ended = false;
    let sent = false;
    return {
      get delivered() {
        return delivered;
      },
      send: (callerSignal) => {
        if (ended) return Promise.reject(new Error('This upload ticket was already sent or withdrawn.'));
        ended = true;
        sent = true;
        if (waiter.taken) {
          // A request cut off for other batches' time, not this one's: the rows' fate is unknown and this
          // batch may still learn it, sending them again itself (a retry would send them again too).
          return outcome.catch(() =>
            waiter.carrierGaveUp
              ? this.submit(tenantId, target, stream, rows, callerSignal, bytes, own)
              : outcome,
          );
        }
        const current = this.lanes.get(key);
        if (!current || !current.waiting.includes(waiter)) return outcome;
        // Not carried yet: from now on the caller's signal bounds the rows' wait (in their place in
        // the lane), and the lane starts if no drain is under way.
        waiter.stopWaiting?.();
        if (callerSignal?.aborted) {
          current.waiting.splice(current.waiting.indexOf(waiter), 1);
          waiter.reject(abortError(callerSignal));
          return outcome;
        }
        waiter.signal = callerSignal;
        waiter.announced = false;
        this.listen(current, waiter);
        // Its own batch's intake never holds it back (the batch is past it, holding a slot).
        if (!current.draining) this.start(key, current, own);
        return outcome;
      },
      withdraw: () => {
        // Carried already (or handed to send()): the ticket stays open, so send() can tell the outcome.
        if (waiter.taken || sent) return false;
        if (ended) return true;
        ended = true;
        waiter.stopWaiting?.();
        const current = this.lanes.get(key);
        const index = current?.waiting.indexOf(waiter) ?? -1;
        if (current && index >= 0) {
          current.waiting.splice(index, 1);
          if (!current.draining && current.waiting.length === 0) this.lanes.delete(key);
        }
        return true;
      },
    };
  }

  /**
   * Settles once the given intakes have finished, or after `maxWaitMs`; on the
   * next turn of the event loop, so uploads a finishing batch has just started
   * (a few promise hops away, behind its concurrency limits) are in the lane.
   */
  private gather(intakes: readonly Intake[]): Promise<void> {
    return new Promise<void>((resolve) => {
      let settled = false;
      const go = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        setImmediate(resolve);
      };
      const timer = setTimeout(go, this.maxWaitMs);
      void Promise.all(intakes.map((intake) => intake.finished)).then(go);
    });
  }

  /** Sends `group`, then whatever gathered meanwhile, until the lane is empty. */
  private async drain(key: string, lane: Lane, first: Waiter[]): Promise<void> {
    let group = first;
    try {
      while (group.length > 0) {
        await this.send(lane, group);
        group = this.nextGroup(lane);
      }
    } catch (error) {
      // Not expected (send settles every waiter itself), but no caller may be left hanging.
      for (const waiter of [...group, ...lane.waiting.splice(0)]) waiter.reject(error);
    } finally {
      this.lanes.delete(key);
    }
  }

  /** The waiters that fit one request, oldest first; the first always goes, whatever its size. */
  private nextGroup(lane: Lane): Waiter[] {
    const [oldest] = lane.waiting;
    if (!oldest) return [];
    if (lane.waiting.length === 1) return lane.waiting.splice(0, 1);
    let total = 0;
    let count = 0;
    for (const waiter of lane.waiting) {
      waiter.bytes ??= waiter.rows.reduce((sum, row) => sum + rowBytes(row), 0);
      // Same rule as chunkBySize: the sum stays strictly under the limit.
      if (count > 0 && total + waiter.bytes >= this.maxRequestBytes) break;
      total += waiter.bytes;
      count += 1;
    }
    return lane.waiting.splice(0, count);
  }

  private async send(lane: Lane, group: Waiter[]): Promise<void> {
    for (const waiter of group) {
      waiter.taken = true;
      waiter.stopWaiting?.();
    }
    const request = (rows: readonly Row[], signal: AbortSignal | undefined, bytes: number | undefined) =>
      untilGivenUp(this.inner.upload(lane.tenantId, lane.target, lane.stream, rows, signal, bytes), signal);
    // Cut off once every caller present has given up (each within its upload timeout); rows announced
    // by batches not yet here ride along and learn the outcome, their batch's budget being far longer.
    const present = group.filter((waiter) => !waiter.announced);
    const cutOff = whenAllAbort((present.length > 0 ? present : group).map((waiter) => waiter.signal));
    try {
      await request(
        group.flatMap((waiter) => waiter.rows),
        cutOff.signal,
        group.every((waiter) => waiter.bytes !== undefined)
          ? group.reduce((total, waiter) => total + (waiter.bytes ?? 0), 0)
          : undefined,
      );
      for (const waiter of group) waiter.resolve();
    } catch (error) {
      if (group.length > 1 && error instanceof IngestionFailure && error.kind === 'rejected') {
        await Promise.all(
          group.map((waiter) =>
            request(waiter.rows, waiter.signal, waiter.bytes).then(waiter.resolve, waiter.reject),
          ),
        );
      } else {
        for (const waiter of group) {
          if (waiter.announced && cutOff.signal?.aborted && !waiter.signal?.aborted)
            waiter.carrierGaveUp = true;
          waiter.reject(error);
        }
      }
    } finally {
      cutOff.dispose();
    }
  }
}

/**
 * Stops waiting once every caller has given up, whether or not the sink
 * honours the signal: a request that never settles must not hold its lane,
 * and with it every later upload of the tenant and table, for good.
 */
function untilGivenUp(work: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return work;
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const error = new Error('The upload was aborted before it was sent.', { cause: reason });
  error.name = 'AbortError';
  return error;
}

/** A signal that aborts once every given signal has (never, when one of them is absent). */
function whenAllAbort(signals: ReadonlyArray<AbortSignal | undefined>): {
  signal: AbortSignal | undefined;
  dispose: () => void;
} {
  const present = signals.filter((signal): signal is AbortSignal => signal !== undefined);
  if (present.length < signals.length) return { signal: undefined, dispose: () => undefined };
  const [only] = present;
  if (present.length === 1 && only) return { signal: only, dispose: () => undefined };
  const controller = new AbortController();
  let pending = present.filter((signal) => !signal.aborted).length;
  const onAbort = (): void => {
    pending -= 1;
    if (pending === 0) controller.abort(new DOMException('Every caller gave up.', 'AbortError'));
  };
  if (pending === 0) controller.abort(new DOMException('Every caller gave up.', 'AbortError'));
  for (const signal of present) {
    if (!signal.aborted) signal.addEventListener('abort', onAbort, { once: true });
  }
  return {
    signal: controller.signal,
    dispose: () => {
      for (const signal of present) signal.removeEventListener('abort', onAbort);
    },
  };
}
