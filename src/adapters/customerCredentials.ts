import {
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineRequest,
  type HttpClient,
} from '@azure/core-rest-pipeline';
import {
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  CredentialUnavailableError,
  ManagedIdentityCredential,
  type AccessToken,
  type GetTokenOptions,
  type TokenCredential,
} from '@azure/identity';
import type { Config } from '../config';
import { DEFAULT_TENANT_CACHE_LIMITS, TenantCache } from '../domain/tenantCache';

/**
 * Entra ID does not know the tenant (AADSTS90002). Still a
 * CredentialUnavailableError, what @azure/identity threw, so callers that
 * only know that class keep treating it as "no token for this tenant".
 */
export class TenantNotFoundError extends CredentialUnavailableError {
  constructor(readonly tenantId: string) {
    super(`Entra ID does not know the tenant ${tenantId} (AADSTS90002).`);
    this.name = 'TenantNotFoundError';
  }
}

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

  private readonly httpClient: HttpClient;

  constructor(
    private readonly config: Pick<Config, 'customerApp' | 'cloud'> & Partial<Pick<Config, 'tenantCache'>>,
    httpClient?: HttpClient,
  ) {
    this.byTenant = new TenantCache({ ...(config.tenantCache ?? DEFAULT_TENANT_CACHE_LIMITS) });
    this.httpClient = httpClient ?? createDefaultHttpClient();
  }

  /** Tenants whose credential this instance holds. */
  get size(): number {
    return this.byTenant.size;
  }

  forTenant(tenantId: string): TokenCredential {
    return this.byTenant.getOrCreate(
      tenantId,
      () => new TenantCheckingCredential(tenantId, this.build(tenantId), () => this.tenantUnknown(tenantId)),
    );
  }

  /**
   * Asks Entra for the tenant's OpenID configuration, as MSAL does first.
   * For a tenant it does not know Entra answers 400 `invalid_tenant` with
   * error_codes [90002] (quoted from real responses in
   * james-gould/azure-keyvault-emulator#324 and
   * microsoftgraph/windowsupdates-webapplication-sample#6). Anything else
   * (the tenant exists, Entra unreachable) is not that.
   */
  private async tenantUnknown(tenantId: string): Promise<boolean> {
    const authority = this.config.cloud.authorityHost.replace(/\/+$/, '');
    const request = createPipelineRequest({
      url: `${authority}/${encodeURIComponent(tenantId)}/v2.0/.well-known/openid-configuration`,
      method: 'GET',
      timeout: 10_000,
      headers: createHttpHeaders({ accept: 'application/json' }),
    });
    try {
      const response = await this.httpClient.sendRequest(request);
      if (response.status !== 400 || !response.bodyAsText) return false;
      const body = JSON.parse(response.bodyAsText) as { error?: unknown; error_codes?: unknown };
      return Array.isArray(body.error_codes) && body.error_codes.includes(90002);
    } catch {
      return false;
    }
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

/**
 * MSAL first resolves the tenant's endpoints; for a tenant Entra does not
 * know that fails, and @azure/identity 4.13.1 turns MSAL's
 * `endpoints_resolution_error` into a CredentialUnavailableError
 * (dist/commonjs/msal/utils.js handleMsalError), with no AADSTS code left in
 * it, the same error as for an unreachable Entra. So on that error the
 * tenant is looked up once, and an unknown one reported as such.
 */
class TenantCheckingCredential implements TokenCredential {
  constructor(
    private readonly tenantId: string,
    private readonly inner: TokenCredential,
    private readonly tenantUnknown: () => Promise<boolean>,
  ) {}

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    try {
      return await this.inner.getToken(scopes, options);
    } catch (error) {
      if (
        error instanceof CredentialUnavailableError &&
        !(error instanceof TenantNotFoundError) &&
        (await this.tenantUnknown())
      ) {
        throw Object.assign(new TenantNotFoundError(this.tenantId), { cause: error });
      }
      throw error;
    }
  }
}
