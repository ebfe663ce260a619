import {
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
  type TokenCredential,
} from '@azure/identity';
import type { Config } from '../config';
import { DEFAULT_TENANT_CACHE_LIMITS, TenantCache } from '../domain/tenantCache';

/**
 * One credential per customer tenant. The SDK clients never pass a tenant to
 * getToken, so a single credential with additionallyAllowedTenants would
 * silently use its home tenant: the tenant is fixed when the credential is
 * built, from the route or the event, never from a resource id.
 *
 * The credentials live in a bounded cache (TENANT_CACHE_*): a tenant dropped
 * and seen again gets a new credential, which fetches a new token. The
 * credentials have no close or dispose method (@azure/identity 4.13 declares
 * none). A dropped one keeps at most its idle keep-alive connection to the
 * authority host, unreferenced, until the server closes it. (One HTTP client
 * shared by every credential would avoid even that, but made token requests
 * measurably slower in the forwarder's property test, so each keeps its own.)
 */
export class CustomerCredentials {
  private readonly byTenant: TenantCache<TokenCredential>;
  private managedIdentity: ManagedIdentityCredential | undefined;

  constructor(
    private readonly config: Pick<Config, 'customerApp' | 'cloud'> & Partial<Pick<Config, 'tenantCache'>>,
  ) {
    this.byTenant = new TenantCache({ ...(config.tenantCache ?? DEFAULT_TENANT_CACHE_LIMITS) });
  }

  /** Tenants whose credential this instance holds. */
  get size(): number {
    return this.byTenant.size;
  }

  forTenant(tenantId: string): TokenCredential {
    return this.byTenant.getOrCreate(tenantId, () => this.build(tenantId));
  }

  private build(tenantId: string): TokenCredential {
    const { clientId, credential } = this.config.customerApp;
    const options = {
      authorityHost: this.config.cloud.authorityHost,
      disableInstanceDiscovery: this.config.cloud.disableInstanceDiscovery,
    };
    switch (credential.kind) {
      case 'managedIdentity': {
        // The user-assigned identity is the app's federated credential: its token is the client assertion.
        this.managedIdentity ??= new ManagedIdentityCredential({
          clientId: credential.managedIdentityClientId,
        });
        const identity = this.managedIdentity;
        const scope = `${credential.federatedTokenAudience}/.default`;
        return new ClientAssertionCredential(
          tenantId,
          clientId,
          async () => {
            const token = await identity.getToken(scope);
            return token.token;
          },
          options,
        );
      }
      case 'certificate':
        return new ClientCertificateCredential(
          tenantId,
          clientId,
          { certificatePath: credential.certificatePath },
          options,
        );
      case 'secret':
        return new ClientSecretCredential(tenantId, clientId, credential.clientSecret, options);
    }
  }
}
