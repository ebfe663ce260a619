import { randomUUID } from 'node:crypto';
import { describeActor, withChange, type ConnectionActor } from './connectionHistory';
import type { HealthChangeRecorder } from './exportHealth/heartbeat';
import {
  ConcurrencyConflictError,
  StateConflictError,
  TransientDependencyError,
  ValidationError,
} from './errors';
import type {
  AuditQueue,
  Clock,
  Logger,
  OutgoingAuditMessage,
  ParkCategory,
  ParkedEvent,
  ParkedEventPage,
  ParkedEventStore,
  TenantConnectionStore,
} from './ports';
import { isDelivering, type TenantConnection } from './tenantConnection';
import { namedErrorLine } from './errorText';

/**
 * Inspecting and replaying a tenant's parked events (the portal's
 * "parked events" view, the operator CLI).
 *
 * A replay puts each parked body back on the audit queue, unchanged, as a
 * brand-new message: a fresh message id (duplicate detection would silently
 * drop a reused one) and no attempt history, so it gets a full retry budget.
 * An event leaves the parked store only after its copy was accepted by the
 * queue; a failure in between can at worst replay an event twice, which the
 * record id in each row lets queries dedupe, never lose it.
 */

export const PARK_CATEGORIES: readonly ParkCategory[] = [
  'invalidMessage',
  'rejectedByService',
  'retryBudgetExhausted',
  'connectionSuspended',
];
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 100;
/** Most events one replay call moves; the caller repeats while `remaining` is true. */
export const MAX_REPLAY_PER_CALL = 500;
/** Application property naming the parked entry a replayed message came from (for tracing). */
export const REPLAY_OF_PROPERTY = 'replayOf';

export interface ReplaySelection {
  /** Only these parked entries (ids as listed); default: all of the tenant's. */
  parkedIds?: readonly string[];
  /** Only entries parked for these reasons; default: every category. */
  categories?: readonly ParkCategory[];
}

export interface ReplayResult {
  /** Parked entries put back on the queue (and removed from the store). */
  replayed: number;
  /** Requested ids that are not (or no longer) parked. */
  notFound: string[];
  /** More entries match the selection: call again. */
  remaining: boolean;
}

export class ParkedEvents {
  constructor(
    private readonly deps: {
      parked: ParkedEventStore;
      connections: TenantConnectionStore;
      queue: AuditQueue;
      clock: Clock;
      /** Export health: a replay also becomes a signed change row; a failure there is logged, never fails the replay. */
      healthChanges?: { recorder: HealthChangeRecorder; logger: Logger };
    },
  ) {}

  async list(
    tenantId: string,
    page: { limit?: number; continuationToken?: string },
  ): Promise<ParkedEventPage> {
    const limit = page.limit ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
      throw new ValidationError(
        'InvalidPageSize',
        `limit must be a whole number from 1 to ${MAX_PAGE_SIZE}.`,
        'limit',
      );
    }
    return this.deps.parked.list(tenantId, {
      limit,
      ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
    });
  }

  count(tenantId: string): Promise<number> {
    return this.deps.parked.count(tenantId);
  }

  /** Replays the selection; `actor` (the API caller, or the operator CLI) is recorded on the connection. */
  async replay(tenantId: string, selection: ReplaySelection, actor: ConnectionActor): Promise<ReplayResult> {
    validateSelection(selection);
    const connection = await this.deps.connections.get(tenantId);
    if (!connection || !isDelivering(connection.value.state)) {
      // Replaying now would only skip (export off) or park again (suspended) what was parked.
      throw new StateConflictError(
        'ExportNotActive',
        connection
          ? `Export for this tenant is ${connection.value.state} (${connection.value.stateReason}). Fix and save the connection so export is active, then replay.`
          : 'This tenant has no connection. Create and save a connection so export is active, then replay.',
      );
    }

    const wanted = selection.parkedIds ? new Set(selection.parkedIds) : undefined;
    const categories = selection.categories ? new Set(selection.categories) : undefined;
    const picked: ParkedEvent[] = [];
    let remaining = false;
    let continuationToken: string | undefined;
    do {
      const page = await this.deps.parked.list(tenantId, {
        limit: MAX_PAGE_SIZE,
        ...(continuationToken ? { continuationToken } : {}),
      });
      for (const event of page.items) {
        if (wanted && !wanted.has(event.parkedId)) continue;
        if (categories && !categories.has(event.category)) continue;
        if (picked.length === MAX_REPLAY_PER_CALL) {
          remaining = true;
          break;
        }
        picked.push(event);
      }
      continuationToken = page.continuationToken;
    } while (continuationToken && !remaining && (!wanted || picked.length < wanted.size));

    if (picked.length > 0) {
      try {
        await this.deps.queue.send(picked.map((event) => replayMessage(tenantId, event)));
      } catch (error) {
        throw new TransientDependencyError(
          'The audit queue did not accept the events; none was removed from the parked events. Try again in a moment.',
          undefined,
          { cause: error },
        );
      }
      await this.deps.parked.remove(
        tenantId,
        picked.map((event) => event.parkedId),
      );
      await this.recordReplay(tenantId, picked.length, actor);
    }
    const found = new Set(picked.map((event) => event.parkedId));
    return {
      replayed: picked.length,
      notFound: wanted && !remaining ? [...wanted].filter((id) => !found.has(id)) : [],
      remaining,
    };
  }

  /** Who replayed how many, first in the connection's history; re-read on a concurrent write. */
  private async recordReplay(tenantId: string, count: number, actor: ConnectionActor): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      const current = await this.deps.connections.get(tenantId);
      if (!current) return;
      const at = this.deps.clock.now().toISOString();
      const next = withChange(current.value, {
        at,
        action: 'replay',
        actor,
        state: current.value.state,
        summary: `Replayed ${count} parked event${count === 1 ? '' : 's'}.`,
      });
      let written;
      try {
        written = await this.deps.connections.replace({ ...next, updatedAt: at }, current.etag);
      } catch (error) {
        if (!(error instanceof ConcurrencyConflictError) || attempt >= 3) throw error;
        continue;
      }
      await this.recordHealthChange(written.value, actor, count);
      return;
    }
  }

  private async recordHealthChange(
    connection: TenantConnection,
    actor: ConnectionActor,
    count: number,
  ): Promise<void> {
    const health = this.deps.healthChanges;
    if (!health) return;
    try {
      await health.recorder.recordChange(
        connection,
        'replayed',
        describeActor(actor),
        `Replayed ${count} parked event${count === 1 ? '' : 's'}.`,
      );
    } catch (error) {
      health.logger.error('Export health change row not written; the change itself went through', {
        tenantId: connection.tenantId,
        change: 'replayed',
        error: namedErrorLine(error),
      });
    }
  }
}

function replayMessage(tenantId: string, event: ParkedEvent): OutgoingAuditMessage {
  const properties: Record<string, string | number | boolean> = {
    tenantId,
    schemaVersion: '1',
    [REPLAY_OF_PROPERTY]: event.parkedId,
  };
  if (event.eventId !== undefined) properties.eventId = event.eventId;
  return {
    messageId: `${event.eventRecordId ?? 'parked'}:replay:${randomUUID()}`,
    body: event.body,
    ...(event.bodyEncoding ? { bodyEncoding: event.bodyEncoding } : {}),
    applicationProperties: properties,
  };
}

function validateSelection(selection: ReplaySelection): void {
  if (selection.parkedIds !== undefined) {
    if (selection.parkedIds.length === 0 || selection.parkedIds.length > MAX_REPLAY_PER_CALL) {
      throw new ValidationError(
        'InvalidReplaySelection',
        `parkedIds must list 1 to ${MAX_REPLAY_PER_CALL} ids from the parked events list; leave it out to replay all.`,
        'parkedIds',
      );
    }
  }
  if (selection.categories !== undefined) {
    const unknown = selection.categories.filter((category) => !PARK_CATEGORIES.includes(category));
    if (selection.categories.length === 0 || unknown.length > 0) {
      throw new ValidationError(
        'InvalidReplaySelection',
        `categories must name at least one of ${PARK_CATEGORIES.join(', ')}${unknown.length > 0 ? ` (unknown: ${unknown.join(', ')})` : ''}.`,
        'categories',
      );
    }
  }
}
