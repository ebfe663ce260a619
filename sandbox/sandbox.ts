import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resetCompositionForTests } from '../src/composition';
import { TABLE_NAMES } from '../src/domain/tableSchema';
import { loadConfig, SETTINGS, type SettingName } from '../src/config';
import { startAzureStandIn, type AzureStandIn } from '../test/support/azureStandIn';
import { startAzurite, type RunningAzurite } from '../test/support/azurite';
import {
  findServiceBusFunction,
  installFunctionsCore,
  listFunctions,
  setLogListener,
  startFunctionApp,
} from '../test/support/functionsHost';
import { assertLoopback } from '../test/support/loopback';
import { ServiceBusStandIn } from '../test/support/serviceBus';
import { generateClientCertificate, readServerTls } from '../test/support/testCa';
import {
  startControlServer,
  type NewTenantInput,
  type RunningControlServer,
  type SandboxTenant,
} from './controlServer';
import { functionEntryPoints } from './entryPoints';
import { readHostJson, serviceBusHostOptions } from './hostJson';
import { startHttpServer, type RunningHttpServer } from './httpServer';
import { startInstanceHosts } from './instances';
import { errorText, formatLog, shouldShow } from './logLines';
import { panelRoutes } from './panelServer';
import { ServiceBusListener } from './serviceBusListener';
import {
  provisionServiceBusIdentity,
  type ServiceBusDataRole,
  type ServiceBusIdentity,
  type ServiceBusIdentityInfo,
} from './serviceBusIdentity';
import { TimerScheduler } from './timerScheduler';
import { demoVerifyCommand } from './verifyAccess';

/**
 * The whole pipeline on one machine: Azurite, the Azure stand-in (Entra, ARM, Logs Ingestion) with a
 * demo tenant, the Service Bus stand-in with the audit queue, and the app's functions run as the
 * Functions host runs them. Everything binds to 127.0.0.1. The process running this must trust the
 * test CA (NODE_EXTRA_CA_CERTS at start): main.ts takes care of it.
 */

/** What `npm run sandbox` prints as its one JSON line once everything is ready. */
export interface SandboxInfo {
  /** e.g. http://127.0.0.1:7071/api */
  apiBaseUrl: string;
  /** The settings panel (the how-to's page) signed in as the demo tenant, e.g. http://127.0.0.1:7071/ */
  panelUrl: string;
  /** A bearer token the API accepts for the demo tenant. */
  bearerToken: string;
  tenantId: string;
  subscriptionId: string;
  resourceGroup: string;
  workspaceResourceId: string;
  location: string;
  /** SAS connection string of the namespace; with serviceBusAuth 'identity' the namespace refuses it. */
  serviceBusConnectionString: string;
  /** How the app and the trigger reach Service Bus: a connection string, or Entra tokens (production). */
  serviceBusAuth: 'connectionString' | 'identity';
  /** With serviceBusAuth 'identity': the namespace, its tenant, and the identities holding data roles. */
  serviceBusIdentity?: ServiceBusIdentityInfo;
  queueName: string;
  /**
   * GET: every row each table of each workspace received, as JSON. DELETE `?eventRecordId=<guid>` (or
   * `?healthSequence=<n>&tenantId=<guid>`) makes that row disappear, as a purge would.
   */
  rowsUrl: string;
  /**
   * A POSIX shell command line, run from the repository root, that runs `pki-siem-export verify` over
   * the demo workspace from the sandbox's start until now (Log Analytics Reader sign-in, stand-in Logs Query).
   */
  verifyCommand: string;
  /** POST: seeds another customer tenant (subscription, workspace, consent, roles) and answers like this. */
  tenantsUrl: string;
  /** The Azure stand-in (https): `new AzureStandInAdmin(azureAdminUrl)`, e.g. to inject faults. */
  azureAdminUrl: string;
  /** The Service Bus stand-in's admin API (http): queue counts, dead-lettered messages. */
  serviceBusAdminUrl: string;
  /** Client id of the multi-tenant app the customer tenants consented to. */
  customerAppClientId: string;
  /** The operator's home tenant (API_OPERATOR_TENANT_ID): the only one whose tokens may act for others. */
  operatorTenantId: string;
  /** The portal backend's app (API_OPERATOR_CLIENT_IDS), registered in the operator's tenant. */
  portalClientId: string;
  /** A portal backend token: operator tenant, allow-listed app, both app roles; acts for any tenant. */
  operatorBearerToken: string;
  /** The app settings the functions run with that differ from their defaults (secrets left out). */
  settings: Record<string, string>;
}

export interface SandboxOptions {
  /** API port; default: a free port. */
  port?: number;
  /** Fire every timer function this often instead of on its schedule. */
  timerEveryMs?: number;
  /** App settings to set on top of the sandbox's (NAME → value). */
  settings?: Record<string, string>;
  /** Demo tenant's workspace region. */
  location?: string;
  /**
   * Run Service Bus identity-based, as production does (`--service-bus-identity`): local auth off,
   * Entra tokens of the app's managed identity holding `roles` (default both) on the queue.
   */
  serviceBusIdentity?: { roles?: ServiceBusDataRole[] };
  /** Human-readable progress (stderr in main.ts). */
  log?: (line: string) => void;
  /** Forwarder instances consuming the queue, this process's included (default 1). */
  instances?: number;
}

export interface RunningSandbox {
  info: SandboxInfo;
  stop(): Promise<void>;
}

const QUEUE_NAME = 'audit-events';
/** The audit queue as infra/azuredeploy.json creates it. */
const AUDIT_QUEUE_OPTIONS = {
  lockDurationMs: 5 * 60_000,
  maxDeliveryCount: 10,
  requiresDuplicateDetection: true,
  duplicateDetectionHistoryTimeWindowMs: 60 * 60_000,
  defaultMessageTimeToLiveMs: 14 * 24 * 60 * 60_000,
  deadLetteringOnMessageExpiration: true,
};
const API_ROLE = 'SiemExport.Manage';
/** Sandbox tokens outlive a working day, so a long session never sees 401s. */
const TOKEN_LIFETIME_SECONDS = 12 * 3600;

/**
 * Settings tuned for a sandbox: retries within seconds instead of minutes, a short propagation window
 * and connection cache, so failures and recoveries show up while someone watches.
 */
const SANDBOX_TUNING: Partial<Record<SettingName, string>> = {
  PROPAGATION_WINDOW_MINUTES: '1',
  CONNECTION_TIMEOUT_SECONDS: '30',
  CONNECTION_CACHE_SECONDS: '1',
  PAUSE_CACHE_SECONDS: '1',
  RETRY_BASE_DELAY_SECONDS: '1',
  RETRY_MAX_DELAY_SECONDS: '2',
  RETRY_BUDGET_HOURS: '1',
  FORWARDER_TIME_BUDGET_SECONDS: '30',
  // One-minute export health windows sealed seconds after they end, so verify has something to prove soon.
  HEARTBEAT_INTERVAL_MINUTES: '1',
  HEARTBEAT_SEAL_DELAY_SECONDS: '5',
};

/** Settings whose values are credentials: set in the environment, never printed. */
const SECRET_SETTINGS = new Set([
  'ServiceBusConnection',
  'TABLE_STORAGE_CONNECTION_STRING',
  'CUSTOMER_APP_CLIENT_SECRET',
  'HEALTH_SIGNING_PRIVATE_KEY',
]);

export async function startSandbox(options: SandboxOptions = {}): Promise<RunningSandbox> {
  const log = options.log ?? (() => undefined);
  const startedAt = new Date();
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  const stopAll = async () => {
    for (const { name, stop } of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (error) {
        log(`could not stop ${name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  };

  try {
    const workDir = mkdtempSync(path.join(tmpdir(), 'pki-sandbox-'));
    stops.push({
      name: 'work directory',
      stop: () => Promise.resolve(rmSync(workDir, { recursive: true, force: true })),
    });

    const azurite: RunningAzurite = await startAzurite();
    stops.push({ name: 'Azurite', stop: () => azurite.stop() });
    log(`Azurite (Table service) on ${azurite.tableEndpoint}`);

    const azure: AzureStandIn = await startAzureStandIn();
    stops.push({ name: 'Azure stand-in', stop: () => azure.stop() });
    const azureInfo = await azure.control.info();
    log(`Azure stand-in (Entra ID, ARM, Logs Ingestion) on ${azure.baseUrl}`);

    // The multi-tenant app customers consent to, proving itself with a certificate.
    const certificate = await generateClientCertificate('pki-siem-export sandbox customer app');
    const certificatePath = path.join(workDir, 'customer-app.pem');
    writeFileSync(certificatePath, certificate.combinedPem, { mode: 0o600 });
    const customerApp = await azure.control.registerApp({
      displayName: 'pki-siem-export (sandbox)',
      certificatePems: [certificate.certificatePem],
    });

    // The operator's own tenant and its portal backend: the only caller that may act for any tenant.
    const portalApp = await azure.control.registerApp({ displayName: 'pki portal backend (sandbox)' });
    const operatorTenantId = portalApp.homeTenantId;

    const sb = await new ServiceBusStandIn({
      queues: { [QUEUE_NAME]: AUDIT_QUEUE_OPTIONS },
      ...(options.serviceBusIdentity ? { tls: readServerTls(), localAuth: false } : {}),
    }).start();
    stops.push({ name: 'Service Bus stand-in', stop: () => sb.stop() });
    log(`Service Bus stand-in on ${sb.endpoint} with queue "${QUEUE_NAME}"`);
    const sbIdentity: ServiceBusIdentity | undefined = options.serviceBusIdentity
      ? await provisionServiceBusIdentity({
          azure,
          serviceBus: sb,
          queueName: QUEUE_NAME,
          roles: options.serviceBusIdentity.roles ?? ['receiver', 'sender'],
        })
      : undefined;
    if (sbIdentity) {
      const { fullyQualifiedNamespace, roles, managedIdentityClientId } = sbIdentity.info;
      log(
        `Service Bus identity-based on ${fullyQualifiedNamespace} (TLS, SAS refused): managed identity ` +
          `${managedIdentityClientId} holds ${roles.join(', ') || 'no data role'} on "${QUEUE_NAME}"`,
      );
    }

    const settings: Record<string, string> = {
      ...SANDBOX_TUNING,
      AUDIT_QUEUE_NAME: QUEUE_NAME,
      ...(sbIdentity ? sbIdentity.settings : { ServiceBusConnection: sb.connectionString }),
      TABLE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      CUSTOMER_APP_CLIENT_ID: customerApp.clientId,
      CUSTOMER_APP_CREDENTIAL: 'certificate',
      CUSTOMER_APP_CERTIFICATE_PATH: certificatePath,
      AZURE_AUTHORITY_HOST: azureInfo.authorityHost,
      AZURE_DISABLE_INSTANCE_DISCOVERY: 'true',
      ARM_ENDPOINT: azureInfo.armEndpoint,
      LOGS_INGESTION_AUDIENCE: azureInfo.audiences.monitor[0] ?? 'https://monitor.azure.com',
      API_AUDIENCE: azureInfo.apiAudience,
      API_ISSUERS: azureInfo.issuerTemplate,
      API_JWKS_URI: azureInfo.jwksUri,
      API_REQUIRED_ROLE: API_ROLE,
      API_OPERATOR_TENANT_ID: operatorTenantId,
      API_OPERATOR_CLIENT_IDS: portalApp.clientId,
      // A key generated per run signs export health rows (production: a Key Vault key).
      HEALTH_SIGNING_PRIVATE_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' })
        .privateKey.export({ type: 'pkcs8', format: 'pem' })
        .toString(),
      ...options.settings,
    };
    applyAppSettings(settings);
    if (sbIdentity) {
      // What App Service sets for an app with a managed identity; the app's SDKs read it from here.
      Object.assign(process.env, sbIdentity.environment);
      stops.push({
        name: 'managed identity environment',
        stop: () =>
          Promise.resolve(Object.keys(sbIdentity.environment).forEach((n) => delete process.env[n])),
      });
    }
    // The app validates its settings on first use; checking them now turns a bad --setting into a
    // clear message at start instead of a 500 on the first request.
    loadConfig(process.env);

    const newTenant = async (input: NewTenantInput = {}): Promise<SandboxTenant> => {
      const seeded = await azure.control.seedTenant({
        workspace: { location: input.location ?? options.location ?? 'westeurope' },
        consentApps: [customerApp.clientId],
        ...(input.roles ? { roles: input.roles as never } : {}),
        ...(input.unregisteredProviders ? { unregisteredProviders: input.unregisteredProviders } : {}),
      });
      const workspace = seeded.workspace;
      if (!workspace) throw new Error('The Azure stand-in seeded a tenant without a workspace.');
      const token = await azure.control.mintToken({
        tenantId: seeded.tenantId,
        roles: [settings.API_REQUIRED_ROLE ?? API_ROLE],
        expiresInSeconds: TOKEN_LIFETIME_SECONDS,
      });
      return {
        tenantId: seeded.tenantId,
        subscriptionId: seeded.subscriptionId,
        resourceGroup: seeded.resourceGroup.name,
        workspaceResourceId: workspace.id,
        location: workspace.location,
        bearerToken: token.token,
      };
    };

    const operatorToken = await azure.control.mintToken({
      tenantId: operatorTenantId,
      clientId: portalApp.clientId,
      roles: [
        settings.API_REQUIRED_ROLE ?? API_ROLE,
        settings.API_ALL_TENANTS_ROLE ?? SETTINGS.API_ALL_TENANTS_ROLE.example,
      ],
      expiresInSeconds: TOKEN_LIFETIME_SECONDS,
    });

    const control: RunningControlServer = await startControlServer({ azure: azure.control, newTenant });
    stops.push({ name: 'sandbox control server', stop: () => control.stop() });
    const demo = await control.addTenant({});
    log(`demo tenant ${demo.tenantId}: workspace ${demo.workspaceResourceId} (${demo.location})`);

    // The app, as the Functions host runs it.
    installFunctionsCore();
    setLogListener((line) => {
      if (shouldShow(line)) log(formatLog(line));
    });
    stops.push({ name: 'log listener', stop: () => Promise.resolve(setLogListener(undefined)) });
    const appDirectory = process.cwd();
    await startFunctionApp({ entryPoints: functionEntryPoints(appDirectory) });
    // Once no invocation can start any more, let the app close what it opened (SDK clients, connections).
    stops.push({ name: "the app's clients", stop: () => Promise.resolve(resetCompositionForTests()) });
    const functions = listFunctions();
    log(`functions: ${functions.map((f) => `${f.name} (${f.triggerType})`).join(', ') || 'none'}`);

    const http: RunningHttpServer = await startHttpServer({
      ...(options.port !== undefined ? { port: options.port } : {}),
      panel: panelRoutes({
        session: () => demo,
        countRows: async (workspaceResourceId) => {
          try {
            const counts = await Promise.all(
              TABLE_NAMES.map(
                async (table) =>
                  (await azure.control.rows({ workspaceId: workspaceResourceId, table })).length,
              ),
            );
            return counts.reduce((sum, count) => sum + count, 0);
          } catch {
            return undefined;
          }
        },
      }),
      onRequest: (request, result) => {
        log(
          `HTTP ${request.method} ${request.path.split('?')[0]} -> ${result.status}` +
            (result.functionName ? ` (${result.functionName})` : ''),
        );
        const connection = connectionRequest(request, result.status);
        if (connection) control.watchWorkspace(connection);
      },
    });
    stops.push({ name: 'HTTP server', stop: () => http.stop() });

    if (!findServiceBusFunction(QUEUE_NAME)) {
      log(`warning: no function reads the queue "${QUEUE_NAME}"; events sent to it stay there.`);
    }
    const hostOptions = serviceBusHostOptions(readHostJson(appDirectory));
    for (const fn of functions.filter((f) => f.triggerType.toLowerCase() === 'servicebustrigger')) {
      const listener = new ServiceBusListener({
        function: fn,
        hostOptions,
        onDispatch: (report) =>
          log(
            `${report.functionName}: ${report.messageIds.length} message(s) ${report.outcome}` +
              (report.result.outcome === 'failed' ? ` (${errorText(report.result.error)})` : ''),
          ),
        onError: (error) => log(`${fn.name}: receive error: ${errorText(error)}`),
      });
      listener.start();
      stops.push({ name: `listener of ${fn.name}`, stop: () => listener.stop() });
    }

    if ((options.instances ?? 1) > 1) {
      const hosts = await startInstanceHosts({
        count: options.instances!,
        env: process.env,
        appDirectory,
        log,
      });
      stops.push({ name: 'forwarder instances', stop: () => hosts.stop() });
      log(`forwarder instances: ${options.instances} (this process and pids ${hosts.pids.join(', ')})`);
    }

    const timerFunctions = functions.filter((f) => f.triggerType.toLowerCase() === 'timertrigger');
    if (timerFunctions.length > 0) {
      const timers = new TimerScheduler({
        functions: timerFunctions,
        ...(options.timerEveryMs !== undefined ? { everyMs: options.timerEveryMs } : {}),
        onRun: (report) =>
          log(
            `${report.functionName}: timer run ${report.result.outcome}` +
              (report.result.outcome === 'failed' ? ` (${errorText(report.result.error)})` : ''),
          ),
      });
      timers.start();
      stops.push({ name: 'timers', stop: () => timers.stop() });
    }

    const verifyCommand = await demoVerifyCommand({
      azure: azure.control,
      azureInfo,
      tenant: demo,
      workDir,
      jwksUrl: `${http.url}/api/siem/signing-keys`,
      from: startedAt,
    });
    const info: SandboxInfo = {
      apiBaseUrl: assertLoopback(`${http.url}/api`),
      panelUrl: `${http.url}/`,
      bearerToken: demo.bearerToken,
      tenantId: demo.tenantId,
      subscriptionId: demo.subscriptionId,
      resourceGroup: demo.resourceGroup,
      workspaceResourceId: demo.workspaceResourceId,
      location: demo.location,
      serviceBusConnectionString: sb.connectionString,
      serviceBusAuth: sbIdentity ? 'identity' : 'connectionString',
      ...(sbIdentity ? { serviceBusIdentity: sbIdentity.info } : {}),
      queueName: QUEUE_NAME,
      rowsUrl: `${control.url}/rows`,
      verifyCommand,
      tenantsUrl: `${control.url}/tenants`,
      azureAdminUrl: azure.baseUrl,
      serviceBusAdminUrl: sb.adminUrl,
      customerAppClientId: customerApp.clientId,
      operatorTenantId,
      portalClientId: portalApp.clientId,
      operatorBearerToken: operatorToken.token,
      settings: Object.fromEntries(Object.entries(settings).filter(([name]) => !SECRET_SETTINGS.has(name))),
    };
    let stopping: Promise<void> | undefined;
    return { info, stop: () => (stopping ??= stopAll()) };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * The app's environment: only the settings given, none inherited from the shell (a stray
 * ServiceBusConnection__fullyQualifiedNamespace would point the app at Azure or break its config).
 */
function applyAppSettings(settings: Record<string, string>): void {
  for (const name of Object.keys(SETTINGS)) delete process.env[name];
  Object.assign(process.env, settings);
}

/** A Create Connection that succeeded names a workspace whose rows /rows should show. */
function connectionRequest(
  request: { method: string; path: string; body: Buffer },
  status: number,
): { workspaceResourceId: string; tenantId: string; location: string } | undefined {
  const route = /^\/api\/tenants\/([^/?]+)\/siem\/connection(?:\?|$)/i.exec(request.path);
  if (request.method !== 'POST' || status !== 200 || !route) return undefined;
  try {
    const body = JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
    const { workspaceResourceId, location } = body;
    if (typeof workspaceResourceId !== 'string' || typeof location !== 'string') return undefined;
    return { workspaceResourceId, location, tenantId: decodeURIComponent(route[1]!) };
  } catch {
    return undefined;
  }
}
