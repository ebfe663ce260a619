import { isUtf8 } from 'node:buffer';
import { setMaxListeners } from 'node:events';
import { LRUCache } from 'lru-cache';
import pLimit from 'p-limit';
import {
  attemptProperties,
  type DeliveryAttempts,
  isRetryBudgetExhausted,
  readAttempts,
  retryDelayMs,
  retryMessageId,
  type RetrySettings,
  withFailure,
} from '../deliveryAttempts';
import { ConcurrencyConflictError, IngestionFailure, type IngestionFailureKind } from '../errors';
import { attributedReason, describeActor, SYSTEM_FORWARDER, withChange } from '../connectionHistory';
import { formatProblems, parseEventMessage } from '../eventContract';
import { claimedIdentity, eventIdentity, invalidMessageTenant, tenantMismatch } from '../producerIntegrity';
import { messageIdParkedId, messageParkedId, newParkedId } from '../parkedIds';
import { chunkBySize, rowBytes } from '../ingestionChunks';
import type {
  AuditQueue,
  Clock,
  IngestionSink,
  Logger,
  OutgoingAuditMessage,
  ParkCategory,
  ParkedEvent,
  ParkedEventStore,
  TenantConnectionStore,
} from '../ports';
import type { DeliveryRecord, DeliveryRecorder } from '../exportHealth/deliveryRecorder';
import type { HealthChangeRecorder } from '../exportHealth/heartbeat';
import { eventToRow, type LogRow, rowForSchemaVersion } from '../rowMapper';
import type { TableName } from '../tableSchema';
import { DEFAULT_TENANT_CACHE_LIMITS, TenantCache, type TenantCacheLimits } from '../tenantCache';
import {
  type ConnectionState,
  type ConnectionTarget,
  isDelivering,
  isWithinPropagationWindow,
  type TenantConnection,
  type Versioned,
  withState,
} from '../tenantConnection';

/**
 * The forwarder use case: one Service Bus batch of audit events in, every
 * event accounted for out. Each event ends this invocation in exactly one of
 * four ways: delivered to its own tenant's workspace, scheduled again as a
 * copy with backoff, parked with a reason, or skipped because its tenant's
 * export is off. The handler completes the batch after that; it throws (and
 * the host abandons the batch) only when a copy or a parked event could not be
 * stored, because then an event would otherwise be lost.
 *
 * Isolation between tenants: uploads share one concurrency limit per batch, but
 * a tenant may hold at most half of it, a tenant in trouble stops uploading
 * after its first failure, and the batch has a time budget after which
 * whatever did not finish is re-enqueued. So one tenant's slow or failing
 * workspace costs the others at most a few slots, never their events.
 */

/** A message as the trigger delivered it, with the trigger metadata that belongs to it (undefined when unknown). */
export interface ReceivedAuditMessage {
  /** The body as the Functions library handed it over: bytes (the trigger's dataType), or text or a parsed value from other callers. */
  body: unknown;
  messageId: string | undefined;
  applicationProperties: Readonly<Record<string, unknown>> | undefined;
  deliveryCount: number | undefined;
  /**
   * Set by Service Bus at enqueue, the same on every redelivery: they make parking idempotent.
   * Undefined unless known exactly (see receivedBatch); the message id stands in then.
   */
  sequenceNumber: string | undefined;
  enqueuedAt: string | undefined;
}

export interface ForwarderSettings extends RetrySettings {
  maxConcurrentUploads: number;
  timeBudgetMs: number;
  /** Longest one upload may take, waiting to share a request included. */
  uploadTimeoutMs: number;
  connectionCacheMs: number;
  propagationWindowMs: number;
  /** Bounds the connection cache and the pauses; defaults for a 2 GB instance. */
  tenantCache?: TenantCacheLimits;
  /** How many delivered (tenant, record id) pairs are remembered so they are not uploaded again. */
  deliveredIdsRemembered?: number;
}

const DEFAULT_DELIVERED_IDS_REMEMBERED = 100_000;

export interface ForwarderDependencies {
  connections: TenantConnectionStore;
  parked: ParkedEventStore;
  ingestion: IngestionSink;
  queue: AuditQueue;
  clock: Clock;
  /** Jitter source; tests pin it. */
  random?: () => number;
  /** Export health (issue 17): what each batch delivered, parked and re-enqueued, by delivery time. */
  deliveries?: DeliveryRecorder;
  /** Export health: a suspension also becomes a signed change row in the customer's workspace. */
  healthChanges?: HealthChangeRecorder;
}

export interface ForwardOptions {
  invocationId: string;
  logger: Logger;
  /** Aborted by the host (shutdown); the time budget applies in any case. */
  signal?: AbortSignal;
}

export interface TenantOutcome {
  tenantId: string;
  /** The connection state the batch found; `none` when the tenant has no connection, `unknown` when it could not be read. */
  state: ConnectionState | 'none' | 'unknown';
  delivered: number;
  retried: number;
  parked: number;
  skipped: number;
  /** Copies of an event this batch already has, or that this instance delivered moments ago: completed, not uploaded. */
  duplicates: number;
  /** Highest delivery attempt among the tenant's events in this batch. */
  attempt: number;
  durationMs: number;
  failure?: { kind: string; status?: number; message: string };
  stateChange?: { from: ConnectionState; to: ConnectionState; reason: string };
  /** Set when the tenant was paused after an outage: its events were re-enqueued without an attempt. */
  pausedUntil?: string;
  /** Message ids of the events re-enqueued and parked, for correlation (not of those delivered or skipped). */
  retriedMessageIds: string[];
  parkedMessageIds: string[];
}

export interface BatchOutcome {
  messages: number;
  delivered: number;
  retried: number;
  parked: number;
  skipped: number;
  /** Completed without an upload: the same record id twice in the batch, or delivered recently by this instance. */
  duplicates: number;
  /** Parked because they are not valid audit events (included in `parked`). */
  invalid: number;
  /** True when the time budget ran out before every upload finished. */
  timedOut: boolean;
  durationMs: number;
  tenants: TenantOutcome[];
}

/** Thrown when re-enqueued copies or parked events could not be stored: the batch must be abandoned. */
export class SettlementError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SettlementError';
  }
}

interface PendingEvent {
  messageId: string | undefined;
  /** The body as received; its text (what a copy or a parked event carries) is only built when needed. */
  receivedBody: unknown;
  eventRecordId: string;
  tenantId: string;
  eventId: number;
  schemaVersion: string;
  table: TableName;
  row: LogRow;
  bytes: number;
  attempts: DeliveryAttempts;
  /** The parked entry's id should this event be parked; see parkKeyOf. */
  parkKey: string | undefined;
}

type FailureKind = IngestionFailureKind | 'cutOff' | 'storeUnavailable' | 'noTarget';

interface DeliveryFailure {
  kind: FailureKind;
  message: string;
  status?: number;
  retryAfterMs?: number;
}

interface StateIntent {
  tenantId: string;
  connection: Versioned<TenantConnection>;
  target: ConnectionTarget;
  delivered: boolean;
  lastFailure: DeliveryFailure | undefined;
  accessFailure: DeliveryFailure | undefined;
  exhausted: DeliveryFailure | undefined;
}

/** Everything one batch decided, stored together at the end. */
class Settlement {
  readonly copies: OutgoingAuditMessage[] = [];
  readonly parks: ParkedEvent[] = [];
  readonly intents: StateIntent[] = [];
}

class TenantRun {
  delivered = 0;
  retried = 0;
  parked = 0;
  skipped = 0;
  /** First failure that concerns the whole tenant: its remaining chunks are not attempted in this batch. */
  trouble: DeliveryFailure | undefined;
  /** First failure that says the workspace is overloaded or unreachable right now: it pauses the tenant. */
  outage: DeliveryFailure | undefined;
  lastFailure: DeliveryFailure | undefined;
  accessFailure: DeliveryFailure | undefined;
  exhausted: DeliveryFailure | undefined;
  pausedUntil: string | undefined;
  target: ConnectionTarget | undefined;
  readonly retriedIds: string[] = [];
  readonly parkedIds: string[] = [];
  /** Record ids the workspace accepted, per table: what the export health rows list. */
  readonly deliveredRecordIds: Partial<Record<TableName, string[]>> = {};
  constructor(
    readonly tenantId: string,
    readonly limit: pLimit.Limit,
  ) {}
}

interface BatchContext {
  signal: AbortSignal;
  limit: pLimit.Limit;
  settlement: Settlement;
}

const NOT_ATTEMPTED: DeliveryFailure = {
  kind: 'cutOff',
  message: 'Not attempted: the batch time budget ran out first.',
};

/**
 * A tenant whose workspace just throttled or failed to answer: until `untilMs`
 * no batch of this process uploads for it (its events are re-enqueued at once),
 * then one batch probes while the others keep re-enqueueing. So a workspace
 * that hangs holds up one batch per pause, not every batch that has its events.
 */
interface TenantPause {
  untilMs: number;
  failure: DeliveryFailure;
  probing: boolean;
}

const MAX_LOGGED_IDS = 50;

export class Forwarder {
  private readonly connectionCache: TenantCache<{
    entry: Versioned<TenantConnection> | undefined;
    readAtMs: number;
  }>;
  private readonly pauses: TenantCache<TenantPause>;
  /**
   * `tenant/record id` of rows this instance delivered lately. A producer
   * retry or a redelivered batch brings the same record again; uploading it
   * twice would write two rows. Other instances may still deliver a copy
   * (at least once): rows keep the record id (EventRecordId_g) for that.
   */
  private readonly delivered: LRUCache<string, true>;
  private readonly random: () => number;

  constructor(
    private readonly deps: ForwarderDependencies,
    private readonly settings: ForwarderSettings,
  ) {
    this.random = deps.random ?? Math.random;
    const limits = settings.tenantCache ?? DEFAULT_TENANT_CACHE_LIMITS;
    const now = (): number => deps.clock.now().getTime();
    this.connectionCache = new TenantCache({
      maxTenants: limits.maxTenants,
      idleMs: settings.connectionCacheMs,
      now,
    });
    this.pauses = new TenantCache({ ...limits, now });
    // Bounded by maxSize, not max: with max, lru-cache allocates every slot up front (tens of
    // milliseconds for 100,000), paid by each new instance before its first batch.
    this.delivered = new LRUCache({
      maxSize: settings.deliveredIdsRemembered ?? DEFAULT_DELIVERED_IDS_REMEMBERED,
      sizeCalculation: () => 1,
    });
  }

  async forwardBatch(
    messages: readonly ReceivedAuditMessage[],
    options: ForwardOptions,
  ): Promise<BatchOutcome> {
    const started = performance.now();
    const timeBudget = AbortSignal.timeout(this.settings.timeBudgetMs);
    const signal = options.signal ? AbortSignal.any([timeBudget, options.signal]) : timeBudget;
    // Every upload in flight listens to it (ours and the SDK's): dozens are expected, not a leak.
    setMaxListeners(0, signal);
    const batch: BatchContext = {
      signal,
      limit: pLimit(this.settings.maxConcurrentUploads),
      settlement: new Settlement(),
    };
    const now = this.deps.clock.now();

    const byTenant = new Map<string, PendingEvent[]>();
    const invalidIds: Array<string | undefined> = [];
    const inBatch = new Set<string>();
    const duplicates = new Map<string, number>();
    for (const message of messages) {
      const decoded = this.decodeOrPark(message, now);
      if ('event' in decoded) {
        const key = deliveredKey(decoded.event);
        if (inBatch.has(key) || this.delivered.has(key)) {
          duplicates.set(decoded.event.tenantId, (duplicates.get(decoded.event.tenantId) ?? 0) + 1);
          continue;
        }
        inBatch.add(key);
        const list = byTenant.get(decoded.event.tenantId) ?? [];
        list.push(decoded.event);
        byTenant.set(decoded.event.tenantId, list);
      } else {
        batch.settlement.parks.push(decoded.parked);
        invalidIds.push(message.messageId);
      }
    }

    const runs: TenantRun[] = [];
    const tenants = await Promise.all(
      [...byTenant].map(([tenantId, events]) => this.forwardTenant(tenantId, events, batch, runs)),
    );

    for (const tenant of tenants) tenant.duplicates = duplicates.get(tenant.tenantId) ?? 0;

    try {
      await this.settle(batch.settlement, options);
    } catch (error) {
      // The batch comes back, but the rows the workspace accepted are there: list them.
      await this.recordDeliveries(runs, batch.settlement, now, options, false);
      throw error;
    }
    await this.recordDeliveries(runs, batch.settlement, now, options, true);
    await this.applyStateChanges(batch.settlement.intents, tenants, options.logger);

    const outcome: BatchOutcome = {
      messages: messages.length,
      delivered: sum(tenants, 'delivered'),
      retried: sum(tenants, 'retried'),
      parked: sum(tenants, 'parked') + invalidIds.length,
      skipped: sum(tenants, 'skipped'),
      duplicates: [...duplicates.values()].reduce((total, count) => total + count, 0),
      invalid: invalidIds.length,
      timedOut: timeBudget.aborted,
      durationMs: Math.round(performance.now() - started),
      tenants,
    };
    this.log(outcome, invalidIds, messages, options);
    return outcome;
  }

  /** Forgets cached connections (tests, and after the portal changes a connection in this process). */
  forgetConnection(tenantId: string): void {
    this.connectionCache.delete(tenantId);
  }

  /**
   * One message's outcome, whatever its body: a body that makes decoding throw
   * (a bug, or input past what a check was written for) is parked under nobody
   * rather than failing the batch and, with it, every other tenant's events.
   */
  private decodeOrPark(
    message: ReceivedAuditMessage,
    now: Date,
  ): { event: PendingEvent } | { parked: ParkedEvent } {
    try {
      return this.decode(message, now);
    } catch (error) {
      const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return {
        parked: this.parkedEvent(
          {
            tenantId: undefined,
            messageId: message.messageId,
            eventRecordId: undefined,
            eventId: undefined,
            ...parkedBody(message.body),
            attempts: { attempt: 1, firstAttemptAt: now.toISOString(), history: [] },
            parkKey: parkKeyOf(message),
          },
          'invalidMessage',
          `The message could not be read (${detail.slice(0, 200)}); it is delivered to no tenant. Check the producer's body against the event contract.`,
          now,
        ),
      };
    }
  }

  private decode(
    message: ReceivedAuditMessage,
    now: Date,
  ): { event: PendingEvent } | { parked: ParkedEvent } {
    const attempts = readAttempts(message.applicationProperties, now);
    const validation = parseEventMessage(message.body);
    const claimed = validation.ok ? eventIdentity(message, validation.event) : claimedIdentity(message);
    const invalid = (tenantId: string | undefined, reason: string): { parked: ParkedEvent } => ({
      parked: this.parkedEvent(
        {
          tenantId,
          messageId: message.messageId,
          eventRecordId: claimed.eventRecordId,
          eventId: claimed.eventId,
          ...parkedBody(message.body),
          attempts,
          parkKey: parkKeyOf(message),
        },
        'invalidMessage',
        reason,
        now,
      ),
    });
    // Producer integrity: a message belongs to a tenant only when its tenantId property and its
    // body agree on one. Anything else is filed under nobody (unattributed), never under the
    // tenant the body merely claims, and is never delivered.
    const mismatch = tenantMismatch(claimed);
    if (validation.ok === false && validation.repeatedKey !== undefined) {
      return invalid(
        undefined,
        `The message body names the key ${JSON.stringify(validation.repeatedKey)} twice in one object, so which value counts would be a guess; it is delivered to no tenant. Fix the producer to send each key once.`,
      );
    }
    if (mismatch) {
      // Both wrongs, when the body is broken too: the producer has two things to fix.
      const alsoInvalid = validation.ok
        ? ''
        : ` The body is not a valid audit event either: ${formatProblems(validation.problems)}.`;
      return invalid(undefined, `${mismatch}${alsoInvalid}`);
    }
    if (!validation.ok) {
      return invalid(
        invalidMessageTenant(claimed),
        `The message is not a valid audit event (schema version 1): ${formatProblems(validation.problems)}. Fix the producer; replaying sends the same body again.`,
      );
    }
    const { event } = validation;
    const { table, row } = eventToRow(event);
    return {
      event: {
        messageId: message.messageId,
        receivedBody: message.body,
        eventRecordId: event.id,
        tenantId: event.tenantId,
        eventId: event.eventId,
        schemaVersion: event.schemaVersion,
        table,
        row,
        bytes: rowBytes(row),
        attempts,
        parkKey: parkKeyOf(message),
      },
    };
  }

  private async forwardTenant(
    tenantId: string,
    events: PendingEvent[],
    batch: BatchContext,
    runs: TenantRun[],
  ): Promise<TenantOutcome> {
    const started = performance.now();
    // A tenant may hold at most half the slots, so a slow workspace cannot starve the rest of the batch.
    const run = new TenantRun(
      tenantId,
      pLimit(Math.max(1, Math.floor(this.settings.maxConcurrentUploads / 2))),
    );
    runs.push(run);
    const attempt = Math.max(...events.map((event) => event.attempts.attempt));
    const finish = (state: TenantOutcome['state']): TenantOutcome => ({
      tenantId,
      state,
      delivered: run.delivered,
      retried: run.retried,
      parked: run.parked,
      skipped: run.skipped,
      duplicates: 0,
      attempt,
      durationMs: Math.round(performance.now() - started),
      retriedMessageIds: run.retriedIds,
      parkedMessageIds: run.parkedIds,
      ...(run.pausedUntil !== undefined ? { pausedUntil: run.pausedUntil } : {}),
      ...(run.lastFailure
        ? {
            failure: {
              kind: run.lastFailure.kind,
              message: run.lastFailure.message,
              ...(run.lastFailure.status !== undefined ? { status: run.lastFailure.status } : {}),
            },
          }
        : {}),
    });

    let connection: Versioned<TenantConnection> | undefined;
    try {
      connection = await untilAborted(this.lookup(tenantId), batch.signal);
    } catch (error) {
      this.retry(run, events, batch, {
        kind: 'storeUnavailable',
        message: `The tenant's connection could not be read: ${errorLine(error)}`,
      });
      return finish('unknown');
    }
    if (!connection) {
      run.skipped += events.length;
      return finish('none');
    }
    const { state } = connection.value;
    if (state === 'suspended') {
      const reason = `The tenant's export is suspended (${connection.value.stateReason}). Fix the connection and save it again, then replay the parked events.`;
      for (const event of events) this.park(run, event, 'connectionSuspended', reason, batch);
      return finish(state);
    }
    if (!isDelivering(state)) {
      run.skipped += events.length;
      return finish(state);
    }
    const target = connection.value.saved;
    if (!target) {
      this.retry(run, events, batch, {
        kind: 'noTarget',
        message: 'The connection is on but has no saved workspace target; save the connection again.',
      });
      return finish(state);
    }

    run.target = target;
    const paused = this.pauseFor(tenantId);
    if (paused) {
      // Not attempted, but still retried: an event past its budget is parked and the tenant
      // suspended (the intent below), as after a failed attempt.
      run.pausedUntil = paused.until;
      this.retry(run, events, batch, paused.failure);
    } else {
      await this.upload(run, target, events, batch);
    }

    batch.settlement.intents.push({
      tenantId,
      connection,
      target,
      delivered: run.delivered > 0,
      // The batch that failed recorded the failure; a paused one has no news for the connection.
      lastFailure: paused ? undefined : run.lastFailure,
      accessFailure: run.accessFailure,
      exhausted: run.exhausted,
    });
    if (run.accessFailure) this.forgetConnection(tenantId);
    return finish(state);
  }

  /** Uploads a tenant's events, per table, in request-sized chunks. */
  private async upload(
    run: TenantRun,
    target: ConnectionTarget,
    events: PendingEvent[],
    batch: BatchContext,
  ): Promise<void> {
    const byTable = new Map<TableName, PendingEvent[]>();
    for (const event of events) {
      const list = byTable.get(event.table) ?? [];
      list.push(event);
      byTable.set(event.table, list);
    }
    const sends: Array<Promise<void>> = [];
    for (const [table, tableEvents] of byTable) {
      for (const chunk of chunkBySize(tableEvents, (event) => event.bytes)) {
        sends.push(this.sendChunk(run, target, target.streams[table], chunk, batch));
      }
    }
    try {
      await Promise.all(sends);
    } finally {
      // Even if something unforeseen throws, a probe must not leave the tenant paused for good.
      this.updatePause(run.tenantId, run);
    }
  }

  /** Uploads one chunk; a refused chunk is halved until the refused record stands alone. */
  private async sendChunk(
    run: TenantRun,
    target: ConnectionTarget,
    stream: string,
    events: PendingEvent[],
    batch: BatchContext,
  ): Promise<void> {
    // Splitting happens outside the slots: waiting for a slot while holding one could deadlock.
    const refusal = await run.limit(() =>
      batch.limit(() => this.attemptUpload(run, target, stream, events, batch)),
    );
    if (!refusal) return;
    const [single] = events;
    if (events.length === 1 && single) {
      this.park(
        run,
        single,
        'rejectedByService',
        `The Logs Ingestion API refused this record: ${refusal.message}`,
        batch,
        withFailure(single.attempts.history, this.deps.clock.now(), refusal.message),
      );
      return;
    }
    const middle = Math.ceil(events.length / 2);
    await Promise.all([
      this.sendChunk(run, target, stream, events.slice(0, middle), batch),
      this.sendChunk(run, target, stream, events.slice(middle), batch),
    ]);
  }

  /** Returns the refusal when the service rejected these rows (to be split), otherwise settles them itself. */
  private async attemptUpload(
    run: TenantRun,
    target: ConnectionTarget,
    stream: string,
    events: PendingEvent[],
    batch: BatchContext,
  ): Promise<DeliveryFailure | undefined> {
    if (run.trouble) {
      this.retry(run, events, batch, run.trouble);
      return undefined;
    }
    if (batch.signal.aborted) {
      this.retry(run, events, batch, NOT_ATTEMPTED);
      return undefined;
    }
    const upload = uploadSignal(batch.signal, this.settings.uploadTimeoutMs);
    // A DCR provisioned at an older schema version declares fewer columns: send only those.
    const rows = events.map((event) => rowForSchemaVersion(event.table, event.row, target.schemaVersion));
    const unchanged = rows.every((row, index) => row === events[index]!.row);
    try {
      await untilAborted(
        this.deps.ingestion.upload(
          run.tenantId,
          target,
          stream,
          rows,
          upload.signal,
          unchanged ? events.reduce((total, event) => total + event.bytes, 0) : undefined,
        ),
        upload.signal,
      );
      run.delivered += events.length;
      for (const event of events) {
        this.delivered.set(deliveredKey(event), true);
        (run.deliveredRecordIds[event.table] ??= []).push(event.eventRecordId);
      }
      return undefined;
    } catch (error) {
      const timedOut = upload.timedOut() && !batch.signal.aborted;
      const failure: DeliveryFailure = timedOut
        ? {
            kind: 'unavailable',
            message: `The Logs Ingestion API did not answer within ${duration(this.settings.uploadTimeoutMs)}.`,
          }
        : classify(error);
      if (failure.kind === 'rejected') return failure;
      run.trouble ??= failure;
      if (
        timedOut ||
        failure.kind === 'throttled' ||
        (failure.kind === 'unavailable' && !batch.signal.aborted)
      ) {
        run.outage ??= failure;
      }
      this.retry(run, events, batch, failure);
      return undefined;
    } finally {
      upload.dispose();
    }
  }

  /** The failure to re-enqueue with when the tenant is paused; undefined when this batch may upload (maybe as the probe). */
  private pauseFor(tenantId: string): { failure: DeliveryFailure; until: string } | undefined {
    const pause = this.pauses.get(tenantId);
    if (!pause) return undefined;
    const nowMs = this.deps.clock.now().getTime();
    if (nowMs >= pause.untilMs && !pause.probing) {
      pause.probing = true;
      return undefined;
    }
    const until = new Date(Math.max(pause.untilMs, nowMs)).toISOString();
    const failure: DeliveryFailure = {
      ...pause.failure,
      message: `Not attempted: the workspace failed moments ago and uploads for this tenant pause until ${until}${pause.probing ? ' (another batch is trying it)' : ''}. ${pause.failure.message}`,
      retryAfterMs: Math.max(0, pause.untilMs - nowMs),
    };
    return { failure, until };
  }

  /**
   * An outage (throttled, 5xx, no answer) pauses the tenant for as long as the
   * service asked, and at least until the first retry of its events could come
   * back (half the base delay); a delivery ends the pause; a batch that
   * probed without learning either lets the next one probe.
   */
  private updatePause(tenantId: string, run: TenantRun): void {
    if (run.outage) {
      const pauseMs = Math.max(run.outage.retryAfterMs ?? 0, this.settings.retryBaseDelayMs / 2);
      this.pauses.set(tenantId, {
        untilMs: this.deps.clock.now().getTime() + pauseMs,
        failure: run.outage,
        probing: false,
      });
    } else if (run.delivered > 0) {
      this.pauses.delete(tenantId);
    } else {
      const pause = this.pauses.get(tenantId);
      if (pause) pause.probing = false;
    }
  }

  /** Schedules copies of events for a later attempt, or parks them once their retry budget is spent. */
  private retry(
    run: TenantRun,
    events: readonly PendingEvent[],
    batch: BatchContext,
    failure: DeliveryFailure,
  ): void {
    const now = this.deps.clock.now();
    const isFailure = failure !== NOT_ATTEMPTED;
    if (isFailure) {
      run.lastFailure = failure;
      if (this.isAccessFailure(failure, run.target, now)) run.accessFailure ??= failure;
    }
    // One due time per attempt number for the events of this call: every distinct time costs the
    // queue a send of its own (see AuditQueue.send), so jitter spreads tenants and batches, not events.
    const dueTimes = new Map<number, Date | undefined>();
    const dueTimeOf = (failedAttempt: number): Date | undefined => {
      if (!isFailure) return undefined;
      if (!dueTimes.has(failedAttempt)) {
        const delayMs = retryDelayMs(failedAttempt, this.settings, this.random, failure.retryAfterMs);
        dueTimes.set(failedAttempt, delayMs > 0 ? retryDueTime(now, delayMs) : undefined);
      }
      return dueTimes.get(failedAttempt);
    };
    for (const event of events) {
      if (isFailure && isRetryBudgetExhausted(event.attempts, now, this.settings)) {
        run.exhausted ??= failure;
        const hours = Math.round(this.settings.retryBudgetMs / 3_600_000);
        this.park(
          run,
          event,
          'retryBudgetExhausted',
          `Delivery kept failing for more than ${hours} hours (${event.attempts.attempt} attempts); last failure: ${failure.message}`,
          batch,
          withFailure(event.attempts.history, now, failure.message),
        );
        continue;
      }
      const next: DeliveryAttempts = {
        attempt: event.attempts.attempt + 1,
        firstAttemptAt: event.attempts.firstAttemptAt,
        history: isFailure
          ? withFailure(event.attempts.history, now, failure.message)
          : event.attempts.history,
      };
      const due = dueTimeOf(event.attempts.attempt);
      batch.settlement.copies.push({
        messageId: retryMessageId(event.eventRecordId, next.attempt, {
          messageId: event.messageId,
          attempt: event.attempts.attempt,
        }),
        body: bodyText(event.receivedBody),
        applicationProperties: {
          tenantId: event.tenantId,
          eventId: event.eventId,
          schemaVersion: event.schemaVersion,
          ...attemptProperties(next),
        },
        ...(due ? { scheduledEnqueueTime: due } : {}),
      });
      run.retried += 1;
      if (event.messageId !== undefined) run.retriedIds.push(event.messageId);
    }
  }

  /**
   * 403/404 right after provisioning only mean the role or the DCR has not
   * propagated yet; later they (and a tenant that issues no token) mean access
   * was lost: the connection is degraded, the events still retried.
   */
  private isAccessFailure(
    failure: DeliveryFailure,
    target: ConnectionTarget | undefined,
    now: Date,
  ): boolean {
    if (failure.kind === 'unauthenticated') return true;
    if (failure.kind !== 'forbidden' && failure.kind !== 'notFound') return false;
    return !target || !isWithinPropagationWindow(target, now, this.settings.propagationWindowMs);
  }

  private park(
    run: TenantRun,
    event: PendingEvent,
    category: ParkCategory,
    reason: string,
    batch: BatchContext,
    history = event.attempts.history,
  ): void {
    const now = this.deps.clock.now();
    batch.settlement.parks.push(
      this.parkedEvent(
        {
          tenantId: event.tenantId,
          messageId: event.messageId,
          eventRecordId: event.eventRecordId,
          eventId: event.eventId,
          ...parkedBody(event.receivedBody),
          attempts: { ...event.attempts, history },
          parkKey: event.parkKey,
        },
        category,
        reason,
        now,
      ),
    );
    run.parked += 1;
    if (event.messageId !== undefined) run.parkedIds.push(event.messageId);
  }

  private parkedEvent(
    source: {
      tenantId: string | undefined;
      messageId: string | undefined;
      eventRecordId: string | undefined;
      eventId: number | undefined;
      body: string;
      bodyEncoding?: 'base64';
      attempts: DeliveryAttempts;
      parkKey: string | undefined;
    },
    category: ParkCategory,
    reason: string,
    now: Date,
  ): ParkedEvent {
    const parkedAt = now.toISOString();
    return {
      tenantId: source.tenantId,
      parkedId: source.parkKey ?? newParkedId(parkedAt),
      messageId: source.messageId,
      eventRecordId: source.eventRecordId,
      eventId: source.eventId,
      category,
      reason,
      body: source.body,
      ...(source.bodyEncoding ? { bodyEncoding: source.bodyEncoding } : {}),
      attempts: source.attempts.attempt,
      firstAttemptAt: source.attempts.firstAttemptAt,
      parkedAt,
      history: source.attempts.history,
    };
  }

  /**
   * Stores the copies first, then the parked events. Copies carry ids that
   * are deterministic per attempt, so if parking fails and the batch comes
   * back, sending them again is absorbed by the queue's duplicate detection.
   */
  private async settle(settlement: Settlement, options: ForwardOptions): Promise<void> {
    try {
      if (settlement.copies.length > 0) await this.deps.queue.send(settlement.copies);
    } catch (error) {
      options.logger.error('forwarder: could not re-enqueue; abandoning the batch', {
        invocationId: options.invocationId,
        copies: settlement.copies.length,
        error: errorLine(error),
      });
      throw new SettlementError(
        `Could not re-enqueue ${settlement.copies.length} event(s) for a later attempt: ${errorLine(error)}`,
        { cause: error },
      );
    }
    try {
      if (settlement.parks.length > 0) await this.deps.parked.park(settlement.parks);
    } catch (error) {
      options.logger.error('forwarder: could not park events; abandoning the batch', {
        invocationId: options.invocationId,
        parked: settlement.parks.length,
        error: errorLine(error),
      });
      throw new SettlementError(`Could not park ${settlement.parks.length} event(s): ${errorLine(error)}`, {
        cause: error,
      });
    }
  }

  /**
   * One delivery record per tenant, after settlement: ids the workspace
   * accepted and, when settlement succeeded, how many events were parked and
   * re-enqueued. Export health must never fail delivery: a failure is logged,
   * and the rows stay in the workspace unlisted (verify reports them unexpected).
   */
  private async recordDeliveries(
    runs: readonly TenantRun[],
    settlement: Settlement,
    at: Date,
    options: ForwardOptions,
    settled: boolean,
  ): Promise<void> {
    const recorder = this.deps.deliveries;
    if (!recorder) return;
    const byTenant = new Map<string, DeliveryRecord>();
    for (const run of runs) {
      byTenant.set(run.tenantId, {
        tenantId: run.tenantId,
        at,
        delivered: run.deliveredRecordIds,
        ...(settled ? { parked: 0, reenqueued: run.retried } : {}),
      });
    }
    if (settled) {
      // Every park of the batch, including unreadable messages that still name a tenant.
      for (const park of settlement.parks) {
        if (park.tenantId === undefined) continue;
        const record = byTenant.get(park.tenantId) ?? { tenantId: park.tenantId, at, parked: 0 };
        record.parked = (record.parked ?? 0) + 1;
        byTenant.set(park.tenantId, record);
      }
    }
    const records = [...byTenant.values()].filter(
      (record) =>
        (record.parked ?? 0) > 0 ||
        (record.reenqueued ?? 0) > 0 ||
        Object.values(record.delivered ?? {}).some((ids) => ids.length > 0),
    );
    if (records.length === 0) return;
    try {
      await recorder.record(records);
    } catch (error) {
      options.logger.error(
        'forwarder: could not record deliveries for export health; delivery is not affected',
        {
          invocationId: options.invocationId,
          tenants: records.map((record) => record.tenantId),
          error: errorLine(error),
        },
      );
    }
  }

  private async lookup(tenantId: string): Promise<Versioned<TenantConnection> | undefined> {
    const nowMs = this.deps.clock.now().getTime();
    const cached = this.connectionCache.get(tenantId);
    // Only a delivering connection is served from the cache. A cached "no connection", "tested" or
    // "disabled" would skip (complete) events for up to a cache period after the customer clicks
    // "Save changes" in another instance: those events would be lost. A read per batch for a tenant
    // whose export is off is the price of never skipping on stale knowledge.
    if (
      cached?.entry &&
      isDelivering(cached.entry.value.state) &&
      nowMs - cached.readAtMs < this.settings.connectionCacheMs
    ) {
      return cached.entry;
    }
    const entry = await this.deps.connections.get(tenantId);
    this.connectionCache.set(tenantId, { entry, readAtMs: nowMs });
    return entry;
  }

  /**
   * Records what the batch learned about each tenant, conditionally on the
   * ETag: on a conflict the entity is read again and the change re-decided,
   * so a concurrent "disable" or "save" by the portal always wins over what an
   * older batch saw. A failure here loses no event (they are settled already)
   * and is only logged.
   */
  private async applyStateChanges(
    intents: readonly StateIntent[],
    tenants: TenantOutcome[],
    logger: Logger,
  ): Promise<void> {
    await Promise.all(
      intents.map(async (intent) => {
        try {
          const change = await this.applyStateChange(intent);
          const outcome = tenants.find((tenant) => tenant.tenantId === intent.tenantId);
          if (change && outcome)
            outcome.stateChange = { from: change.from, to: change.to, reason: change.reason };
          if (change?.to === 'suspended')
            await this.recordSuspension(change.connection, change.reason, logger);
        } catch (error) {
          logger.warn('forwarder: could not record the connection state', {
            tenantId: intent.tenantId,
            error: errorLine(error),
          });
        }
      }),
    );
  }

  /** Failing to write the row is logged; it never touches delivery. */
  private async recordSuspension(
    connection: TenantConnection,
    reason: string,
    logger: Logger,
  ): Promise<void> {
    if (!this.deps.healthChanges) return;
    try {
      await this.deps.healthChanges.recordChange(
        connection,
        'suspended',
        describeActor(SYSTEM_FORWARDER),
        reason,
      );
    } catch (error) {
      logger.error('Export health change row not written; the change itself went through', {
        tenantId: connection.tenantId,
        change: 'suspended',
        error: errorLine(error),
      });
    }
  }

  private async applyStateChange(
    intent: StateIntent,
  ): Promise<
    { from: ConnectionState; to: ConnectionState; reason: string; connection: TenantConnection } | undefined
  > {
    let current: Versioned<TenantConnection> | undefined = intent.connection;
    for (let round = 0; round < 5 && current; round += 1) {
      const next = this.nextConnection(current.value, intent);
      if (!next) return undefined;
      try {
        const written = await this.deps.connections.replace(next, current.etag);
        this.connectionCache.set(intent.tenantId, {
          entry: written,
          readAtMs: this.deps.clock.now().getTime(),
        });
        return next.state === current.value.state
          ? undefined
          : {
              from: current.value.state,
              to: next.state,
              reason: next.stateReason,
              connection: written.value,
            };
      } catch (error) {
        if (!(error instanceof ConcurrencyConflictError)) throw error;
        current = await this.deps.connections.get(intent.tenantId);
        this.connectionCache.set(intent.tenantId, {
          entry: current,
          readAtMs: this.deps.clock.now().getTime(),
        });
      }
    }
    return undefined;
  }

  /** The connection after this batch's news, or undefined when nothing needs writing. */
  private nextConnection(current: TenantConnection, intent: StateIntent): TenantConnection | undefined {
    // The portal turned export off, or saved another target meanwhile: what we saw no longer applies.
    if (!isDelivering(current.state) || !sameTarget(current.saved, intent.target)) return undefined;
    const now = this.deps.clock.now();
    let next = current;
    if (intent.exhausted) {
      const hours = Math.round(this.settings.retryBudgetMs / 3_600_000);
      next = withState(
        next,
        'suspended',
        attributedReason(
          `Deliveries kept failing for more than ${hours} hours (${intent.exhausted.message}). New events are parked: fix the connection, save it again, then replay the parked events.`,
          SYSTEM_FORWARDER,
        ),
        now,
      );
    } else if (intent.accessFailure) {
      next = withState(
        next,
        'degraded',
        attributedReason(accessReason(intent.accessFailure), SYSTEM_FORWARDER),
        now,
      );
    } else if (intent.delivered && next.state === 'degraded' && !next.schemaUpgrade) {
      // A failed schema upgrade stays degraded until the upgrade succeeds, whatever deliveries do.
      next = withState(next, 'active', attributedReason('Deliveries succeed again.', SYSTEM_FORWARDER), now);
    }
    const at = now.toISOString();
    if (next.stateChangedAt !== current.stateChangedAt) {
      next = withChange(next, {
        at,
        action: 'deliveryState',
        actor: SYSTEM_FORWARDER,
        state: next.state,
        summary: `Export ${current.state} -> ${next.state}.`,
      });
    }
    if (intent.delivered) {
      const last = next.lastDeliveryAt ? Date.parse(next.lastDeliveryAt) : Number.NaN;
      // Throttled so a busy tenant costs one write per cache period, not one per batch.
      if (Number.isNaN(last) || now.getTime() - last >= this.settings.connectionCacheMs) {
        next = { ...next, lastDeliveryAt: at, updatedAt: at };
      }
    }
    if (intent.delivered && !intent.lastFailure && next.lastError) {
      // Recovered: a health view still showing the old 429 as current would send someone chasing it.
      const { lastError, ...rest } = next;
      next = {
        ...rest,
        lastResolvedError: { ...lastError, resolvedAt: at },
        lastDeliveryAt: at,
        updatedAt: at,
      };
    }
    if (intent.lastFailure) {
      const previous = next.lastError;
      const stale =
        !previous ||
        previous.message !== intent.lastFailure.message ||
        now.getTime() - Date.parse(previous.at) >= this.settings.connectionCacheMs;
      if (stale) next = { ...next, lastError: { at, message: intent.lastFailure.message }, updatedAt: at };
    }
    return next === current ? undefined : next;
  }

  private log(
    outcome: BatchOutcome,
    invalidIds: ReadonlyArray<string | undefined>,
    messages: readonly ReceivedAuditMessage[],
    options: ForwardOptions,
  ): void {
    const { logger, invocationId } = options;
    let quiet = 0;
    for (const tenant of outcome.tenants) {
      const troubled = tenant.retried > 0 || tenant.parked > 0;
      // A clean delivery is only counted in the batch line: the log grows with batches, not tenants x batches.
      if (isQuiet(tenant)) {
        quiet += 1;
        continue;
      }
      const fields: Record<string, unknown> = {
        invocationId,
        tenantId: tenant.tenantId,
        state: tenant.state,
        delivered: tenant.delivered,
        retried: tenant.retried,
        parked: tenant.parked,
        skipped: tenant.skipped,
        attempt: tenant.attempt,
        durationMs: tenant.durationMs,
      };
      if (tenant.failure) {
        fields.failureKind = tenant.failure.kind;
        if (tenant.failure.status !== undefined) fields.failureStatus = tenant.failure.status;
      }
      if (tenant.stateChange) {
        fields.stateChange = `${tenant.stateChange.from}->${tenant.stateChange.to}`;
      }
      if (tenant.pausedUntil !== undefined) fields.pausedUntil = tenant.pausedUntil;
      if (troubled) {
        if (tenant.failure) fields.failure = tenant.failure.message;
        if (tenant.retriedMessageIds.length > 0) {
          fields.retriedMessageIds = tenant.retriedMessageIds.slice(0, MAX_LOGGED_IDS);
        }
        if (tenant.parkedMessageIds.length > 0) {
          fields.parkedMessageIds = tenant.parkedMessageIds.slice(0, MAX_LOGGED_IDS);
        }
        logger.warn('forwarder: tenant outcome', fields);
      } else {
        logger.info('forwarder: tenant outcome', fields);
      }
    }
    const deliveryCounts = messages.map((message) => message.deliveryCount ?? 0);
    const fields: Record<string, unknown> = {
      invocationId,
      messages: outcome.messages,
      tenants: outcome.tenants.length,
      delivered: outcome.delivered,
      retried: outcome.retried,
      parked: outcome.parked,
      skipped: outcome.skipped,
      duplicates: outcome.duplicates,
      invalid: outcome.invalid,
      // Tenants whose events were all delivered: they have no line of their own.
      tenantsDelivered: quiet,
      timedOut: outcome.timedOut,
      durationMs: outcome.durationMs,
      maxDeliveryCount: Math.max(0, ...deliveryCounts),
    };
    if (invalidIds.length > 0) fields.invalidMessageIds = invalidIds.slice(0, MAX_LOGGED_IDS);
    logger.info('forwarder: batch settled', fields);
  }
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} seconds`;
}

/**
 * The signal for one upload: aborts with the batch (time budget, host
 * shutdown) or when the upload has taken `timeoutMs`. A timer and a listener
 * rather than AbortSignal.any/timeout: thousands of uploads a minute should
 * leave nothing behind once disposed.
 */
function uploadSignal(
  batchSignal: AbortSignal,
  timeoutMs: number,
): { signal: AbortSignal; timedOut: () => boolean; dispose: () => void } {
  const controller = new AbortController();
  let timedOut = false;
  const onBatchAbort = (): void => controller.abort(batchSignal.reason);
  if (batchSignal.aborted) onBatchAbort();
  else batchSignal.addEventListener('abort', onBatchAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException('The upload timed out.', 'TimeoutError'));
  }, timeoutMs);
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose: () => {
      clearTimeout(timer);
      batchSignal.removeEventListener('abort', onBatchAbort);
    },
  };
}

class CutOffError extends Error {
  constructor() {
    super('cut off by the batch time budget');
    this.name = 'CutOffError';
  }
}

/** Stops waiting when the signal fires, whether or not the work honours the signal itself. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new CutOffError());
    if (signal.aborted) {
      onAbort();
    } else {
      signal.addEventListener('abort', onAbort, { once: true });
    }
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(
          error instanceof Error
            ? error.name === 'AbortError'
              ? new CutOffError()
              : error
            : new Error(String(error)),
        );
      },
    );
  });
}

function classify(error: unknown): DeliveryFailure {
  if (error instanceof CutOffError) {
    return { kind: 'unavailable', message: 'The upload did not finish within the batch time budget.' };
  }
  if (!(error instanceof IngestionFailure)) {
    return { kind: 'unavailable', message: `The upload failed: ${errorLine(error)}` };
  }
  const failure: DeliveryFailure = {
    kind: error.kind,
    message: error.message,
    ...(error.details.status !== undefined ? { status: error.details.status } : {}),
    ...(error.details.retryAfterMs !== undefined ? { retryAfterMs: error.details.retryAfterMs } : {}),
  };
  return failure;
}

function accessReason(failure: DeliveryFailure): string {
  switch (failure.kind) {
    case 'forbidden':
      return `The Logs Ingestion API refused access (403): the app may have lost the Monitoring Metrics Publisher role on the data collection rule's resource group. ${failure.message}`;
    case 'notFound':
      return `The data collection rule or its stream was not found (404): it may have been deleted. Run Create Connection and save again. ${failure.message}`;
    default:
      return `No token could be obtained in the customer's tenant: the app may have been removed from the tenant or its consent revoked. ${failure.message}`;
  }
}

function sameTarget(saved: ConnectionTarget | undefined, used: ConnectionTarget): boolean {
  return (
    saved !== undefined &&
    saved.dataCollectionRuleImmutableId === used.dataCollectionRuleImmutableId &&
    saved.logsIngestionEndpoint === used.logsIngestionEndpoint &&
    saved.provisionedAt === used.provisionedAt
  );
}

/**
 * A retry's due time, rounded up to the whole second: copies of different
 * tenants whose jitter fell in the same bucket (see retryDelayMs) then share
 * one time, and so one send.
 */
function retryDueTime(now: Date, delayMs: number): Date {
  return new Date(Math.ceil((now.getTime() + delayMs) / 1000) * 1000);
}

/**
 * The parked id that stays the same on redelivery: enqueue time with the exact
 * sequence number, else with the message id; undefined when the trigger said
 * neither (a new one is made then).
 */
function parkKeyOf(message: ReceivedAuditMessage): string | undefined {
  if (message.enqueuedAt === undefined) return undefined;
  if (message.sequenceNumber !== undefined)
    return messageParkedId(message.enqueuedAt, message.sequenceNumber);
  if (message.messageId !== undefined) return messageIdParkedId(message.enqueuedAt, message.messageId);
  return undefined;
}

/** A body to park: its text, or, when the bytes are not UTF-8, the bytes themselves in base64 (nothing replaced). */
function parkedBody(body: unknown): { body: string; bodyEncoding?: 'base64' } {
  if (body instanceof Uint8Array && !isUtf8(body)) {
    return { body: Buffer.from(body).toString('base64'), bodyEncoding: 'base64' };
  }
  return { body: bodyText(body) };
}

/** The body as text: what the producer sent, or the JSON of what the library parsed from it. */
function bodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  if (body === undefined) return '';
  return JSON.stringify(body) ?? '';
}

function errorLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? '').slice(0, 300);
}

/** Everything delivered (or completed as a duplicate) and nothing else happened: no line of its own. */
function isQuiet(tenant: TenantOutcome): boolean {
  return (
    tenant.retried === 0 &&
    tenant.parked === 0 &&
    tenant.skipped === 0 &&
    tenant.failure === undefined &&
    tenant.stateChange === undefined &&
    tenant.pausedUntil === undefined
  );
}

function deliveredKey(event: PendingEvent): string {
  return `${event.tenantId}/${event.eventRecordId}`;
}

function sum(tenants: readonly TenantOutcome[], key: 'delivered' | 'retried' | 'parked' | 'skipped'): number {
  return tenants.reduce((total, tenant) => total + tenant[key], 0);
}
