import { ClientSecretCredential } from '@azure/identity';
import { TableTenantConnectionStore } from '../../src/adapters/tenantConnectionStore';
import { openTable } from '../../src/adapters/tableStorage';
import {
  CA_TABLE,
  CERTIFICATE_TABLE,
  streamName,
  TABLE_NAMES,
  TABLE_SCHEMA_VERSION,
} from '../../src/domain/tableSchema';
import type { ConnectionState, ConnectionTarget, TenantConnection } from '../../src/domain/tenantConnection';
import { arm, createTable, dcrBody, dcrUrl, type Customer } from '../integration/azureStandInHelpers';
import type { AzureStandInAdmin, RecordedRow, StandInInfo } from './azureStandIn';

/**
 * The world the forwarder lives in, for integration tests and the benchmark:
 * one multi-tenant customer app registered in the Azure stand-in, customer
 * tenants that consented to it with a workspace, both custom tables and a
 * Direct DCR each (what "Create Connection" leaves behind), and their
 * connections saved in Table Storage (Azurite).
 */

export interface CustomerApp {
  clientId: string;
  secret: string;
}

export interface ProvisionedTenant {
  tenantId: string;
  workspaceId: string;
  target: ConnectionTarget;
}

export async function registerCustomerApp(admin: AzureStandInAdmin): Promise<CustomerApp> {
  const app = await admin.registerApp({ secret: true, displayName: 'pki-siem-export (tests)' });
  if (!app.secret) throw new Error('the stand-in registered the app without a secret');
  return { clientId: app.clientId, secret: app.secret };
}

/** A consented customer tenant with its workspace, both tables and a Direct DCR for them. */
export async function provisionTenant(
  admin: AzureStandInAdmin,
  info: StandInInfo,
  app: CustomerApp,
  options: {
    provisionedAt?: string;
    /**
     * Columns left out of the DCR's stream declarations. Azure would drop them silently; the tenant is
     * configured with the stand-in's refuseDroppedRows, so the service refuses rows carrying them (400).
     */
    omitStreamColumns?: readonly string[];
  } = {},
): Promise<ProvisionedTenant> {
  const tenant = await admin.seedTenant({
    consentApps: [app.clientId],
    workspace: { location: 'westeurope' },
  });
  const workspace = tenant.workspace;
  if (!workspace) throw new Error('the stand-in seeded a tenant without a workspace');
  const credential = new ClientSecretCredential(tenant.tenantId, app.clientId, app.secret, {
    authorityHost: info.authorityHost,
    disableInstanceDiscovery: true,
  });
  const customer: Customer = {
    tenant,
    clientId: app.clientId,
    secret: app.secret,
    credential,
    workspaceId: workspace.id,
    location: workspace.location,
  };
  await admin.configure({
    tenantId: tenant.tenantId,
    tableVisibilityDelayMs: 0,
    tableOperationPolls: 0,
    ...(options.omitStreamColumns ? { refuseDroppedRows: true } : {}),
  });
  for (const table of TABLE_NAMES) await createTable(info, customer, table);
  const dcrName = `dcr-siem-${tenant.tenantId.slice(0, 8)}`;
  const body = dcrBody(customer, [...TABLE_NAMES]);
  const omitted = new Set(options.omitStreamColumns ?? []);
  for (const declaration of Object.values(body.properties.streamDeclarations)) {
    declaration.columns = declaration.columns.filter((column) => !omitted.has(column.name));
  }
  const dcr = await arm(credential, 'PUT', dcrUrl(info, customer, dcrName), body);
  if (dcr.status !== 201 && dcr.status !== 200) {
    throw new Error(`DCR PUT answered ${dcr.status}: ${JSON.stringify(dcr.body)}`);
  }
  return {
    tenantId: tenant.tenantId,
    workspaceId: workspace.id,
    target: {
      workspaceResourceId: workspace.id,
      location: workspace.location,
      dataCollectionRuleId: dcr.body.id,
      dataCollectionRuleImmutableId: dcr.body.properties.immutableId,
      logsIngestionEndpoint: dcr.body.properties.endpoints.logsIngestion,
      streams: { [CA_TABLE]: streamName(CA_TABLE), [CERTIFICATE_TABLE]: streamName(CERTIFICATE_TABLE) },
      provisionedAt: options.provisionedAt ?? new Date(Date.now() - 86_400_000).toISOString(),
      schemaVersion: TABLE_SCHEMA_VERSION,
    },
  };
}

export function connectionStore(azuriteConnectionString: string, table: string): TableTenantConnectionStore {
  return new TableTenantConnectionStore(
    openTable({ kind: 'connectionString', connectionString: azuriteConnectionString }, table, () => {
      throw new Error('connection-string tables need no credential');
    }),
  );
}

/** Saves (or overwrites) the tenant's connection with the given state, as "Save changes" leaves it. */
export async function saveConnection(
  store: TableTenantConnectionStore,
  tenant: ProvisionedTenant,
  state: ConnectionState = 'active',
  stateReason = 'Saved by the portal',
): Promise<void> {
  const at = new Date().toISOString();
  const connection: TenantConnection = {
    tenantId: tenant.tenantId,
    state,
    stateReason,
    stateChangedAt: at,
    saved: tenant.target,
    createdAt: at,
    updatedAt: at,
  };
  const existing = await store.get(tenant.tenantId);
  if (existing) await store.replace(connection, existing.etag);
  else await store.create(connection);
}

/** Rows the tenant's workspace holds, both tables. */
export async function workspaceRows(
  admin: AzureStandInAdmin,
  tenant: ProvisionedTenant,
): Promise<RecordedRow[]> {
  const perTable = await Promise.all(
    TABLE_NAMES.map((table) => admin.rows({ workspaceId: tenant.workspaceId, table })),
  );
  return perTable.flat();
}
