import { randomUUID } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import type { CustomerCredentials } from './adapters/customerCredentials';
import type { Config } from './config';
import type { ConnectionUseCases } from './domain/connection';
import type { Forwarder } from './domain/forwarder';
import type { ParkedEvents } from './domain/parkedEvents';
import type { SchemaUpgrades } from './domain/schemaUpgrade';
import type {
  CreateConnectionLeases,
  Clock,
  IngestionSink,
  Logger,
  ParkedEventStore,
  TenantConnectionStore,
  WorkspaceProvisioner,
} from './domain/ports';
import type { ConnectionActor } from './domain/connectionHistory';
import type { ApiAuthenticator } from './http/auth';
import type { ServiceBusAuditQueue } from './adapters/serviceBusAuditQueue';

/**
 * Builds adapters and use cases on first use, never at import time: a function
 * file imports this module to register itself, and the Azure SDKs (hundreds of
 * milliseconds to load) are only required when an invocation needs them.
 * Everything built here is reused across invocations of the same instance.
 */

export interface Infrastructure {
  config: Config;
  clock: Clock;
  /** The app's own identity (managed identity in production) for its storage and queue. */
  appCredential: () => TokenCredential;
  customerCredentials: CustomerCredentials;
  connections: TenantConnectionStore;
  parked: ParkedEventStore;
  /** Logs Ingestion uploads with a token for the event's (or route's) tenant only. */
  ingestion: IngestionSink;
}

let infrastructurePromise: Promise<Infrastructure> | undefined;

export function infrastructure(): Promise<Infrastructure> {
  infrastructurePromise ??= buildInfrastructure().catch((error: unknown) => {
    // A bad setting must be reported on every invocation, not cached as a rejected promise forever.
    infrastructurePromise = undefined;
    throw error;
  });
  return infrastructurePromise;
}

async function buildInfrastructure(): Promise<Infrastructure> {
  const { getConfig } = await import('./config');
  const config = getConfig();
  const [{ DefaultAzureCredential, ManagedIdentityCredential }, tables, store, parked, credentials, sink] =
    await Promise.all([
      import('@azure/identity'),
      import('./adapters/tableStorage'),
      import('./adapters/tenantConnectionStore'),
      import('./adapters/parkedEventStore'),
      import('./adapters/customerCredentials'),
      import('./adapters/logsIngestionSink'),
    ]);
  let appCredential: TokenCredential | undefined;
  const getAppCredential = (): TokenCredential => {
    appCredential ??= config.managedIdentityClientId
      ? new ManagedIdentityCredential({ clientId: config.managedIdentityClientId })
      : new DefaultAzureCredential();
    return appCredential;
  };
  const customerCredentials = new credentials.CustomerCredentials(config);
  return {
    config,
    clock: { now: () => new Date() },
    appCredential: getAppCredential,
    customerCredentials,
    ingestion: new sink.LogsIngestionSink(
      customerCredentials,
      config.cloud.logsIngestionAudience,
      config.tenantCache,
    ),
    connections: new store.TableTenantConnectionStore(
      tables.openTable(config.tableStorage, config.tables.tenants, getAppCredential),
    ),
    parked: new parked.TableParkedEventStore(
      tables.openTable(config.tableStorage, config.tables.parked, getAppCredential),
    ),
  };
}

let provisionerPromise: Promise<WorkspaceProvisioner> | undefined;

/** ARM provisioning with the route tenant's credential; one instance keeps its per-tenant pipelines. */
function workspaceProvisioner(infra: Infrastructure): Promise<WorkspaceProvisioner> {
  provisionerPromise ??= import('./adapters/armWorkspace').then(
    ({ ArmWorkspaceProvisioner }) =>
      new ArmWorkspaceProvisioner({
        armEndpoint: infra.config.cloud.armEndpoint,
        credentials: infra.customerCredentials,
        tenantCache: infra.config.tenantCache,
      }),
  );
  return provisionerPromise;
}

let leasesPromise: Promise<CreateConnectionLeases> | undefined;

/** Create Connection leases, in the tenants table next to each connection entity. */
function createConnectionLeases(infra: Infrastructure): Promise<CreateConnectionLeases> {
  leasesPromise ??= Promise.all([
    import('./adapters/createConnectionLeases'),
    import('./adapters/tableStorage'),
  ]).then(
    ([{ TableCreateConnectionLeases }, tables]) =>
      new TableCreateConnectionLeases(
        tables.openTable(infra.config.tableStorage, infra.config.tables.tenants, infra.appCredential),
      ),
  );
  return leasesPromise;
}

/** The connection use cases, logging to the invocation's logger and recording `actor` on every change. */
export async function connectionUseCases(
  logger: Logger,
  actor: ConnectionActor,
): Promise<ConnectionUseCases> {
  const infra = await infrastructure();
  const [{ ConnectionUseCases }, provisioner, leases] = await Promise.all([
    import('./domain/connection'),
    workspaceProvisioner(infra),
    createConnectionLeases(infra),
  ]);
  return new ConnectionUseCases({
    connections: infra.connections,
    leases,
    parked: infra.parked,
    provisioner,
    ingestion: infra.ingestion,
    clock: infra.clock,
    logger,
    actor,
    healthChanges: {
      recordChange: async (...args) => {
        const { heartbeat } = await import('./exportHealthComposition');
        await (await heartbeat(logger)).recordChange(...args);
      },
    },
    settings: {
      timeoutMs: infra.config.connection.timeoutMs,
      propagationWindowMs: infra.config.connection.propagationWindowMs,
    },
  });
}

/** The timer's upgrade of saved connections to the current table schema version. */
export async function schemaUpgrades(logger: Logger): Promise<SchemaUpgrades> {
  const infra = await infrastructure();
  const [{ SchemaUpgrades }, provisioner] = await Promise.all([
    import('./domain/schemaUpgrade'),
    workspaceProvisioner(infra),
  ]);
  return new SchemaUpgrades({
    connections: infra.connections,
    provisioner,
    clock: infra.clock,
    logger,
    settings: { timeoutMs: infra.config.connection.timeoutMs },
  });
}

let authenticatorPromise: Promise<ApiAuthenticator> | undefined;

/** Bearer-token validation of every HTTP route; one instance keeps the JWKS cache. */
export function apiAuthenticator(): Promise<ApiAuthenticator> {
  authenticatorPromise ??= Promise.all([import('./config'), import('./http/auth')])
    .then(([{ getConfig }, { ApiAuthenticator }]) => new ApiAuthenticator(getConfig().api))
    .catch((error: unknown) => {
      authenticatorPromise = undefined;
      throw error;
    });
  return authenticatorPromise;
}

export interface ForwarderUseCases {
  forwarder: Forwarder;
  /** The audit queue: scheduled retries and replays of parked events. */
  queue: ServiceBusAuditQueue;
  /** Listing and replaying a tenant's parked events. */
  parkedEvents: ParkedEvents;
}

let forwarderPromise: Promise<ForwarderUseCases> | undefined;

/** The forwarder, built once per process so its connection cache and SDK clients live across invocations. */
export function forwarderUseCases(): Promise<ForwarderUseCases> {
  forwarderPromise ??= buildForwarderUseCases().catch((error: unknown) => {
    forwarderPromise = undefined;
    throw error;
  });
  return forwarderPromise;
}

async function buildForwarderUseCases(): Promise<ForwarderUseCases> {
  const infra = await infrastructure();
  const [
    { Forwarder },
    { ParkedEvents },
    { ServiceBusAuditQueue },
    { UploadCoalescer },
    exportHealth,
    { TableSharedPauseStore },
    tables,
  ] = await Promise.all([
    import('./domain/forwarder'),
    import('./domain/parkedEvents'),
    import('./adapters/serviceBusAuditQueue'),
    import('./domain/uploadCoalescer'),
    import('./exportHealthComposition'),
    import('./adapters/sharedPauseStore'),
    import('./adapters/tableStorage'),
  ]);
  const queue = new ServiceBusAuditQueue(infra.config.serviceBus, infra.appCredential);
  // Built once per process, outside any invocation: its health-row failures go to the host's console log.
  const processLogger: Logger = {
    info: () => undefined,
    warn: (message, fields) => console.warn(message, fields ?? {}),
    error: (message, fields) => console.error(message, fields ?? {}),
  };
  const forwarder = new Forwarder(
    {
      connections: infra.connections,
      parked: infra.parked,
      // Shared by every batch this process runs at once, so their rows for one tenant and table can share requests.
      ingestion: new UploadCoalescer(infra.ingestion, undefined, infra.config.forwarder.shareWaitMs),
      queue,
      clock: infra.clock,
      deliveries: await exportHealth.deliveryRecords(),
      healthChanges: {
        recordChange: async (...args) => (await exportHealth.heartbeat(processLogger)).recordChange(...args),
      },
      // Throttled or failing workspaces are paused for every instance, next to the connections.
      sharedPauses: {
        store: new TableSharedPauseStore(
          tables.openTable(infra.config.tableStorage, infra.config.tables.tenants, infra.appCredential),
        ),
        instanceId: randomUUID(),
        // Both lines matter to an operator (lost and regained sharing): warnings, so they are kept.
        logger: {
          warn: processLogger.warn.bind(processLogger),
          info: processLogger.warn.bind(processLogger),
        },
      },
    },
    {
      ...infra.config.forwarder,
      propagationWindowMs: infra.config.connection.propagationWindowMs,
      tenantCache: infra.config.tenantCache,
    },
  );
  const parkedEvents = new ParkedEvents({
    parked: infra.parked,
    connections: infra.connections,
    queue,
    clock: infra.clock,
    healthChanges: {
      recorder: {
        recordChange: async (...args) => (await exportHealth.heartbeat(processLogger)).recordChange(...args),
      },
      logger: processLogger,
    },
  });
  return { forwarder, queue, parkedEvents };
}

/** Tests and the sandbox change settings between runs; this forgets everything built. */
export function resetCompositionForTests(): void {
  infrastructurePromise = undefined;
  provisionerPromise = undefined;
  leasesPromise = undefined;
  authenticatorPromise = undefined;
  const forwarder = forwarderPromise;
  forwarderPromise = undefined;
  // The Service Bus connection of a forgotten forwarder would otherwise stay open.
  void forwarder?.then((built) => built.queue.close()).catch(() => undefined);
}
