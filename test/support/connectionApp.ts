import { resetCompositionForTests } from '../../src/composition';
import { resetConfigForTests } from '../../src/config';
import type { AzureStandInAdmin, RoleName, StandInInfo } from './azureStandIn';

/** The three roles the how-to has the customer grant the Keytos application. */
export const ALL_ROLES: RoleName[] = [
  'Monitoring Contributor',
  'Monitoring Metrics Publisher',
  'Log Analytics Contributor',
];

/** The app role the portal's token carries for the tenant's own SIEM settings. */
export const REQUIRED_ROLE = 'SiemExport.Manage';

export interface KeytosApp {
  info: StandInInfo;
  clientId: string;
  clientSecret: string;
}

/**
 * Registers the Keytos application (with a client secret) in the Azure
 * stand-in and points the app's settings at Azurite and the stand-in, as the
 * connection tests run it: Create Connection bounded at 30 s, a 30-minute
 * propagation window. Config and composition are reset to read them.
 */
export async function configureConnectionApp(
  admin: AzureStandInAdmin,
  options: {
    azuriteConnectionString: string;
    tenantsTable: string;
    operatorTenantId: string;
    /** Further settings a test needs (e.g. API_OPERATOR_CLIENT_IDS, AUDIT_QUEUE_NAME). */
    extra?: Record<string, string>;
  },
): Promise<KeytosApp> {
  const info = await admin.info();
  const app = await admin.registerApp({ secret: true, displayName: 'Keytos' });
  const clientId = app.clientId;
  const clientSecret = app.secret!;
  Object.assign(process.env, {
    TABLE_STORAGE_CONNECTION_STRING: options.azuriteConnectionString,
    TENANTS_TABLE: options.tenantsTable,
    PARKED_TABLE: `${options.tenantsTable}Parked`,
    ServiceBusConnection:
      'Endpoint=sb://127.0.0.1;SharedAccessKeyName=unused;SharedAccessKey=unused;UseDevelopmentEmulator=true;',
    CUSTOMER_APP_CLIENT_ID: clientId,
    CUSTOMER_APP_CREDENTIAL: 'secret',
    CUSTOMER_APP_CLIENT_SECRET: clientSecret,
    AZURE_AUTHORITY_HOST: info.authorityHost,
    AZURE_DISABLE_INSTANCE_DISCOVERY: 'true',
    ARM_ENDPOINT: info.armEndpoint,
    LOGS_INGESTION_AUDIENCE: info.audiences.monitor[0],
    API_AUDIENCE: info.apiAudience,
    API_ISSUERS: info.issuerTemplate,
    API_JWKS_URI: info.jwksUri,
    API_REQUIRED_ROLE: REQUIRED_ROLE,
    API_ALL_TENANTS_ROLE: 'SiemExport.AllTenants',
    API_OPERATOR_TENANT_ID: options.operatorTenantId,
    CONNECTION_TIMEOUT_SECONDS: '30',
    PROPAGATION_WINDOW_MINUTES: '30',
    ...options.extra,
  });
  resetConfigForTests();
  resetCompositionForTests();
  return { info, clientId, clientSecret };
}
