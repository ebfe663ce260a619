import { createHash, createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { certificateThumbprints } from '../testCa';
import { issuerFor } from './context';
import { type RoleAssignmentRecord, type TenantRecord } from './model';
import { scopeCovers } from './roles';
import {
  type FederatedCredentialInput,
  type GrantRoleInput,
  type ManagedIdentityInfo,
  type MintedToken,
  type MintTokenInput,
  type RegisteredApp,
  type RegisterAppInput,
  type RegisterManagedIdentityInput,
  type RevokeRoleInput,
  type RoleAssignmentInfo,
  type SigningKeysInfo,
} from './types';
import { AdminError } from './controlApi';
import { assignmentInfo } from './controlInfo';
import { TenantControl } from './controlTenants';

/** App registrations, consent, managed identities, role assignments, signing keys and minted tokens. */
export class IdentityControl extends TenantControl {
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

  protected knownApp(clientId: string) {
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

  protected principalOf(tenant: TenantRecord, clientId?: string, principalId?: string): string {
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
