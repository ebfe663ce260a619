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
import pLimit from 'p-limit';
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
 * none) and hold no socket of their own: every one sends through the one
 * HttpClient given here (the `httpClient` option reaches the IdentityClient
 * MSAL sends with: @azure/identity dist/commonjs/msal/nodeFlows/msalClient.js
 * generateMsalConfiguration spreads the credential's options into it, and
 * @azure/core-client serviceClient.js uses `options.httpClient`), so token
 * requests of every tenant share one keep-alive pool per host.
 *
 * A tenant's first token request (no token yet from its credential) waits for
 * one of FIRST_TOKEN_MAX_IN_FLIGHT slots: each builds an MSAL client and runs
 * its discovery, and a few batches of thousands of first-seen tenants would
 * otherwise do hundreds of those at once. The SDK credential itself (~19 kB
 * with its IdentityClient and pipeline, measured in a heap snapshot) is built
 * only once the tenant has a slot: four batches of 1,000 first-seen tenants
 * otherwise held ~4,000 of them while all but 64 waited.
 */
export class CustomerCredentials {
  private readonly byTenant: TenantCache<TokenCredential>;
  private managedIdentity: ManagedIdentityCredential | undefined;

  private readonly httpClient: HttpClient;
  private readonly firstTokens: FirstTokenLimit;

  constructor(
    private readonly config: Pick<Config, 'customerApp' | 'cloud'> &
      Partial<Pick<Config, 'tenantCache' | 'customerTokens'>>,
    httpClient?: HttpClient,
  ) {
    this.byTenant = new TenantCache({ ...(config.tenantCache ?? DEFAULT_TENANT_CACHE_LIMITS) });
    this.httpClient = httpClient ?? createDefaultHttpClient();
    this.firstTokens = new FirstTokenLimit(
      config.customerTokens?.firstRequestsInFlight ?? DEFAULT_FIRST_TOKENS_IN_FLIGHT,
    );
  }

  /** Tenants whose credential this instance holds. */
  get size(): number {
    return this.byTenant.size;
  }

  forTenant(tenantId: string): TokenCredential {
    return this.byTenant.getOrCreate(
      tenantId,
      () =>
        new TenantCheckingCredential(
          tenantId,
          () => this.build(tenantId),
          () => this.tenantUnknown(tenantId),
          this.firstTokens,
        ),
    );
  }

  /** First token requests under way, and waiting for a slot (FIRST_TOKEN_MAX_IN_FLIGHT). */
  get firstTokenRequests(): { inFlight: number; waiting: number } {
    return { inFlight: this.firstTokens.inFlight, waiting: this.firstTokens.waiting };
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

  /** The SDK credential for a tenant (protected: tests put a stand-in credential in its place). */
  protected build(tenantId: string): TokenCredential {
    const { clientId, credential } = this.config.customerApp;
    const options = {
      authorityHost: this.config.cloud.authorityHost,
      disableInstanceDiscovery: this.config.cloud.disableInstanceDiscovery,
      httpClient: this.httpClient,
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
  /** Whether the inner credential has produced a token: until then each request is a first one. */
  private hasToken = false;
  private inner: TokenCredential | undefined;

  constructor(
    private readonly tenantId: string,
    private readonly build: () => TokenCredential,
    private readonly tenantUnknown: () => Promise<boolean>,
    private readonly firstTokens: FirstTokenLimit,
  ) {}

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    try {
      if (this.hasToken && this.inner) return await this.inner.getToken(scopes, options);
      const token = await this.firstTokens.run(
        () => (this.inner ??= this.build()).getToken(scopes, options),
        options?.abortSignal,
      );
      if (token) this.hasToken = true;
      return token;
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

/** Default of FIRST_TOKEN_MAX_IN_FLIGHT (src/config.ts). */
export const DEFAULT_FIRST_TOKENS_IN_FLIGHT = 64;

/** An AbortError, as the SDK's pipeline throws for an aborted request (the sink maps it to a cut-off). */
function abortedWaiting(): Error {
  return Object.assign(new Error('The token request was aborted while it waited for a slot.'), {
    name: 'AbortError',
  });
}

/**
 * At most `max` first token requests at once (p-limit), the rest in order. A
 * request whose signal aborts while it waits fails at once with an AbortError
 * and never runs; its turn passes to the next.
 */
class FirstTokenLimit {
  private readonly limit: pLimit.Limit;

  constructor(max: number) {
    this.limit = pLimit(max);
  }

  get inFlight(): number {
    return this.limit.activeCount;
  }

  get waiting(): number {
    return this.limit.pendingCount;
  }

  run<T>(task: () => Promise<T>, signal: GetTokenOptions['abortSignal']): Promise<T> {
    if (!signal) return this.limit(task);
    if (signal.aborted) return Promise.reject(abortedWaiting());
    const queued = this.limit(() => (signal.aborted ? Promise.reject(abortedWaiting()) : task()));
    let onAbort = (): void => undefined;
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () => reject(abortedWaiting());
      signal.addEventListener('abort', onAbort);
    });
    // The race handles `queued` too: a task skipped after the abort rejects into it, unnoticed.
    return Promise.race([queued, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
  }
}
