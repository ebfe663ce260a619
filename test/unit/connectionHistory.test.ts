import { beforeEach, describe, expect, it } from 'vitest';
import {
  HISTORY_LIMIT,
  SYSTEM_FORWARDER,
  SYSTEM_TIMER,
  withChange,
  type ConnectionActor,
} from '../../src/domain/connectionHistory';
import { ConnectionUseCases } from '../../src/domain/connection';
import { ParkedEvents } from '../../src/domain/parkedEvents';
import { FakeIngestionSink as ConnectionSink, FakeWorkspaceProvisioner } from '../support/connectionFakes';
import type { FakeIngestionSink } from '../support/fakeIngestion';
import {
  CapturingLogger,
  FakeClock,
  InMemoryParkedEventStore,
  InMemoryTenantConnectionStore,
  RecordingAuditQueue,
} from '../support/fakes';
import {
  auditEvent,
  forwarderFakes,
  forwarderOver,
  received,
  savedConnection,
} from '../support/forwarderFixtures';

/**
 * Issue 13, "who did it": every change to a connection records its actor and time, newest first
 * and bounded, and the state reason names the actor.
 */

const TENANT = '0b6c4a2e-6f4e-4a55-9d61-7d1f0e6b2a10';
const WORKSPACE =
  '/subscriptions/6f1d5b0c-1a2b-4c3d-8e9f-0a1b2c3d4e5f/resourceGroups/rg-siem/providers/Microsoft.OperationalInsights/workspaces/law-sentinel';
const ADMIN: ConnectionActor = {
  kind: 'caller',
  tenantId: TENANT,
  objectId: '7d0c9a1e-3b2f-4c5d-8e6f-1a2b3c4d5e6f',
  appId: '3f1c6c1e-5a6b-4d0e-9b5e-2a9d8c7e6f10',
};
const OPERATOR: ConnectionActor = {
  kind: 'caller',
  tenantId: '5e2a7b3c-1d4f-4a6e-9b8c-0f1e2d3c4b5a',
  objectId: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
  appId: '3f1c6c1e-5a6b-4d0e-9b5e-2a9d8c7e6f10',
};

let store: InMemoryTenantConnectionStore;
let parked: InMemoryParkedEventStore;
let sink: ConnectionSink;
let clock: FakeClock;

beforeEach(() => {
  store = new InMemoryTenantConnectionStore();
  parked = new InMemoryParkedEventStore();
  sink = new ConnectionSink();
  clock = new FakeClock();
});

function useCasesAs(actor: ConnectionActor): ConnectionUseCases {
  return new ConnectionUseCases({
    connections: store,
    parked,
    provisioner: new FakeWorkspaceProvisioner(),
    ingestion: sink,
    clock,
    logger: new CapturingLogger(),
    actor,
    settings: { timeoutMs: 60_000, propagationWindowMs: 30 * 60_000 },
  });
}

const target = { workspaceResourceId: WORKSPACE, location: 'eastus' };

describe('connection history', () => {
  it('records Create Connection, Save and DELETE with their callers, newest first, and GET shows the last', async () => {
    await useCasesAs(ADMIN).createConnection(TENANT, target);
    clock.advance(60_000);
    await useCasesAs(ADMIN).saveSettings(TENANT, target);
    clock.advance(60_000);
    const disabled = await useCasesAs(OPERATOR).disableExport(TENANT);

    const stored = (await store.get(TENANT))?.value;
    expect(stored?.history?.map((change) => [change.action, change.actor, change.state])).toEqual([
      ['disableExport', OPERATOR, 'disabled'],
      ['saveSettings', ADMIN, 'active'],
      ['createConnection', ADMIN, 'tested'],
    ]);
    expect(stored?.history?.[0]?.at).toBe(clock.now().toISOString());
    // The reason says who turned the export off, not "the portal".
    expect(disabled.value.stateReason).toBe(
      `Export turned off. Changed by object ${OPERATOR.objectId} of tenant ${OPERATOR.tenantId} through app ${OPERATOR.appId}.`,
    );
    const settings = await useCasesAs(ADMIN).getSettings(TENANT);
    expect(settings.value.lastChange).toEqual(stored?.history?.[0]);
  });

  it('records the timer finishing a pending test', async () => {
    sink.failWith = 'forbidden';
    await useCasesAs(ADMIN).createConnection(TENANT, target);
    sink.failWith = undefined;
    clock.advance(5 * 60_000);
    await useCasesAs(SYSTEM_TIMER).retestPendingConnections();
    const stored = (await store.get(TENANT))?.value;
    expect(stored?.history?.[0]).toMatchObject({ action: 'retestPending', actor: SYSTEM_TIMER });
    expect(stored?.stateReason).toMatch(/Changed by system:timer\.$/);
  });

  it('keeps the newest changes only', () => {
    let connection = savedConnection(TENANT);
    for (let index = 0; index < HISTORY_LIMIT + 5; index += 1) {
      connection = withChange(connection, {
        at: new Date(Date.UTC(2026, 11, 1, 0, index)).toISOString(),
        action: 'replay',
        actor: ADMIN,
        state: 'active',
        summary: `change ${index}`,
      });
    }
    expect(connection.history).toHaveLength(HISTORY_LIMIT);
    expect(connection.history?.[0]?.summary).toBe(`change ${HISTORY_LIMIT + 4}`);
    expect(connection.history?.at(-1)?.summary).toBe('change 5');
  });

  it('records a replay with its caller', async () => {
    const queue = new RecordingAuditQueue();
    await store.create(savedConnection(TENANT));
    const event = auditEvent(TENANT);
    await parked.park([
      {
        tenantId: TENANT,
        parkedId: 'p-1',
        messageId: event.id,
        eventRecordId: event.id,
        eventId: event.eventId,
        category: 'rejectedByService',
        reason: 'refused',
        body: JSON.stringify(event),
        attempts: 1,
        firstAttemptAt: clock.now().toISOString(),
        parkedAt: clock.now().toISOString(),
        history: [],
      },
    ]);
    await new ParkedEvents({ parked, connections: store, queue, clock }).replay(TENANT, {}, OPERATOR);
    expect((await store.get(TENANT))?.value.history?.[0]).toMatchObject({
      action: 'replay',
      actor: OPERATOR,
      summary: 'Replayed 1 parked event.',
    });
  });
});

describe('connection history: the forwarder', () => {
  let fakes: ReturnType<typeof forwarderFakes>;
  let forwarderSink: FakeIngestionSink;

  beforeEach(async () => {
    fakes = forwarderFakes();
    forwarderSink = fakes.sink;
    await fakes.connections.create(savedConnection(TENANT));
  });

  it('records its state changes as system:forwarder, once per change, not once per batch', async () => {
    const forwarder = forwarderOver(fakes);
    forwarderSink.faults.set(TENANT, { kind: 'forbidden' });
    for (let batch = 0; batch < 3; batch += 1) {
      await forwarder.forwardBatch([received(auditEvent(TENANT))], {
        invocationId: `inv-${batch}`,
        logger: fakes.logger,
      });
      forwarder.forgetConnection(TENANT);
    }
    const stored = (await fakes.connections.get(TENANT))?.value;
    expect(stored?.state).toBe('degraded');
    expect(stored?.history).toEqual([
      expect.objectContaining({ action: 'deliveryState', actor: SYSTEM_FORWARDER, state: 'degraded' }),
    ]);
    expect(stored?.stateReason).toMatch(/Changed by system:forwarder\.$/);
  });
});
