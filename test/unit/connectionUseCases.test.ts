import { beforeEach, describe, expect, it } from 'vitest';
import { CONNECTION_TEST_EVENT_ID } from '../../src/domain/catalog';
import { type ConnectionActor, describeActor } from '../../src/domain/connectionHistory';
import { ConnectionUseCases } from '../../src/domain/connection';
import type { HealthChange } from '../../src/domain/exportHealth/healthRow';
import type { HealthChangeRecorder } from '../../src/domain/exportHealth/heartbeat';
import type { TenantConnection } from '../../src/domain/tenantConnection';
import {
  AuthorizationError,
  ConcurrencyConflictError,
  NotFoundError,
  StateConflictError,
  ValidationError,
} from '../../src/domain/errors';
import type { CreateConnectionLeases, CreateConnectionRun } from '../../src/domain/ports';
import { CA_TABLE, CERTIFICATE_TABLE, streamName } from '../../src/domain/tableSchema';
import { FakeIngestionSink, FakeWorkspaceProvisioner } from '../support/connectionFakes';
import {
  CapturingLogger,
  FakeClock,
  InMemoryParkedEventStore,
  InMemoryTenantConnectionStore,
} from '../support/fakes';

const TENANT = '0b6c4a2e-6f4e-4a55-9d61-7d1f0e6b2a10';
/** The customer's admin in its own tenant, through the portal app. */
const PORTAL_USER: ConnectionActor = {
  kind: 'caller',
  tenantId: TENANT,
  objectId: '7d0c9a1e-3b2f-4c5d-8e6f-1a2b3c4d5e6f',
  appId: '3f1c6c1e-5a6b-4d0e-9b5e-2a9d8c7e6f10',
};
const RG = '/subscriptions/6f1d5b0c-1a2b-4c3d-8e9f-0a1b2c3d4e5f/resourceGroups/rg-siem';
const WORKSPACE = `${RG}/providers/Microsoft.OperationalInsights/workspaces/law-sentinel`;
const OTHER_WORKSPACE = `${RG}/providers/Microsoft.OperationalInsights/workspaces/law-other`;
const WINDOW_MS = 30 * 60_000;

let store: InMemoryTenantConnectionStore;
let parked: InMemoryParkedEventStore;
let provisioner: FakeWorkspaceProvisioner;
let sink: FakeIngestionSink;
let clock: FakeClock;
let logger: CapturingLogger;

function useCases(timeoutMs = 60_000, healthChanges?: HealthChangeRecorder): ConnectionUseCases {
  return new ConnectionUseCases({
    connections: store,
    parked,
    provisioner,
    ingestion: sink,
    clock,
    logger,
    actor: PORTAL_USER,
    ...(healthChanges ? { healthChanges } : {}),
    settings: { timeoutMs, propagationWindowMs: WINDOW_MS },
  });
}

/** Records each change row request with the connection's state at that moment. */
class RecordingHealthChanges implements HealthChangeRecorder {
  readonly rows: Array<{ change: HealthChange; actor: string; reason?: string; stateThen: string }> = [];
  failWith: Error | undefined;
  async recordChange(
    connection: TenantConnection,
    change: HealthChange,
    actor: string,
    reason: string | undefined,
  ): Promise<void> {
    const stored = await store.get(connection.tenantId);
    this.rows.push({
      change,
      actor,
      ...(reason !== undefined ? { reason } : {}),
      stateThen: stored?.value.state ?? 'none',
    });
    if (this.failWith) throw this.failWith;
  }
}

beforeEach(() => {
  store = new InMemoryTenantConnectionStore();
  parked = new InMemoryParkedEventStore();
  provisioner = new FakeWorkspaceProvisioner();
  sink = new FakeIngestionSink();
  clock = new FakeClock();
  logger = new CapturingLogger();
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('resolved');
}

describe('createConnection', () => {
  it('provisions, sends one connection-test row per table and records the tested connection', async () => {
    const result = await useCases().createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'East US',
    });

    expect(result.value.test.outcome).toBe('ok');
    expect(Object.values(result.value.test.steps).map((step) => step.outcome)).toEqual([
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
    ]);
    expect(result.value.test.steps.diagnosticSetting?.detail).toContain('DCRLogErrors');
    expect([...provisioner.diagnosticSettings]).toEqual([result.value.dataCollectionRule?.id]);
    expect(result.value.location).toBe('eastus');
    expect(result.value.dataCollectionRule?.immutableId).toMatch(/^dcr-/);
    expect(sink.uploads.map((upload) => upload.stream).sort()).toEqual(
      [streamName(CA_TABLE), streamName(CERTIFICATE_TABLE)].sort(),
    );
    for (const upload of sink.uploads) {
      expect(upload.tenantId).toBe(TENANT);
      expect(upload.rows).toHaveLength(1);
      expect(upload.rows[0]).toMatchObject({
        EventID_d: CONNECTION_TEST_EVENT_ID,
        CustomerTenantId_g: TENANT,
      });
    }

    const stored = await store.get(TENANT);
    expect(stored?.etag).toBe(result.etag);
    expect(stored?.value.state).toBe('tested');
    expect(stored?.value.saved).toBeUndefined();
    expect(stored?.value.tested?.target?.dataCollectionRuleImmutableId).toBe(
      result.value.dataCollectionRule?.immutableId,
    );
  });

  it('refuses an invalid resource ID or location before touching Azure', async () => {
    const bad = await rejection(
      useCases().createConnection(TENANT, {
        workspaceResourceId: `${WORKSPACE}/tables/x`,
        location: 'eastus',
      }),
    );
    expect(bad).toBeInstanceOf(ValidationError);
    const nowhere = await rejection(
      useCases().createConnection(TENANT, { workspaceResourceId: WORKSPACE, location: 'Mars' }),
    );
    expect((nowhere as ValidationError).code).toBe('InvalidLocation');
    expect(provisioner.calls).toEqual([]);
    expect(await store.get(TENANT)).toBeUndefined();
  });

  it('reports a region mismatch with the workspace real region and goes no further', async () => {
    provisioner.location = 'westeurope';
    const result = await useCases().createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    const { workspace, tables, dataCollectionRule, testMessage } = result.value.test.steps;
    expect(workspace).toMatchObject({ outcome: 'failed', code: 'RegionMismatch' });
    expect(workspace.detail).toContain('West Europe (westeurope)');
    expect([tables.outcome, dataCollectionRule.outcome, testMessage.outcome]).toEqual([
      'skipped',
      'skipped',
      'skipped',
    ]);
    expect(result.value.test.outcome).toBe('failed');
    expect(provisioner.calls.filter((call) => !call.startsWith('workspace'))).toEqual([]);
  });

  it('names the missing role and its scope when a step is refused', async () => {
    provisioner.behaviour.dataCollectionRule = {
      kind: 'fail',
      error: new AuthorizationError('grant Monitoring Contributor', 'Monitoring Contributor', RG, 'x/write'),
    };
    const result = await useCases().createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    expect(result.value.test.steps.dataCollectionRule).toMatchObject({
      outcome: 'failed',
      code: 'AuthorizationFailed',
      missingRole: 'Monitoring Contributor',
      scope: RG,
    });
    expect(result.value.test.steps.testMessage.outcome).toBe('skipped');
    expect(result.value.dataCollectionRule).toBeUndefined();
  });

  it('reports a refused diagnostic setting as a warning naming the role; the test stays ok and can be saved', async () => {
    provisioner.behaviour.diagnosticSetting = {
      kind: 'fail',
      error: new AuthorizationError(
        'grant Monitoring Contributor',
        'Monitoring Contributor',
        RG,
        'Microsoft.Insights/diagnosticSettings/write',
      ),
    };
    const cases = useCases();
    const result = await cases.createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    expect(result.value.test.outcome).toBe('ok');
    expect(result.value.test.steps.testMessage.outcome).toBe('ok');
    expect(result.value.test.steps.diagnosticSetting).toMatchObject({
      outcome: 'warning',
      code: 'AuthorizationFailed',
      missingRole: 'Monitoring Contributor',
      scope: RG,
    });
    expect(result.value.test.steps.diagnosticSetting?.detail).toContain('Events are still delivered');
    expect(provisioner.diagnosticSettings.size).toBe(0);
    const saved = await cases.saveSettings(TENANT, { workspaceResourceId: WORKSPACE }, result.etag);
    expect(saved.value.state).toBe('active');
  });

  it('turns a diagnostic setting that runs out of time into a warning, after the test event was sent', async () => {
    provisioner.behaviour.diagnosticSetting = { kind: 'hang' };
    const result = await useCases(200).createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    expect(sink.uploads).toHaveLength(2);
    expect(result.value.test.steps.diagnosticSetting).toMatchObject({ outcome: 'warning', code: 'Timeout' });
    expect(result.value.test.outcome).toBe('ok');
  });

  it('answers within its time limit, reporting the running step pending and the rest skipped', async () => {
    provisioner.behaviour.tables = { kind: 'hang' };
    const result = await useCases(50).createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    expect(result.value.test.steps.tables).toMatchObject({ outcome: 'pending', code: 'Timeout' });
    expect(result.value.test.steps.dataCollectionRule.outcome).toBe('skipped');
    expect(result.value.test.steps.testMessage.outcome).toBe('skipped');
    expect(result.value.test.outcome).toBe('failed');
    expect((await store.get(TENANT))?.value.tested?.test.outcome).toBe('failed');
  });

  it('answers in time even when a dependency ignores the abort signal', async () => {
    provisioner.behaviour.workspace = { kind: 'hang', ignoreSignal: true };
    const result = await useCases(50).createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    expect(result.value.test.steps.workspace).toMatchObject({ outcome: 'pending', code: 'Timeout' });
  });

  it('treats a 403 from ingestion right after provisioning as pending propagation', async () => {
    sink.failWith = 'forbidden';
    const result = await useCases().createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    expect(result.value.test.outcome).toBe('pending');
    expect(result.value.test.pendingUntil).toBe(new Date(clock.now().getTime() + WINDOW_MS).toISOString());
    expect(result.value.test.steps.testMessage).toMatchObject({
      outcome: 'pending',
      code: 'PropagationPending',
      missingRole: 'Monitoring Metrics Publisher',
      scope: RG,
    });
    expect((await store.listPendingTests()).map((entry) => entry.value.tenantId)).toEqual([TENANT]);
  });

  it('fails a test event the service rejects outright', async () => {
    sink.failWith = 'rejected';
    const result = await useCases().createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    expect(result.value.test.outcome).toBe('failed');
    expect(result.value.test.steps.testMessage.code).toBe('TestEventRejected');
  });

  it('is idempotent: a second run keeps one entity, the same DCR and the creation time', async () => {
    const first = await useCases().createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    clock.advance(60_000);
    const second = await useCases().createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    expect(second.value.dataCollectionRule).toEqual(first.value.dataCollectionRule);
    expect(second.value.test.steps.tables.detail).toContain('already up to date');
    const stored = await store.get(TENANT);
    expect(stored?.value.createdAt).toBe(new Date(clock.now().getTime() - 60_000).toISOString());
    expect(stored?.etag).toBe(second.etag);
    expect(second.etag).not.toBe(first.etag);
  });

  it('testing another workspace never redirects a saved export', async () => {
    const cases = useCases();
    await cases.createConnection(TENANT, { workspaceResourceId: WORKSPACE, location: 'eastus' });
    const saved = await cases.saveSettings(TENANT, { workspaceResourceId: WORKSPACE });
    await cases.createConnection(TENANT, { workspaceResourceId: OTHER_WORKSPACE, location: 'eastus' });
    const stored = await store.get(TENANT);
    expect(stored?.value.state).toBe('active');
    expect(stored?.value.saved?.workspaceResourceId).toBe(saved.value.saved?.workspaceResourceId);
    expect(stored?.value.tested?.workspaceResourceId).toBe(OTHER_WORKSPACE);
  });
});

describe('retestPendingConnections', () => {
  async function pendingConnection(): Promise<void> {
    sink.failWith = 'forbidden';
    await useCases().createConnection(TENANT, { workspaceResourceId: WORKSPACE, location: 'eastus' });
  }

  it('turns a pending test into ok once the role has propagated', async () => {
    await pendingConnection();
    sink.failWith = undefined;
    clock.advance(5 * 60_000);
    const summary = await useCases().retestPendingConnections();
    expect(summary).toMatchObject({ checked: 1, succeeded: 1 });
    const stored = await store.get(TENANT);
    expect(stored?.value.tested?.test.outcome).toBe('ok');
    expect(stored?.value.tested?.test.pendingUntil).toBeUndefined();
    expect(stored?.value.tested?.test.steps.testMessage.outcome).toBe('ok');
    expect(await store.listPendingTests()).toEqual([]);
  });

  it('leaves a still-refused test pending and untouched inside the window', async () => {
    await pendingConnection();
    const before = await store.get(TENANT);
    clock.advance(10 * 60_000);
    expect(await useCases().retestPendingConnections()).toMatchObject({ stillPending: 1 });
    expect((await store.get(TENANT))?.etag).toBe(before?.etag);
  });

  it('fails the test once the window is over, naming Monitoring Metrics Publisher and the scope', async () => {
    await pendingConnection();
    clock.advance(WINDOW_MS + 1);
    expect(await useCases().retestPendingConnections()).toMatchObject({ failed: 1 });
    const test = (await store.get(TENANT))?.value.tested?.test;
    expect(test?.outcome).toBe('failed');
    expect(test?.steps.testMessage).toMatchObject({
      outcome: 'failed',
      code: 'AuthorizationFailed',
      missingRole: 'Monitoring Metrics Publisher',
      scope: RG,
    });
    expect((await store.get(TENANT))?.value.stateReason).toContain('testMessage');
  });

  it('does nothing when no test is pending', async () => {
    await useCases().createConnection(TENANT, { workspaceResourceId: WORKSPACE, location: 'eastus' });
    const uploads = sink.uploads.length;
    expect(await useCases().retestPendingConnections()).toMatchObject({ checked: 0 });
    expect(sink.uploads.length).toBe(uploads);
  });
});

describe('saveSettings, getSettings, disableExport', () => {
  it('refuses to save a tenant never tested', async () => {
    const error = await rejection(useCases().saveSettings(TENANT, { workspaceResourceId: WORKSPACE }));
    expect(error).toBeInstanceOf(StateConflictError);
    expect((error as StateConflictError).code).toBe('ConnectionNotTested');
  });

  it('refuses to save a failed test, saying which step failed', async () => {
    provisioner.location = 'westeurope';
    await useCases().createConnection(TENANT, { workspaceResourceId: WORKSPACE, location: 'eastus' });
    const error = await rejection(useCases().saveSettings(TENANT, { workspaceResourceId: WORKSPACE }));
    expect((error as StateConflictError).code).toBe('ConnectionTestFailed');
    expect(error.message).toContain('workspace');
  });

  it('refuses to save a workspace other than the tested one', async () => {
    await useCases().createConnection(TENANT, { workspaceResourceId: WORKSPACE, location: 'eastus' });
    const error = await rejection(useCases().saveSettings(TENANT, { workspaceResourceId: OTHER_WORKSPACE }));
    expect((error as StateConflictError).code).toBe('ConnectionNotTested');
  });

  it('turns export on for a tested (or pending) connection and shows it in the settings', async () => {
    sink.failWith = 'forbidden';
    const created = await useCases().createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    const saved = await useCases().saveSettings(
      TENANT,
      {
        workspaceResourceId: WORKSPACE.toUpperCase().replace('/SUBSCRIPTIONS/', '/subscriptions/'),
        location: 'East US',
      },
      created.etag,
    );
    expect(saved.value).toMatchObject({ exportEnabled: true, state: 'active' });
    expect(saved.value.saved?.dataCollectionRule.immutableId).toBe(
      created.value.dataCollectionRule?.immutableId,
    );
    expect(saved.value.stateReason).toContain('propagate');

    const settings = await useCases().getSettings(TENANT);
    expect(settings.etag).toBe(saved.etag);
    expect(settings.value.tested?.test.outcome).toBe('pending');
    expect(settings.value.health).toEqual({ parkedCount: 0 });
  });

  it('lets exactly one of two concurrent saves win', async () => {
    await useCases().createConnection(TENANT, { workspaceResourceId: WORKSPACE, location: 'eastus' });
    const results = await Promise.allSettled([
      useCases().saveSettings(TENANT, { workspaceResourceId: WORKSPACE }),
      useCases().saveSettings(TENANT, { workspaceResourceId: WORKSPACE }),
    ]);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((result) => result.status === 'rejected');
    expect(lost?.reason).toBeInstanceOf(ConcurrencyConflictError);
  });

  it('refuses a save or disable carrying a stale If-Match', async () => {
    const created = await useCases().createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    await useCases().saveSettings(TENANT, { workspaceResourceId: WORKSPACE }, created.etag);
    expect(await rejection(useCases().disableExport(TENANT, created.etag))).toBeInstanceOf(
      ConcurrencyConflictError,
    );
    expect(
      await rejection(useCases().saveSettings(TENANT, { workspaceResourceId: WORKSPACE }, created.etag)),
    ).toBeInstanceOf(ConcurrencyConflictError);
  });

  it('turns export off and back on, reporting health with the parked count', async () => {
    await useCases().createConnection(TENANT, { workspaceResourceId: WORKSPACE, location: 'eastus' });
    await useCases().saveSettings(TENANT, { workspaceResourceId: WORKSPACE });
    await parked.park([
      {
        tenantId: TENANT,
        parkedId: 'p1',
        messageId: undefined,
        eventRecordId: undefined,
        eventId: 4888,
        category: 'rejectedByService',
        reason: 'too large',
        body: '{}',
        attempts: 1,
        firstAttemptAt: undefined,
        parkedAt: clock.now().toISOString(),
        history: [],
      },
    ]);
    const disabled = await useCases().disableExport(TENANT);
    expect(disabled.value).toMatchObject({
      state: 'disabled',
      exportEnabled: false,
      health: { parkedCount: 1 },
    });
    expect((await useCases().disableExport(TENANT)).etag).toBe(disabled.etag);
    const again = await useCases().saveSettings(TENANT, { workspaceResourceId: WORKSPACE });
    expect(again.value.state).toBe('active');
  });

  it('reports a tenant never configured as not found', async () => {
    expect(await rejection(useCases().getSettings(TENANT))).toBeInstanceOf(NotFoundError);
    expect(await rejection(useCases().disableExport(TENANT))).toBeInstanceOf(NotFoundError);
  });
});

describe('createConnection under concurrency', () => {
  it('never lets an older run overwrite a newer result; the older call answers with the newer one', async () => {
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    let entered!: () => void;
    const olderStarted = new Promise<void>((resolve) => (entered = resolve));
    const readWorkspace = provisioner.readWorkspace.bind(provisioner);
    let held = false;
    provisioner.readWorkspace = async (...args) => {
      if (!held) {
        held = true;
        entered();
        await gate;
      }
      return readWorkspace(...args);
    };

    const older = useCases().createConnection(TENANT, { workspaceResourceId: WORKSPACE, location: 'eastus' });
    await olderStarted;
    clock.advance(1_000);
    const newer = await useCases().createConnection(TENANT, {
      workspaceResourceId: OTHER_WORKSPACE,
      location: 'eastus',
    });
    clock.advance(1_000);
    openGate();
    const olderAnswer = await older;

    const stored = (await store.get(TENANT))!;
    expect(stored.value.tested?.workspaceResourceId).toBe(OTHER_WORKSPACE);
    expect(olderAnswer.value).toEqual(newer.value);
    expect(olderAnswer.etag).toBe(stored.etag);
    expect(stored.value.history?.filter((change) => change.action === 'createConnection')).toHaveLength(1);
  });

  it('answers pending CreateConnectionInProgress at its time limit while another run holds the tenant, touching nothing', async () => {
    const held: CreateConnectionRun = {
      runId: 'other-run',
      startedAt: clock.now().toISOString(),
      expiresAt: new Date(clock.now().getTime() + 60 * 60_000).toISOString(),
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    };
    const leases: CreateConnectionLeases = {
      acquire: () => Promise.resolve(held),
      holder: () => Promise.resolve(held),
      release: () => Promise.reject(new Error('a run that never held the lease must not release it')),
    };
    const cases = new ConnectionUseCases({
      connections: store,
      leases,
      parked,
      provisioner,
      ingestion: sink,
      clock,
      logger,
      actor: PORTAL_USER,
      settings: { timeoutMs: 50, propagationWindowMs: WINDOW_MS, leasePollMs: 5 },
    });

    const answer = await cases.createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });

    expect(answer.value.test.outcome).toBe('pending');
    expect(answer.value.test.steps.workspace).toMatchObject({
      outcome: 'pending',
      code: 'CreateConnectionInProgress',
    });
    expect(provisioner.calls).toEqual([]);
    expect(await store.get(TENANT)).toBeUndefined();
  });
});

describe('configuration changes reach the customer workspace as health rows', () => {
  it('writes a row for Create Connection, Save and disable (before the export turns off), naming actor and reason', async () => {
    const health = new RecordingHealthChanges();
    await useCases(60_000, health).createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    await useCases(60_000, health).saveSettings(TENANT, { workspaceResourceId: WORKSPACE });
    await useCases(60_000, health).disableExport(TENANT);
    expect(health.rows.map((row) => [row.change, row.stateThen])).toEqual([
      ['connectionCreated', 'tested'],
      ['settingsSaved', 'active'],
      // Recorded while the export still runs, so the row still reaches the workspace.
      ['exportDisabled', 'active'],
    ]);
    for (const row of health.rows) expect(row.actor).toBe(describeActor(PORTAL_USER));
    expect(health.rows[0]?.reason).toContain(WORKSPACE);
    expect(health.rows[1]?.reason).toMatch(/Export turned on by Save changes/);
    expect(health.rows[2]?.reason).toBe('Export turned off.');
    expect((await store.get(TENANT))?.value.state).toBe('disabled');
  });

  it("never fails the user's action when the row cannot be written, and logs it", async () => {
    const health = new RecordingHealthChanges();
    health.failWith = new Error('signing key unavailable');
    await useCases(60_000, health).createConnection(TENANT, {
      workspaceResourceId: WORKSPACE,
      location: 'eastus',
    });
    const saved = await useCases(60_000, health).saveSettings(TENANT, { workspaceResourceId: WORKSPACE });
    expect(saved.value.state).toBe('active');
    const disabled = await useCases(60_000, health).disableExport(TENANT);
    expect(disabled.value.state).toBe('disabled');
    const logged = logger.lines.filter((line) =>
      line.message.startsWith('Export health change row not written'),
    );
    expect(logged.map((line) => line.fields?.change)).toEqual([
      'connectionCreated',
      'settingsSaved',
      'exportDisabled',
    ]);
    expect(JSON.stringify(logged[0]?.fields)).toContain('signing key unavailable');
  });
});
