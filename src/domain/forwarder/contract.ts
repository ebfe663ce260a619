import type { RetrySettings } from '../deliveryAttempts';
import type { DeliveryRecorder } from '../exportHealth/deliveryRecorder';
import type { HealthChangeRecorder } from '../exportHealth/heartbeat';
import type {
  AuditQueue,
  Clock,
  IngestionSink,
  Logger,
  ParkedEventStore,
  TenantConnectionStore,
} from '../ports';
import type { TenantCacheLimits } from '../tenantCache';
import type { SharedPausesOption } from './tenantPauses';
import type { ConnectionState } from '../tenantConnection';

/** The forwarder's public contract: what a caller hands it, and what one batch reports back. */

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
  /** How long one read of the shared pauses is used (their staleness); default 5 s. */
  pauseCacheMs?: number;
}

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
  /** Pauses shared by every instance (Table Storage); without it each instance pauses on its own. */
  sharedPauses?: SharedPausesOption;
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
