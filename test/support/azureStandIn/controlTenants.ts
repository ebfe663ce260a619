import { randomUUID } from 'node:crypto';
import { type StandInContext } from './context';
import {
  normalizeLocation,
  parseWorkspaceId,
  type ResourceGroupRecord,
  type SubscriptionRecord,
  type TenantRecord,
  type WorkspaceRecord,
} from './model';
import {
  CONNECTION_ROLES,
  type AddWorkspaceInput,
  type ConfigureInput,
  type ProviderRegistrationInput,
  type GrantRoleInput,
  type RoleAssignmentInfo,
  type SeededTenant,
  type SeedTenantInput,
  type StandInInfo,
  type WorkspaceInfo,
} from './types';
import { AdminError } from './controlApi';
import { workspaceInfo } from './controlInfo';

/** Tenants, subscriptions, resource groups and workspaces: what a test seeds before anything else. */
export abstract class TenantControl {
  constructor(protected readonly context: StandInContext) {}

  // seedTenant consents apps and grants them roles: identities are controlIdentity.ts's area.
  abstract consentApp(input: { tenantId: string; clientId: string }): Promise<{ objectId: string }>;
  abstract grantRole(input: GrantRoleInput): Promise<RoleAssignmentInfo>;

  protected get state() {
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

  protected ensureTenant(tenantId: string, displayName?: string): TenantRecord {
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

  protected knownTenant(tenantId: string): TenantRecord {
    const tenant = this.state.tenant(tenantId);
    if (!tenant) throw new AdminError(`Unknown tenant ${tenantId}: seed it first (seedTenant).`);
    return tenant;
  }

  protected ensureSubscription(tenantId: string, subscriptionId: string): SubscriptionRecord {
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

  protected ensureResourceGroup(
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

  protected ensureWorkspace(
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

  protected knownWorkspace(workspaceId: string): WorkspaceRecord {
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
}
