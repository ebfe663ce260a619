import { randomUUID } from 'node:crypto';
import { createHttpHeaders, type HttpClient } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { ArmWorkspaceProvisioner } from '../../src/adapters/armWorkspace';
import { CustomerCredentials } from '../../src/adapters/customerCredentials';
import { TenantCache } from '../../src/domain/tenantCache';
import { parseWorkspaceResourceId } from '../../src/domain/workspaceResourceId';

const TENANT_A = '11111111-1111-4111-8111-111111111111';
const TENANT_B = '22222222-2222-4222-8222-222222222222';
const TENANT_C = '33333333-3333-4333-8333-333333333333';

function cacheWithClock(maxTenants: number, idleMs: number) {
  let nowMs = 1_000;
  const evicted: string[] = [];
  const cache = new TenantCache<{ name: string }>({
    maxTenants,
    idleMs,
    now: () => nowMs,
    onEvict: (_value, key) => evicted.push(key),
  });
  return { cache, evicted, advance: (ms: number) => (nowMs += ms) };
}

describe('TenantCache', () => {
  it('keeps at most maxTenants, dropping the least recently used', () => {
    const { cache, evicted } = cacheWithClock(2, 60_000);
    cache.set(TENANT_A, { name: 'a' });
    cache.set(TENANT_B, { name: 'b' });
    expect(cache.get(TENANT_A)?.name).toBe('a');
    cache.set(TENANT_C, { name: 'c' });

    expect(cache.size).toBe(2);
    expect(cache.get(TENANT_B)).toBeUndefined();
    expect(cache.get(TENANT_A)?.name).toBe('a');
    expect(cache.get(TENANT_C)?.name).toBe('c');
    expect(evicted).toEqual([TENANT_B]);
  });

  it('drops a tenant unused for the idle time, and keeps one used meanwhile', () => {
    const { cache, evicted, advance } = cacheWithClock(10, 60_000);
    cache.set(TENANT_A, { name: 'a' });
    cache.set(TENANT_B, { name: 'b' });
    advance(40_000);
    expect(cache.get(TENANT_A)?.name).toBe('a');
    advance(40_000);

    // B idled 80 s: gone. A was used 40 s ago: kept.
    expect(cache.get(TENANT_B)).toBeUndefined();
    expect(cache.get(TENANT_A)?.name).toBe('a');
    expect(evicted).toContain(TENANT_B);
  });

  it('frees idle tenants even when they are never asked for again', () => {
    const { cache, evicted, advance } = cacheWithClock(10, 60_000);
    cache.set(TENANT_A, { name: 'a' });
    cache.set(TENANT_B, { name: 'b' });
    advance(61_000);
    cache.set(TENANT_C, { name: 'c' });

    expect(cache.size).toBe(1);
    expect(evicted.sort()).toEqual([TENANT_A, TENANT_B].sort());
  });

  it('builds a value again for a tenant it dropped', () => {
    const { cache } = cacheWithClock(1, 60_000);
    let built = 0;
    const build = () => ({ name: `build ${(built += 1)}` });
    const first = cache.getOrCreate(TENANT_A, build);
    expect(cache.getOrCreate(TENANT_A, build)).toBe(first);
    cache.getOrCreate(TENANT_B, build);
    const again = cache.getOrCreate(TENANT_A, build);

    expect(again).not.toBe(first);
    expect(built).toBe(3);
  });
});

describe('CustomerCredentials', () => {
  const config = {
    customerApp: {
      clientId: '68554b48-233f-42b4-9aa7-2eadca4d7727',
      credential: { kind: 'secret' as const, clientSecret: 'not-a-real-secret' },
    },
    cloud: {
      authorityHost: 'https://login.microsoftonline.com',
      disableInstanceDiscovery: true,
      armEndpoint: 'https://management.azure.com',
      logsIngestionAudience: 'https://monitor.azure.com',
    },
  };

  it('holds at most TENANT_CACHE_MAX_TENANTS credentials and makes a new one for a dropped tenant', () => {
    const credentials = new CustomerCredentials({
      ...config,
      tenantCache: { maxTenants: 2, idleMs: 60_000 },
    });
    const first = credentials.forTenant(TENANT_A);
    expect(credentials.forTenant(TENANT_A)).toBe(first);
    credentials.forTenant(TENANT_B);
    credentials.forTenant(TENANT_C);

    expect(credentials.size).toBe(2);
    expect(credentials.forTenant(TENANT_A)).not.toBe(first);
  });
});

describe('ArmWorkspaceProvisioner', () => {
  it('keeps at most TENANT_CACHE_MAX_TENANTS pipelines; a dropped tenant gets its credential and a token again', async () => {
    const credentialsAskedFor: string[] = [];
    const tokensAskedFor: string[] = [];
    const credentials = {
      forTenant: (tenantId: string): TokenCredential => {
        credentialsAskedFor.push(tenantId);
        return {
          getToken: () => {
            tokensAskedFor.push(tenantId);
            return Promise.resolve({
              token: `token-${tenantId}`,
              expiresOnTimestamp: Date.now() + 3_600_000,
            });
          },
        };
      },
    };
    const authorizations: string[] = [];
    const httpClient: HttpClient = {
      sendRequest: (request) => {
        authorizations.push(request.headers.get('authorization') ?? '');
        return Promise.resolve({
          request,
          status: 200,
          headers: createHttpHeaders({ 'content-type': 'application/json' }),
          bodyAsText: JSON.stringify({ location: 'westeurope', properties: { customerId: randomUUID() } }),
        });
      },
    };
    const provisioner = new ArmWorkspaceProvisioner({
      armEndpoint: 'https://management.azure.com',
      credentials,
      httpClient,
      tenantCache: { maxTenants: 1, idleMs: 3_600_000 },
    });
    const workspace = (tenantId: string) =>
      parseWorkspaceResourceId(
        `/subscriptions/${tenantId}/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws-siem`,
      );
    const read = (tenantId: string) =>
      provisioner.readWorkspace(tenantId, workspace(tenantId), new AbortController().signal);

    await read(TENANT_A);
    await read(TENANT_A);
    await read(TENANT_B);
    await read(TENANT_A);

    expect(credentialsAskedFor).toEqual([TENANT_A, TENANT_B, TENANT_A]);
    expect(tokensAskedFor).toEqual([TENANT_A, TENANT_B, TENANT_A]);
    expect(authorizations).toEqual([
      `Bearer token-${TENANT_A}`,
      `Bearer token-${TENANT_A}`,
      `Bearer token-${TENANT_B}`,
      `Bearer token-${TENANT_A}`,
    ]);
  });
});
