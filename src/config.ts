import { z } from 'zod';

/**
 * Every setting the app reads, validated once. A missing or malformed setting
 * is reported by name, all of them at once, so an operator fixes the app
 * settings in one pass instead of one restart per typo.
 *
 * Settings are UPPER_SNAKE, except the `<Connection>__<property>` forms the
 * Functions host mandates for identity-based connections.
 */

const url = z.url({ protocol: /^https?$/ }).transform((value) => value.replace(/\/+$/, ''));
const httpsUrl = z.url({ protocol: /^https$/ }).transform((value) => value.replace(/\/+$/, ''));
const guid = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a GUID');
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'])
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true' || value === '1');
const tableName = (fallback: string) =>
  z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9]{2,62}$/, 'must be 3-63 letters or digits, starting with a letter')
    .default(fallback);

/**
 * One entry per setting: its schema and the sentence docs/operations.md and the sample show.
 * `devOnly` settings exist for local runs and the sandbox; a production
 * deployment (identity everywhere) never sets them.
 */
export const SETTINGS = {
  AUDIT_QUEUE_NAME: {
    schema: z.string().min(1).default('audit-events'),
    description: 'Service Bus queue the PKI services enqueue audit events to and the forwarder reads.',
    example: 'audit-events',
  },
  ServiceBusConnection: {
    devOnly: true,
    schema: z.string().min(1).optional(),
    description:
      'Development only: a Service Bus connection string (emulator or namespace). Production uses ServiceBusConnection__fullyQualifiedNamespace.',
    example:
      'Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=<key>;UseDevelopmentEmulator=true;',
  },
  ServiceBusConnection__fullyQualifiedNamespace: {
    schema: z.string().min(1).optional(),
    description: 'Service Bus namespace host name, reached with the managed identity.',
    example: 'contoso-pki-siem.servicebus.windows.net',
  },
  ServiceBusConnection__credential: {
    schema: z.literal('managedidentity').optional(),
    description: 'Tells the Functions host to use a managed identity for the Service Bus trigger.',
    example: 'managedidentity',
  },
  ServiceBusConnection__clientId: {
    schema: guid.optional(),
    description: 'Client id of the user-assigned managed identity the Service Bus trigger uses.',
    example: '00000000-0000-0000-0000-000000000000',
  },
  TABLE_STORAGE_CONNECTION_STRING: {
    devOnly: true,
    schema: z.string().min(1).optional(),
    description:
      'Development only: Table Storage connection string (Azurite). Production uses TABLE_STORAGE_ENDPOINT.',
    example: 'UseDevelopmentStorage=true',
  },
  TABLE_STORAGE_ENDPOINT: {
    schema: url.optional(),
    description: 'Table service endpoint reached with the managed identity.',
    example: 'https://contosopkisiem.table.core.windows.net',
  },
  TENANTS_TABLE: {
    schema: tableName('SiemConnections'),
    description:
      'Table holding one connection entity per customer tenant; also the pauses forwarder instances share (partition "pauses", one row per paused tenant).',
    example: 'SiemConnections',
  },
  PARKED_TABLE: {
    schema: tableName('SiemParkedEvents'),
    description: 'Table holding parked (undeliverable) events per tenant, with reason and attempts.',
    example: 'SiemParkedEvents',
  },
  MANAGED_IDENTITY_CLIENT_ID: {
    schema: guid.optional(),
    description:
      'Client id of the user-assigned managed identity: reaches Table Storage and Service Bus, and is the federated credential of the customer app. Unset locally: identity-based connections then use your own sign-in (DefaultAzureCredential).',
    example: '00000000-0000-0000-0000-000000000000',
  },
  CUSTOMER_APP_CLIENT_ID: {
    schema: guid,
    description: 'Application (client) id of the multi-tenant app customers grant the three roles to.',
    example: '68554b48-233f-42b4-9aa7-2eadca4d7727',
  },
  CUSTOMER_APP_CREDENTIAL: {
    schema: z.enum(['managedIdentity', 'certificate', 'secret']).default('managedIdentity'),
    description:
      'How the app proves itself in a customer tenant: managedIdentity (federated credential, production), certificate or secret (development).',
    example: 'managedIdentity',
  },
  CUSTOMER_APP_CERTIFICATE_PATH: {
    devOnly: true,
    schema: z.string().min(1).optional(),
    description:
      'With CUSTOMER_APP_CREDENTIAL=certificate: path to a PEM file holding the certificate and its private key.',
    example: '/home/site/certs/customer-app.pem',
  },
  CUSTOMER_APP_CLIENT_SECRET: {
    devOnly: true,
    schema: z.string().min(1).optional(),
    description: "With CUSTOMER_APP_CREDENTIAL=secret (development only): the app's client secret.",
    example: '<secret from the app registration>',
  },
  AZURE_AUTHORITY_HOST: {
    schema: httpsUrl.default('https://login.microsoftonline.com'),
    description:
      'Entra authority host: https://login.microsoftonline.com (public), https://login.microsoftonline.us (US Gov), https://login.chinacloudapi.cn (China).',
    example: 'https://login.microsoftonline.com',
  },
  AZURE_DISABLE_INSTANCE_DISCOVERY: {
    devOnly: true,
    schema: bool(false),
    description:
      'Skip Entra instance discovery: only for an authority host the public cloud does not know (sandbox, tests).',
    example: 'false',
  },
  FEDERATED_TOKEN_AUDIENCE: {
    schema: z.string().min(1).default('api://AzureADTokenExchange'),
    description:
      'Audience of the managed identity token exchanged for the customer app: api://AzureADTokenExchange (public), api://AzureADTokenExchangeUSGov, api://AzureADTokenExchangeChina.',
    example: 'api://AzureADTokenExchange',
  },
  ARM_ENDPOINT: {
    schema: httpsUrl.default('https://management.azure.com'),
    description:
      'Azure Resource Manager endpoint: https://management.azure.com, https://management.usgovcloudapi.net, https://management.chinacloudapi.cn.',
    example: 'https://management.azure.com',
  },
  LOGS_INGESTION_AUDIENCE: {
    schema: httpsUrl.default('https://monitor.azure.com'),
    description:
      'Logs Ingestion API token audience: https://monitor.azure.com, https://monitor.azure.us, https://monitor.azure.cn.',
    example: 'https://monitor.azure.com',
  },
  API_AUDIENCE: {
    schema: z.string().min(1),
    description: "Audience (aud) the portal's bearer tokens must carry: this API's app id URI or client id.",
    example: 'api://pki-siem-export',
  },
  API_ISSUERS: {
    schema: z
      .string()
      .min(1)
      .transform((value) =>
        value
          .split(',')
          .map((issuer) => issuer.trim())
          .filter(Boolean),
      ),
    description:
      'Comma-separated accepted token issuers. "{tenantid}" stands for the token\'s own tid claim (multi-tenant callers).',
    example: 'https://login.microsoftonline.com/{tenantid}/v2.0',
  },
  API_JWKS_URI: {
    schema: httpsUrl.optional(),
    description:
      'JWKS with the keys that sign API tokens. Default: <AZURE_AUTHORITY_HOST>/common/discovery/v2.0/keys.',
    example: 'https://login.microsoftonline.com/common/discovery/v2.0/keys',
  },
  API_REQUIRED_ROLE: {
    schema: z.string().min(1).default('SiemExport.Manage'),
    description: 'App role every caller must hold.',
    example: 'SiemExport.Manage',
  },
  API_ALL_TENANTS_ROLE: {
    schema: z.string().min(1).default('SiemExport.AllTenants'),
    description:
      "App role that lets the operator's portal backend act for any tenant. Honoured only in tokens from API_OPERATOR_TENANT_ID whose calling app is in API_OPERATOR_CLIENT_IDS; any other token's tid must be the route's tenant.",
    example: 'SiemExport.AllTenants',
  },
  API_OPERATOR_TENANT_ID: {
    schema: guid.transform((value) => value.toLowerCase()),
    description:
      "The operator's own Entra tenant (where the API app is registered). Only tokens it issued may act for another tenant; a token from any other tenant manages only its own tid, whatever roles it carries.",
    example: '5e2a7b3c-1d4f-4a6e-9b8c-0f1e2d3c4b5a',
  },
  API_OPERATOR_CLIENT_IDS: {
    schema: z
      .string()
      .default('')
      .transform((value) =>
        value
          .split(',')
          .map((id) => id.trim().toLowerCase())
          .filter(Boolean),
      )
      .pipe(
        z.array(
          z
            .string()
            .regex(
              /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
              'must be comma-separated client ids (GUIDs)',
            ),
        ),
      ),
    description:
      "Comma-separated client ids of the operator's apps (the portal backend) that may act for any tenant: the token's azp (v2) or appid (v1). Empty: no caller acts across tenants.",
    example: '3f1c6c1e-5a6b-4d0e-9b5e-2a9d8c7e6f10',
  },
  CONNECTION_TIMEOUT_SECONDS: {
    schema: positiveInt(60),
    description:
      'Longest a Create Connection request may take before it answers with what it has (steps not done report pending).',
    example: '60',
  },
  PROPAGATION_WINDOW_MINUTES: {
    schema: positiveInt(30),
    description:
      'How long after provisioning a 403/404 from ingestion counts as role/DCR propagation (pending), not failure.',
    example: '30',
  },
  FORWARDER_MAX_CONCURRENT_UPLOADS: {
    schema: positiveInt(64),
    description:
      'Most Logs Ingestion uploads a forwarder batch has under way at once (sent or waiting to share a request); one tenant at most half.',
    example: '64',
  },
  FORWARDER_TIME_BUDGET_SECONDS: {
    schema: positiveInt(120),
    description:
      "Time a forwarder batch may spend uploading before unfinished work is re-enqueued; must stay well inside the queue's lock duration.",
    example: '120',
  },
  FORWARDER_UPLOAD_TIMEOUT_SECONDS: {
    schema: positiveInt(30),
    description:
      "Longest one Logs Ingestion upload may take (waiting to share a request included) before its events are re-enqueued and the tenant's uploads pause for a while.",
    example: '30',
  },
  FORWARDER_SHARE_WAIT_MILLISECONDS: {
    schema: z.coerce.number().int().min(0).max(5_000).default(500),
    description:
      "Longest a forwarder batch's first request for a tenant and table waits while other batches of the same instance are still being taken apart, so their rows for it leave in the same request. A batch alone is never held back. 0 never waits, and turns off sharing across batches handed over together (rows joining their lane at hand-over, before their batch has an upload slot).",
    example: '500',
  },
  RETRY_BUDGET_HOURS: {
    schema: positiveInt(168),
    description: 'How long an event keeps being retried before it is parked and its tenant suspended.',
    example: '168',
  },
  RETRY_BASE_DELAY_SECONDS: {
    schema: positiveInt(30),
    description: 'First re-enqueue delay after a transient failure; doubles per attempt, with jitter.',
    example: '30',
  },
  RETRY_MAX_DELAY_SECONDS: {
    schema: positiveInt(3600),
    description:
      'Longest delay between two delivery attempts of an event, and longest pause of a throttled or failing tenant, whatever its Retry-After says.',
    example: '3600',
  },
  CONNECTION_CACHE_SECONDS: {
    schema: positiveInt(30),
    description:
      "How long the forwarder caches a tenant's connection before reading it again. Only a delivering connection is cached: a tenant whose export is off is read on every batch, so a save is never missed.",
    example: '30',
  },
  TENANT_CACHE_MAX_TENANTS: {
    schema: positiveInt(2000),
    description:
      'Most tenants whose credential, ingestion client, ARM pipeline, connection and pause one instance keeps in memory (least recently used dropped first; about 33 kB each). A tenant seen again after that fetches a new token.',
    example: '2000',
  },
  FIRST_TOKEN_MAX_IN_FLIGHT: {
    schema: positiveInt(64),
    description:
      'Most first token requests (a tenant whose credential has no token yet) one instance has under way at once; the rest wait for a slot, in order, within the batch time budget. Bounds the MSAL set-ups and token requests a wave of first-seen tenants starts at once (without it up to maxConcurrentCalls × FORWARDER_MAX_CONCURRENT_UPLOADS). Lower values throttle Entra ID less but deliver first-seen tenants more slowly: at 16, batches of 1,000 new tenants ran out of their time budget on a loaded 2-core machine.',
    example: '64',
  },
  TENANT_CACHE_IDLE_MINUTES: {
    schema: positiveInt(60),
    description:
      "How long an instance keeps a tenant's credential, ingestion client and ARM pipeline without using them.",
    example: '60',
  },
  DELIVERED_IDS_REMEMBERED: {
    schema: positiveInt(100_000),
    description:
      'How many recently delivered event record ids one forwarder instance remembers, so a copy delivered again (producer retry, redelivered batch) is not uploaded twice; about 150 bytes each.',
    example: '100000',
  },
  PAUSE_CACHE_SECONDS: {
    schema: positiveInt(5),
    description:
      'How long a forwarder instance uses what it read of the shared pauses (tenants whose workspace throttled or failed, paused for every instance) before reading again: per period and instance one Table Storage query of at most 100 rows, whatever the number of tenants, plus, only while more than 100 tenants are paused, one point read per tenant its batches carry. An instance learns a pause at the latest this long after another wrote it, or at its own first failed upload. After a failed Table Storage call an instance uses its own pauses for 30 seconds.',
    example: '5',
  },
  HEARTBEAT_INTERVAL_MINUTES: {
    schema: z.coerce.number().int().min(1).max(1440).default(15),
    description:
      'Length of an export health window: every window, each tenant whose export is on gets signed health rows in EZCA_ExportHealth_CL listing what was delivered.',
    example: '15',
  },
  HEARTBEAT_SEAL_DELAY_SECONDS: {
    devOnly: true,
    schema: z.coerce.number().int().min(1).max(3600).default(120),
    description:
      'Development only: how long after a health window ends the heartbeat seals it (default 120), so a delivery record written just before the window closed lands first. The sandbox shortens it to show a window within seconds.',
    example: '120',
  },
  HEALTH_SIGNING_KEY_URL: {
    schema: httpsUrl.optional(),
    description:
      'Key Vault key that signs health rows, without a version (https://<vault>.vault.azure.net/keys/<name>); the managed identity needs Key Vault Crypto User on the vault. Unset: heartbeats stop (logged), delivery goes on.',
    example: 'https://contoso-pki-siem.vault.azure.net/keys/export-health',
  },
  HEALTH_SIGNING_PRIVATE_KEY: {
    devOnly: true,
    schema: z.string().min(1).optional(),
    description:
      'Development only: PEM private key (EC P-256 or RSA) that signs health rows instead of a Key Vault key.',
    example: '-----BEGIN PRIVATE KEY-----\\n…\\n-----END PRIVATE KEY-----',
  },
  DELIVERY_RECORDS_TABLE: {
    schema: tableName('SiemDeliveryRecords'),
    description:
      'Table where forwarders record the record ids delivered per tenant and health window; each window is deleted once its health rows are sealed.',
    example: 'SiemDeliveryRecords',
  },
  EXPORT_HEALTH_TABLE: {
    schema: tableName('SiemExportHealth'),
    description: "Table holding each tenant's health-row chain head and sealed rows waiting to be uploaded.",
    example: 'SiemExportHealth',
  },
} as const;

export type SettingName = keyof typeof SETTINGS;
type SettingValues = { [K in SettingName]: z.output<(typeof SETTINGS)[K]['schema']> };

export type ServiceBusSettings =
  | { kind: 'connectionString'; connectionString: string; queueName: string }
  | { kind: 'identity'; fullyQualifiedNamespace: string; queueName: string };

export type TableStorageSettings =
  { kind: 'connectionString'; connectionString: string } | { kind: 'identity'; endpoint: string };

export type CustomerCredentialSettings =
  | { kind: 'managedIdentity'; managedIdentityClientId: string; federatedTokenAudience: string }
  | { kind: 'certificate'; certificatePath: string }
  | { kind: 'secret'; clientSecret: string };

export interface Config {
  serviceBus: ServiceBusSettings;
  tableStorage: TableStorageSettings;
  tables: { tenants: string; parked: string };
  managedIdentityClientId: string | undefined;
  customerApp: {
    clientId: string;
    credential: CustomerCredentialSettings;
  };
  cloud: {
    authorityHost: string;
    disableInstanceDiscovery: boolean;
    armEndpoint: string;
    logsIngestionAudience: string;
  };
  api: {
    audience: string;
    issuers: string[];
    jwksUri: string;
    requiredRole: string;
    allTenantsRole: string;
    operatorTenantId: string;
    operatorClientIds: string[];
  };
  connection: { timeoutMs: number; propagationWindowMs: number };
  tenantCache: { maxTenants: number; idleMs: number };
  customerTokens: { firstRequestsInFlight: number };
  forwarder: {
    maxConcurrentUploads: number;
    timeBudgetMs: number;
    uploadTimeoutMs: number;
    shareWaitMs: number;
    retryBudgetMs: number;
    retryBaseDelayMs: number;
    retryMaxDelayMs: number;
    connectionCacheMs: number;
    deliveredIdsRemembered: number;
    pauseCacheMs: number;
  };
  exportHealth: {
    intervalMinutes: number;
    sealDelayMs: number;
    signing: { kind: 'keyVault'; keyUrl: string } | { kind: 'privateKey'; pem: string } | { kind: 'none' };
    deliveryRecordsTable: string;
    healthTable: string;
  };
}

export class ConfigError extends Error {
  /** The app settings the problems name, so that a one-line log of this error can keep them. */
  readonly settings: string[];
  constructor(readonly problems: string[]) {
    super(`Invalid app settings:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
    this.settings = Object.keys(SETTINGS).filter((name) =>
      problems.some((problem) => new RegExp(`(^|\\W)${name}(?!\\w)`).test(problem)),
    );
  }
}

type Env = Record<string, string | undefined>;

/** Validates every setting at once; throws a ConfigError naming each bad one. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const values: Partial<Record<SettingName, unknown>> = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const raw = env[name];
    const parsed = SETTINGS[name].schema.safeParse(raw === '' ? undefined : raw);
    if (parsed.success) {
      values[name] = parsed.data;
    } else {
      const reason =
        raw === undefined || raw === '' ? 'is missing' : (parsed.error.issues[0]?.message ?? 'is invalid');
      problems.push(`${name} ${reason}. ${SETTINGS[name].description}`);
    }
  }
  const v = values as SettingValues;

  const either = <A extends SettingName, B extends SettingName>(a: A, b: B): void => {
    const hasA = env[a] !== undefined && env[a] !== '';
    const hasB = env[b] !== undefined && env[b] !== '';
    if (hasA === hasB)
      problems.push(`Set exactly one of ${a} and ${b} (found ${hasA ? 'both' : 'neither'}).`);
  };
  either('ServiceBusConnection', 'ServiceBusConnection__fullyQualifiedNamespace');
  either('TABLE_STORAGE_CONNECTION_STRING', 'TABLE_STORAGE_ENDPOINT');

  // Identity-based storage and queue connections without MANAGED_IDENTITY_CLIENT_ID use the
  // developer's own sign-in (DefaultAzureCredential), so a local run against real resources needs
  // no fake identity; only the federated customer credential cannot work without one.
  if (v.CUSTOMER_APP_CREDENTIAL === 'managedIdentity' && !v.MANAGED_IDENTITY_CLIENT_ID) {
    problems.push(
      "MANAGED_IDENTITY_CLIENT_ID is missing. It is required when CUSTOMER_APP_CREDENTIAL=managedIdentity: the user-assigned identity is the customer app's federated credential.",
    );
  }
  if (v.CUSTOMER_APP_CREDENTIAL === 'certificate' && !v.CUSTOMER_APP_CERTIFICATE_PATH) {
    problems.push(
      'CUSTOMER_APP_CERTIFICATE_PATH is missing. It is required when CUSTOMER_APP_CREDENTIAL=certificate.',
    );
  }
  if (v.CUSTOMER_APP_CREDENTIAL === 'secret' && !v.CUSTOMER_APP_CLIENT_SECRET) {
    problems.push(
      'CUSTOMER_APP_CLIENT_SECRET is missing. It is required when CUSTOMER_APP_CREDENTIAL=secret.',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const credential: CustomerCredentialSettings =
    v.CUSTOMER_APP_CREDENTIAL === 'certificate'
      ? { kind: 'certificate', certificatePath: v.CUSTOMER_APP_CERTIFICATE_PATH as string }
      : v.CUSTOMER_APP_CREDENTIAL === 'secret'
        ? { kind: 'secret', clientSecret: v.CUSTOMER_APP_CLIENT_SECRET as string }
        : {
            kind: 'managedIdentity',
            managedIdentityClientId: v.MANAGED_IDENTITY_CLIENT_ID as string,
            federatedTokenAudience: v.FEDERATED_TOKEN_AUDIENCE,
          };

  return {
    serviceBus: v.ServiceBusConnection
      ? { kind: 'connectionString', connectionString: v.ServiceBusConnection, queueName: v.AUDIT_QUEUE_NAME }
      : {
          kind: 'identity',
          fullyQualifiedNamespace: v.ServiceBusConnection__fullyQualifiedNamespace as string,
          queueName: v.AUDIT_QUEUE_NAME,
        },
    tableStorage: v.TABLE_STORAGE_CONNECTION_STRING
      ? { kind: 'connectionString', connectionString: v.TABLE_STORAGE_CONNECTION_STRING }
      : { kind: 'identity', endpoint: v.TABLE_STORAGE_ENDPOINT as string },
    tables: { tenants: v.TENANTS_TABLE, parked: v.PARKED_TABLE },
    managedIdentityClientId: v.MANAGED_IDENTITY_CLIENT_ID,
    customerApp: { clientId: v.CUSTOMER_APP_CLIENT_ID, credential },
    cloud: {
      authorityHost: v.AZURE_AUTHORITY_HOST,
      disableInstanceDiscovery: v.AZURE_DISABLE_INSTANCE_DISCOVERY,
      armEndpoint: v.ARM_ENDPOINT,
      logsIngestionAudience: v.LOGS_INGESTION_AUDIENCE,
    },
    api: {
      audience: v.API_AUDIENCE,
      issuers: v.API_ISSUERS,
      jwksUri: v.API_JWKS_URI ?? `${v.AZURE_AUTHORITY_HOST}/common/discovery/v2.0/keys`,
      requiredRole: v.API_REQUIRED_ROLE,
      allTenantsRole: v.API_ALL_TENANTS_ROLE,
      operatorTenantId: v.API_OPERATOR_TENANT_ID,
      operatorClientIds: v.API_OPERATOR_CLIENT_IDS,
    },
    connection: {
      timeoutMs: v.CONNECTION_TIMEOUT_SECONDS * 1000,
      propagationWindowMs: v.PROPAGATION_WINDOW_MINUTES * 60_000,
    },
    tenantCache: {
      maxTenants: v.TENANT_CACHE_MAX_TENANTS,
      idleMs: v.TENANT_CACHE_IDLE_MINUTES * 60_000,
    },
    customerTokens: { firstRequestsInFlight: v.FIRST_TOKEN_MAX_IN_FLIGHT },
    forwarder: {
      maxConcurrentUploads: v.FORWARDER_MAX_CONCURRENT_UPLOADS,
      timeBudgetMs: v.FORWARDER_TIME_BUDGET_SECONDS * 1000,
      uploadTimeoutMs: v.FORWARDER_UPLOAD_TIMEOUT_SECONDS * 1000,
      shareWaitMs: v.FORWARDER_SHARE_WAIT_MILLISECONDS,
      retryBudgetMs: v.RETRY_BUDGET_HOURS * 3_600_000,
      retryBaseDelayMs: v.RETRY_BASE_DELAY_SECONDS * 1000,
      retryMaxDelayMs: v.RETRY_MAX_DELAY_SECONDS * 1000,
      connectionCacheMs: v.CONNECTION_CACHE_SECONDS * 1000,
      deliveredIdsRemembered: v.DELIVERED_IDS_REMEMBERED,
      pauseCacheMs: v.PAUSE_CACHE_SECONDS * 1000,
    },
    exportHealth: {
      intervalMinutes: v.HEARTBEAT_INTERVAL_MINUTES,
      sealDelayMs: v.HEARTBEAT_SEAL_DELAY_SECONDS * 1000,
      // A missing key is not a config error: it stops heartbeats (logged each tick), never delivery.
      signing: v.HEALTH_SIGNING_KEY_URL
        ? { kind: 'keyVault', keyUrl: v.HEALTH_SIGNING_KEY_URL }
        : v.HEALTH_SIGNING_PRIVATE_KEY
          ? { kind: 'privateKey', pem: v.HEALTH_SIGNING_PRIVATE_KEY.replace(/\\n/g, '\n') }
          : { kind: 'none' },
      deliveryRecordsTable: v.DELIVERY_RECORDS_TABLE,
      healthTable: v.EXPORT_HEALTH_TABLE,
    },
  };
}

let cached: Config | undefined;

/** The process-wide configuration, validated on first use (never at import time). */
export function getConfig(): Config {
  cached ??= loadConfig();
  return cached;
}

/** Tests and the sandbox swap the environment; this forgets the validated copy. */
export function resetConfigForTests(): void {
  cached = undefined;
}

/**
 * Settings the Functions host and platform read, never `loadConfig`: the
 * deployment template sets them next to the production `SETTINGS` (those
 * without `devOnly`), so this list and `SETTINGS` together are exactly the
 * Function App's app settings. Flex Consumption takes the runtime from the
 * site's `functionAppConfig`, so FUNCTIONS_WORKER_RUNTIME and
 * FUNCTIONS_EXTENSION_VERSION are deliberately absent.
 */
export const HOST_SETTINGS = {
  languageWorkers__node__arguments: {
    description:
      "Arguments the host passes to the Node.js worker. The template caps V8's old generation at a quarter of the instance memory (512 MB on 2,048 MB), the share V8 gives itself on a machine of that size, so garbage is collected before the process outgrows the instance whatever memory the worker sees; on a 23 GB machine the uncapped heap let the 10,000-tenant peak reach ~850 MB over ~200 MB live (docs/performance.md).",
    example: '--max-old-space-size=512',
  },
  AzureWebJobsStorage__accountName: {
    description: 'Host storage account (leases, timers, diagnostics), reached with the managed identity.',
    example: 'contosopkisiem',
  },
  AzureWebJobsStorage__credential: {
    description: 'Tells the Functions host to reach its storage with a managed identity.',
    example: 'managedidentity',
  },
  AzureWebJobsStorage__clientId: {
    description: 'Client id of the user-assigned managed identity the host uses for its storage.',
    example: '00000000-0000-0000-0000-000000000000',
  },
  APPLICATIONINSIGHTS_CONNECTION_STRING: {
    description:
      "Application Insights resource for the app's own telemetry. It carries an instrumentation key, which Microsoft documents as an identifier, not a secret; the resource refuses key-only ingestion.",
    example:
      'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/',
  },
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: {
    description: 'Makes telemetry ingestion authenticate with the managed identity (Microsoft Entra).',
    example: 'ClientId=00000000-0000-0000-0000-000000000000;Authorization=AAD',
  },
} as const;

export type HostSettingName = keyof typeof HOST_SETTINGS;
