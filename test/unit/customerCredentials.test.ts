import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { CustomerCredentials } from '../../src/adapters/customerCredentials';

const SCOPE = 'https://monitor.azure.com/.default';
const tenant = (index: number): string => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`;

/** A token request the test answers when it chooses: Entra held open. */
interface HeldRequest {
  tenantId: string;
  answer: () => void;
}

/**
 * CustomerCredentials whose SDK credentials are stand-ins that hold every
 * token request open until the test answers it, so how many run at once is
 * observed, not timed.
 */
class HeldCredentials extends CustomerCredentials {
  readonly held: HeldRequest[] = [];
  private arrivals: Array<() => void> = [];

  constructor(firstRequestsInFlight: number) {
    super({
      customerApp: {
        clientId: '68554b48-233f-42b4-9aa7-2eadca4d7727',
        credential: { kind: 'secret', clientSecret: 'not-a-real-secret' },
      },
      cloud: {
        authorityHost: 'https://login.microsoftonline.com',
        disableInstanceDiscovery: true,
        armEndpoint: 'https://management.azure.com',
        logsIngestionAudience: 'https://monitor.azure.com',
      },
      customerTokens: { firstRequestsInFlight },
    });
  }

  /** Tenants whose SDK credential has been built. */
  readonly built: string[] = [];

  protected override build(tenantId: string): TokenCredential {
    this.built.push(tenantId);
    return {
      getToken: (_scopes: string | string[], _options?: GetTokenOptions) =>
        new Promise<AccessToken>((resolve) => {
          this.held.push({
            tenantId,
            answer: () => resolve({ token: `token-${tenantId}`, expiresOnTimestamp: Date.now() + 3_600_000 }),
          });
          for (const arrived of this.arrivals.splice(0)) arrived();
        }),
    };
  }

  /** Resolves once `count` token requests have reached the stand-in Entra. */
  async untilHeld(count: number): Promise<void> {
    while (this.held.length < count) await new Promise<void>((resolve) => this.arrivals.push(resolve));
  }
}

/** Lets every promise continuation already queued run (one turn of the event loop, not a timer). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('CustomerCredentials first token requests', () => {
  it("builds a tenant's SDK credential only once it has a slot, and once", async () => {
    const credentials = new HeldCredentials(1);
    const first = credentials.forTenant(tenant(1));
    const second = credentials.forTenant(tenant(2));
    expect(credentials.built).toEqual([]);

    const tokens = [first.getToken(SCOPE), second.getToken(SCOPE)];
    await credentials.untilHeld(1);
    await settle();
    // The second tenant waits for the slot without an MSAL client, pipeline or token cache of its own.
    expect(credentials.built).toEqual([tenant(1)]);

    credentials.held[0]?.answer();
    await credentials.untilHeld(2);
    expect(credentials.built).toEqual([tenant(1), tenant(2)]);
    credentials.held[1]?.answer();
    await Promise.all(tokens);

    const again = first.getToken(SCOPE);
    await credentials.untilHeld(3);
    credentials.held[2]?.answer();
    await again;
    expect(credentials.built).toEqual([tenant(1), tenant(2)]);
  });

  it('has at most FIRST_TOKEN_MAX_IN_FLIGHT under way; the others start as slots free up', async () => {
    const credentials = new HeldCredentials(2);
    const tokens = [1, 2, 3, 4, 5].map((index) => credentials.forTenant(tenant(index)).getToken(SCOPE));

    await credentials.untilHeld(2);
    await settle();
    expect(credentials.held.map((request) => request.tenantId)).toEqual([tenant(1), tenant(2)]);
    expect(credentials.firstTokenRequests).toEqual({ inFlight: 2, waiting: 3 });

    credentials.held[0]?.answer();
    await credentials.untilHeld(3);
    await settle();
    expect(credentials.held).toHaveLength(3);
    expect(credentials.held[2]?.tenantId).toBe(tenant(3));

    for (let index = 1; index < 5; index += 1) {
      await credentials.untilHeld(index + 1);
      credentials.held[index]?.answer();
    }
    const answered = await Promise.all(tokens);
    // Each tenant still gets its own token.
    expect(answered.map((token) => token?.token)).toEqual([1, 2, 3, 4, 5].map((i) => `token-${tenant(i)}`));
    expect(credentials.firstTokenRequests).toEqual({ inFlight: 0, waiting: 0 });
  });

  it('does not make a tenant that already has a token wait behind first requests', async () => {
    const credentials = new HeldCredentials(1);
    const first = credentials.forTenant(tenant(1)).getToken(SCOPE);
    await credentials.untilHeld(1);
    credentials.held[0]?.answer();
    await first;

    // The only slot taken by another tenant's first request, one more waiting.
    void credentials.forTenant(tenant(2)).getToken(SCOPE);
    void credentials.forTenant(tenant(3)).getToken(SCOPE);
    await credentials.untilHeld(2);
    const again = credentials.forTenant(tenant(1)).getToken(SCOPE);
    await credentials.untilHeld(3);

    expect(credentials.held[2]?.tenantId).toBe(tenant(1));
    expect(credentials.firstTokenRequests).toEqual({ inFlight: 1, waiting: 1 });
    credentials.held[2]?.answer();
    expect((await again)?.token).toBe(`token-${tenant(1)}`);
  });

  it('fails a request whose signal aborts while it waits, at once, and never sends it', async () => {
    const credentials = new HeldCredentials(1);
    void credentials.forTenant(tenant(1)).getToken(SCOPE);
    await credentials.untilHeld(1);
    const controller = new AbortController();
    const waiting = credentials.forTenant(tenant(2)).getToken(SCOPE, { abortSignal: controller.signal });
    expect(credentials.firstTokenRequests).toEqual({ inFlight: 1, waiting: 1 });

    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });

    const next = credentials.forTenant(tenant(3)).getToken(SCOPE);
    credentials.held[0]?.answer();
    await credentials.untilHeld(2);
    expect(credentials.held.map((request) => request.tenantId)).toEqual([tenant(1), tenant(3)]);
    credentials.held[1]?.answer();
    expect((await next)?.token).toBe(`token-${tenant(3)}`);
  });
});
