import { app, trigger, type InvocationContext } from '@azure/functions';
import { ClientSecretCredential } from '@azure/identity';
import { LogsIngestionClient } from '@azure/monitor-ingestion';
import type * as EventContractModule from '../src/domain/eventContract';
import type * as RowMapperModule from '../src/domain/rowMapper';
import type { BenchTenant } from './figures';

/**
 * The forwarder a competent engineer writes from Microsoft's samples (the
 * Logs Ingestion API's "send data" sample and the Service Bus trigger's), to
 * compare ours with: per batch, take the events apart (the same validation
 * and row mapping as ours, so the difference is in the delivery), group them
 * by tenant and table, `LogsIngestionClient.upload` each group with the SDK's
 * defaults (its own chunking, gzip, retries and concurrency), all groups at
 * once, and complete the batch; any failed upload fails the invocation and
 * the host delivers the whole batch again. One credential and one client per
 * tenant, kept for the life of the process.
 *
 * It is generous to itself: the tenants' DCRs come from the world file, not
 * from Table Storage, and it does nothing for throttling, outages, parking or
 * duplicates.
 */

export interface StraightforwardOptions {
  functionName: string;
  tenants: readonly BenchTenant[];
  clientId: string;
  clientSecret: string;
  authorityHost: string;
  eventContract: typeof EventContractModule;
  rowMapper: typeof RowMapperModule;
}

export function registerStraightforward(options: StraightforwardOptions): void {
  const byTenant = new Map(options.tenants.map((tenant) => [tenant.tenantId, tenant]));
  const clients = new Map<string, LogsIngestionClient>();
  const clientFor = (tenant: BenchTenant): LogsIngestionClient => {
    let client = clients.get(tenant.tenantId);
    if (!client) {
      const credential = new ClientSecretCredential(tenant.tenantId, options.clientId, options.clientSecret, {
        authorityHost: options.authorityHost,
        // The stand-in is not a known cloud; ours sets the same (AZURE_DISABLE_INSTANCE_DISCOVERY).
        disableInstanceDiscovery: true,
      });
      client = new LogsIngestionClient(tenant.endpoint, credential);
      clients.set(tenant.tenantId, client);
    }
    return client;
  };

  const handler = async (messages: unknown, context: InvocationContext): Promise<void> => {
    const groups = new Map<
      string,
      { tenant: BenchTenant; stream: string; rows: Array<Record<string, unknown>> }
    >();
    for (const message of messages as unknown[]) {
      const validation = options.eventContract.parseEventMessage(message);
      if (!validation.ok) {
        context.warn('invalid event skipped');
        continue;
      }
      const tenant = byTenant.get(validation.event.tenantId);
      if (!tenant) {
        context.warn('event for an unknown tenant skipped');
        continue;
      }
      const { table, row } = options.rowMapper.eventToRow(validation.event);
      const stream = tenant.streams[table];
      if (!stream) throw new Error(`tenant ${tenant.tenantId} has no stream for ${table}`);
      const key = `${tenant.tenantId}|${table}`;
      const group = groups.get(key) ?? { tenant, stream, rows: [] };
      group.rows.push(row);
      groups.set(key, group);
    }
    await Promise.all(
      [...groups.values()].map((group) =>
        clientFor(group.tenant).upload(group.tenant.dcrImmutableId, group.stream, group.rows),
      ),
    );
  };

  app.generic(options.functionName, {
    // The same trigger declaration as forwardAuditEvents, so both pay the same invocation model.
    trigger: trigger.generic({
      type: 'serviceBusTrigger',
      connection: 'ServiceBusConnection',
      queueName: '%AUDIT_QUEUE_NAME%',
      cardinality: 'many',
      dataType: 'binary',
    }),
    handler,
  });
}
