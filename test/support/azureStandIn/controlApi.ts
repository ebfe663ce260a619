import { z } from 'zod';
import { ROLE_NAMES } from './roles';
import {
  type AddWorkspaceInput,
  type ClearFaultsInput,
  type ConfigureInput,
  type ProviderRegistrationInput,
  type DcrInfo,
  type SeedDcrInput,
  type FaultInfo,
  type FaultInput,
  type FederatedCredentialInput,
  type GrantRoleInput,
  type ManagedIdentityInfo,
  type MintedToken,
  type MintTokenInput,
  type RecordedRequest,
  type RecordedRow,
  type RegisteredApp,
  type RegisterAppInput,
  type RegisterManagedIdentityInput,
  type RequestsQuery,
  type RevokeRoleInput,
  type RoleAssignmentInfo,
  type PurgeRowsInput,
  type RowsQuery,
  type DroppedData,
  type DroppedQuery,
  type SeededTenant,
  type SeedTableInput,
  type SeedTenantInput,
  type SigningKeysInfo,
  type StandInInfo,
  type TableInfo,
  type WorkspaceInfo,
} from './types';
import { TABLE_COLUMN_TYPES } from './validation';
import type { StandInControl } from './control';

/**
 * Everything a test can do to the stand-in. AzureStandIn.control implements
 * it in-process; AzureStandInAdmin implements it over the HTTP admin API
 * (`POST /_admin/<method>` with the argument as JSON body).
 */
export interface AzureStandInControl {
  info(): Promise<StandInInfo>;
  seedTenant(input?: SeedTenantInput): Promise<SeededTenant>;
  addWorkspace(input: AddWorkspaceInput): Promise<WorkspaceInfo>;
  registerApp(input?: RegisterAppInput): Promise<RegisteredApp>;
  addAppSecret(input: { clientId: string; secret?: string }): Promise<{ secret: string }>;
  addAppCertificate(input: { clientId: string; certificatePem: string }): Promise<{ x5tS256: string }>;
  addFederatedCredential(input: { clientId: string } & FederatedCredentialInput): Promise<void>;
  consentApp(input: { tenantId: string; clientId: string }): Promise<{ objectId: string }>;
  revokeConsent(input: { tenantId: string; clientId: string }): Promise<{ removed: boolean }>;
  registerManagedIdentity(input: RegisterManagedIdentityInput): Promise<ManagedIdentityInfo>;
  grantRole(input: GrantRoleInput): Promise<RoleAssignmentInfo>;
  revokeRole(input: RevokeRoleInput): Promise<{ removed: number }>;
  listRoleAssignments(input: { tenantId: string }): Promise<RoleAssignmentInfo[]>;
  /** Registers or unregisters a resource provider namespace on a subscription (`az provider register`). */
  setProviderRegistration(input: ProviderRegistrationInput): Promise<void>;
  configure(input: ConfigureInput): Promise<void>;
  seedTable(input: SeedTableInput): Promise<TableInfo>;
  getTable(input: { workspaceId: string; name: string }): Promise<TableInfo | null>;
  listDcrs(input?: { tenantId?: string }): Promise<DcrInfo[]>;
  deleteDcr(input: { id: string }): Promise<{ deleted: boolean }>;
  seedDcr(input: SeedDcrInput): Promise<DcrInfo>;
  injectFault(input: FaultInput): Promise<FaultInfo>;
  listFaults(): Promise<FaultInfo[]>;
  clearFaults(input?: ClearFaultsInput): Promise<{ removed: number }>;
  addSigningKey(input?: { activate?: boolean }): Promise<{ kid: string }>;
  retireSigningKey(input: { kid: string }): Promise<{ retired: boolean }>;
  signingKeys(): Promise<SigningKeysInfo>;
  mintToken(input: MintTokenInput): Promise<MintedToken>;
  rows(input: RowsQuery): Promise<RecordedRow[]>;
  /**
   * Removes the rows of one table that match every filter (`column == value`, compared as text,
   * case-insensitive), as the workspace purge API (`POST …/workspaces/{name}/purge`) eventually
   * does; the stand-in removes them at once. Answers how many went.
   */
  purgeRows(input: PurgeRowsInput): Promise<{ removed: number }>;
  /** Data ingestion answered 204 to but did not store, with why. */
  dropped(input?: DroppedQuery): Promise<DroppedData[]>;
  requests(input?: RequestsQuery): Promise<RecordedRequest[]>;
  reset(): Promise<void>;
}

export class AdminError extends Error {}

const id = z
  .string()
  .min(1)
  .regex(/^[^/?#\s]+$/, 'must not contain /, ?, # or spaces');
const providerNamespace = z
  .string()
  .regex(/^[A-Za-z]+\.[A-Za-z.]+$/, 'must be a namespace like Microsoft.Insights');
const roleName = z.enum(ROLE_NAMES as [string, ...string[]]);
const tableColumnType = z.enum(TABLE_COLUMN_TYPES as unknown as [string, ...string[]]);
const federatedCredential = z.object({
  issuer: z.string().min(1),
  subject: z.string().min(1),
  audiences: z.array(z.string().min(1)).min(1),
  name: z.string().optional(),
});
const ms = z.number().int().min(0);

/** Input schemas, so that the HTTP admin API answers a malformed call with a readable 400. */
export const INPUT_SCHEMAS = {
  info: z.object({}).optional(),
  seedTenant: z
    .object({
      tenantId: id.optional(),
      displayName: z.string().optional(),
      subscriptionId: id.optional(),
      resourceGroup: id.optional(),
      resourceGroupLocation: z.string().min(1).optional(),
      workspace: z
        .object({ name: id.optional(), location: z.string().min(1).optional(), customerId: id.optional() })
        .nullable()
        .optional(),
      consentApps: z.array(id).optional(),
      roles: z.array(roleName).optional(),
      unregisteredProviders: z.array(providerNamespace).optional(),
    })
    .optional(),
  addWorkspace: z.object({
    tenantId: id,
    subscriptionId: id.optional(),
    resourceGroup: id,
    name: id,
    location: z.string().min(1),
    customerId: id.optional(),
  }),
  registerApp: z
    .object({
      clientId: id.optional(),
      displayName: z.string().optional(),
      homeTenantId: id.optional(),
      secret: z.union([z.boolean(), z.string().min(1)]).optional(),
      certificatePems: z.array(z.string().min(1)).optional(),
      federatedCredentials: z.array(federatedCredential).optional(),
    })
    .optional(),
  addAppSecret: z.object({ clientId: id, secret: z.string().min(1).optional() }),
  addAppCertificate: z.object({ clientId: id, certificatePem: z.string().min(1) }),
  addFederatedCredential: federatedCredential.extend({ clientId: id }),
  consentApp: z.object({ tenantId: id, clientId: id }),
  revokeConsent: z.object({ tenantId: id, clientId: id }),
  registerManagedIdentity: z.object({
    tenantId: id,
    clientId: id.optional(),
    objectId: id.optional(),
    name: id.optional(),
  }),
  grantRole: z.object({
    tenantId: id,
    clientId: id.optional(),
    principalId: id.optional(),
    role: roleName,
    scope: z.string().startsWith('/subscriptions/'),
  }),
  revokeRole: z.union([
    z.object({ id: z.string().min(1) }),
    z.object({
      tenantId: id,
      clientId: id.optional(),
      principalId: id.optional(),
      role: roleName,
      scope: z.string().optional(),
    }),
  ]),
  listRoleAssignments: z.object({ tenantId: id }),
  setProviderRegistration: z.object({
    subscriptionId: id,
    namespace: providerNamespace,
    registered: z.boolean(),
  }),
  configure: z.object({
    tenantId: id.optional(),
    propagation: z.object({ afterDcrCreatedMs: ms.optional(), afterRoleGrantedMs: ms.optional() }).optional(),
    tableVisibilityDelayMs: ms.optional(),
    tableOperationPolls: ms.optional(),
    tableOperationMaxMs: ms.optional(),
    refuseDroppedRows: z.boolean().optional(),
  }),
  seedTable: z.object({
    workspaceId: z.string().min(1),
    name: id,
    columns: z.array(z.object({ name: z.string().min(1), type: tableColumnType })),
    tableSubType: z.enum(['Classic', 'DataCollectionRuleBased']).optional(),
    tableType: z.enum(['CustomLog', 'Microsoft']).optional(),
  }),
  getTable: z.object({ workspaceId: z.string().min(1), name: id }),
  listDcrs: z.object({ tenantId: id.optional() }).optional(),
  deleteDcr: z.object({ id: z.string().min(1) }),
  seedDcr: z.object({
    subscriptionId: id,
    resourceGroup: id,
    name: id,
    body: z.record(z.string(), z.unknown()),
  }),
  injectFault: z.object({
    face: z.enum(['entra', 'managedIdentity', 'arm', 'ingestion']).optional(),
    operation: z
      .enum([
        'openidConfiguration',
        'jwks',
        'token',
        'managedIdentityToken',
        'workspaceGet',
        'tableGet',
        'tablePut',
        'tableMigrate',
        'operationStatus',
        'dcrGet',
        'dcrPut',
        'dcrDelete',
        'diagnosticSettingGet',
        'diagnosticSettingPut',
        'diagnosticSettingDelete',
        'upload',
      ])
      .optional(),
    tenantId: id.optional(),
    dcrImmutableId: id.optional(),
    stream: z.string().min(1).optional(),
    status: z.number().int().optional(),
    retryAfter: z.union([z.number().min(0), z.string().min(1)]).optional(),
    retryAfterMs: ms.optional(),
    errorCode: z.string().min(1).optional(),
    message: z.string().min(1).optional(),
    delayMs: ms.max(120_000).optional(),
    resetConnection: z.boolean().optional(),
    times: z.number().int().min(1).optional(),
  }),
  listFaults: z.object({}).optional(),
  clearFaults: z
    .object({ id: z.string().optional(), tenantId: id.optional(), dcrImmutableId: id.optional() })
    .optional(),
  addSigningKey: z.object({ activate: z.boolean().optional() }).optional(),
  retireSigningKey: z.object({ kid: z.string().min(1) }),
  signingKeys: z.object({}).optional(),
  mintToken: z.object({
    tenantId: id,
    audience: z.string().min(1).optional(),
    clientId: id.optional(),
    objectId: id.optional(),
    roles: z.array(z.string()).optional(),
    scopes: z.string().optional(),
    issuer: z.string().min(1).optional(),
    expiresInSeconds: z.number().int().optional(),
    kid: z.string().min(1).optional(),
    unpublishedKey: z.boolean().optional(),
    claims: z.record(z.string(), z.unknown()).optional(),
  }),
  rows: z.object({ workspaceId: z.string().min(1), table: z.string().min(1), tenantId: id.optional() }),
  purgeRows: z.object({
    workspaceId: z.string().min(1),
    table: z.string().min(1),
    filters: z
      .array(z.object({ column: z.string().min(1), value: z.union([z.string(), z.number()]) }))
      .min(1),
  }),
  dropped: z.object({ tenantId: id.optional(), dcrImmutableId: id.optional() }).optional(),
  requests: z
    .object({
      tenantId: id.optional(),
      face: z.enum(['entra', 'managedIdentity', 'arm', 'ingestion']).optional(),
      operation: z.string().optional(),
      dcrImmutableId: id.optional(),
      afterSeq: z.number().int().optional(),
    })
    .optional(),
  reset: z.object({}).optional(),
} satisfies Record<keyof AzureStandInControl, z.ZodType>;

export type ControlMethod = keyof AzureStandInControl;

export function isControlMethod(name: string): name is ControlMethod {
  return Object.prototype.hasOwnProperty.call(INPUT_SCHEMAS, name);
}

/** Validates an admin call's argument; throws AdminError with zod's explanation. */
export function parseControlInput(method: ControlMethod, input: unknown): unknown {
  const result = INPUT_SCHEMAS[method].safeParse(input);
  if (!result.success)
    throw new AdminError(`Invalid argument for ${method}: ${z.prettifyError(result.error)}`);
  return result.data;
}

/**
 * The control as callers see it, in-process or over HTTP: every argument is
 * validated by its schema, and every failure is a rejected promise.
 */
export function validatedControl(implementation: StandInControl): AzureStandInControl {
  const methods = implementation as unknown as Record<string, (input: unknown) => Promise<unknown>>;
  const wrapper: Record<string, (input?: unknown) => Promise<unknown>> = {};
  for (const method of Object.keys(INPUT_SCHEMAS) as ControlMethod[]) {
    wrapper[method] = async (input?: unknown) =>
      await methods[method]!.call(implementation, parseControlInput(method, input));
  }
  return wrapper as unknown as AzureStandInControl;
}
