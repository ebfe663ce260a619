import pLimit from 'p-limit';
import { withFailure } from '../deliveryAttempts';
import { chunkBySize } from '../ingestionChunks';
import type { Clock } from '../ports';
import { rowForSchemaVersion } from '../rowMapper';
import type { TableName } from '../tableSchema';
import {
  type ConnectionTarget,
  isDelivering,
  type TenantConnection,
  type Versioned,
} from '../tenantConnection';
import {
  type BatchContext,
  deliveredKey,
  type DeliveryFailure,
  NOT_ATTEMPTED,
  type PendingEvent,
  TenantRun,
} from './batchState';
import type { ConnectionCache } from './connectionCache';
import type { ForwarderSettings, TenantOutcome } from './contract';
import { classify, duration, errorLine, untilAborted, uploadSignal } from './failures';
import type { PauseDecision } from '../sharedPauses';
import type { UploadTicket } from '../uploadCoalescer';
import type { RetryOrPark } from './retryOrPark';
import type { TenantPauses } from './tenantPauses';

export interface TenantDeliveryDependencies {
  connections: ConnectionCache;
  pauses: TenantPauses;
  outcomes: RetryOrPark;
  clock: Clock;
  /** Remembers `tenant/record id` of every row the workspace accepted (see deliveredKey). */
  delivered: { set(key: string, value: true): unknown };
}

/**
 * Delivers one tenant's events of a batch: looks up its connection, respects
 * its pause, uploads per table in request-sized chunks, and hands every event
 * that was not delivered to RetryOrPark with the failure that explains it.
 */
export class TenantDelivery {
  constructor(
    private readonly deps: TenantDeliveryDependencies,
    private readonly settings: ForwarderSettings,
  ) {}

  /**
   * `handedOver` is called once the tenant's uploads are all queued (or none
   * will be made): the batch's intake, which other batches' requests may wait
   * for, is over when every tenant's is.
   */
  async forward(
    tenantId: string,
    events: PendingEvent[],
    batch: BatchContext,
    runs: TenantRun[],
    handedOver: () => void = () => undefined,
  ): Promise<TenantOutcome> {
    try {
      return await this.deliver(tenantId, events, batch, runs, handedOver);
    } finally {
      handedOver();
    }
  }

  private async deliver(
    tenantId: string,
    events: PendingEvent[],
    batch: BatchContext,
    runs: TenantRun[],
    handedOver: () => void,
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
    const { outcomes } = this.deps;

    let connection: Versioned<TenantConnection> | undefined;
    try {
      connection = await untilAborted(
        this.deps.connections.lookup(tenantId, batch.receivedAtMs),
        batch.signal,
      );
    } catch (error) {
      outcomes.retry(run, events, batch, {
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
      for (const event of events) outcomes.park(run, event, 'connectionSuspended', reason, batch);
      return finish(state);
    }
    if (!isDelivering(state)) {
      run.skipped += events.length;
      return finish(state);
    }
    const target = connection.value.saved;
    if (!target) {
      outcomes.retry(run, events, batch, {
        kind: 'noTarget',
        message: 'The connection is on but has no saved workspace target; save the connection again.',
      });
      return finish(state);
    }

    run.target = target;
    const decision = await this.deps.pauses.decide(tenantId);
    if (decision.paused) {
      // Not attempted, but still retried: an event past its budget is parked and the tenant
      // suspended (the intent below), as after a failed attempt.
      const paused = this.deps.pauses.pausedFailure(decision);
      run.pausedUntil = paused.until;
      outcomes.retry(run, events, batch, paused.failure);
    } else {
      await this.upload(run, target, events, batch, decision, handedOver);
    }

    batch.settlement.intents.push({
      tenantId,
      connection,
      target,
      delivered: run.delivered > 0,
      // The batch that failed recorded the failure; a paused one has no news for the connection.
      lastFailure: decision.paused ? undefined : run.lastFailure,
      accessFailure: run.accessFailure,
      exhausted: run.exhausted,
    });
    if (run.accessFailure) this.deps.connections.forget(tenantId);
    return finish(state);
  }

  /**
   * Uploads a tenant's events, per table, in request-sized chunks. A probe
   * sends them one at a time: a workspace still failing costs it one request.
   */
  private async upload(
    run: TenantRun,
    target: ConnectionTarget,
    events: PendingEvent[],
    batch: BatchContext,
    decision: PauseDecision,
    handedOver: () => void,
  ): Promise<void> {
    const limit = decision.paused || decision.probe === 'none' ? run.limit : pLimit(1);
    const byTable = new Map<TableName, PendingEvent[]>();
    for (const event of events) {
      const list = byTable.get(event.table) ?? [];
      list.push(event);
      byTable.set(event.table, list);
    }
    // In the lane before a slot: the next request for it, of any batch, carries these rows too. Not a
    // probe's: a workspace still failing should cost it one request of its own rows.
    const announce = !decision.paused && decision.probe === 'none' ? batch.announce : undefined;
    const sends: Array<Promise<void>> = [];
    for (const [table, tableEvents] of byTable) {
      const stream = target.streams[table];
      for (const chunk of chunkBySize(tableEvents, (event) => event.bytes)) {
        let ticket: UploadTicket | undefined;
        if (announce) {
          const { rows, bytes } = rowsToSend(chunk, target);
          ticket = announce(run.tenantId, target, stream, rows, batch.signal, bytes);
        }
        sends.push(this.sendChunk(run, limit, target, stream, chunk, batch, ticket));
      }
    }
    handedOver();
    try {
      await Promise.all(sends);
    } finally {
      // Even if something unforeseen throws, a probe must not leave the tenant paused for good.
      await this.deps.pauses.update(run.tenantId, run, decision);
    }
  }

  /** Uploads one chunk; a refused chunk is halved until the refused record stands alone. */
  private async sendChunk(
    run: TenantRun,
    limit: pLimit.Limit,
    target: ConnectionTarget,
    stream: string,
    events: PendingEvent[],
    batch: BatchContext,
    ticket?: UploadTicket,
  ): Promise<void> {
    // Splitting happens outside the slots: waiting for a slot while holding one could deadlock.
    const refusal = await limit(() =>
      batch.limit(() => this.attemptUpload(run, target, stream, events, batch, ticket)),
    );
    if (!refusal) return;
    const [single] = events;
    if (events.length === 1 && single) {
      this.deps.outcomes.park(
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
      this.sendChunk(run, limit, target, stream, events.slice(0, middle), batch),
      this.sendChunk(run, limit, target, stream, events.slice(middle), batch),
    ]);
  }

  /** Returns the refusal when the service rejected these rows (to be split), otherwise settles them itself. */
  private async attemptUpload(
    run: TenantRun,
    target: ConnectionTarget,
    stream: string,
    events: PendingEvent[],
    batch: BatchContext,
    ticket: UploadTicket | undefined,
  ): Promise<DeliveryFailure | undefined> {
    const notNow = run.trouble ?? (batch.signal.aborted ? NOT_ATTEMPTED : undefined);
    // Rows another batch's request has already carried are not retried blind: their outcome decides.
    if (notNow && (!ticket || ticket.withdraw())) {
      this.deps.outcomes.retry(run, events, batch, notNow);
      return undefined;
    }
    const upload = uploadSignal(batch.signal, this.settings.uploadTimeoutMs);
    try {
      let sent: Promise<void>;
      if (ticket) {
        sent = ticket.send(upload.signal);
      } else {
        const { rows, bytes } = rowsToSend(events, target);
        sent = batch.ingestion.upload(run.tenantId, target, stream, rows, upload.signal, bytes);
      }
      // A known delivery counts even when this batch's time ran out before its slot came: retried,
      // the rows would reach the workspace twice (or be parked though delivered).
      await (ticket?.delivered ? sent : untilAborted(sent, upload.signal));
      run.delivered += events.length;
      for (const event of events) {
        this.deps.delivered.set(deliveredKey(event), true);
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
        // Other batches of this process stop uploading for the tenant now, not when this one settles.
        this.deps.pauses.noteOutage(run.tenantId, failure);
      }
      this.deps.outcomes.retry(run, events, batch, failure);
      return undefined;
    } finally {
      upload.dispose();
    }
  }
}

/**
 * The rows of a chunk as its DCR takes them: one provisioned at an older schema
 * version declares fewer columns, so only those are sent. `bytes` as measured
 * at intake when nothing was dropped.
 */
function rowsToSend(
  events: readonly PendingEvent[],
  target: ConnectionTarget,
): { rows: Array<Record<string, unknown>>; bytes: number | undefined } {
  const rows = events.map((event) => rowForSchemaVersion(event.table, event.row, target.schemaVersion));
  const unchanged = rows.every((row, index) => row === events[index]!.row);
  return { rows, bytes: unchanged ? events.reduce((total, event) => total + event.bytes, 0) : undefined };
}
