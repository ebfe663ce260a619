import { ServiceBusClient } from '@azure/service-bus';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { buildEvent, sampleEvent } from '../../src/producer';
import type { SandboxInfo } from '../../sandbox/sandbox';
import type { ServiceBusIdentityInfo } from '../../sandbox/serviceBusIdentity';
import type { RoleName } from '../support/azureStandIn';
import { ServiceBusStandInAdmin } from '../support/serviceBus';
import { TenantApi, addTenant, publish, rowCountsByRecordId, workspaceRows } from '../support/sandboxClient';
import { e2eSandbox, eventually, refuseNextUpload, runTsx, type ProcessOutcome } from './support/harness';

/**
 * `npm run sandbox -- --service-bus-identity`: Service Bus as production runs it. The namespace
 * refuses SAS (local auth disabled), so every send, receive and settlement below can only have
 * worked over Entra ID tokens of identities holding the Azure Service Bus data roles.
 */

const sandbox = e2eSandbox({ args: ['--service-bus-identity'] });
let identity: ServiceBusIdentityInfo;

/** This process gets managed identity tokens from that sandbox's Azure stand-in, as its app does. */
function useManagedIdentityEndpointOf(info: SandboxInfo): ServiceBusIdentityInfo {
  const of = info.serviceBusIdentity;
  if (!of) throw new Error('The sandbox does not run identity-based.');
  vi.stubEnv('IDENTITY_ENDPOINT', of.managedIdentityEndpoint);
  vi.stubEnv('IDENTITY_HEADER', of.identityHeader);
  return of;
}

beforeAll(() => {
  identity = useManagedIdentityEndpointOf(sandbox.info);
});

/** A managed identity of the namespace's tenant holding `roles` on the audit queue. */
async function operatorIdentity(roles: RoleName[]): Promise<string> {
  const created = await sandbox.azure.registerManagedIdentity({ tenantId: identity.tenantId });
  for (const role of roles) {
    await sandbox.azure.grantRole({
      tenantId: identity.tenantId,
      principalId: created.objectId,
      role,
      scope: `${identity.namespaceResourceId}/queues/${sandbox.info.queueName}`,
    });
  }
  return created.clientId;
}

/** The operator CLI as a separate process signed in with a managed identity (no connection string). */
function cli(clientId: string, args: string[]): Promise<ProcessOutcome> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    IDENTITY_ENDPOINT: identity.managedIdentityEndpoint,
    IDENTITY_HEADER: identity.identityHeader,
    MANAGED_IDENTITY_CLIENT_ID: clientId,
    ServiceBusConnection__fullyQualifiedNamespace: identity.fullyQualifiedNamespace,
    AUDIT_QUEUE_NAME: sandbox.info.queueName,
  };
  delete env.ServiceBusConnection;
  return runTsx('src/cli/main.ts', args, { env });
}

describe('the sandbox run identity-based', { timeout: 60_000 }, () => {
  it('says so on its ready line, runs the app with the template settings, and refuses the SAS connection string', async () => {
    const { info } = sandbox;
    expect(info.serviceBusAuth).toBe('identity');
    // The progress line follows the JSON line on stderr.
    await eventually('the ready line', () =>
      Promise.resolve(
        /ready: .*Service Bus identity-based \(Entra tokens, SAS refused\)/.test(sandbox.stderr()),
      ),
    );
    expect(info.settings).toMatchObject({
      ServiceBusConnection__fullyQualifiedNamespace: identity.fullyQualifiedNamespace,
      ServiceBusConnection__credential: 'managedidentity',
      ServiceBusConnection__clientId: identity.managedIdentityClientId,
      MANAGED_IDENTITY_CLIENT_ID: identity.managedIdentityClientId,
    });
    expect(identity.roles).toEqual(['Azure Service Bus Data Receiver', 'Azure Service Bus Data Sender']);

    const sas = new ServiceBusClient(info.serviceBusConnectionString, { retryOptions: { maxRetries: 0 } });
    try {
      await expect(sas.createSender(info.queueName).sendMessages({ body: 'x' })).rejects.toThrow(
        /LocalAuthDisabled/,
      );
    } finally {
      await sas.close();
    }
  });

  it('connects, lands events, retries a transient ingestion fault by re-enqueueing, and replays a parked event, all over tokens', async () => {
    const { info } = sandbox;
    const tenant = await addTenant(info);
    const api = new TenantApi(info.apiBaseUrl, tenant);
    await api.connectAndSave();

    // One 503: the forwarder re-enqueues a scheduled copy (a send over the app's token).
    const transient = await sandbox.azure.injectFault({
      face: 'ingestion',
      operation: 'upload',
      tenantId: tenant.tenantId,
      status: 503,
      times: 1,
    });
    const retried = buildEvent(sampleEvent(4887, tenant.tenantId));
    await publish(info, [retried]);
    await eventually(
      'the retried event to land',
      async () =>
        (await rowCountsByRecordId(info, tenant.workspaceResourceId)).get(retried.id.toLowerCase()) === 1,
    );
    expect((await sandbox.azure.listFaults()).find((fault) => fault.id === transient.id)).toBeUndefined();
    // The forwarder's summary counts the copy it re-enqueued; a failed send would say "Could not re-enqueue".
    expect(sandbox.stderr()).toMatch(/forwarder: batch settled .*"retried":1/);
    expect(sandbox.stderr()).not.toMatch(/Could not re-enqueue/);

    // A 400 parks the next event; replaying it sends it again over the app's token.
    await refuseNextUpload(sandbox.azure, tenant.tenantId);
    const parked = buildEvent(sampleEvent(4888, tenant.tenantId));
    await publish(info, [parked]);
    await eventually('the refused event to be parked', async () => {
      const response = await api.parked();
      const items = (response.body as { items?: { eventRecordId?: string }[] }).items ?? [];
      return items.some((item) => item.eventRecordId === parked.id);
    });
    const replay = await api.replay({ categories: ['rejectedByService'] });
    expect(replay.body).toMatchObject({ replayed: 1 });
    const counts = await eventually('the replayed event to land', async () => {
      const rows = await rowCountsByRecordId(info, tenant.workspaceResourceId);
      return rows.has(parked.id.toLowerCase()) ? rows : undefined;
    });
    expect(counts.get(parked.id.toLowerCase())).toBe(1);
    expect(counts.get(retried.id.toLowerCase())).toBe(1);
    const bus = new ServiceBusStandInAdmin(info.serviceBusAdminUrl);
    expect(await bus.deadLetteredMessages(info.queueName)).toEqual([]);
  });

  it('runs the operator CLI over a managed identity token, and refuses deadletter to one without Data Receiver', async () => {
    const { info } = sandbox;
    const tenant = await addTenant(info);
    await new TenantApi(info.apiBaseUrl, tenant).connectAndSave();
    const operator = await operatorIdentity([
      'Azure Service Bus Data Sender',
      'Azure Service Bus Data Receiver',
    ]);
    const enqueued = await cli(operator, ['enqueue', '--sample', '4870', '--tenant', tenant.tenantId]);
    expect(enqueued.code, enqueued.stderr).toBe(0);
    await eventually('the enqueued revocation (4870) to land', async () => {
      const tables = await workspaceRows(info, tenant.workspaceResourceId);
      return (tables.EZCA_Certificates_CL ?? []).some((row) => row.EventID_d === 4870);
    });
    const listed = await cli(operator, ['deadletter', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ messages: [] });

    const senderOnly = await operatorIdentity(['Azure Service Bus Data Sender']);
    const refused = await cli(senderOnly, ['deadletter', '--json']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/'Listen' claim\(s\) are required to perform this operation/);
  });
});
