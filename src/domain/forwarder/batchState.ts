import type pLimit from 'p-limit';
import type { DeliveryAttempts } from '../deliveryAttempts';
import type { IngestionFailureKind } from '../errors';
import type { IngestionSink, OutgoingAuditMessage, ParkedEvent } from '../ports';
import type { BatchUploads } from '../uploadCoalescer';
import type { LogRow } from '../rowMapper';
import type { TableName } from '../tableSchema';
import type { ConnectionTarget, TenantConnection, Versioned } from '../tenantConnection';

/** What one batch carries between its steps: the decoded events, each tenant's run, and what is to be stored. */

export interface PendingEvent {
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

export type FailureKind = IngestionFailureKind | 'cutOff' | 'storeUnavailable' | 'noTarget';

export interface DeliveryFailure {
  kind: FailureKind;
  message: string;
  status?: number;
  retryAfterMs?: number;
}

export interface StateIntent {
  tenantId: string;
  connection: Versioned<TenantConnection>;
  target: ConnectionTarget;
  delivered: boolean;
  lastFailure: DeliveryFailure | undefined;
  accessFailure: DeliveryFailure | undefined;
  exhausted: DeliveryFailure | undefined;
}

/** Everything one batch decided, stored together at the end. */
export class Settlement {
  readonly copies: OutgoingAuditMessage[] = [];
  readonly parks: ParkedEvent[] = [];
  readonly intents: StateIntent[] = [];
}

export class TenantRun {
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

export interface BatchContext {
  signal: AbortSignal;
  /** When the batch was handed over (clock ms): its events were enqueued before. */
  receivedAtMs: number;
  limit: pLimit.Limit;
  settlement: Settlement;
  /** This batch's uploads (its share of the instance's request sharing, when there is one). */
  ingestion: IngestionSink;
  /** Puts a chunk's rows in their lane before it has a slot (BatchUploads.announce), when requests are shared. */
  announce?: BatchUploads['announce'];
}

export const NOT_ATTEMPTED: DeliveryFailure = {
  kind: 'cutOff',
  message: 'Not attempted: the batch time budget ran out first.',
};

/** The key under which a delivered event is remembered, so a copy of it is not uploaded again. */
export function deliveredKey(event: PendingEvent): string {
  return `${event.tenantId}/${event.eventRecordId}`;
}
