import type { TokenCredential } from '@azure/identity';
import type { CustomerCredentials } from './adapters/customerCredentials';
import type { Config } from './config';
import type { Forwarder } from './domain/forwarder';
import type { ParkedEvents } from './domain/parkedEvents';
import type { Clock, IngestionSink, ParkedEventStore, TenantConnectionStore } from './domain/ports';
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
    ingestion: new sink.LogsIngestionSink(customerCredentials, config.cloud.logsIngestionAudience),
    connections: new store.TableTenantConnectionStore(
      tables.openTable(config.tableStorage, config.tables.tenants, getAppCredential),
    ),
    parked: new parked.TableParkedEventStore(
      tables.openTable(config.tableStorage, config.tables.parked, getAppCredential),
    ),
  };
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
  const [{ Forwarder }, { ParkedEvents }, { ServiceBusAuditQueue }] = await Promise.all([
    import('./domain/forwarder'),
    import('./domain/parkedEvents'),
    import('./adapters/serviceBusAuditQueue'),
  ]);
  const queue = new ServiceBusAuditQueue(infra.config.serviceBus, infra.appCredential);
  const forwarder = new Forwarder(
    {
      connections: infra.connections,
      parked: infra.parked,
      ingestion: infra.ingestion,
      queue,
      clock: infra.clock,
    },
    { ...infra.config.forwarder, propagationWindowMs: infra.config.connection.propagationWindowMs },
  );
  const parkedEvents = new ParkedEvents({ parked: infra.parked, connections: infra.connections, queue });
  return { forwarder, queue, parkedEvents };
}

/** Tests and the sandbox change settings between runs; this forgets everything built. */
export function resetCompositionForTests(): void {
  infrastructurePromise = undefined;
  const forwarder = forwarderPromise;
  forwarderPromise = undefined;
  // The Service Bus connection of a forgotten forwarder would otherwise stay open.
  void forwarder?.then((built) => built.queue.close()).catch(() => undefined);
}
