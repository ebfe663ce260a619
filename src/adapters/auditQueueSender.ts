import { DefaultAzureCredential } from '@azure/identity';
import {
  ServiceBusClient,
  type ServiceBusClientOptions,
  type ServiceBusSender,
  type TokenCredential,
} from '@azure/service-bus';

export type { ServiceBusClientOptions, ServiceBusMessageBatch, TokenCredential } from '@azure/service-bus';

/**
 * What the producer needs of a Service Bus sender. Batches come from the SDK,
 * so the size limit they enforce is the namespace's real one.
 */
export type AuditQueueSender = Pick<ServiceBusSender, 'createMessageBatch' | 'sendMessages' | 'close'>;

export type AuditQueueConnection =
  | { readonly connectionString: string; readonly queueName: string }
  | {
      readonly fullyQualifiedNamespace: string;
      readonly credential: TokenCredential;
      readonly queueName: string;
    };

/**
 * A sender for the audit queue that connects on first use, so building one
 * (at import time of a PKI service, or for a CLI command that ends up sending
 * nothing) opens no connection.
 */
export function openAuditQueueSender(
  connection: AuditQueueConnection,
  clientOptions?: ServiceBusClientOptions,
): AuditQueueSender {
  let client: ServiceBusClient | undefined;
  let sender: ServiceBusSender | undefined;
  let closed = false;
  const connected = (): ServiceBusSender => {
    // Like the SDK's own sender: once closed, it stays closed rather than silently reconnecting.
    if (closed) throw new Error(`The sender for queue ${connection.queueName} has been closed.`);
    if (!sender) {
      client =
        'connectionString' in connection
          ? new ServiceBusClient(connection.connectionString, clientOptions)
          : new ServiceBusClient(connection.fullyQualifiedNamespace, connection.credential, clientOptions);
      sender = client.createSender(connection.queueName);
    }
    return sender;
  };
  return {
    createMessageBatch: async (options) => connected().createMessageBatch(options),
    sendMessages: async (messages, options) => connected().sendMessages(messages, options),
    async close() {
      closed = true;
      const [openSender, openClient] = [sender, client];
      sender = undefined;
      client = undefined;
      try {
        await openSender?.close();
      } finally {
        await openClient?.close();
      }
    },
  };
}

/**
 * The credential an operator's machine or a PKI service host uses to reach the
 * namespace: a managed identity when one is configured, else whatever
 * DefaultAzureCredential finds (environment, workload identity, Azure CLI login).
 */
export function ambientCredential(managedIdentityClientId?: string): TokenCredential {
  return new DefaultAzureCredential(managedIdentityClientId ? { managedIdentityClientId } : {});
}
