import { describe, expect, it, vi } from 'vitest';
import { buildEvent, sampleEvent } from '../../src/producer';
import { ServiceBusStandInAdmin } from '../support/serviceBus';
import { publish } from '../support/sandboxClient';
import { startSandboxProcess } from '../support/sandboxProcess';
import { eventually, stopCleanlyAfterAll, type SandboxProcess } from './support/harness';

/**
 * `--service-bus-identity --service-bus-roles sender`: the app's managed identity lacks Azure Service
 * Bus Data Receiver, the role assignment most easily forgotten. A file of its own: MSAL keeps the
 * managed identity endpoint a process first used.
 */

let withoutReceiver: SandboxProcess | undefined;

// Started by the test itself, within its own time limit rather than a hook's.
stopCleanlyAfterAll(() => withoutReceiver);

describe('an app identity without Azure Service Bus Data Receiver', { timeout: 90_000 }, () => {
  it('is refused by the namespace, the sandbox says so, and the events wait on the queue', async () => {
    const started = await startSandboxProcess({
      args: ['--service-bus-identity', '--service-bus-roles', 'sender'],
    });
    withoutReceiver = started;
    const { info } = started;
    expect(info.serviceBusIdentity?.roles).toEqual(['Azure Service Bus Data Sender']);
    vi.stubEnv('IDENTITY_ENDPOINT', info.serviceBusIdentity!.managedIdentityEndpoint);
    vi.stubEnv('IDENTITY_HEADER', info.serviceBusIdentity!.identityHeader);

    // The PKI services' identity still holds Data Sender: the event reaches the queue.
    const event = buildEvent(sampleEvent(4887, info.tenantId));
    await publish(info, [event]);
    await eventually(
      'the receive refusal in the sandbox log',
      () =>
        Promise.resolve(
          /forwardAuditEvents: receive error: .*Unauthorized access\. 'Listen' claim\(s\) are required to perform this operation\. Resource: 'sb:\/\/127\.0\.0\.1:\d+\/audit-events'/.test(
            started.stderr(),
          ),
        ),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const bus = new ServiceBusStandInAdmin(info.serviceBusAdminUrl);
    expect((await bus.activeMessages(info.queueName)).map((message) => message.messageId)).toEqual([
      `${event.tenantId}:${event.id}`,
    ]);
  });
});
