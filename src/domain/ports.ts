import type { ProvisionedTable, TableName } from './tableSchema';
import type { TenantConnection, Versioned, ConnectionTarget } from './tenantConnection';
import type { WorkspaceRef } from './workspaceResourceId';

/**
 * The ports the use cases depend on. Adapters in src/adapters implement them
 * with the Azure SDKs; tests implement them with fakes. Nothing here knows
 * about HTTP, Service Bus or Table Storage.
 */

export interface Clock {
  now(): Date;
}

/** Structured, content-free logging: fields are counts, ids and codes, never event contents or secrets. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface TenantConnectionStore {
  get(tenantId: string): Promise<Versioned<TenantConnection> | undefined>;
  /** Creates the tenant's entity; throws ConcurrencyConflictError when one exists already. */
  create(connection: TenantConnection): Promise<Versioned<TenantConnection>>;
  /** Replaces the entity if `etag` is still current; throws ConcurrencyConflictError otherwise. */
  replace(connection: TenantConnection, etag: string): Promise<Versioned<TenantConnection>>;
  /** Connections whose last test is pending propagation (re-tested by a timer until ok or expired). */
  listPendingTests(): Promise<Array<Versioned<TenantConnection>>>;
  /** Connections with a saved target (the schema upgrade timer picks those behind the current version). */
  listSaved(): Promise<Array<Versioned<TenantConnection>>>;
}

/** One running Create Connection of a tenant, as recorded in its lease. */
export interface CreateConnectionRun {
  runId: string;
  startedAt: string;
  /** After this the lease counts as abandoned (a crashed or frozen instance) and may be taken over. */
  expiresAt: string;
  workspaceResourceId: string;
  location: string;
}

/**
 * One Create Connection at a time per tenant, across instances: a second call
 * waits for the running one instead of racing it at ARM (which answers 409
 * while a table operation is in progress).
 */
export interface CreateConnectionLeases {
  /** Takes the tenant's lease unless an unexpired run holds it; returns that run then. */
  acquire(
    run: CreateConnectionRun & { tenantId: string },
    now: Date,
  ): Promise<CreateConnectionRun | undefined>;
  /** The run holding the lease now, if any and unexpired. */
  holder(tenantId: string, now: Date): Promise<CreateConnectionRun | undefined>;
  /** Gives the lease back if `runId` still holds it. */
  release(tenantId: string, runId: string): Promise<void>;
}

/** Why an event was parked instead of delivered. */
export type ParkCategory =
  /** Not JSON, contract violation, unknown event ID: never retried. */
  | 'invalidMessage'
  /** The ingestion API refused this very record (400, too large). */
  | 'rejectedByService'
  /** Transient failures outlasted the retry budget. */
  | 'retryBudgetExhausted'
  /** The tenant's connection is suspended: held here until the tenant is fixed and replays. */
  | 'connectionSuspended';

export interface ParkedEvent {
  /** The tenant the event belongs to; undefined when nothing in the message says (kept as unattributed). */
  tenantId: string | undefined;
  /**
   * Unique within the tenant and sortable by time: the message's enqueue time and sequence
   * number (the same entry when a redelivered message is parked again), else park time and a
   * random part.
   */
  parkedId: string;
  /** The Service Bus message id it arrived with. */
  messageId: string | undefined;
  /** The event's own id (`id` in the contract), when it could be read. */
  eventRecordId: string | undefined;
  eventId: number | undefined;
  category: ParkCategory;
  /** Human sentence: why, and what to fix before replaying. */
  reason: string;
  /** The message body exactly as received, so a replay sends what the producer sent. */
  body: string;
  /** `base64` when the body is not UTF-8 text: `body` then holds its bytes in base64. */
  bodyEncoding?: 'base64';
  /** Delivery attempts made before parking. */
  attempts: number;
  firstAttemptAt: string | undefined;
  parkedAt: string;
  /** Most recent failures, oldest first (bounded). */
  history: Array<{ at: string; error: string }>;
}

export interface ParkedEventPage {
  items: ParkedEvent[];
  continuationToken?: string;
}

export interface ParkedEventStore {
  park(events: readonly ParkedEvent[]): Promise<void>;
  list(tenantId: string, page: { limit: number; continuationToken?: string }): Promise<ParkedEventPage>;
  count(tenantId: string): Promise<number>;
  remove(tenantId: string, parkedIds: readonly string[]): Promise<void>;
}

/** Where one upload goes: the DCR's ingestion endpoint and immutable id. */
export type IngestionTarget = Pick<
  ConnectionTarget,
  'logsIngestionEndpoint' | 'dataCollectionRuleImmutableId'
>;

export interface IngestionSink {
  /**
   * Sends rows as ONE request (the caller keeps them under the 1 MB limit), with
   * a token for `tenantId` only. Throws IngestionFailure describing why it failed.
   * `bytes`, when the caller already measured the rows as the SDK does (rowBytes),
   * spares measuring them again.
   */
  upload(
    tenantId: string,
    target: IngestionTarget,
    stream: string,
    rows: ReadonlyArray<Record<string, unknown>>,
    signal?: AbortSignal,
    bytes?: number,
  ): Promise<void>;
}

/** A message for the audit queue: re-enqueued retries and replays. */
export interface OutgoingAuditMessage {
  /** Unique per copy: the queue's duplicate detection silently drops a reused id. */
  messageId: string;
  /** JSON text of the event (v1 contract), or what a replayed parked event carried. */
  body: string;
  /** `base64` when `body` holds bytes that are not UTF-8 text (a replayed invalid message). */
  bodyEncoding?: 'base64';
  applicationProperties: Record<string, string | number | boolean>;
  /**
   * When set, the message stays invisible until then (scheduled message).
   * Each distinct time goes out in sends of its own: keep them few.
   */
  scheduledEnqueueTime?: Date;
}

export interface AuditQueue {
  /**
   * Sends (or schedules) every message or throws; never partially succeeds silently.
   * Messages due at different times never share one send.
   */
  send(messages: readonly OutgoingAuditMessage[]): Promise<void>;
}

/** What ARM says about a workspace. */
export interface WorkspaceInfo {
  /** Normalized ARM location name, e.g. eastus. */
  location: string;
}

export interface TableProvisioning {
  table: ProvisionedTable;
  /** created: it did not exist; updated: columns added; migrated: a Classic table converted, then updated; unchanged: already as needed. */
  action: 'created' | 'updated' | 'migrated' | 'unchanged';
  /** Columns the customer's table had that we do not define: kept, never dropped. */
  keptColumns: string[];
}

export interface DataCollectionRuleInfo {
  /** ARM resource ID of the DCR. */
  id: string;
  /** `dcr-…`: what the Logs Ingestion URL needs (not the ARM name). */
  immutableId: string;
  /** The Direct DCR's own ingestion endpoint (properties.endpoints.logsIngestion). */
  logsIngestionEndpoint: string;
  /** DCR input stream per table. */
  streams: Record<TableName, string>;
}

/**
 * Provisions what a tenant's export needs in its own workspace, with a token
 * for `tenantId` only (the route's tenant, never one read from the resource
 * ID). Every call is idempotent. Failures are domain errors:
 * AuthorizationError (naming the missing role and scope), NotFoundError
 * (WorkspaceNotFound), AppNotRegisteredError, ValidationError
 * (WorkspaceInAnotherTenant), StateConflictError (a customer column that
 * clashes with ours), TransientDependencyError, DependencyRejectedError.
 * `signal` ends waiting (long-running operations, retries) at the caller's deadline.
 */
export interface WorkspaceProvisioner {
  readWorkspace(tenantId: string, workspace: WorkspaceRef, signal: AbortSignal): Promise<WorkspaceInfo>;
  /** Creates or updates one custom table, keeping customer columns, migrating a Classic table first. */
  ensureTable(
    tenantId: string,
    workspace: WorkspaceRef,
    table: ProvisionedTable,
    signal: AbortSignal,
  ): Promise<TableProvisioning>;
  /** Creates or updates the workspace's `kind: Direct` DCR in its resource group and `location`. */
  ensureDataCollectionRule(
    tenantId: string,
    workspace: WorkspaceRef,
    location: string,
    signal: AbortSignal,
  ): Promise<DataCollectionRuleInfo>;
  /**
   * Creates or updates the DCR's diagnostic setting that sends its LogErrors category to the
   * workspace (table DCRLogErrors), so rows Azure drops silently leave a trace the customer sees.
   */
  ensureDiagnosticSetting(
    tenantId: string,
    workspace: WorkspaceRef,
    dataCollectionRuleId: string,
    signal: AbortSignal,
  ): Promise<void>;
}
