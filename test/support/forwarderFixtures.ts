import { randomUUID } from 'node:crypto';
import { Forwarder, type ReceivedAuditMessage } from '../../src/domain/forwarder';
import { CA_TABLE, CERTIFICATE_TABLE, TABLE_SCHEMA_VERSION } from '../../src/domain/tableSchema';
import type { ConnectionState, ConnectionTarget, TenantConnection } from '../../src/domain/tenantConnection';
import type { ForwarderSettings } from '../../src/domain/forwarder';
import type { ParkCategory, ParkedEvent } from '../../src/domain/ports';
import { newParkedId } from '../../src/domain/parkedIds';
import { FakeIngestionSink } from './fakeIngestion';
import {
  CapturingLogger,
  FakeClock,
  InMemoryParkedEventStore,
  InMemoryTenantConnectionStore,
  RecordingAuditQueue,
} from './fakes';

/** Test data for the forwarder: v1 audit events, their queue messages, and saved connections. */

export interface AuditEventBody {
  schemaVersion: '1';
  id: string;
  tenantId: string;
  eventId: number;
  time: string;
  outcome: 'Success' | 'Denied' | 'Failure';
  message: string;
  actor?: { upn?: string; ipAddress?: string };
  ca?: { id: string; name?: string };
  certificate?: { serialNumber?: string; subject?: string };
  details?: Record<string, unknown>;
}

/** A certificate event (table EZCA_Certificates_CL) unless a CA event ID is given. */
export function auditEvent(tenantId: string, overrides: Partial<AuditEventBody> = {}): AuditEventBody {
  const eventId = overrides.eventId ?? 4887;
  const isCaEvent = [4882, 92, 23, 19, 28, 22, 12].includes(eventId);
  return {
    schemaVersion: '1',
    id: randomUUID(),
    tenantId,
    eventId,
    time: '2026-11-24T11:59:00.000Z',
    outcome: 'Success',
    message: 'Certificate issued for web01.contoso.com',
    actor: { upn: 'alice@contoso.com', ipAddress: '203.0.113.7' },
    ...(isCaEvent ? { ca: { id: 'ca-1', name: 'Contoso Issuing CA' } } : {}),
    ...overrides,
  };
}

/**
 * The message as the trigger hands it over: JSON bodies already parsed by the
 * Functions library (it JSON-parses string bodies when it can), metadata aligned.
 * Without properties, the body's tenantId is the tenantId property, as the producer sets it.
 */
export function received(
  body: unknown,
  properties?: Record<string, unknown>,
  messageId?: string,
): ReceivedAuditMessage {
  const event =
    typeof body === 'object' && body !== null ? (body as { id?: unknown; tenantId?: unknown }) : {};
  return {
    body,
    messageId: messageId ?? (typeof event.id === 'string' ? event.id : randomUUID()),
    applicationProperties: {
      ...(event.tenantId !== undefined ? { tenantId: event.tenantId } : {}),
      ...properties,
    },
    deliveryCount: 1,
    sequenceNumber: undefined,
    enqueuedAt: undefined,
  };
}

export function targetFor(tenantId: string, provisionedAt = '2026-10-01T00:00:00.000Z'): ConnectionTarget {
  const short = tenantId.slice(0, 8);
  return {
    workspaceResourceId: `/subscriptions/${tenantId}/resourceGroups/rg-${short}/providers/Microsoft.OperationalInsights/workspaces/ws-${short}`,
    location: 'eastus',
    dataCollectionRuleId: `/subscriptions/${tenantId}/resourceGroups/rg-${short}/providers/Microsoft.Insights/dataCollectionRules/dcr-${short}`,
    dataCollectionRuleImmutableId: `dcr-${tenantId.replace(/-/g, '')}`,
    logsIngestionEndpoint: `https://dcr-${short}.eastus-1.ingest.monitor.azure.com`,
    streams: { [CA_TABLE]: `Custom-${CA_TABLE}`, [CERTIFICATE_TABLE]: `Custom-${CERTIFICATE_TABLE}` },
    provisionedAt,
    schemaVersion: TABLE_SCHEMA_VERSION,
  };
}

export function savedConnection(
  tenantId: string,
  options: { state?: ConnectionState; provisionedAt?: string; stateReason?: string } = {},
): TenantConnection {
  const at = '2026-10-01T00:00:00.000Z';
  const target = targetFor(tenantId, options.provisionedAt);
  return {
    tenantId,
    state: options.state ?? 'active',
    stateReason: options.stateReason ?? 'Saved by the portal',
    stateChangedAt: at,
    saved: target,
    createdAt: at,
    updatedAt: at,
  };
}

/** Production defaults, in milliseconds: the unit tests' forwarder settings unless a test says otherwise. */
export const FORWARDER_TEST_SETTINGS: ForwarderSettings = {
  maxConcurrentUploads: 4,
  timeBudgetMs: 10_000,
  uploadTimeoutMs: 30_000,
  connectionCacheMs: 30_000,
  propagationWindowMs: 30 * 60_000,
  retryBudgetMs: 168 * 3_600_000,
  retryBaseDelayMs: 30_000,
  retryMaxDelayMs: 3_600_000,
};

/** A parked event as the forwarder would have stored it for `tenantId`, in `category`. */
export function parkedEntry(
  tenantId: string,
  category: ParkCategory,
  history: ParkedEvent['history'] = [],
): ParkedEvent {
  const event = auditEvent(tenantId);
  const parkedAt = new Date().toISOString();
  return {
    tenantId,
    parkedId: newParkedId(parkedAt),
    messageId: event.id,
    eventRecordId: event.id,
    eventId: event.eventId,
    category,
    reason: `Parked for the test (${category})`,
    body: JSON.stringify(event),
    attempts: history.length + 1,
    firstAttemptAt: parkedAt,
    parkedAt,
    history,
  };
}

/** The forwarder's dependencies as fakes, fresh for each test. */
export interface ForwarderFakes {
  clock: FakeClock;
  connections: InMemoryTenantConnectionStore;
  parked: InMemoryParkedEventStore;
  sink: FakeIngestionSink;
  queue: RecordingAuditQueue;
  logger: CapturingLogger;
}

export function forwarderFakes(): ForwarderFakes {
  return {
    clock: new FakeClock(),
    connections: new InMemoryTenantConnectionStore(),
    parked: new InMemoryParkedEventStore(),
    sink: new FakeIngestionSink(),
    queue: new RecordingAuditQueue(),
    logger: new CapturingLogger(),
  };
}

/** A forwarder over the fakes, with the test settings unless a test says otherwise; jitter pinned. */
export function forwarderOver(
  fakes: Omit<ForwarderFakes, 'logger'>,
  settings: Partial<ForwarderSettings> = {},
  random = () => 1,
): Forwarder {
  const { connections, parked, sink, queue, clock } = fakes;
  return new Forwarder(
    { connections, parked, ingestion: sink, queue, clock, random },
    { ...FORWARDER_TEST_SETTINGS, ...settings },
  );
}
