import { randomUUID } from 'node:crypto';
import { ClientSecretCredential, type TokenCredential } from '@azure/identity';
import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SERVICE_BUS_RETRY_OPTIONS, ServiceBusAuditQueue } from '../../src/adapters/serviceBusAuditQueue';
import { runCli } from '../../src/cli/cli';
import { errorLine } from '../../src/domain/errorText';
import type { OutgoingAuditMessage } from '../../src/domain/ports';
import { AzureStandInAdmin, type RoleName } from '../support/azureStandIn';
import { ServiceBusStandIn, ServiceBusStandInAdmin } from '../support/serviceBus';

/**
 * The production Service Bus path: no connection string, an Entra ID token from a TokenCredential,
 * presented over CBS as a `jwt` put-token, with the Azure Service Bus data roles deciding what the
 * app may do. The app's re-enqueue/replay adapter and the operator CLI run over it against the
 * Service Bus stand-in's TLS listener, with tokens from the Azure stand-in's Entra ID.
 */

const bus = new ServiceBusStandInAdmin(inject('serviceBusAdminUrl'));
const azure = new AzureStandInAdmin(inject('azureStandInUrl'));
const namespace = inject('serviceBusNamespace');
const fullyQualifiedNamespace = inject('serviceBusFullyQualifiedNamespace');
const closers: Array<() => Promise<void>> = [];
let authorityHost: string;

beforeAll(async () => {
  authorityHost = (await azure.info()).authorityHost;
});

afterAll(async () => {
  for (const close of closers) await close();
});

/** An app of the publisher's tenant holding `roles` on the namespace, and its credential. */
async function identityWith(roles: RoleName[], scope = namespace.resourceId): Promise<TokenCredential> {
  const app = await azure.registerApp({ homeTenantId: namespace.tenantId, secret: true });
  for (const role of roles)
    await azure.grantRole({ tenantId: namespace.tenantId, clientId: app.clientId, role, scope });
  return new ClientSecretCredential(namespace.tenantId, app.clientId, app.secret!, {
    authorityHost,
    disableInstanceDiscovery: true,
  });
}

function identityQueue(queueName: string, credential: TokenCredential): ServiceBusAuditQueue {
  const queue = new ServiceBusAuditQueue(
    { kind: 'identity', fullyQualifiedNamespace, queueName },
    () => credential,
  );
  closers.push(() => queue.close());
  return queue;
}

function copy(overrides: Partial<OutgoingAuditMessage> = {}): OutgoingAuditMessage {
  const id = randomUUID();
  return {
    messageId: `${id}:2`,
    body: JSON.stringify({ schemaVersion: '1', id }),
    applicationProperties: { tenantId: randomUUID(), eventId: 4887, deliveryAttempt: 2 },
    ...overrides,
  };
}

describe('Service Bus over Entra ID tokens (CBS jwt)', () => {
  it('re-enqueues and replays with Azure Service Bus Data Sender: scheduled copies wait, others go active', async () => {
    const queueName = await bus.createUniqueQueue({ requiresDuplicateDetection: true }, 'entra');
    const queue = identityQueue(queueName, await identityWith(['Azure Service Bus Data Sender']));
    const later = copy({ scheduledEnqueueTime: new Date(Date.now() + 3_600_000) });
    const replayed = copy({ applicationProperties: { tenantId: randomUUID(), replayOf: 'p-1' } });
    await queue.send([later, replayed]);
    expect((await bus.activeMessages(queueName)).map((m) => m.messageId)).toEqual([replayed.messageId]);
    expect((await bus.scheduledMessages(queueName)).map((m) => m.messageId)).toEqual([later.messageId]);
  });

  it('fails a send whose identity lost its data role after the bounded retries, instead of retrying for minutes', async () => {
    const queueName = await bus.createUniqueQueue({ requiresDuplicateDetection: true }, 'entra');
    const inner = await identityWith(['Azure Service Bus Data Receiver']);
    // The SDK asks for a token for every attempt to open the refused sender link: counting them counts
    // the attempts (with the SDK's default retry options there would be 4, 30 s apart).
    let attempts = 0;
    const counting: TokenCredential = {
      getToken: (scopes, options) => {
        attempts += 1;
        return inner.getToken(scopes, options);
      },
    };
    const queue = identityQueue(queueName, counting);
    const error = await queue.send([copy()]).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    // core-amqp's retry gives up with an AggregateError of the attempts' refusals.
    const causes = error instanceof AggregateError ? (error.errors as Error[]) : [error];
    expect(causes.map((cause) => cause?.message).join('\n')).toMatch(/'Send' claim\(s\) are required/);
    // Its own message is empty; the line the app logs names the refusal instead.
    expect(error?.message).toBe('');
    expect(errorLine(error)).toMatch(/^3 errors: Unauthorized access\. 'Send' claim\(s\) are required/);
    expect(attempts).toBe(SERVICE_BUS_RETRY_OPTIONS.maxRetries! + 1);
    expect(await bus.activeMessages(queueName)).toEqual([]);
  });

  // The stand-in's own refusals, through a client that does not retry (the SDK retries a refused
  // link for as long as its retry options allow).
  function plainClient(credential: TokenCredential): ServiceBusClient {
    const client = new ServiceBusClient(fullyQualifiedNamespace, credential, {
      retryOptions: { maxRetries: 0 },
    });
    closers.push(() => client.close());
    return client;
  }

  it('refuses to send without a data role that sends, and to receive without one that receives', async () => {
    const queueName = await bus.createUniqueQueue({}, 'entra');
    const receiverOnly = plainClient(await identityWith(['Azure Service Bus Data Receiver']));
    await expect(receiverOnly.createSender(queueName).sendMessages({ body: 'x' })).rejects.toThrow(
      /'Send' claim\(s\) are required/,
    );
    expect(await bus.activeMessages(queueName)).toEqual([]);
    const senderOnly = plainClient(await identityWith(['Azure Service Bus Data Sender']));
    await senderOnly.createSender(queueName).sendMessages({ body: 'x' });
    await expect(senderOnly.createReceiver(queueName).peekMessages(1)).rejects.toThrow(/'Listen' claim/);
  });

  it('honours a role granted on one queue only', async () => {
    const allowed = await bus.createUniqueQueue({}, 'entra');
    const other = await bus.createUniqueQueue({}, 'entra');
    const client = plainClient(
      await identityWith(['Azure Service Bus Data Sender'], `${namespace.resourceId}/queues/${allowed}`),
    );
    await client.createSender(allowed).sendMessages({ body: 'x' });
    expect(await bus.activeMessages(allowed)).toHaveLength(1);
    await expect(client.createSender(other).sendMessages({ body: 'x' })).rejects.toThrow(/'Send' claim/);
  });

  it('refuses a token for another audience', async () => {
    const queueName = await bus.createUniqueQueue({}, 'entra');
    const armToken: TokenCredential = {
      getToken: async () => {
        const minted = await azure.mintToken({
          tenantId: namespace.tenantId,
          audience: 'https://management.azure.com',
        });
        return { token: minted.token, expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    };
    const client = new ServiceBusClient(fullyQualifiedNamespace, armToken, {
      retryOptions: { maxRetries: 0 },
    });
    closers.push(() => client.close());
    const sender = client.createSender(queueName);
    await expect(sender.sendMessages({ body: 'x' })).rejects.toThrow(/InvalidAudience/);
  });

  it('runs the CLI over a TokenCredential: enqueue, deadletter, deadletter --requeue', async () => {
    const queueName = await bus.createUniqueQueue(
      { requiresDuplicateDetection: true, maxDeliveryCount: 1 },
      'entra',
    );
    const credential = await identityWith([
      'Azure Service Bus Data Sender',
      'Azure Service Bus Data Receiver',
    ]);
    const cli = async (args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(args, {
        stdout: (text) => out.push(text),
        stderr: (text) => err.push(text),
        env: {
          ServiceBusConnection__fullyQualifiedNamespace: fullyQualifiedNamespace,
          AUDIT_QUEUE_NAME: queueName,
        },
        readStdin: () => Promise.resolve(''),
        stdinIsTerminal: true,
        credential: () => credential,
      });
      return { code, stdout: out.join('\n'), stderr: err.join('\n') };
    };
    const tenantId = randomUUID();
    expect(await cli(['enqueue', '--sample', '4888', '--tenant', tenantId])).toMatchObject({ code: 0 });
    const [sent] = await bus.activeMessages(queueName);
    expect(sent?.applicationProperties).toMatchObject({ tenantId });

    // Dead-letter it as the forwarder's host would after its last delivery, over the same identity.
    const client = new ServiceBusClient(fullyQualifiedNamespace, credential);
    closers.push(() => client.close());
    const receiver = client.createReceiver(queueName);
    const [received] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 10_000 });
    await receiver.deadLetterMessage(received!, {
      deadLetterReason: 'Test',
      deadLetterErrorDescription: 'entra',
    });
    await receiver.close();

    const listed = await cli(['deadletter', '--json']);
    expect(listed.code).toBe(0);
    expect(
      (JSON.parse(listed.stdout) as { messages: { messageId: string }[] }).messages.map((m) => m.messageId),
    ).toEqual([sent?.messageId]);
    const requeued = await cli(['deadletter', '--requeue', '--json']);
    expect(requeued).toMatchObject({ code: 0, stderr: '' });
    expect(await bus.deadLetteredMessages(queueName)).toEqual([]);
    expect((await bus.activeMessages(queueName)).map((m) => m.messageId)).toEqual([
      `${sent?.messageId}:dlq:${sent?.sequenceNumber}`,
    ]);
  });

  it('refuses every SAS token on a namespace with local authentication disabled, as production deploys it', async () => {
    const standIn = await new ServiceBusStandIn({ localAuth: false, queues: { q: {} } }).start();
    closers.push(() => standIn.stop());
    const client = new ServiceBusClient(standIn.connectionString, { retryOptions: { maxRetries: 0 } });
    closers.push(() => client.close());
    await expect(client.createSender('q').sendMessages({ body: 'x' })).rejects.toThrow(
      /LocalAuthDisabled: Authorization failed because SAS authentication has been disabled for the namespace/,
    );
    await expect(client.createReceiver('q').peekMessages(1)).rejects.toThrow(/LocalAuthDisabled/);
    expect(await new ServiceBusStandInAdmin(standIn.adminUrl).activeMessages('q')).toEqual([]);
  });
});
