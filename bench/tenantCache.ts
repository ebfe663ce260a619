import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { CustomerCredentials } from '../src/adapters/customerCredentials';
import { LogsIngestionSink } from '../src/adapters/logsIngestionSink';
import { AzureStandInAdmin, startAzureStandIn } from '../test/support/azureStandIn';
import { registerCustomerApp } from '../test/support/forwarderWorld';
import { prepareTestTrust } from '../test/support/testCa';

/**
 * What one instance's per-tenant state costs, and what bounding it costs
 * back (issue 16, item 1). `npx tsx bench/tenantCache.ts` prints JSON lines:
 *
 * - RSS after building TENANTS credential + Logs Ingestion client pairs
 *   (no token, no socket yet), with the caches bounded at TENANTS (as
 *   unbounded as the old maps) and at the default 2,000 and at 500;
 * - the time of the one token request a tenant dropped from the caches pays
 *   when seen again, against the Azure stand-in (Entra on loopback HTTPS), and
 *   a cached token's time for comparison.
 *
 * Each RSS figure comes from a fresh process, after a full GC.
 */

const ROOT = path.resolve(__dirname, '..');
const TENANTS = Number(process.env.BENCH_CACHE_TENANTS ?? 5_000);

const config = (authorityHost: string, clientId: string, secret: string, maxTenants: number) => ({
  customerApp: { clientId, credential: { kind: 'secret' as const, clientSecret: secret } },
  cloud: {
    authorityHost,
    disableInstanceDiscovery: true,
    armEndpoint: 'https://management.azure.com',
    logsIngestionAudience: 'https://monitor.azure.com',
  },
  tenantCache: { maxTenants, idleMs: 3_600_000 },
});

function gcAndMemory(): { rssMb: number; heapMb: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;
  return { rssMb: mb(rss), heapMb: mb(heapUsed) };
}

function measureRss(maxTenants: number): void {
  const before = gcAndMemory();
  const settings = config('https://login.microsoftonline.com', randomUUID(), 'not-a-secret', maxTenants);
  const credentials = new CustomerCredentials(settings);
  const sink = new LogsIngestionSink(credentials, settings.cloud.logsIngestionAudience, settings.tenantCache);
  for (let index = 0; index < TENANTS; index += 1) {
    const tenantId = randomUUID();
    sink.clientFor(tenantId, `https://dcr-${tenantId.slice(0, 8)}.westeurope-1.ingest.monitor.azure.com`);
  }
  const after = gcAndMemory();
  const added = (a: number, b: number): number => Math.round((a - b) * 10) / 10;
  // RSS keeps the heap's high-water mark (V8 rarely hands pages back); the live heap after a GC is what stays.
  process.stdout.write(
    `${JSON.stringify({
      tenants: TENANTS,
      maxTenants,
      held: sink.size,
      rssAddedMb: added(after.rssMb, before.rssMb),
      liveHeapAddedMb: added(after.heapMb, before.heapMb),
    })}\n`,
  );
}

async function measureToken(): Promise<void> {
  const azure = await startAzureStandIn();
  try {
    const admin = new AzureStandInAdmin(azure.baseUrl);
    const info = await admin.info();
    const app = await registerCustomerApp(admin);
    const tenant = await admin.seedTenant({ consentApps: [app.clientId] });
    const settings = config(info.authorityHost, app.clientId, app.secret, 1);
    const credentials = new CustomerCredentials(settings);
    const scope = 'https://monitor.azure.com/.default';
    // Warm up TLS, MSAL and the stand-in once; the figures are of the steady state.
    await credentials.forTenant(tenant.tenantId).getToken(scope);
    const fresh: number[] = [];
    const cached: number[] = [];
    for (let round = 0; round < 30; round += 1) {
      credentials.forTenant(randomUUID()); // drops the tenant (the cache holds one)
      const started = performance.now();
      await credentials.forTenant(tenant.tenantId).getToken(scope);
      fresh.push(performance.now() - started);
      const again = performance.now();
      await credentials.forTenant(tenant.tenantId).getToken(scope);
      cached.push(performance.now() - again);
    }
    const tokenRequests = (
      await admin.requests({ tenantId: tenant.tenantId, face: 'entra', operation: 'token' })
    ).length;
    process.stdout.write(
      `${JSON.stringify({
        figure: 'token_refetch_after_eviction_ms_median',
        value: median(fresh),
        cachedTokenMsMedian: median(cached),
        tokenRequestsFor31Evictions: tokenRequests,
      })}\n`,
    );
  } finally {
    await azure.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round((sorted[Math.floor(sorted.length / 2)] ?? 0) * 100) / 100;
}

async function main(): Promise<void> {
  const [mode, arg] = process.argv.slice(2);
  if (mode === 'rss') return measureRss(Number(arg));
  if (mode === 'token') return measureToken();
  const trust = await prepareTestTrust();
  const env = { ...process.env, ...trust.env };
  const self = path.join(ROOT, 'bench', 'tenantCache.ts');
  for (const [childMode, childArg] of [
    ['rss', String(TENANTS)],
    ['rss', '2000'],
    ['rss', '500'],
    ['rss', '100'],
    ['token', ''],
  ] as const) {
    const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, childMode, childArg], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (child.status !== 0) throw new Error(`bench/tenantCache ${childMode} failed (${child.status})`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
