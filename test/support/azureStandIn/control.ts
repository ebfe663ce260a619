import { createHash, createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { certificateThumbprints } from '../testCa';
import { issuerFor, type StandInContext } from './context';
import { upsertDcr } from './arm';
import { addFault } from './faults';
import { HttpError } from './http';
import {
  CLASSIC_STANDARD_COLUMNS,
  normalizeLocation,
  parseWorkspaceId,
  type ResourceGroupRecord,
  type RoleAssignmentRecord,
  type SubscriptionRecord,
  type TableRecord,
  type TenantRecord,
  type WorkspaceRecord,
} from './model';
import { scopeCovers } from './roles';
import {
  CONNECTION_ROLES,
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
import { AdminError, type AzureStandInControl } from './controlApi';
import { assignmentInfo, dcrInfo, faultInfo, tableInfo, workspaceInfo } from './controlInfo';

// The control surface's contract (interface, input schemas, validation) lives in controlApi.ts and
// its answer shapes in controlInfo.ts; this file implements it against the stand-in's state.
export {
  AdminError,
  INPUT_SCHEMAS,
  isControlMethod,
  parseControlInput,
  validatedControl,
  type AzureStandInControl,
  type ControlMethod,
} from './controlApi';

export class StandInControl implements AzureStandInControl {
  constructor(private readonly context: StandInContext) {}

  private get state() {
    return this.context.state;
  }

  info(): Promise<StandInInfo> {
    const base = this.context.baseUrl();
    const options = this.context.options;
    return Promise.resolve({
      baseUrl: base,
      authorityHost: base,
      armEndpoint: base,
      issuerTemplate: `${base}/{tenantid}/v2.0`,
      jwksUri: `${base}/common/discovery/v2.0/keys`,
      managedIdentity: { endpoint: `${base}/msi/token`, identityHeader: options.identityHeader },
      audiences: {
        arm: [...options.armAudiences, base],
        monitor: options.monitorAudiences,
        tokenExchange: options.tokenExchangeAudiences,
        extra: options.extraResources,
      },
      apiAudience: options.apiAudience,
    });
  }

  private ensureTenant(tenantId: string, displayName?: string): TenantRecord {
    let tenant = this.state.tenant(tenantId);
    if (!tenant) {
      tenant = {
        id: tenantId,
        displayName: displayName ?? `Tenant ${tenantId}`,
        servicePrincipals: new Map(),
        settings: {},
      };
      this.state.tenants.set(tenantId.toLowerCase(), tenant);
    } else if (displayName) {
      tenant.displayName = displayName;
    }
    return tenant;
  }

  private knownTenant(tenantId: string): TenantRecord {
    const tenant = this.state.tenant(tenantId);
    if (!tenant) throw new AdminError(`Unknown tenant ${tenantId}: seed it first (seedTenant).`);
    return tenant;
  }

  private ensureSubscription(tenantId: string, subscriptionId: string): SubscriptionRecord {
    let subscription = this.state.subscription(subscriptionId);
    if (subscription && subscription.tenantId.toLowerCase() !== tenantId.toLowerCase()) {
      throw new AdminError(
        `Subscription ${subscriptionId} belongs to tenant ${subscription.tenantId}, not ${tenantId}.`,
      );
    }
    if (!subscription) {
      subscription = {
        id: subscriptionId,
        tenantId: this.knownTenant(tenantId).id,
        resourceGroups: new Map(),
        unregisteredProviders: new Set(),
      };
      this.state.subscriptions.set(subscriptionId.toLowerCase(), subscription);
    }
    return subscription;
  }

  private ensureResourceGroup(
    subscription: SubscriptionRecord,
    name: string,
    location: string,
  ): ResourceGroupRecord {
    let group = subscription.resourceGroups.get(name.toLowerCase());
    if (!group) {
      group = { name, location: normalizeLocation(location), workspaces: new Map() };
      subscription.resourceGroups.set(name.toLowerCase(), group);
    }
    return group;
  }

  private ensureWorkspace(
    subscription: SubscriptionRecord,
    group: ResourceGroupRecord,
    name: string,
    location: string,
    customerId?: string,
  ): WorkspaceRecord {
    let workspace = group.workspaces.get(name.toLowerCase());
    if (!workspace) {
      workspace = {
        name,
        location: normalizeLocation(location),
        customerId: customerId ?? randomUUID(),
        subscriptionId: subscription.id,
        resourceGroup: group.name,
        tenantId: subscription.tenantId,
        tables: new Map(),
        rows: new Map(),
      };
      group.workspaces.set(name.toLowerCase(), workspace);
    }
    return workspace;
  }

  async seedTenant(input: SeedTenantInput = {}): Promise<SeededTenant> {
    const tenant = this.ensureTenant(input.tenantId ?? randomUUID(), input.displayName);
    const subscription = this.ensureSubscription(tenant.id, input.subscriptionId ?? randomUUID());
    for (const namespace of input.unregisteredProviders ?? []) {
      subscription.unregisteredProviders.add(namespace.toLowerCase());
    }
    const workspaceLocation = input.workspace?.location ?? 'westeurope';
    const group = this.ensureResourceGroup(
      subscription,
      input.resourceGroup ?? 'rg-sentinel',
      input.resourceGroupLocation ?? workspaceLocation,
    );
    const workspace =
      input.workspace === null
        ? undefined
        : this.ensureWorkspace(
            subscription,
            group,
            input.workspace?.name ?? 'law-sentinel',
            workspaceLocation,
            input.workspace?.customerId,
          );
    const groupId = `/subscriptions/${subscription.id}/resourceGroups/${group.name}`;
    const servicePrincipals: Record<string, string> = {};
    const roleAssignments: RoleAssignmentInfo[] = [];
    for (const clientId of input.consentApps ?? []) {
      const { objectId } = await this.consentApp({ tenantId: tenant.id, clientId });
      servicePrincipals[clientId] = objectId;
      for (const role of input.roles ?? CONNECTION_ROLES) {
        roleAssignments.push(await this.grantRole({ tenantId: tenant.id, clientId, role, scope: groupId }));
      }
    }
    return {
      tenantId: tenant.id,
      subscriptionId: subscription.id,
      resourceGroup: { name: group.name, id: groupId, location: group.location },
      ...(workspace ? { workspace: workspaceInfo(workspace) } : {}),
      servicePrincipals,
      roleAssignments,
    };
  }

  addWorkspace(input: AddWorkspaceInput): Promise<WorkspaceInfo> {
    this.knownTenant(input.tenantId);
    const subscriptionId =
      input.subscriptionId ??
      [...this.state.subscriptions.values()].find(
        (candidate) => candidate.tenantId.toLowerCase() === input.tenantId.toLowerCase(),
      )?.id;
    if (!subscriptionId) throw new AdminError(`Tenant ${input.tenantId} has no subscription: seed it first.`);
    const subscription = this.ensureSubscription(input.tenantId, subscriptionId);
    const group = this.ensureResourceGroup(subscription, input.resourceGroup, input.location);
    return Promise.resolve(
      workspaceInfo(this.ensureWorkspace(subscription, group, input.name, input.location, input.customerId)),
    );
  }

  registerApp(input: RegisterAppInput = {}): Promise<RegisteredApp> {
    const clientId = input.clientId ?? randomUUID();
    if (this.state.app(clientId)) throw new AdminError(`App ${clientId} is already registered.`);
    const home = this.ensureTenant(input.homeTenantId ?? randomUUID());
    const app = {
      clientId,
      displayName: input.displayName ?? `App ${clientId}`,
      homeTenantId: home.id,
      secretHashes: [] as Buffer[],
      certificates: [] as Array<ReturnType<typeof parseCertificate>>,
      federatedCredentials: [...(input.federatedCredentials ?? [])],
    };
    this.state.apps.set(clientId.toLowerCase(), app);
    let secret: string | undefined;
    if (input.secret) {
      secret = input.secret === true ? newSecret() : input.secret;
      app.secretHashes.push(hashSecret(secret));
    }
    for (const pem of input.certificatePems ?? []) app.certificates.push(parseCertificate(pem));
    const homeServicePrincipalId = randomUUID();
    home.servicePrincipals.set(clientId.toLowerCase(), homeServicePrincipalId);
    return Promise.resolve({
      clientId,
      homeTenantId: home.id,
      homeServicePrincipalId,
      ...(secret ? { secret } : {}),
    });
  }

  private knownApp(clientId: string) {
    const app = this.state.app(clientId);
    if (!app) throw new AdminError(`Unknown app ${clientId}: register it first (registerApp).`);
    return app;
  }

  addAppSecret(input: { clientId: string; secret?: string }): Promise<{ secret: string }> {
    const app = this.knownApp(input.clientId);
    const secret = input.secret ?? newSecret();
    app.secretHashes.push(hashSecret(secret));
    return Promise.resolve({ secret });
  }

  addAppCertificate(input: { clientId: string; certificatePem: string }): Promise<{ x5tS256: string }> {
    const certificate = parseCertificate(input.certificatePem);
    this.knownApp(input.clientId).certificates.push(certificate);
    return Promise.resolve({ x5tS256: certificate.x5tS256 });
  }

  addFederatedCredential(input: { clientId: string } & FederatedCredentialInput): Promise<void> {
    const { clientId, ...credential } = input;
    this.knownApp(clientId).federatedCredentials.push(credential);
    return Promise.resolve();
  }

  consentApp(input: { tenantId: string; clientId: string }): Promise<{ objectId: string }> {
    const app = this.knownApp(input.clientId);
    const tenant = this.knownTenant(input.tenantId);
    const key = app.clientId.toLowerCase();
    let objectId = tenant.servicePrincipals.get(key);
    if (!objectId) {
      objectId = randomUUID();
      tenant.servicePrincipals.set(key, objectId);
    }
    return Promise.resolve({ objectId });
  }

  revokeConsent(input: { tenantId: string; clientId: string }): Promise<{ removed: boolean }> {
    const tenant = this.knownTenant(input.tenantId);
    const key = input.clientId.toLowerCase();
    const objectId = tenant.servicePrincipals.get(key);
    if (!objectId) return Promise.resolve({ removed: false });
    tenant.servicePrincipals.delete(key);
    this.state.roleAssignments = this.state.roleAssignments.filter(
      (assignment) => !(assignment.tenantId === tenant.id && assignment.principalId === objectId),
    );
    return Promise.resolve({ removed: true });
  }

  registerManagedIdentity(input: RegisterManagedIdentityInput): Promise<ManagedIdentityInfo> {
    const tenant = this.ensureTenant(input.tenantId);
    const clientId = input.clientId ?? randomUUID();
    if (this.state.managedIdentities.has(clientId.toLowerCase())) {
      throw new AdminError(`Managed identity ${clientId} already exists.`);
    }
    const name = input.name ?? `id-${clientId.slice(0, 8)}`;
    const record = {
      clientId,
      objectId: input.objectId ?? randomUUID(),
      tenantId: tenant.id,
      name,
      resourceId: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
    };
    this.state.managedIdentities.set(clientId.toLowerCase(), record);
    return Promise.resolve({ ...record, issuer: issuerFor(this.context, tenant.id) });
  }

  grantRole(input: GrantRoleInput): Promise<RoleAssignmentInfo> {
    const tenant = this.knownTenant(input.tenantId);
    const principalId = this.principalOf(tenant, input.clientId, input.principalId);
    const subscriptionId = /^\/subscriptions\/([^/]+)/i.exec(input.scope)?.[1] ?? '';
    const subscription = this.state.subscription(subscriptionId);
    if (!subscription || subscription.tenantId !== tenant.id) {
      throw new AdminError(`Scope ${input.scope} is not in a subscription of tenant ${tenant.id}.`);
    }
    const assignment: RoleAssignmentRecord = {
      id: randomUUID(),
      tenantId: tenant.id,
      principalId,
      role: input.role,
      scope: input.scope.replace(/\/+$/, ''),
      createdAt: Date.now(),
      ...(input.clientId ? { clientId: input.clientId } : {}),
    };
    this.state.roleAssignments.push(assignment);
    return Promise.resolve(assignmentInfo(assignment));
  }

  private principalOf(tenant: TenantRecord, clientId?: string, principalId?: string): string {
    if (principalId) return principalId;
    if (!clientId)
      throw new AdminError('Name the principal: clientId (an app consented in the tenant) or principalId.');
    const objectId = tenant.servicePrincipals.get(clientId.toLowerCase());
    if (!objectId) {
      throw new AdminError(
        `App ${clientId} has no service principal in tenant ${tenant.id}: consent it first (consentApp).`,
      );
    }
    return objectId;
  }

  revokeRole(input: RevokeRoleInput): Promise<{ removed: number }> {
    const before = this.state.roleAssignments.length;
    if ('id' in input) {
      this.state.roleAssignments = this.state.roleAssignments.filter(
        (assignment) => assignment.id !== input.id,
      );
    } else {
      const tenant = this.knownTenant(input.tenantId);
      const principalId = this.principalOf(tenant, input.clientId, input.principalId);
      this.state.roleAssignments = this.state.roleAssignments.filter(
        (assignment) =>
          !(
            assignment.tenantId === tenant.id &&
            assignment.principalId === principalId &&
            assignment.role === input.role &&
            (input.scope === undefined || scopeCovers(input.scope, assignment.scope))
          ),
      );
    }
    return Promise.resolve({ removed: before - this.state.roleAssignments.length });
  }

  listRoleAssignments(input: { tenantId: string }): Promise<RoleAssignmentInfo[]> {
    return Promise.resolve(
      this.state.roleAssignments
        .filter((assignment) => assignment.tenantId.toLowerCase() === input.tenantId.toLowerCase())
        .map(assignmentInfo),
    );
  }

  setProviderRegistration(input: ProviderRegistrationInput): Promise<void> {
    const subscription = this.state.subscription(input.subscriptionId);
    if (!subscription) throw new AdminError(`Unknown subscription ${input.subscriptionId}: seed it first.`);
    const namespace = input.namespace.toLowerCase();
    if (input.registered) subscription.unregisteredProviders.delete(namespace);
    else subscription.unregisteredProviders.add(namespace);
    return Promise.resolve();
  }

  configure(input: ConfigureInput): Promise<void> {
    try {
      this.state.configure(input);
    } catch (error) {
      throw new AdminError((error as Error).message);
    }
    return Promise.resolve();
  }

  private knownWorkspace(workspaceId: string): WorkspaceRecord {
    const workspace = this.state.workspaceByResourceId(workspaceId);
    if (!workspace) {
      throw new AdminError(
        parseWorkspaceId(workspaceId)
          ? `Unknown workspace ${workspaceId}: seed it first.`
          : `${workspaceId} is not a workspace resource id (/subscriptions/…/resourceGroups/…/providers/Microsoft.OperationalInsights/workspaces/…).`,
      );
    }
    return workspace;
  }

  seedTable(input: SeedTableInput): Promise<TableInfo> {
    const workspace = this.knownWorkspace(input.workspaceId);
    const tableType = input.tableType ?? 'CustomLog';
    const columns = input.columns.map((column) => ({ name: column.name, type: column.type }));
    const table: TableRecord = {
      name: input.name,
      tableType,
      standardColumns:
        tableType === 'Microsoft'
          ? columns
          : (input.tableSubType ?? 'Classic') === 'Classic'
            ? CLASSIC_STANDARD_COLUMNS.map((column) => ({ ...column }))
            : [{ name: 'TenantId', type: 'guid' }],
      typeHistory: new Map(columns.map((column) => [column.name, column.type])),
      committed: {
        columns: tableType === 'Microsoft' ? [] : columns,
        plan: 'Analytics',
        retentionInDays: -1,
        totalRetentionInDays: -1,
        retentionInDaysAsDefault: true,
        totalRetentionInDaysAsDefault: true,
        tableSubType: input.tableSubType ?? 'Classic',
      },
      visibleAt: Date.now(),
    };
    workspace.tables.set(input.name.toLowerCase(), table);
    return Promise.resolve(tableInfo(workspace, table));
  }

  getTable(input: { workspaceId: string; name: string }): Promise<TableInfo | null> {
    const workspace = this.knownWorkspace(input.workspaceId);
    const table = workspace.tables.get(input.name.toLowerCase());
    return Promise.resolve(table ? tableInfo(workspace, table) : null);
  }

  listDcrs(input: { tenantId?: string } = {}): Promise<DcrInfo[]> {
    return Promise.resolve(
      [...this.state.dcrsById.values()]
        .filter(
          (dcr) =>
            input.tenantId === undefined || dcr.tenantId.toLowerCase() === input.tenantId.toLowerCase(),
        )
        .map(dcrInfo),
    );
  }

  /** A DCR as a validated PUT by a caller with every right would leave it, without a token or HTTP. */
  seedDcr(input: SeedDcrInput): Promise<DcrInfo> {
    const subscription = this.state.subscription(input.subscriptionId);
    const group = subscription?.resourceGroups.get(input.resourceGroup.toLowerCase());
    if (!subscription || !group) {
      throw new AdminError(
        `Unknown resource group ${input.resourceGroup} in subscription ${input.subscriptionId}: seed the tenant first.`,
      );
    }
    try {
      return Promise.resolve(
        dcrInfo(upsertDcr(this.context, subscription, group, input.name, input.body).record),
      );
    } catch (error) {
      if (error instanceof HttpError) throw new AdminError(`seedDcr refused: ${JSON.stringify(error.body)}`);
      throw error;
    }
  }

  deleteDcr(input: { id: string }): Promise<{ deleted: boolean }> {
    const key = input.id.replace(/\/+$/, '').toLowerCase();
    const dcr = this.state.dcrsById.get(key);
    if (!dcr) return Promise.resolve({ deleted: false });
    this.state.dcrsById.delete(key);
    this.state.dcrsByImmutableId.delete(dcr.immutableId);
    return Promise.resolve({ deleted: true });
  }

  injectFault(input: FaultInput): Promise<FaultInfo> {
    try {
      return Promise.resolve(faultInfo(addFault(this.state, input)));
    } catch (error) {
      throw new AdminError((error as Error).message);
    }
  }

  listFaults(): Promise<FaultInfo[]> {
    return Promise.resolve(this.state.faults.map(faultInfo));
  }

  clearFaults(input: ClearFaultsInput = {}): Promise<{ removed: number }> {
    const before = this.state.faults.length;
    this.state.faults = this.state.faults.filter(
      (fault) =>
        !(
          (input.id === undefined || fault.id === input.id) &&
          (input.tenantId === undefined || fault.tenantId?.toLowerCase() === input.tenantId.toLowerCase()) &&
          (input.dcrImmutableId === undefined || fault.dcrImmutableId === input.dcrImmutableId)
        ),
    );
    return Promise.resolve({ removed: before - this.state.faults.length });
  }

  async addSigningKey(input: { activate?: boolean } = {}): Promise<{ kid: string }> {
    return { kid: await this.context.keys.addKey(input.activate ?? false) };
  }

  retireSigningKey(input: { kid: string }): Promise<{ retired: boolean }> {
    try {
      return Promise.resolve({ retired: this.context.keys.retire(input.kid) });
    } catch (error) {
      throw new AdminError((error as Error).message);
    }
  }

  signingKeys(): Promise<SigningKeysInfo> {
    return Promise.resolve({
      active: this.context.keys.active,
      published: this.context.keys.publishedKids(),
    });
  }

  async mintToken(input: MintTokenInput): Promise<MintedToken> {
    const now = Math.floor(Date.now() / 1000);
    const lifetime = input.expiresInSeconds ?? 3600;
    const exp = now + lifetime;
    const iat = lifetime < 0 ? exp - 3600 : now;
    const objectId =
      input.objectId ??
      (input.clientId ? this.state.servicePrincipalObjectId(input.tenantId, input.clientId) : undefined) ??
      randomUUID();
    const claims: JWTPayload = {
      aud: input.audience ?? this.context.options.apiAudience,
      iss: input.issuer ?? issuerFor(this.context, input.tenantId),
      iat,
      nbf: iat,
      exp,
      tid: input.tenantId,
      oid: objectId,
      sub: objectId,
      ver: '2.0',
      uti: randomUUID(),
      ...(input.clientId ? { appid: input.clientId, azp: input.clientId, idtyp: 'app' } : {}),
      ...(input.roles ? { roles: input.roles } : {}),
      ...(input.scopes ? { scp: input.scopes } : {}),
      ...(input.claims ?? {}),
    };
    if (input.unpublishedKey) {
      const signed = await this.context.keys.signWithUnpublishedKey(claims);
      return { token: signed.token, kid: signed.kid, claims };
    }
    const kid = input.kid ?? this.context.keys.active;
    if (!this.context.keys.has(kid)) throw new AdminError(`No published signing key ${kid}.`);
    return { token: await this.context.keys.sign(claims, kid), kid, claims };
  }

  rows(input: RowsQuery): Promise<RecordedRow[]> {
    const workspace = this.knownWorkspace(input.workspaceId);
    const rows = workspace.rows.get(input.table.toLowerCase()) ?? [];
    return Promise.resolve(
      rows.filter(
        (row) => input.tenantId === undefined || row.tenantId.toLowerCase() === input.tenantId.toLowerCase(),
      ),
    );
  }

  /**
   * Learn, "Workspace Purge - Purge" (Log Analytics REST API, api-version 2020-08-01): a purge names
   * a table and filters such as `{ column, operator: "==", value }` (all must hold) and is carried out
   * asynchronously (202, x-ms-status-location); afterwards the rows are gone from every query. Only the
   * outcome is modelled.
   */
  purgeRows(input: PurgeRowsInput): Promise<{ removed: number }> {
    const workspace = this.knownWorkspace(input.workspaceId);
    const key = input.table.toLowerCase();
    const rows = workspace.rows.get(key) ?? [];
    const matches = (row: Record<string, unknown>) =>
      input.filters.every(({ column, value }) => {
        const actual = row[column];
        return (
          (typeof actual === 'string' || typeof actual === 'number') &&
          String(actual).toLowerCase() === String(value).toLowerCase()
        );
      });
    const kept = rows.filter((recorded) => !matches(recorded.row));
    if (rows.length > 0) workspace.rows.set(key, kept);
    return Promise.resolve({ removed: rows.length - kept.length });
  }

  dropped(input: DroppedQuery = {}): Promise<DroppedData[]> {
    return Promise.resolve(
      this.state.dropped.filter(
        (entry) =>
          (input.tenantId === undefined || entry.tenantId.toLowerCase() === input.tenantId.toLowerCase()) &&
          (input.dcrImmutableId === undefined || entry.dcrImmutableId === input.dcrImmutableId),
      ),
    );
  }

  requests(input: RequestsQuery = {}): Promise<RecordedRequest[]> {
    return Promise.resolve(
      this.state.requestLog.filter(
        (entry) =>
          (input.tenantId === undefined || entry.tenantId?.toLowerCase() === input.tenantId.toLowerCase()) &&
          (input.face === undefined || entry.face === input.face) &&
          (input.operation === undefined || entry.operation === input.operation) &&
          (input.dcrImmutableId === undefined || entry.dcrImmutableId === input.dcrImmutableId) &&
          (input.afterSeq === undefined || entry.seq > input.afterSeq),
      ),
    );
  }

  reset(): Promise<void> {
    this.state.reset();
    return Promise.resolve();
  }
}

function newSecret(): string {
  return `${randomBytes(3).toString('base64url')}~${randomBytes(27).toString('base64url')}`;
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function parseCertificate(pem: string) {
  try {
    return { pem, publicKey: createPublicKey(pem), ...certificateThumbprints(pem) };
  } catch (error) {
    throw new AdminError(`Not a PEM certificate: ${(error as Error).message}`);
  }
}
