import { toEntity } from '../src/adapters/tenantConnectionStore';
import {
  TABLE_SCHEMA_VERSION,
  TABLE_NAMES,
  dataFlowTransform,
  streamDeclarationColumns,
  streamName,
  tablesApiColumns,
} from '../src/domain/tableSchema';
import type { TenantConnection } from '../src/domain/tenantConnection';
import { startAzureStandIn, type AzureStandInControl, type StandInInfo } from '../test/support/azureStandIn';
import type { TableColumnType } from '../test/support/azureStandIn/types';
import { startAzurite } from '../test/support/azurite';
import { forwarderSettings } from '../test/support/forwarderApp';
import { connectionStore, type CustomerApp } from '../test/support/forwarderWorld';
import { ServiceBusStandIn, ServiceBusStandInAdmin } from '../test/support/serviceBus';
import { writeWorld, type BenchTenant, type BenchWorld } from './figures';

/**
 * The benchmark's world, in a process of its own so the function app's
 * process is measured alone (CPU and memory): Azurite (tables), the Service
 * Bus stand-in and the HTTPS Azure stand-in (Entra, ARM, Logs Ingestion),
 * seeded with the customer app and BENCH_WORLD_TENANTS tenants, each what
 * Create Connection and Save changes leave behind: consent and roles, a
 * workspace with both tables, a Direct DCR, the connection saved as active.
 *
 * Seeding goes straight into the stand-in's state (its control API in this
 * process, no HTTP, no token) and into Azurite with many writes in flight,
 * so 10,000 tenants take seconds rather than the minutes the ARM calls would.
 * The DCR goes through the same validation as a PUT (seedDcr).
 *
 * Writes the world to BENCH_WORLD_FILE, prints one line `ready`, then serves
 * until stdin closes.
 */

const TENANTS = Number(process.env.BENCH_WORLD_TENANTS ?? 50);
const WORLD_FILE = process.env.BENCH_WORLD_FILE;

interface SeededTenant extends BenchTenant {
  dataCollectionRuleId: string;
  location: string;
}

async function seedTenant(control: AzureStandInControl, app: CustomerApp): Promise<SeededTenant> {
  const seeded = await control.seedTenant({
    consentApps: [app.clientId],
    workspace: { location: 'westeurope' },
  });
  const workspace = seeded.workspace;
  if (!workspace) throw new Error('the stand-in seeded a tenant without a workspace');
  for (const table of TABLE_NAMES) {
    await control.seedTable({
      workspaceId: workspace.id,
      name: table,
      columns: tablesApiColumns(table).map((column) => ({
        name: column.name,
        type: column.type as TableColumnType,
      })),
      tableSubType: 'DataCollectionRuleBased',
    });
  }
  const dcr = await control.seedDcr({
    subscriptionId: seeded.subscriptionId,
    resourceGroup: seeded.resourceGroup.name,
    name: `dcr-siem-${seeded.tenantId.slice(0, 8)}`,
    body: {
      location: workspace.location,
      kind: 'Direct',
      properties: {
        streamDeclarations: Object.fromEntries(
          TABLE_NAMES.map((table) => [streamName(table), { columns: streamDeclarationColumns(table) }]),
        ),
        destinations: { logAnalytics: [{ workspaceResourceId: workspace.id, name: 'customerWorkspace' }] },
        dataFlows: TABLE_NAMES.map((table) => ({
          streams: [streamName(table)],
          destinations: ['customerWorkspace'],
          transformKql: dataFlowTransform(table),
          outputStream: `Custom-${table}`,
        })),
      },
    },
  });
  return {
    tenantId: seeded.tenantId,
    workspaceId: workspace.id,
    endpoint: dcr.logsIngestionEndpoint,
    dcrImmutableId: dcr.immutableId,
    streams: Object.fromEntries(TABLE_NAMES.map((table) => [table, streamName(table)])),
    dataCollectionRuleId: dcr.id,
    location: workspace.location,
  };
}

function connectionOf(tenant: SeededTenant, at: string): TenantConnection {
  return {
    tenantId: tenant.tenantId,
    state: 'active',
    stateReason: 'Saved by the portal',
    stateChangedAt: at,
    saved: {
      workspaceResourceId: tenant.workspaceId,
      location: tenant.location,
      dataCollectionRuleId: tenant.dataCollectionRuleId,
      dataCollectionRuleImmutableId: tenant.dcrImmutableId,
      logsIngestionEndpoint: tenant.endpoint,
      streams: tenant.streams,
      provisionedAt: new Date(Date.now() - 86_400_000).toISOString(),
      schemaVersion: TABLE_SCHEMA_VERSION,
    },
    createdAt: at,
    updatedAt: at,
  };
}

async function main(): Promise<void> {
  if (!WORLD_FILE) throw new Error('BENCH_WORLD_FILE is not set: the path the world is written to');
  const started = performance.now();
  const azurite = await startAzurite();
  const serviceBus = await new ServiceBusStandIn().start();
  const azure = await startAzureStandIn();
  const control = azure.control;
  const info: StandInInfo = await control.info();
  const registered = await control.registerApp({ secret: true, displayName: 'pki-siem-export (bench)' });
  if (!registered.secret) throw new Error('the stand-in registered the app without a secret');
  const app: CustomerApp = { clientId: registered.clientId, secret: registered.secret };
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
  const tenants: SeededTenant[] = [];
  for (let index = 0; index < TENANTS; index += 1) tenants.push(await seedTenant(control, app));
  const seededAt = performance.now();

  const store = connectionStore(azurite.connectionString, settings.TENANTS_TABLE as string);
  const at = new Date().toISOString();
  // The first through the Table API (creating the table as the app would), the rest straight into Azurite.
  const [first, ...rest] = tenants.map((tenant) => connectionOf(tenant, at));
  if (first) await store.create(first);
  azurite.seedEntities(
    settings.TENANTS_TABLE as string,
    rest.map((connection) => ({ ...toEntity(connection) })),
  );
  process.stderr.write(
    `bench: ${TENANTS} tenants seeded: stand-in ${Math.round(seededAt - started)} ms, connections ${Math.round(performance.now() - seededAt)} ms\n`,
  );

  const world: BenchWorld = {
    settings,
    azureStandInUrl: azure.baseUrl,
    tenants: tenants.map((tenant) => ({
      tenantId: tenant.tenantId,
      workspaceId: tenant.workspaceId,
      endpoint: tenant.endpoint,
      dcrImmutableId: tenant.dcrImmutableId,
      streams: tenant.streams,
    })),
  };
  writeWorld(WORLD_FILE, world);
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => {
    void Promise.all([azure.stop(), serviceBus.stop(), azurite.stop()]).finally(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
