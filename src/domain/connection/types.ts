import type { ConnectionActor, ConnectionChange } from '../connectionHistory';
import type {
  Clock,
  CreateConnectionLeases,
  IngestionSink,
  Logger,
  ParkedEventStore,
  TenantConnectionStore,
  WorkspaceProvisioner,
} from '../ports';
import type { HealthChangeRecorder } from '../exportHealth/heartbeat';
import type { ConnectionState, ConnectionTestResult, SchemaUpgradeFailure } from '../tenantConnection';

/** What the connection use cases need, take and answer (the shapes the API's GET and POST bodies are built from). */

export interface ConnectionUseCaseDeps {
  connections: TenantConnectionStore;
  /** One Create Connection at a time per tenant across instances; without it calls are not serialized. */
  leases?: CreateConnectionLeases;
  parked: Pick<ParkedEventStore, 'count'>;
  provisioner: WorkspaceProvisioner;
  ingestion: IngestionSink;
  clock: Clock;
  logger: Logger;
  /** Who is making the changes: the API caller, or the timer. Recorded on every change. */
  actor: ConnectionActor;
  /** Export health (issue 17): each change also becomes a signed row in the customer's workspace. */
  healthChanges?: HealthChangeRecorder;
  settings: {
    /** Longest Create Connection may take before it answers with what it has. */
    timeoutMs: number;
    /** How long after provisioning a 403/404 from ingestion means "not propagated yet". */
    propagationWindowMs: number;
    /** Bound for one re-test of a pending connection by the timer. */
    retestTimeoutMs?: number;
    /** How often a Create Connection waiting for another run of the tenant looks again (default 500 ms). */
    leasePollMs?: number;
  };
}

export interface CreateConnectionInput {
  workspaceResourceId: unknown;
  location: unknown;
}

export interface SaveSettingsInput {
  workspaceResourceId: unknown;
  /** Optional: when given, must be the location the connection was tested with. */
  location?: unknown;
}

export interface CreateConnectionResult {
  tenantId: string;
  workspaceResourceId: string;
  location: string;
  /** The connection's state after this test (a saved export keeps running on its saved target). */
  state: ConnectionState;
  test: ConnectionTestResult;
  dataCollectionRule?: DataCollectionRuleView;
}

export interface DataCollectionRuleView {
  id: string;
  immutableId: string;
  logsIngestionEndpoint: string;
}

export interface SettingsView {
  tenantId: string;
  /** True while events are delivered (state active or degraded). */
  exportEnabled: boolean;
  state: ConnectionState;
  stateReason: string;
  stateChangedAt: string;
  /** What the forwarder delivers to, once saved. */
  saved?: {
    workspaceResourceId: string;
    location: string;
    dataCollectionRule: DataCollectionRuleView;
    streams: Record<string, string>;
    provisionedAt: string;
    /** Table schema version the workspace was provisioned at (a timer upgrades older ones). */
    schemaVersion: number;
  };
  /** Present while the saved workspace could not be upgraded to the current schema version. */
  schemaUpgrade?: SchemaUpgradeFailure;
  /** The last Create Connection and its per-step result. */
  tested?: {
    workspaceResourceId: string;
    location: string;
    test: ConnectionTestResult;
    dataCollectionRule?: DataCollectionRuleView;
  };
  health: {
    lastDeliveryAt?: string;
    lastError?: { at: string; message: string };
    /** The last error after deliveries succeeded again (`at` it happened, `resolvedAt` the recovery). */
    lastResolvedError?: { at: string; message: string; resolvedAt: string };
    parkedCount: number;
  };
  createdAt: string;
  updatedAt: string;
  /** The most recent change to the connection and who made it. */
  lastChange?: ConnectionChange;
}

export interface RetestSummary {
  checked: number;
  succeeded: number;
  stillPending: number;
  failed: number;
  /** Changed by someone else meanwhile: looked at again on the next run. */
  conflicts: number;
}
