import { randomUUID } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import type { ClientRequest } from 'node:http';
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
import { median, percentile, readWorld, type BenchTenant, type BenchWorld } from './figures';
import { registerStraightforward } from './straightforward';

/**
 * The measured process: the BUILT function app (dist/) driven through the
 * Functions library's invocation model by the host stand-in, uploading with
 * the real LogsIngestionClient over HTTPS to the Azure stand-in, which runs
 * in the services process with Azurite and the Service Bus stand-in. Prints
 * one JSON line per figure on stdout.
 *
 * `node pipeline.js <scenario> <tenants> <suffix> [extra]`, the world read from
 * BENCH_WORLD_FILE (its first <tenants> tenants are used), every figure's name
 * ending in <suffix> (e.g. `_1000_tenants`):
 * - `compare`: ours, the straightforward forwarder (straightforward.ts) and a
 *   no-op handler on the same batches, through the same trigger, in rounds;
 *   requests per 1,000 events; with extra `full` also the floor, naive and
 *   isolation.
 * - `rss`: ours alone; peak RSS.
 * BENCH_RUN_EVENTS events each.
 *
 * Batches go in as the host sends them: `maxMessageBatchSize` messages each,
 * up to `maxConcurrentCalls` invocations at a time (both from host.json).
 */

// Set per run by bench/run.ts.
const EVENTS = Number(process.env.BENCH_RUN_EVENTS ?? 20_000);
const NAIVE_SAMPLE = 1_000;
const ISOLATION_BATCHES = 12;
const ROUNDS = 4;
// Bundled into a temporary file by bench/run.ts, so the root comes from there.
const ROOT = process.env.BENCH_ROOT ?? path.resolve(__dirname, '..');
const FLOOR_RUNS = 5;

type EventContract = typeof EventContractModule;
type RowMapper = typeof RowMapperModule;
type Chunks = typeof ChunksModule;
type Sink = typeof SinkModule;
type Credentials = typeof CredentialsModule;
type ConfigModule = typeof ConfigModuleValue;

/** The built app's own modules, so the figures are about the code that ships. */
function dist<T>(relative: string): T {
  // A computed path: the bundler must leave it to Node, which loads the tsc output in dist/.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(ROOT, 'dist', relative)) as T;
}

let suffix = '';

function figure(name: string, value: number): void {
  process.stdout.write(
    `${JSON.stringify({ figure: `${name}${suffix}`, value: Math.round(value * 10) / 10 })}\n`,
  );
}

function note(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}

/** Requests as sent: Logs Ingestion uploads (retries included), Entra tokens, Table Storage. */
const requests = { uploads: 0, tokens: 0, tables: 0 };
subscribe('http.client.request.start', (message) => {
  const { request } = message as { request: ClientRequest };
  if (request.path.includes('/streams/')) requests.uploads += 1;
  else if (request.path.includes('/oauth2/v2.0/token')) requests.tokens += 1;
  // Azurite's path-style account: connection reads, delivery records (export health), parks.
  else if (request.path.startsWith('/devstoreaccount1/')) requests.tables += 1;
});

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

/** Events spread over the tenants round-robin, so a batch touches min(batch size, tenants) tenants. */
function messagesFor(
  tenants: readonly BenchTenant[],
  count: number,
  offset: number,
): ServiceBusTestMessage[] {
  return Array.from({ length: count }, (_, index) => {
    const tenant = tenants[(offset + index) % tenants.length] as BenchTenant;
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

function batchesOf<T>(items: readonly T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let offset = 0; offset < items.length; offset += size)
    batches.push(items.slice(offset, offset + size));
  return batches;
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

/**
 * Ours: the invocation completed; returns how many events the batch line says were delivered (the
 * rest were re-enqueued, e.g. after a reset connection on this loaded machine, and are not counted).
 */
async function forward(batch: ServiceBusTestMessage[]): Promise<number> {
  const result = await invokeServiceBusBatch('forwardAuditEvents', batch);
  const line = result.logs.find((entry) => entry.message.startsWith('forwarder: batch settled'))?.message;
  const counts = line
    ? (JSON.parse(line.slice(line.indexOf('{'))) as { delivered: number; retried: number; parked: number })
    : undefined;
  if (result.outcome !== 'completed' || !counts || counts.parked > 0) {
    throw new Error(
      `a benchmark batch failed: ${line ?? (result.outcome === 'failed' ? String(result.error) : 'no batch line')}`,
    );
  }
  if (counts.delivered < batch.length) {
    const outcome = result.logs.find((entry) =>
      entry.message.startsWith('forwarder: tenant outcome'),
    )?.message;
    note(
      `${batch.length - counts.delivered} of ${batch.length} events re-enqueued, not counted; first: ${outcome ?? '?'}`,
    );
  }
  return counts.delivered;
}

/** The straightforward forwarder or the no-op handler: a failed invocation delivers nothing (the host redelivers it all). */
async function invokeCompleted(functionName: string, batch: ServiceBusTestMessage[]): Promise<number> {
  const result = await invokeServiceBusBatch(functionName, batch);
  if (result.outcome !== 'completed') {
    note(`${functionName} failed a batch of ${batch.length}, not counted: ${String(result.error)}`);
    return 0;
  }
  return batch.length;
}

interface Run {
  delivered: number;
  eventsPerS: number;
  requestsPer1000: number;
  tableRequests: number;
}

/** The batches through one function, `concurrentCalls` at a time; events delivered per second, Logs Ingestion requests per 1,000 events. */
async function measure(
  batches: readonly ServiceBusTestMessage[][],
  concurrentCalls: number,
  invoke: (batch: ServiceBusTestMessage[]) => Promise<number>,
): Promise<Run> {
  const events = batches.reduce((sum, batch) => sum + batch.length, 0);
  const limit = pLimit(concurrentCalls);
  const uploadsBefore = requests.uploads;
  const tablesBefore = requests.tables;
  const started = performance.now();
  const delivered = await Promise.all(batches.map((batch) => limit(() => invoke(batch))));
  const deliveredCount = delivered.reduce((sum, count) => sum + count, 0);
  const eventsPerS = deliveredCount / ((performance.now() - started) / 1000);
  return {
    delivered: deliveredCount,
    tableRequests: requests.tables - tablesBefore,
    eventsPerS,
    requestsPer1000: ((requests.uploads - uploadsBefore) * 1000) / events,
  };
}

/**
 * Healthy tenants' time from their batch's start to their rows landing (the
 * stand-in's receive time of the last row of that tenant and batch), over
 * every batch and healthy tenant; p95.
 */
async function isolationP95(
  azure: AzureStandInAdmin,
  tenants: readonly BenchTenant[],
  healthy: readonly BenchTenant[],
  batches: readonly ServiceBusTestMessage[][],
  concurrentCalls: number,
): Promise<number> {
  const batchOf = new Map<string, number>();
  batches.forEach((batch, index) => {
    for (const message of batch) batchOf.set(message.messageId, index);
  });
  const startedAt: number[] = [];
  const limit = pLimit(concurrentCalls);
  await Promise.all(
    batches.map((batch, index) =>
      limit(async () => {
        startedAt[index] = Date.now();
        const result = await invokeServiceBusBatch('forwardAuditEvents', batch);
        if (result.outcome !== 'completed')
          throw new Error(`an isolation batch failed: ${String(result.error)}`);
      }),
    ),
  );
  const done = new Map<string, number>();
  for (const tenant of healthy) {
    for (const table of Object.keys(tenant.streams)) {
      for (const recorded of await azure.rows({ workspaceId: tenant.workspaceId, table })) {
        const batch = batchOf.get(String(recorded.row.EventRecordId_g));
        if (batch === undefined) continue;
        const key = `${tenant.tenantId}|${batch}`;
        done.set(key, Math.max(done.get(key) ?? 0, Date.parse(recorded.receivedAt)));
      }
    }
  }
  const healthyIds = new Set(healthy.map((tenant) => tenant.tenantId));
  const latencies: number[] = [];
  let missing = 0;
  batches.forEach((batch, index) => {
    const touched = new Set(
      batch
        .map((message) => String(message.applicationProperties?.tenantId))
        .filter((tenantId) => healthyIds.has(tenantId)),
    );
    for (const tenantId of touched) {
      const landed = done.get(`${tenantId}|${index}`);
      // Nothing landed: re-enqueued (a reset connection, a timeout on this loaded machine); said, not timed.
      if (landed === undefined) missing += 1;
      else latencies.push(landed - (startedAt[index] ?? 0));
    }
  });
  if (missing > latencies.length / 10) throw new Error(`${missing} healthy tenants' batches landed nothing`);
  if (missing > 0)
    note(`isolation: ${missing} healthy tenant-batches re-enqueued rather than delivered, not timed`);
  if (tenants.length < 2) throw new Error('isolation needs two tenants or more');
  return percentile(latencies, 95);
}

const mb = (bytes: number): number => Math.round(bytes / 1024 / 102.4) / 10;

/**
 * For tuning, not the figures: BENCH_MEMORY=1 samples process.memoryUsage() every 250 ms and says on
 * stderr what the sample with the highest RSS held (heap, external, array buffers);
 * BENCH_HEAP_SNAPSHOT_MB=<n> also writes one heap snapshot (into the working directory, or
 * BENCH_HEAP_SNAPSHOT_DIR) the first time RSS passes n MB. Returns what stops the sampling.
 */
function sampleMemory(): () => void {
  const snapshotAtMb = Number(process.env.BENCH_HEAP_SNAPSHOT_MB ?? Number.NaN);
  if (process.env.BENCH_MEMORY !== '1' && !Number.isFinite(snapshotAtMb)) return () => undefined;
  let peak: NodeJS.MemoryUsage | undefined;
  let snapshotTaken = false;
  const started = performance.now();
  let peakAtS = 0;
  // Heap used right after each full GC: about the live heap; the rest of the peak is garbage not yet collected.
  let liveAfterGc = 0;
  let fullGcs = 0;
  const gcs = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind !== perfConstants.NODE_PERFORMANCE_GC_MAJOR) continue;
      fullGcs += 1;
      liveAfterGc = Math.max(liveAfterGc, process.memoryUsage().heapUsed);
    }
  });
  gcs.observe({ entryTypes: ['gc'] });
  const timer = setInterval(() => {
    const usage = process.memoryUsage();
    if (!peak || usage.rss > peak.rss) {
      peak = usage;
      peakAtS = (performance.now() - started) / 1000;
    }
    if (!snapshotTaken && Number.isFinite(snapshotAtMb) && usage.rss > snapshotAtMb * 1024 * 1024) {
      snapshotTaken = true;
      const dir = process.env.BENCH_HEAP_SNAPSHOT_DIR ?? process.cwd();
      const file = writeHeapSnapshot(path.join(dir, `bench-${process.pid}.heapsnapshot`));
      note(`heap snapshot at RSS ${mb(usage.rss)} MB (heap used ${mb(usage.heapUsed)} MB): ${file}`);
    }
  }, 250);
  return () => {
    clearInterval(timer);
    gcs.disconnect();
    note(`${fullGcs} full GCs; highest heap used just after one: ${mb(liveAfterGc)} MB`);
    if (peak)
      note(
        `memory at the highest sampled RSS (${peakAtS.toFixed(1)} s in): rss ${mb(peak.rss)} MB, heap total ${mb(peak.heapTotal)}, heap used ${mb(peak.heapUsed)}, external ${mb(peak.external)}, array buffers ${mb(peak.arrayBuffers)}`,
      );
  };
}

async function main(): Promise<void> {
  const [scenario = 'compare', count = '50', label = '', extra] = process.argv.slice(2);
  const full = scenario === 'compare' && extra === 'full';
  const worldFile = process.env.BENCH_WORLD_FILE;
  if (!worldFile) throw new Error('BENCH_WORLD_FILE is not set');
  const world: BenchWorld = readWorld(worldFile);
  const tenants = world.tenants.slice(0, Number(count));
  if (tenants.length < Number(count))
    throw new Error(`the world holds ${world.tenants.length} tenants, not ${count}`);
  suffix = label;
  Object.assign(process.env, world.settings);
  installFunctionsCore();
  const host = hostSettings();
  const batchSize = host.batchSize;
  const concurrentCalls = Number(process.env.BENCH_CONCURRENT_CALLS ?? host.concurrentCalls);

  // A handler that does nothing, on the same trigger: what the invocation model alone costs.
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
  registerStraightforward({
    functionName: 'benchStraightforward',
    tenants,
    clientId: world.settings.CUSTOMER_APP_CLIENT_ID ?? '',
    clientSecret: world.settings.CUSTOMER_APP_CLIENT_SECRET ?? '',
    authorityHost: world.settings.AZURE_AUTHORITY_HOST ?? '',
    eventContract: dist<EventContract>('domain/eventContract.js'),
    rowMapper: dist<RowMapper>('domain/rowMapper.js'),
  });
  await startFunctionApp({
    entryPoints: ['dist/functions/forwardAuditEvents.js'],
    functionAppDirectory: ROOT,
  });

  if (scenario === 'rss') {
    // Ours alone, as an instance runs. Without a warm-up: at 10,000 tenants, one event each, every
    // tenant is a first sight (token, client, connection read).
    const events = EVENTS;
    const batches = batchesOf(messagesFor(tenants, events, 0), batchSize);
    note(
      `rss: ${events} events over ${tenants.length} tenants, ${batches.length} batches, ${concurrentCalls} at a time`,
    );
    const stopSampling = sampleMemory();
    const run = await measure(batches, concurrentCalls, forward);
    stopSampling();
    note(
      `rss: ${run.delivered} of ${events} delivered (the rest re-enqueued), ${Math.round(run.eventsPerS)} events/s, ${requests.tokens} token requests`,
    );
    figure('peak_rss_mb', process.resourceUsage().maxRSS / 1024);
    return;
  }

  // Warm-up of each, not measured: modules loaded, one token per tenant, connections read and cached.
  const warmUp = batchesOf(messagesFor(tenants, tenants.length, 0), batchSize);
  for (const batch of warmUp) await forward(batch);
  for (const batch of warmUp) await invokeCompleted('benchStraightforward', batch);
  const measured = messagesFor(tenants, EVENTS, tenants.length);
  const batches = batchesOf(measured, batchSize);
  // Each round hands over whole waves of `concurrentCalls` batches at once, as the host does with a
  // backlog (it keeps that many invocations busy). With fewer, a round would run one batch at a
  // time; with a partial wave (5 batches, 4 at a time), its last batch would run mostly alone while
  // the round drains, and a backlog never drains. About ROUNDS rounds, each of whole waves.
  const perRound = concurrentCalls * Math.max(1, Math.round(batches.length / ROUNDS / concurrentCalls));
  const rounds = Math.ceil(batches.length / perRound);
  note(
    `${tenants.length} tenants: ${EVENTS} events, batches of ${batchSize}, ${concurrentCalls} invocations at a time, ${rounds} rounds`,
  );
  // Rounds, each running the same batches through ours, the straightforward one and the no-op in turn
  // (the order rotating), so the machine's load (2 cores shared with other work) hits all alike.
  const contenders = {
    ours: forward,
    straightforward: (batch: ServiceBusTestMessage[]) => invokeCompleted('benchStraightforward', batch),
    noop: (batch: ServiceBusTestMessage[]) => invokeCompleted('benchNoop', batch),
  };
  type Contender = keyof typeof contenders;
  const totals = new Map<
    Contender,
    { delivered: number; seconds: number; uploads: number; tables: number }
  >();
  for (let round = 0; round < rounds; round += 1) {
    const slice = batches.slice(round * perRound, (round + 1) * perRound);
    const names = Object.keys(contenders) as Contender[];
    for (let turn = 0; turn < names.length; turn += 1) {
      const name = names[(round + turn) % names.length] as Contender;
      const run = await measure(slice, concurrentCalls, contenders[name]);
      const total = totals.get(name) ?? { delivered: 0, seconds: 0, uploads: 0, tables: 0 };
      total.tables += run.tableRequests;
      total.delivered += run.delivered;
      total.seconds += run.delivered / run.eventsPerS;
      total.uploads += (run.requestsPer1000 * slice.reduce((sum, batch) => sum + batch.length, 0)) / 1000;
      totals.set(name, total);
    }
  }
  const rate = (name: Contender): number => {
    const total = totals.get(name);
    return total ? total.delivered / total.seconds : Number.NaN;
  };
  const perThousand = (name: Contender): number =>
    ((totals.get(name)?.uploads ?? Number.NaN) * 1000) / EVENTS;
  note(
    `pipeline ${Math.round(rate('ours'))} events/s, ${perThousand('ours').toFixed(1)} requests per 1,000 events; straightforward ${Math.round(rate('straightforward'))}, ${perThousand('straightforward').toFixed(1)}; no-op ${Math.round(rate('noop'))}`,
  );

  const azure = new AzureStandInAdmin(world.azureStandInUrl);
  if (full) {
    // Every event either forwarder delivered has its row: the same events, so two rows each.
    const expected = new Set(measured.map((message) => message.messageId));
    let landed = 0;
    for (const tenant of tenants) {
      for (const table of Object.keys(tenant.streams)) {
        for (const row of await azure.rows({ workspaceId: tenant.workspaceId, table })) {
          if (expected.has(String(row.row.EventRecordId_g))) landed += 1;
        }
      }
    }
    const delivered = (totals.get('ours')?.delivered ?? 0) + (totals.get('straightforward')?.delivered ?? 0);
    if (landed !== delivered)
      throw new Error(`${landed} rows reached the workspaces for ${delivered} deliveries`);
  }

  figure('pipeline_events_per_s', rate('ours'));
  figure('straightforward_events_per_s', rate('straightforward'));
  figure('noop_events_per_s', rate('noop'));
  figure('requests_per_1000_events', perThousand('ours'));
  figure('straightforward_requests_per_1000_events', perThousand('straightforward'));
  // Not a target: what ours sends to Table Storage besides (delivery records for export health, mostly).
  figure('table_requests_per_1000_events', ((totals.get('ours')?.tables ?? Number.NaN) * 1000) / EVENTS);
  if (!full) return;

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

  // Last: the faulty tenant stays paused in this instance afterwards.
  const faulty = tenants[0] as BenchTenant;
  const healthy = tenants.slice(1);
  let offset = tenants.length * 2 + EVENTS + NAIVE_SAMPLE;
  const isolationBatches = (): ServiceBusTestMessage[][] => {
    const messages = messagesFor(tenants, ISOLATION_BATCHES * batchSize, offset);
    offset += messages.length;
    return batchesOf(messages, batchSize);
  };
  note(
    `isolation: ${ISOLATION_BATCHES} batches without faults, then with tenant ${faulty.tenantId} answering 503`,
  );
  const clean = await isolationP95(azure, tenants, healthy, isolationBatches(), concurrentCalls);
  const fault = await azure.injectFault({ face: 'ingestion', tenantId: faulty.tenantId, status: 503 });
  try {
    const faulted = await isolationP95(azure, tenants, healthy, isolationBatches(), concurrentCalls);
    note(
      `isolation: healthy tenants' p95 ${clean} ms without faults, ${faulted} ms with one tenant answering 503`,
    );
    figure('isolation_p95_ratio', Math.round((faulted / clean) * 100) / 100);
  } finally {
    await azure.clearFaults({ id: fault.id });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
