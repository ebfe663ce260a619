import type { KeyObject } from 'node:crypto';
import { scopeCovers, roleAllows } from './roles';
import type {
  ConfigureInput,
  DroppedData,
  FaultInfo,
  FederatedCredentialInput,
  RecordedRequest,
  RecordedRow,
  RoleName,
  TableColumnType,
} from './types';

/** The stand-in's world: Entra directory objects, ARM resources, ingested rows, faults. */

export interface EffectiveSettings {
  afterDcrCreatedMs: number;
  afterRoleGrantedMs: number;
  tableVisibilityDelayMs: number;
  tableOperationPolls: number;
  tableOperationMaxMs: number;
  refuseDroppedRows: boolean;
}

const DEFAULT_SETTINGS: EffectiveSettings = {
  afterDcrCreatedMs: 0,
  afterRoleGrantedMs: 0,
  tableVisibilityDelayMs: 0,
  tableOperationPolls: 1,
  tableOperationMaxMs: 2000,
  refuseDroppedRows: false,
};

export interface TenantRecord {
  id: string;
  displayName: string;
  /** lower-case client id → service principal object id in this tenant. */
  servicePrincipals: Map<string, string>;
  settings: Partial<EffectiveSettings>;
}

export interface AppCertificate {
  pem: string;
  publicKey: KeyObject;
  x5tS256: string;
  x5t: string;
}

export interface AppRecord {
  clientId: string;
  displayName: string;
  homeTenantId: string;
  /** SHA-256 of each valid secret; the secrets themselves are never kept. */
  secretHashes: Buffer[];
  certificates: AppCertificate[];
  federatedCredentials: FederatedCredentialInput[];
}

export interface ManagedIdentityRecord {
  clientId: string;
  objectId: string;
  tenantId: string;
  name: string;
  resourceId: string;
}

export interface ColumnRecord {
  name: string;
  type: TableColumnType;
  description?: string;
  displayName?: string;
  dataTypeHint?: string;
}

export interface TableShape {
  columns: ColumnRecord[];
  plan: string;
  retentionInDays: number;
  totalRetentionInDays: number;
  retentionInDaysAsDefault: boolean;
  totalRetentionInDaysAsDefault: boolean;
  tableSubType: string;
}

export interface TableOperation {
  id: string;
  subscriptionId: string;
  tenantId: string;
  location: string;
  workspace: WorkspaceRecord;
  tableName: string;
  kind: 'upsert' | 'migrate';
  startedAt: number;
  polls: number;
  inProgressPolls: number;
  maxMs: number;
  visibilityDelayMs: number;
  doneAt?: number;
  target: TableShape;
}

/**
 * The standard columns of a Classic (Data Collector API) custom table. Learn's Data Collector API
 * article lists the columns every record gets (TimeGenerated, plus TenantId, SourceSystem, MG,
 * ManagementGroupName, Computer, RawData, Type, _ResourceId shown on such tables); a `migrate` keeps
 * them as standard columns, so the Tables API PUT after it must not declare them again: Knudsen's
 * AzLogDcrIngestPS (linked from Learn's "Migrate from the HTTP Data Collector API" article) leaves
 * them out of its table PUTs for this reason (as issue 14 reports). No recorded response lists
 * their types: TenantId is a guid as on every table, TimeGenerated a dateTime, the others strings.
 */
export const CLASSIC_STANDARD_COLUMNS: readonly ColumnRecord[] = [
  { name: 'TenantId', type: 'guid' },
  { name: 'SourceSystem', type: 'string' },
  { name: 'TimeGenerated', type: 'dateTime' },
  { name: 'MG', type: 'string' },
  { name: 'ManagementGroupName', type: 'string' },
  { name: 'Computer', type: 'string' },
  { name: 'RawData', type: 'string' },
  { name: 'Type', type: 'string' },
  { name: '_ResourceId', type: 'string' },
];

export interface TableRecord {
  name: string;
  tableType: 'CustomLog' | 'Microsoft';
  /** The committed shape; undefined while the first create is still running. */
  committed?: TableShape;
  standardColumns: ColumnRecord[];
  /** Every type a column name ever had: a name cannot come back with another type. */
  typeHistory: Map<string, TableColumnType>;
  pending?: TableOperation;
  /** When the DCR service starts seeing the committed shape. */
  visibleAt?: number;
}

export interface WorkspaceRecord {
  name: string;
  location: string;
  customerId: string;
  subscriptionId: string;
  resourceGroup: string;
  tenantId: string;
  /** lower-case table name → table. */
  tables: Map<string, TableRecord>;
  /** lower-case table name → rows. */
  rows: Map<string, RecordedRow[]>;
}

export interface ResourceGroupRecord {
  name: string;
  location: string;
  workspaces: Map<string, WorkspaceRecord>;
}

export interface SubscriptionRecord {
  id: string;
  tenantId: string;
  resourceGroups: Map<string, ResourceGroupRecord>;
  /** Resource provider namespaces (lower case) the subscription has not registered. */
  unregisteredProviders: Set<string>;
}

export interface RoleAssignmentRecord {
  id: string;
  tenantId: string;
  principalId: string;
  clientId?: string;
  role: RoleName;
  scope: string;
  createdAt: number;
}

export interface DcrColumn {
  name: string;
  type: string;
}

export interface DcrDataFlow {
  streams: string[];
  destinations: string[];
  transformKql?: string;
  outputStream?: string;
}

export interface DcrRecord {
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  tenantId: string;
  location: string;
  kind: string;
  immutableId: string;
  logsIngestionEndpoint: string;
  etag: string;
  createdAt: number;
  updatedAt: number;
  tags?: Record<string, string>;
  description?: string;
  streamDeclarations: Record<string, { columns: DcrColumn[] }>;
  logAnalytics: Array<{ name: string; workspaceResourceId: string; workspace: WorkspaceRecord }>;
  dataFlows: DcrDataFlow[];
  /** Diagnostic settings by lower-cased name (ARM child resources of the DCR). */
  diagnosticSettings?: Map<string, DiagnosticSettingRecord>;
}

export interface DiagnosticSettingRecord {
  name: string;
  workspaceId: string;
  /** Enabled log categories, as sent. */
  categories: string[];
}

export interface FaultRecord extends FaultInfo {
  remaining?: number;
}

export class StandInState {
  tenants = new Map<string, TenantRecord>();
  apps = new Map<string, AppRecord>();
  managedIdentities = new Map<string, ManagedIdentityRecord>();
  subscriptions = new Map<string, SubscriptionRecord>();
  roleAssignments: RoleAssignmentRecord[] = [];
  dcrsById = new Map<string, DcrRecord>();
  dcrsByImmutableId = new Map<string, DcrRecord>();
  operations = new Map<string, TableOperation>();
  faults: FaultRecord[] = [];
  requestLog: RecordedRequest[] = [];
  /** What ingestion accepted and dropped (Azure says nothing; DCRLogErrors is not modelled). */
  dropped: DroppedData[] = [];
  requestSeq = 0;
  defaults: Partial<EffectiveSettings> = {};

  tenant(id: string | undefined): TenantRecord | undefined {
    return id === undefined ? undefined : this.tenants.get(id.toLowerCase());
  }

  app(clientId: string | undefined): AppRecord | undefined {
    return clientId === undefined ? undefined : this.apps.get(clientId.toLowerCase());
  }

  subscription(id: string): SubscriptionRecord | undefined {
    return this.subscriptions.get(id.toLowerCase());
  }

  settings(tenantId: string | undefined): EffectiveSettings {
    return { ...DEFAULT_SETTINGS, ...this.defaults, ...(this.tenant(tenantId)?.settings ?? {}) };
  }

  configure(input: ConfigureInput): void {
    const patch: Partial<EffectiveSettings> = {};
    if (input.propagation?.afterDcrCreatedMs !== undefined)
      patch.afterDcrCreatedMs = input.propagation.afterDcrCreatedMs;
    if (input.propagation?.afterRoleGrantedMs !== undefined)
      patch.afterRoleGrantedMs = input.propagation.afterRoleGrantedMs;
    if (input.tableVisibilityDelayMs !== undefined)
      patch.tableVisibilityDelayMs = input.tableVisibilityDelayMs;
    if (input.tableOperationPolls !== undefined) patch.tableOperationPolls = input.tableOperationPolls;
    if (input.tableOperationMaxMs !== undefined) patch.tableOperationMaxMs = input.tableOperationMaxMs;
    if (input.refuseDroppedRows !== undefined) patch.refuseDroppedRows = input.refuseDroppedRows;
    if (input.tenantId === undefined) {
      Object.assign(this.defaults, patch);
      return;
    }
    const tenant = this.tenant(input.tenantId);
    if (!tenant) throw new Error(`Unknown tenant ${input.tenantId}: seed it first.`);
    Object.assign(tenant.settings, patch);
  }

  servicePrincipalObjectId(tenantId: string, clientId: string): string | undefined {
    return this.tenant(tenantId)?.servicePrincipals.get(clientId.toLowerCase());
  }

  clientIdOfPrincipal(tenantId: string, objectId: string): string | undefined {
    const tenant = this.tenant(tenantId);
    if (!tenant) return undefined;
    for (const [clientId, principal] of tenant.servicePrincipals) {
      if (principal === objectId) return this.app(clientId)?.clientId ?? clientId;
    }
    return undefined;
  }

  private principalIndex?: {
    source: RoleAssignmentRecord[];
    length: number;
    byPrincipal: Map<string, RoleAssignmentRecord[]>;
  };

  /**
   * The principal's assignments, in grant order, from an index rebuilt whenever roleAssignments
   * changes (assignments are only pushed or filtered into a new array): every upload checks the
   * roles, and a scan of a world of 10,000 tenants' assignments cost ~6 ms a request.
   */
  private assignmentsOf(principalId: string): RoleAssignmentRecord[] {
    const source = this.roleAssignments;
    let index = this.principalIndex;
    if (!index || index.source !== source || index.length !== source.length) {
      const byPrincipal = new Map<string, RoleAssignmentRecord[]>();
      for (const assignment of source) {
        const list = byPrincipal.get(assignment.principalId) ?? [];
        list.push(assignment);
        byPrincipal.set(assignment.principalId, list);
      }
      index = { source, length: source.length, byPrincipal };
      this.principalIndex = index;
    }
    return index.byPrincipal.get(principalId) ?? [];
  }

  /** Assignments of `principalId` (in `tenantId`) whose scope covers `resourceId` and that grant `action`. */
  grantingAssignments(
    tenantId: string,
    principalId: string,
    resourceId: string,
    action: string,
    kind: 'action' | 'dataAction',
  ): RoleAssignmentRecord[] {
    return this.assignmentsOf(principalId).filter(
      (assignment) =>
        assignment.tenantId.toLowerCase() === tenantId.toLowerCase() &&
        scopeCovers(assignment.scope, resourceId) &&
        roleAllows(assignment.role, action, kind),
    );
  }

  workspaceByResourceId(resourceId: string): WorkspaceRecord | undefined {
    const parsed = parseWorkspaceId(resourceId);
    if (!parsed) return undefined;
    return this.subscription(parsed.subscriptionId)
      ?.resourceGroups.get(parsed.resourceGroup.toLowerCase())
      ?.workspaces.get(parsed.workspace.toLowerCase());
  }

  /** Completes table operations whose time has come; cheap, called before every request. */
  settle(now = Date.now()): void {
    for (const operation of this.operations.values()) {
      if (operation.doneAt === undefined && now - operation.startedAt >= operation.maxMs) {
        this.complete(operation, operation.startedAt + operation.maxMs);
      }
    }
  }

  /** A status poll: InProgress for the configured number of polls, then done. */
  poll(operation: TableOperation, now = Date.now()): void {
    operation.polls += 1;
    if (operation.doneAt === undefined && operation.polls > operation.inProgressPolls) {
      this.complete(operation, now);
    }
  }

  private complete(operation: TableOperation, at: number): void {
    operation.doneAt = at;
    const table = operation.workspace.tables.get(operation.tableName.toLowerCase());
    if (!table || table.pending !== operation) return;
    table.committed = operation.target;
    for (const column of operation.target.columns) table.typeHistory.set(column.name, column.type);
    table.pending = undefined;
    table.visibleAt = at + operation.visibilityDelayMs;
  }

  reset(): void {
    this.tenants.clear();
    this.apps.clear();
    this.managedIdentities.clear();
    this.subscriptions.clear();
    this.roleAssignments = [];
    this.dcrsById.clear();
    this.dcrsByImmutableId.clear();
    this.operations.clear();
    this.faults = [];
    this.requestLog = [];
    this.dropped = [];
    this.defaults = {};
  }
}

export function workspaceResourceId(subscriptionId: string, resourceGroup: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.OperationalInsights/workspaces/${name}`;
}

export function parseWorkspaceId(
  resourceId: string,
): { subscriptionId: string; resourceGroup: string; workspace: string } | undefined {
  const match =
    /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.OperationalInsights\/workspaces\/([^/]+)\/?$/i.exec(
      resourceId,
    );
  if (!match) return undefined;
  return { subscriptionId: match[1]!, resourceGroup: match[2]!, workspace: match[3]! };
}

/** ARM normalizes display names ("West Europe") to location names ("westeurope"). */
export function normalizeLocation(location: string): string {
  return location.replace(/\s+/g, '').toLowerCase();
}
