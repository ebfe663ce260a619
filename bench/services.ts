import pLimit from 'p-limit';
import { startAzureStandIn } from '../test/support/azureStandIn';
import { AzureStandInAdmin } from '../test/support/azureStandIn';
import { startAzurite } from '../test/support/azurite';
import { forwarderSettings } from '../test/support/forwarderApp';
import {
  connectionStore,
  provisionTenant,
  registerCustomerApp,
  saveConnection,
} from '../test/support/forwarderWorld';
import { ServiceBusStandIn, ServiceBusStandInAdmin } from '../test/support/serviceBus';

/**
 * The benchmark's world, in a process of its own so the function app's
 * process is measured alone (CPU and memory): Azurite (tables), the Service
 * Bus stand-in and the HTTPS Azure stand-in (Entra, ARM, Logs Ingestion),
 * seeded with the customer app and TENANTS provisioned tenants (workspace,
 * both tables, a Direct DCR, the connection saved as active).
 *
 * Prints one JSON line (settings for the app, the tenants, the admin URLs),
 * then serves until stdin closes.
 */

const TENANTS = Number(process.env.BENCH_TENANTS ?? 50);

export interface BenchWorld {
  settings: Record<string, string>;
  azureStandInUrl: string;
  tenants: Array<{
    tenantId: string;
    workspaceId: string;
    endpoint: string;
    dcrImmutableId: string;
    streams: Record<string, string>;
  }>;
}

async function main(): Promise<void> {
  const azurite = await startAzurite();
  const serviceBus = await new ServiceBusStandIn().start();
  const azure = await startAzureStandIn();
  const admin = new AzureStandInAdmin(azure.baseUrl);
  const info = await admin.info();
  const app = await registerCustomerApp(admin);
  const queueName = await new ServiceBusStandInAdmin(serviceBus.adminUrl).createUniqueQueue(
    { requiresDuplicateDetection: true },
    'bench',
  );
  const settings = forwarderSettings({
    azuriteConnectionString: azurite.connectionString,
    serviceBusConnectionString: serviceBus.connectionString,
    queueName,
    info,
    app,
  });
  const store = connectionStore(azurite.connectionString, settings.TENANTS_TABLE as string);
  const limit = pLimit(8);
  const tenants = await Promise.all(
    Array.from({ length: TENANTS }, () =>
      limit(async () => {
        const tenant = await provisionTenant(admin, info, app);
        await saveConnection(store, tenant);
        return tenant;
      }),
    ),
  );
  const world: BenchWorld = {
    settings,
    azureStandInUrl: azure.baseUrl,
    tenants: tenants.map((tenant) => ({
      tenantId: tenant.tenantId,
      workspaceId: tenant.workspaceId,
      endpoint: tenant.target.logsIngestionEndpoint,
      dcrImmutableId: tenant.target.dataCollectionRuleImmutableId,
      streams: tenant.target.streams,
    })),
  };
  process.stdout.write(`${JSON.stringify(world)}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    void Promise.all([azure.stop(), serviceBus.stop(), azurite.stop()]).finally(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
