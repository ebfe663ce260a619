import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { app, trigger } from '@azure/functions';
import pLimit from 'p-limit';
import { AzureStandInAdmin } from '../test/support/azureStandIn';
import {
  installFunctionsCore,
  invokeServiceBusBatch,
  type ServiceBusTestMessage,
  startFunctionApp,
} from '../test/support/functionsHost';
import type * as CredentialsModule from '../src/adapters/customerCredentials';
import type * as SinkModule from '../src/adapters/logsIngestionSink';
import type * as ConfigModuleValue from '../src/config';
import type * as EventContractModule from '../src/domain/eventContract';
import type * as ChunksModule from '../src/domain/ingestionChunks';
import type * as RowMapperModule from '../src/domain/rowMapper';
import type { BenchWorld } from './services';

/**
 * The measured process: the BUILT function app (dist/) driven through the
 * Functions library's invocation model by the host stand-in, uploading with
 * the real LogsIngestionClient over HTTPS to the Azure stand-in, which runs
 * in the services process with Azurite and the Service Bus stand-in. Prints
 * one JSON line per figure on stdout.
 *
 * Batches go in as the host sends them: `maxMessageBatchSize` messages each,
 * up to `maxConcurrentCalls` invocations at a time (both from host.json).
 */

const EVENTS = 20_000;
const NAIVE_SAMPLE = 1_000;
// Bundled into a temporary file by bench/run.ts, so the root comes from there.
const ROOT = process.env.BENCH_ROOT ?? path.resolve(__dirname, '..');
const FLOOR_RUNS = 5;

type EventContract = typeof EventContractModule;
type RowMapper = typeof RowMapperModule;
type Chunks = typeof ChunksModule;
type Sink = typeof SinkModule;
type Credentials = typeof CredentialsModule;
type ConfigModule = typeof ConfigModuleValue;
type Tenant = BenchWorld['tenants'][number];

/** The built app's own modules, so the figures are about the code that ships. */
function dist<T>(relative: string): T {
  // A computed path: the bundler must leave it to Node, which loads the tsc output in dist/.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(ROOT, 'dist', relative)) as T;
}

function figure(name: string, value: number): void {
  process.stdout.write(`${JSON.stringify({ figure: name, value: Math.round(value * 10) / 10 })}\n`);
}

function note(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}

function hostSettings(): { batchSize: number; concurrentCalls: number } {
  const host = JSON.parse(readFileSync(path.join(ROOT, 'host.json'), 'utf8')) as {
    extensions?: { serviceBus?: { maxMessageBatchSize?: number; maxConcurrentCalls?: number } };
  };
  const serviceBus = host.extensions?.serviceBus ?? {};
  return {
    batchSize: serviceBus.maxMessageBatchSize ?? 1000,
    concurrentCalls: serviceBus.maxConcurrentCalls ?? 16,
  };
}

/** A realistic v1 event: actor, certificate, details; CA and certificate events mixed. */
function eventText(tenantId: string, index: number): string {
  const caEvent = index % 4 === 0;
  return JSON.stringify({
    schemaVersion: '1',
    id: randomUUID(),
    tenantId,
    eventId: caEvent ? 22 : 4887,
    time: new Date(Date.now() - 60_000).toISOString(),
    outcome: 'Success',
    message: `Certificate ${index} issued for host${index}.contoso.com by template WebServer`,
    actor: { upn: `operator${index % 17}@contoso.com`, ipAddress: '203.0.113.7' },
    ...(caEvent ? { ca: { id: 'ca-issuing-01', name: 'Contoso Issuing CA 01' } } : {}),
    certificate: {
      serialNumber: (0x1000000 + index).toString(16).toUpperCase(),
      subject: `CN=host${index}.contoso.com`,
      template: 'WebServer',
    },
    details: { requestId: index, validityDays: 365 },
  });
}

function messagesFor(tenants: readonly Tenant[], count: number, offset: number): ServiceBusTestMessage[] {
  return Array.from({ length: count }, (_, index) => {
    const tenant = tenants[(offset + index) % tenants.length] as Tenant;
    const body = eventText(tenant.tenantId, offset + index);
    const { id, eventId } = JSON.parse(body) as { id: string; eventId: number };
    return {
      body,
      messageId: id,
      contentType: 'application/json',
      applicationProperties: { tenantId: tenant.tenantId, eventId, schemaVersion: '1' },
    };
  });
}

/** Validating, mapping, serializing and gzipping the same events in-process, cut per tenant and table. */
function floorRate(messages: readonly ServiceBusTestMessage[]): number {
  const { parseEventMessage } = dist<EventContract>('domain/eventContract.js');
  const { eventToRow } = dist<RowMapper>('domain/rowMapper.js');
  const { chunkBySize, rowBytes } = dist<Chunks>('domain/ingestionChunks.js');
  const started = performance.now();
  const groups = new Map<string, Array<Record<string, unknown>>>();
  for (const message of messages) {
    const validation = parseEventMessage(message.body);
    if (!validation.ok) throw new Error('a benchmark event is invalid');
    const { table, row } = eventToRow(validation.event);
    const key = `${validation.event.tenantId}|${table}`;
    const list = groups.get(key) ?? [];
    list.push(row);
    groups.set(key, list);
  }
  let bytes = 0;
  for (const rows of groups.values()) {
    for (const chunk of chunkBySize(rows, rowBytes)) bytes += gzipSync(JSON.stringify(chunk)).length;
  }
  if (bytes === 0) throw new Error('nothing was serialized');
  return messages.length / ((performance.now() - started) / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function main(): Promise<void> {
  const world = JSON.parse(process.env.BENCH_WORLD ?? '') as BenchWorld;
  Object.assign(process.env, world.settings);
  installFunctionsCore();
  const host = hostSettings();
  const batchSize = host.batchSize;
  const concurrentCalls = Number(process.env.BENCH_CONCURRENT_CALLS ?? host.concurrentCalls);
  const { tenants } = world;

  // A handler that does nothing, on the same trigger: what the invocation model alone costs (reported on stderr).
  app.generic('benchNoop', {
    trigger: trigger.generic({
      type: 'serviceBusTrigger',
      connection: 'ServiceBusConnection',
      queueName: '%AUDIT_QUEUE_NAME%',
      cardinality: 'many',
      dataType: 'binary',
    }),
    handler: () => Promise.resolve(),
  });
  await startFunctionApp({
    entryPoints: ['dist/functions/forwardAuditEvents.js'],
    functionAppDirectory: ROOT,
  });
  const forward = async (batch: ServiceBusTestMessage[]): Promise<void> => {
    const result = await invokeServiceBusBatch('forwardAuditEvents', batch);
    const line = result.logs.find((entry) => entry.message.startsWith('forwarder: batch settled'))?.message;
    if (result.outcome !== 'completed' || !line?.includes(`"delivered":${batch.length},`)) {
      throw new Error(`a benchmark batch was not delivered in full: ${line ?? result.outcome}`);
    }
  };

  // Warm-up, not measured: modules loaded, one token per tenant, connections read and cached.
  await forward(messagesFor(tenants, tenants.length, 0));

  const measured = messagesFor(tenants, EVENTS, tenants.length);
  note(
    `pipeline: ${EVENTS} events over ${tenants.length} tenants, batches of ${batchSize}, ${concurrentCalls} invocations at a time`,
  );
  if (process.env.BENCH_PROFILE_MARKS) note(`mark pipeline-start ${process.hrtime.bigint() / 1000n}`);
  const limit = pLimit(concurrentCalls);
  const batches: ServiceBusTestMessage[][] = [];
  for (let offset = 0; offset < measured.length; offset += batchSize) {
    batches.push(measured.slice(offset, offset + batchSize));
  }
  const started = performance.now();
  await Promise.all(batches.map((batch) => limit(() => forward(batch))));
  const pipelineRate = EVENTS / ((performance.now() - started) / 1000);
  if (process.env.BENCH_PROFILE_MARKS) note(`mark pipeline-end ${process.hrtime.bigint() / 1000n}`);
  const peakRssMb = process.resourceUsage().maxRSS / 1024;

  const noopStarted = performance.now();
  await Promise.all(batches.map((batch) => limit(() => invokeServiceBusBatch('benchNoop', batch))));
  const noopRate = EVENTS / ((performance.now() - noopStarted) / 1000);
  note(
    `the invocation model alone (same batches, a handler that does nothing): ${Math.round(noopRate)} events/s`,
  );

  const azure = new AzureStandInAdmin(world.azureStandInUrl);
  const expected = new Set(measured.map((message) => message.messageId));
  let landed = 0;
  for (const tenant of tenants) {
    for (const table of Object.keys(tenant.streams)) {
      for (const row of await azure.rows({ workspaceId: tenant.workspaceId, table })) {
        if (expected.has(String(row.row.EventRecordId_g))) landed += 1;
      }
    }
  }
  if (landed !== EVENTS) throw new Error(`${landed} of ${EVENTS} rows reached the workspaces`);
  figure('pipeline_events_per_s', pipelineRate);
  figure('peak_rss_mb', peakRssMb);

  note(`floor: validate, map, serialize, gzip in-process (median of ${FLOOR_RUNS})`);
  floorRate(measured); // JIT warm-up
  figure('floor_events_per_s', median(Array.from({ length: FLOOR_RUNS }, () => floorRate(measured))));

  note(`naive: one upload per event, one after the other, ${NAIVE_SAMPLE} events`);
  const { LogsIngestionSink } = dist<Sink>('adapters/logsIngestionSink.js');
  const { CustomerCredentials } = dist<Credentials>('adapters/customerCredentials.js');
  const { getConfig } = dist<ConfigModule>('config.js');
  const { parseEventMessage } = dist<EventContract>('domain/eventContract.js');
  const { eventToRow } = dist<RowMapper>('domain/rowMapper.js');
  const config = getConfig();
  const sink = new LogsIngestionSink(new CustomerCredentials(config), config.cloud.logsIngestionAudience);
  const byTenant = new Map(tenants.map((tenant) => [tenant.tenantId, tenant]));
  const uploadOne = async (message: ServiceBusTestMessage): Promise<void> => {
    const validation = parseEventMessage(message.body);
    if (!validation.ok) throw new Error('a benchmark event is invalid');
    const { table, row } = eventToRow(validation.event);
    const tenant = byTenant.get(validation.event.tenantId);
    if (!tenant) throw new Error('unknown tenant');
    const target = {
      logsIngestionEndpoint: tenant.endpoint,
      dataCollectionRuleImmutableId: tenant.dcrImmutableId,
    };
    await sink.upload(tenant.tenantId, target, tenant.streams[table] ?? '', [row]);
  };
  const naive = messagesFor(tenants, NAIVE_SAMPLE + tenants.length, tenants.length + EVENTS);
  for (const message of naive.slice(0, tenants.length)) await uploadOne(message); // a token per tenant
  const naiveStarted = performance.now();
  for (const message of naive.slice(tenants.length)) await uploadOne(message);
  figure('naive_events_per_s', NAIVE_SAMPLE / ((performance.now() - naiveStarted) / 1000));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
