/**
 * The stand-in's control surface: what a test (in-process or through the
 * HTTP admin API) can seed, break and observe. Plain JSON shapes only, so the
 * same types serve the in-process control and AzureStandInAdmin.
 */

export type RoleName =
  | 'Owner'
  | 'Contributor'
  | 'Reader'
  | 'Log Analytics Reader'
  | 'Log Analytics Contributor'
  | 'Monitoring Contributor'
  | 'Monitoring Metrics Publisher'
  | 'Azure Service Bus Data Owner'
  | 'Azure Service Bus Data Sender'
  | 'Azure Service Bus Data Receiver';

/** The three roles the customer how-to asks for, on the workspace's resource group. */
export const CONNECTION_ROLES: readonly RoleName[] = [
  'Monitoring Contributor',
  'Monitoring Metrics Publisher',
  'Log Analytics Contributor',
];

/** Which Azure service a request reached. */
export type Face = 'entra' | 'managedIdentity' | 'arm' | 'ingestion' | 'keyVault' | 'logsQuery';

export type Operation =
  | 'openidConfiguration'
  | 'jwks'
  | 'token'
  | 'managedIdentityToken'
  | 'workspaceGet'
  | 'tableGet'
  | 'tablePut'
  | 'tableMigrate'
  | 'operationStatus'
  | 'dcrGet'
  | 'dcrPut'
  | 'dcrDelete'
  | 'diagnosticSettingGet'
  | 'diagnosticSettingPut'
  | 'diagnosticSettingDelete'
  | 'upload'
  | 'keyVaultCreateKey'
  | 'keyVaultGetKey'
  | 'keyVaultKeyVersions'
  | 'keyVaultSign'
  | 'keyVaultGrant'
  | 'logsQuery';

export interface StandInInfo {
  /** https://127.0.0.1:PORT — also the authority host, the ARM endpoint and the ingestion host. */
  baseUrl: string;
  authorityHost: string;
  armEndpoint: string;
  /** Issuer of every token the stand-in signs, `{tenantid}` standing for the tenant id. */
  issuerTemplate: string;
  /** JWKS with every published signing key (also served per tenant). */
  jwksUri: string;
  /** Set IDENTITY_ENDPOINT and IDENTITY_HEADER to these for ManagedIdentityCredential. */
  managedIdentity: { endpoint: string; identityHeader: string };
  audiences: { arm: string[]; monitor: string[]; tokenExchange: string[]; extra: string[] };
  /** Audience mintToken uses when none is given (our HTTP API's). */
  apiAudience: string;
}

export interface SeedTenantInput {
  /** Default: a new random GUID. Seeding an existing tenant adds to it. */
  tenantId?: string;
  displayName?: string;
  /** Default: a new random GUID, owned by this tenant. */
  subscriptionId?: string;
  /** Default: rg-sentinel. */
  resourceGroup?: string;
  /** Default: the workspace's location. */
  resourceGroupLocation?: string;
  /** The Log Analytics workspace in that resource group; `null` for none. */
  workspace?: { name?: string; location?: string; customerId?: string } | null;
  /** Client ids of registered apps an admin of this tenant consented to (each gets a service principal). */
  consentApps?: string[];
  /** Roles granted to every consented app on the resource group. Default: CONNECTION_ROLES. */
  roles?: RoleName[];
  /**
   * Resource provider namespaces the subscription never registered, e.g. `Microsoft.Insights`: ARM
   * answers 409 MissingSubscriptionRegistration for their resources. Default: all registered.
   */
  unregisteredProviders?: string[];
}

export interface ProviderRegistrationInput {
  subscriptionId: string;
  /** e.g. Microsoft.Insights (case-insensitive, as ARM treats it). */
  namespace: string;
  registered: boolean;
}

export interface WorkspaceInfo {
  id: string;
  name: string;
  location: string;
  customerId: string;
  subscriptionId: string;
  resourceGroup: string;
  tenantId: string;
}

export interface RoleAssignmentInfo {
  id: string;
  tenantId: string;
  principalId: string;
  clientId?: string;
  role: RoleName;
  scope: string;
  createdAt: string;
}

export interface SeededTenant {
  tenantId: string;
  subscriptionId: string;
  resourceGroup: { name: string; id: string; location: string };
  workspace?: WorkspaceInfo;
  /** clientId → object id of that app's service principal in this tenant. */
  servicePrincipals: Record<string, string>;
  roleAssignments: RoleAssignmentInfo[];
}

export interface AddWorkspaceInput {
  tenantId: string;
  /** Default: the tenant's first subscription. */
  subscriptionId?: string;
  resourceGroup: string;
  name: string;
  location: string;
  customerId?: string;
}

export interface FederatedCredentialInput {
  issuer: string;
  subject: string;
  audiences: string[];
  name?: string;
}

export interface RegisterAppInput {
  clientId?: string;
  displayName?: string;
  /** The publisher's tenant; created if unknown. Default: a new tenant. */
  homeTenantId?: string;
  /** true: generate one; a string: use it. */
  secret?: boolean | string;
  certificatePems?: string[];
  federatedCredentials?: FederatedCredentialInput[];
}

export interface RegisteredApp {
  clientId: string;
  homeTenantId: string;
  /** Object id of the app's service principal in its home tenant. */
  homeServicePrincipalId: string;
  secret?: string;
}

export interface RegisterManagedIdentityInput {
  /** The tenant the identity lives in (created if unknown). */
  tenantId: string;
  clientId?: string;
  objectId?: string;
  name?: string;
}

export interface ManagedIdentityInfo {
  clientId: string;
  /** Principal (object) id: the `sub` of its tokens and the subject of a federated credential. */
  objectId: string;
  tenantId: string;
  resourceId: string;
  /** Issuer of its tokens: the issuer a federated credential trusting it names. */
  issuer: string;
}

export interface GrantRoleInput {
  tenantId: string;
  /** The app whose service principal in tenantId gets the role… */
  clientId?: string;
  /** …or a principal object id directly. */
  principalId?: string;
  role: RoleName;
  /** A subscription, resource group or resource id. */
  scope: string;
}

export type RevokeRoleInput =
  | { id: string }
  | { tenantId: string; clientId?: string; principalId?: string; role: RoleName; scope?: string };

export interface PropagationSettings {
  /** Ingestion answers 404 to a DCR this young (DCR creation not yet propagated). */
  afterDcrCreatedMs?: number;
  /** Ingestion answers 403 while the only assignments granting the data action are this young. */
  afterRoleGrantedMs?: number;
}

export interface ConfigureInput {
  /** Without a tenant: the default for every tenant (affects other tests sharing the stand-in). */
  tenantId?: string;
  propagation?: PropagationSettings;
  /** A table whose create/update finished is visible to the DCR service only this much later. */
  tableVisibilityDelayMs?: number;
  /** A table operation reports InProgress for this many status polls (default 1)… */
  tableOperationPolls?: number;
  /** …or until this much time passed since the PUT (default 2000), whichever comes first. */
  tableOperationMaxMs?: number;
  /**
   * Not Azure's behaviour: answer 400 `InvalidRowData` (naming row and column) to an upload whose
   * rows Azure would silently drop in part, instead of 204. For tests of how a client handles
   * records the service refuses (default false: drop like Azure).
   */
  refuseDroppedRows?: boolean;
}

export type TableColumnType =
  'string' | 'int' | 'long' | 'real' | 'boolean' | 'dateTime' | 'guid' | 'dynamic';

/** A data collection rule seeded as if PUT (same validation), for worlds of many tenants. */
export interface SeedDcrInput {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  /** The body a DCR PUT would carry. */
  body: Record<string, unknown>;
}

export interface SeedTableInput {
  workspaceId: string;
  name: string;
  columns: Array<{ name: string; type: TableColumnType }>;
  /** Default Classic: what a table the Data Collector API created looks like. */
  tableSubType?: 'Classic' | 'DataCollectionRuleBased';
  /** Default CustomLog; Microsoft for a built-in table. */
  tableType?: 'CustomLog' | 'Microsoft';
}

export interface TableInfo {
  id: string;
  name: string;
  tableType: string;
  tableSubType: string;
  provisioningState: string;
  columns: Array<{ name: string; type: TableColumnType }>;
  /** Whether a DCR may name it as output table right now. */
  visibleToDcr: boolean;
}

export interface DcrInfo {
  id: string;
  name: string;
  tenantId: string;
  location: string;
  immutableId: string;
  logsIngestionEndpoint: string;
  streams: string[];
  createdAt: string;
  /** Diagnostic settings on the DCR: where its enabled log categories go. */
  diagnosticSettings: Array<{ name: string; workspaceId: string; categories: string[] }>;
}

export interface FaultInput {
  face?: Face;
  operation?: Operation;
  /** Entra: the tenant in the path; ARM: the subscription's tenant; ingestion: the DCR's tenant. */
  tenantId?: string;
  dcrImmutableId?: string;
  /** Ingestion: only uploads to this stream (e.g. Custom-EZCA_Certificates_CL), not the health rows'. */
  stream?: string;
  /** Answer this status instead of serving the request. */
  status?: number;
  /** Retry-After header: seconds, or an HTTP date. */
  retryAfter?: number | string;
  /** retry-after-ms header. */
  retryAfterMs?: number;
  errorCode?: string;
  message?: string;
  /** Wait this long first (then answer `status`, reset, or serve normally). */
  delayMs?: number;
  /** Destroy the connection without answering. */
  resetConnection?: boolean;
  /** For the next N matching requests; default: until cleared. */
  times?: number;
}

export interface FaultInfo extends FaultInput {
  id: string;
  /** Matching requests it already broke. */
  hits: number;
}

export type ClearFaultsInput = { id?: string; tenantId?: string; dcrImmutableId?: string };

export interface MintTokenInput {
  tenantId: string;
  /** Default: the API audience (info().apiAudience). */
  audience?: string;
  /** The calling app: sets appid/azp, and oid to its service principal in tenantId when it has one. */
  clientId?: string;
  objectId?: string;
  roles?: string[];
  /** Delegated scopes (scp), space separated. */
  scopes?: string;
  /** Default: `${baseUrl}/${tenantId}/v2.0`. */
  issuer?: string;
  /** Default 3600; negative mints a token that expired that long ago. */
  expiresInSeconds?: number;
  /** Sign with this published key (default: the active key). */
  kid?: string;
  /** Sign with a key that no JWKS publishes. */
  unpublishedKey?: boolean;
  /** Extra claims, or overrides (e.g. { tid: undefined } is not possible: use a different tenantId). */
  claims?: Record<string, unknown>;
}

export interface MintedToken {
  token: string;
  kid: string;
  claims: Record<string, unknown>;
}

export interface SigningKeysInfo {
  active: string;
  published: string[];
}

export interface RowsQuery {
  workspaceId: string;
  table: string;
  tenantId?: string;
}

export interface PurgeRowsInput {
  workspaceId: string;
  table: string;
  /** Rows matching every filter go: the column's value equals `value` (as text, case-insensitive). */
  filters: Array<{ column: string; value: string | number }>;
}

export interface RecordedRow {
  /** The tenant of the token that uploaded it. */
  tenantId: string;
  dcrImmutableId: string;
  stream: string;
  receivedAt: string;
  /** The row as the table stores it (see notes on truncation and TimeGenerated). */
  row: Record<string, unknown>;
  /** Columns whose value Azure truncated at 64 KB. */
  truncatedColumns?: string[];
  /** Azure replaces a TimeGenerated older than 2 days or more than 1 day ahead with the receive time. */
  timeGeneratedReplaced?: boolean;
}

export interface DroppedQuery {
  tenantId?: string;
  dcrImmutableId?: string;
}

/** Data the Logs Ingestion face accepted (204) and did not store, as Azure drops it silently. */
export interface DroppedData {
  /** The tenant of the token that uploaded it. */
  tenantId: string;
  dcrImmutableId: string;
  stream: string;
  receivedAt: string;
  /** body: nothing was stored; row: one row; property: one value of a row that was stored without it. */
  kind: 'body' | 'row' | 'property';
  /** Index of the row in the request body (row and property). */
  rowIndex?: number;
  /** The property dropped, or the one whose value made the row be dropped. */
  column?: string;
  reason: string;
}

export interface RequestsQuery {
  tenantId?: string;
  face?: Face;
  operation?: Operation;
  dcrImmutableId?: string;
  /** Only entries with a larger sequence number. */
  afterSeq?: number;
}

export interface RecordedRequest {
  seq: number;
  at: string;
  face: Face;
  operation?: Operation;
  method: string;
  /** Path without query string. */
  path: string;
  status: number;
  tenantId?: string;
  dcrImmutableId?: string;
  /** The error code answered, if any. */
  errorCode?: string;
  faultId?: string;
  rowCount?: number;
}
