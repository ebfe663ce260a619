import type { ConnectionChange } from './connectionHistory';
import type { TableName } from './tableSchema';

/**
 * A customer tenant's connection to its Log Analytics workspace, as Table
 * Storage keeps it (one entity per tenant).
 *
 * Two targets are kept apart on purpose: `tested` is what the last "Create
 * Connection" provisioned and tested; `saved` is what the forwarder delivers
 * to. Testing a new workspace must not redirect a running export before the
 * portal user clicks "Save changes".
 */

export type ConnectionState =
  /** Create Connection ran; export not turned on yet. */
  | 'tested'
  /** Saved: events are delivered. */
  | 'active'
  /** Saved, but deliveries are failing (role removed, DCR deleted, outage); still retried. */
  | 'degraded'
  /** Outage longer than the retry budget, or access revoked for good: new events are parked. */
  | 'suspended'
  /** Turned off by the portal: events are counted and completed, not delivered. */
  | 'disabled';

/**
 * `warning`: the step failed but the connection works without it (events are delivered);
 * the detail says what is missing and how to fix it.
 */
export type StepOutcome = 'ok' | 'warning' | 'pending' | 'failed' | 'skipped';

export interface StepResult {
  outcome: StepOutcome;
  /** Human sentence: what happened and, unless ok, what to do. */
  detail: string;
  /** Stable code for the portal, e.g. AuthorizationFailed, WorkspaceNotFound, RegionMismatch. */
  code?: string;
  /** For authorization failures: which of the three roles is missing, and on which scope. */
  missingRole?: string;
  scope?: string;
}

export type ConnectionStep =
  | 'workspace'
  | 'tables'
  | 'dataCollectionRule'
  | 'testMessage'
  /** Sends the DCR's LogErrors to the workspace (DCRLogErrors); a failure is only a warning. */
  | 'diagnosticSetting';

/** Steps every recorded test has; connections tested before diagnosticSetting existed lack it. */
export type ConnectionSteps = Record<Exclude<ConnectionStep, 'diagnosticSetting'>, StepResult> & {
  diagnosticSetting?: StepResult;
};

export interface ConnectionTestResult {
  /** ok when every step is ok or a warning; pending when the test message waits for propagation; failed otherwise. */
  outcome: 'ok' | 'pending' | 'failed';
  testedAt: string;
  steps: ConnectionSteps;
  /** While pending: the time after which a 403/404 counts as failure, not propagation. */
  pendingUntil?: string;
}

/** Where a tenant's rows go: everything the forwarder needs to upload. */
export interface ConnectionTarget {
  workspaceResourceId: string;
  /** Normalized Azure region name, e.g. eastus. */
  location: string;
  dataCollectionRuleId: string;
  dataCollectionRuleImmutableId: string;
  logsIngestionEndpoint: string;
  /** DCR input stream per table. */
  streams: Record<TableName, string>;
  /** When the DCR was (re)provisioned: anchors the role/DCR propagation window. */
  provisionedAt: string;
  /**
   * TABLE_SCHEMA_VERSION the tables and DCR were provisioned at; absent on connections
   * provisioned before versions were recorded (version 1).
   */
  schemaVersion?: number;
}

/** A failed upgrade of the saved target to the current schema version (cleared once it succeeds). */
export interface SchemaUpgradeFailure {
  /** The version we tried to reach. */
  toVersion: number;
  /** The provisioning step that failed. */
  step: 'tables' | 'dataCollectionRule';
  code?: string;
  /** What failed and what to do, as the step result of Create Connection would say it. */
  detail: string;
  at: string;
}

export interface TestedConnection {
  /** Present once the DCR step succeeded; a test that failed earlier has no target. */
  target?: ConnectionTarget;
  workspaceResourceId: string;
  location: string;
  test: ConnectionTestResult;
  /** When the Create Connection that produced this result started: an older run never overwrites it. */
  runStartedAt?: string;
}

export interface TenantConnection {
  tenantId: string;
  state: ConnectionState;
  /** Why the connection is in its state (every state change records why). */
  stateReason: string;
  stateChangedAt: string;
  tested?: TestedConnection;
  saved?: ConnectionTarget;
  lastDeliveryAt?: string;
  lastError?: { at: string; message: string };
  /** The last error once deliveries succeeded again after it: kept for the record, no longer current. */
  lastResolvedError?: { at: string; message: string; resolvedAt: string };
  /** Present while the saved target could not be brought to the current schema version. */
  schemaUpgrade?: SchemaUpgradeFailure;
  createdAt: string;
  updatedAt: string;
  /** Who changed what and when, newest first, at most HISTORY_LIMIT entries (connectionHistory.ts). */
  history?: ConnectionChange[];
}

/** An entity as read from the store, with the ETag a conditional write must present. */
export interface Versioned<T> {
  value: T;
  etag: string;
}

/** States in which the forwarder delivers a tenant's events. */
export function isDelivering(state: ConnectionState): boolean {
  return state === 'active' || state === 'degraded';
}

/** Moves to a new state, recording why; returns the same object when nothing changes. */
export function withState(
  connection: TenantConnection,
  state: ConnectionState,
  reason: string,
  now: Date,
): TenantConnection {
  if (connection.state === state && connection.stateReason === reason) return connection;
  const at = now.toISOString();
  return { ...connection, state, stateReason: reason, stateChangedAt: at, updatedAt: at };
}

/** Inside this window after provisioning, a 403/404 from ingestion means "not propagated yet". */
export function isWithinPropagationWindow(target: ConnectionTarget, now: Date, windowMs: number): boolean {
  return now.getTime() - Date.parse(target.provisionedAt) < windowMs;
}
