import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TableParkedEventStore } from '../../src/adapters/parkedEventStore';
import { TableSharedPauseStore } from '../../src/adapters/sharedPauseStore';
import { openTable } from '../../src/adapters/tableStorage';
import { resetCompositionForTests } from '../../src/composition';
import type { ParkCategory } from '../../src/domain/ports';
import type { ConnectionState } from '../../src/domain/tenantConnection';
import { AzureStandInAdmin, type FaultInput } from '../support/azureStandIn';
import { applySettings, forwarderSettings } from '../support/forwarderApp';
import { auditEvent, type AuditEventBody } from '../support/forwarderFixtures';
import {
  connectionStore,
  provisionTenant,
  type ProvisionedTenant,
  registerCustomerApp,
  saveConnection,
  workspaceRows,
} from '../support/forwarderWorld';
import {
  invokeServiceBusBatch,
  type ServiceBusTestMessage,
  startFunctionApp,
} from '../support/functionsHost';
import { ServiceBusStandInAdmin } from '../support/serviceBus';

/**
 * Random batches of tenants, events and faults, through the real function,
 * the real SDKs and the stand-ins, run until nothing is left on the queue
 * (the test plays the clock: scheduled copies are delivered at once). Every
 * event must end delivered exactly once in its own tenant's workspace, or
 * parked with a reason, or skipped because the tenant's export is off; none
 * lost, none in another tenant's workspace.
 *
 * Faults are those after which the stand-in ingested nothing (an answer
 * slower than the time budget is still ingested when it finally comes, a
 * legitimate duplicate under at-least-once, and is tested on its own).
 */

const azure = new AzureStandInAdmin(inject('azureStandInUrl'));
const bus = new ServiceBusStandInAdmin(inject('serviceBusAdminUrl'));
const azurite = inject('azuriteConnectionString');
let queueName: string;
let restore: () => void;
let store: ReturnType<typeof connectionStore>;
let parked: TableParkedEventStore;
/** The pauses the instances share (Table Storage, next to the connections). */
let pauses: TableSharedPauseStore;
/** Full DCRs. */
let pool: ProvisionedTenant[];
/** A DCR without ActorUpn_s: the service refuses every row carrying an actor UPN. */
let narrow: ProvisionedTenant;

beforeAll(async () => {
  const info = await azure.info();
  const app = await registerCustomerApp(azure);
  queueName = await bus.createUniqueQueue({ requiresDuplicateDetection: true }, 'property');
  const settings = forwarderSettings({
    azuriteConnectionString: azurite,
    serviceBusConnectionString: inject('serviceBusConnectionString'),
    queueName,
    info,
    app,
    overrides: { FORWARDER_TIME_BUDGET_SECONDS: '10' },
  });
  restore = applySettings(settings);
  store = connectionStore(azurite, settings.TENANTS_TABLE as string);
  pauses = new TableSharedPauseStore(
    openTable(
      { kind: 'connectionString', connectionString: azurite },
      settings.TENANTS_TABLE as string,
      () => {
        throw new Error('no credential needed');
      },
    ),
  );
  parked = new TableParkedEventStore(
    openTable(
      { kind: 'connectionString', connectionString: azurite },
      settings.PARKED_TABLE as string,
      () => {
        throw new Error('no credential needed');
      },
    ),
  );
  pool = await Promise.all([1, 2, 3].map(() => provisionTenant(azure, info, app)));
  narrow = await provisionTenant(azure, info, app, { omitStreamColumns: ['ActorUpn_s'] });
  await startFunctionApp({ entryPoints: ['src/functions/forwardAuditEvents.ts'] });
});

afterAll(async () => {
  restore();
  await bus.deleteQueue(queueName);
});

const faultArbitrary: fc.Arbitrary<FaultInput> = fc.oneof(
  fc.constant<FaultInput>({ status: 429 }),
  fc.integer({ min: 1, max: 3_600 }).map<FaultInput>((seconds) => ({ status: 429, retryAfter: seconds })),
  fc.constant<FaultInput>({ status: 503 }),
  fc.constant<FaultInput>({ status: 500 }),
  fc.constant<FaultInput>({ resetConnection: true }),
  fc.constant<FaultInput>({ status: 403, errorCode: 'OperationFailed' }),
  fc.constant<FaultInput>({ status: 404, errorCode: 'NotFound' }),
);

const tenantArbitrary = fc.record({
  state: fc.constantFrom<ConnectionState>('active', 'active', 'active', 'degraded', 'suspended', 'disabled'),
  faults: fc.array(fc.record({ fault: faultArbitrary, times: fc.integer({ min: 1, max: 3 }) }), {
    maxLength: 3,
  }),
});

const scenarioArbitrary = fc.record({
  tenants: fc.tuple(tenantArbitrary, tenantArbitrary, tenantArbitrary, tenantArbitrary),
  events: fc.array(
    fc.record({
      tenant: fc.integer({ min: 0, max: 3 }),
      caEvent: fc.boolean(),
      withUpn: fc.boolean(),
      invalid: fc.integer({ min: 0, max: 11 }).map((n) => n === 0),
    }),
    { minLength: 1, maxLength: 40 },
  ),
  batchSize: fc.integer({ min: 1, max: 40 }),
});

function toMessage(event: AuditEventBody | Record<string, unknown>, id: string): ServiceBusTestMessage {
  // As the producer sends it: the tenantId application property always names the body's tenant.
  return {
    body: event,
    messageId: id,
    contentType: 'application/json',
    applicationProperties: { tenantId: String(event.tenantId) },
  };
}

/** Deletes every shared pause: the test plays the clock forward, past them. */
async function endSharedPauses(): Promise<void> {
  const signal = AbortSignal.timeout(10_000);
  let listed;
  do {
    listed = await pauses.list(1_000, signal);
    for (const pause of listed.pauses) await pauses.remove(pause.value.tenantId, pause.etag, signal);
  } while (!listed.complete);
}

describe('forwardAuditEvents: property over tenants and faults (stand-ins)', () => {
  it('delivers every event exactly once to its own workspace, or parks or skips it', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary, async (scenario) => {
        const tenants = [...pool, narrow];
        await bus.purgeQueue(queueName);
        resetCompositionForTests();
        for (const [index, setup] of scenario.tenants.entries()) {
          const tenant = tenants[index] as ProvisionedTenant;
          await azure.clearFaults({ tenantId: tenant.tenantId });
          await saveConnection(store, tenant, setup.state, `set by the property (${setup.state})`);
          for (const { fault, times } of setup.faults) {
            await azure.injectFault({ face: 'ingestion', tenantId: tenant.tenantId, times, ...fault });
          }
        }

        const expected = scenario.events.map((spec) => {
          const tenant = tenants[spec.tenant] as ProvisionedTenant;
          const event = auditEvent(tenant.tenantId, {
            eventId: spec.caEvent ? 19 : 4870,
            actor: spec.withUpn ? { upn: 'dana@contoso.com' } : { ipAddress: '192.0.2.10' },
          });
          return { spec, tenant, event, body: spec.invalid ? { ...event, eventId: 4242 } : event };
        });
        let pending: ServiceBusTestMessage[] = expected.map((item) => toMessage(item.body, item.event.id));
        for (let round = 0; pending.length > 0; round += 1) {
          if (round > 50) throw new Error('the queue never drained');
          const batch = pending.slice(0, scenario.batchSize);
          pending = pending.slice(scenario.batchSize);
          // Copies come back at once here, not at their scheduled time: a fresh instance takes them,
          // and the pauses the instances share have run out, as they would have by that time.
          if (round > 0) {
            resetCompositionForTests();
            await endSharedPauses();
          }
          const result = await invokeServiceBusBatch('forwardAuditEvents', batch);
          expect(result.outcome).toBe('completed');
          const copies = [
            ...(await bus.scheduledMessages(queueName)),
            ...(await bus.activeMessages(queueName)),
          ];
          await bus.purgeQueue(queueName);
          pending.push(
            ...copies.map((copy) => ({
              body: Buffer.from(copy.bodyBase64 ?? '', 'base64'),
              messageId: copy.messageId ?? '',
              contentType: 'application/json',
              applicationProperties: copy.applicationProperties as Record<string, string | number | boolean>,
            })),
          );
        }

        const runIds = new Set(expected.map((item) => item.event.id));
        const deliveredTo = new Map<string, string[]>();
        for (const tenant of tenants) {
          for (const recorded of await workspaceRows(azure, tenant)) {
            const id = String(recorded.row.EventRecordId_g);
            if (!runIds.has(id)) continue;
            expect(recorded.tenantId).toBe(tenant.tenantId);
            deliveredTo.set(id, [...(deliveredTo.get(id) ?? []), tenant.tenantId]);
          }
        }
        const parkedAs = new Map<string, ParkCategory[]>();
        for (const tenant of tenants) {
          let continuationToken: string | undefined;
          do {
            const page = await parked.list(tenant.tenantId, {
              limit: 100,
              ...(continuationToken ? { continuationToken } : {}),
            });
            for (const entry of page.items) {
              const id = entry.eventRecordId ?? '';
              if (runIds.has(id)) parkedAs.set(id, [...(parkedAs.get(id) ?? []), entry.category]);
            }
            continuationToken = page.continuationToken;
          } while (continuationToken);
        }

        for (const { spec, tenant, event } of expected) {
          const state = scenario.tenants[spec.tenant]?.state;
          const delivered = deliveredTo.get(event.id) ?? [];
          const parkings = parkedAs.get(event.id) ?? [];
          expect(delivered.every((owner) => owner === event.tenantId)).toBe(true);
          if (spec.invalid) {
            expect({ delivered, parkings }).toEqual({ delivered: [], parkings: ['invalidMessage'] });
          } else if (state === 'disabled') {
            expect({ delivered, parkings }).toEqual({ delivered: [], parkings: [] });
          } else if (state === 'suspended') {
            expect({ delivered, parkings }).toEqual({ delivered: [], parkings: ['connectionSuspended'] });
          } else if (tenant === narrow && spec.withUpn) {
            expect({ delivered, parkings }).toEqual({ delivered: [], parkings: ['rejectedByService'] });
          } else {
            expect({ delivered, parkings }).toEqual({ delivered: [tenant.tenantId], parkings: [] });
          }
        }
      }),
      { numRuns: 20 },
    );
    // 20 scenarios of real HTTP, Azurite and token round trips: a limit for a loaded machine, not a speed claim.
  }, 120_000);
});
