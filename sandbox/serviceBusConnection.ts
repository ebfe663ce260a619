import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { ServiceBusClient, type ServiceBusClientOptions } from '@azure/service-bus';

/**
 * How the Functions host's Service Bus extension resolves a trigger's `connection` (Learn, "Azure
 * Functions developer guide", Connections / "Configure an identity-based connection"): the setting
 * itself holds a connection string; otherwise `<name>__fullyQualifiedNamespace` names the namespace
 * and the identity comes from `<name>__credential` (`managedidentity`) and `<name>__clientId` (a
 * user-assigned identity). Without `__credential`, the host falls back to the ambient identity
 * (locally the developer's sign-in), as DefaultAzureCredential does.
 */
export function serviceBusClientFor(
  connectionSetting: string,
  env: Record<string, string | undefined>,
  functionName: string,
  options: ServiceBusClientOptions,
): ServiceBusClient {
  const connectionString = env[connectionSetting];
  if (connectionString) return new ServiceBusClient(connectionString, options);
  const namespace = env[`${connectionSetting}__fullyQualifiedNamespace`];
  if (!namespace) {
    throw new Error(
      `Function "${functionName}" reads the connection from app setting "${connectionSetting}" (or "${connectionSetting}__fullyQualifiedNamespace"), neither of which is set.`,
    );
  }
  return new ServiceBusClient(namespace, credentialFor(connectionSetting, env), options);
}

function credentialFor(connectionSetting: string, env: Record<string, string | undefined>): TokenCredential {
  const kind = env[`${connectionSetting}__credential`];
  const clientId = env[`${connectionSetting}__clientId`];
  if (kind !== undefined && kind.toLowerCase() === 'managedidentity') {
    return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
  }
  return new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
}
