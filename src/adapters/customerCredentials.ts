import {
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
  type TokenCredential,
} from '@azure/identity';
import type { Config } from '../config';

/**
 * One credential per customer tenant. The SDK clients never pass a tenant to
 * getToken, so a single credential with additionallyAllowedTenants would
 * silently use its home tenant: the tenant is fixed when the credential is
 * built, from the route or the event, never from a resource id.
 */
export class CustomerCredentials {
  private readonly byTenant = new Map<string, TokenCredential>();
  private managedIdentity: ManagedIdentityCredential | undefined;

  constructor(private readonly config: Pick<Config, 'customerApp' | 'cloud'>) {}

  forTenant(tenantId: string): TokenCredential {
    let credential = this.byTenant.get(tenantId);
    if (!credential) {
      credential = this.build(tenantId);
      this.byTenant.set(tenantId, credential);
    }
    return credential;
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
