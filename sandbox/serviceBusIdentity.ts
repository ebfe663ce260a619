import type { AzureStandIn, RoleName } from '../test/support/azureStandIn';
import type { ServiceBusStandIn } from '../test/support/serviceBus';

/**
 * The sandbox's identity-based Service Bus (`--service-bus-identity`), wired as infra/azuredeploy.json
 * deploys it: a namespace with local authentication disabled (SAS refused), in the publisher's own
 * tenant; the Function App's user-assigned managed identity holding Azure Service Bus Data Receiver
 * and Data Sender on the audit queue; and the app settings
 * ServiceBusConnection__fullyQualifiedNamespace / __credential=managedidentity / __clientId plus
 * MANAGED_IDENTITY_CLIENT_ID instead of a connection string. The identity's tokens come from the
 * Azure stand-in's App Service style managed identity endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER,
 * which App Service sets for a real app), so the app and the trigger listener run the same
 * ManagedIdentityCredential code as in Azure.
 */

/** The data roles the sandbox can grant the app's identity (`--service-bus-roles`). */
export const SERVICE_BUS_DATA_ROLES = {
  receiver: 'Azure Service Bus Data Receiver',
  sender: 'Azure Service Bus Data Sender',
} as const satisfies Record<string, RoleName>;

export type ServiceBusDataRole = keyof typeof SERVICE_BUS_DATA_ROLES;

/** What the ready line tells about the namespace in identity mode. */
export interface ServiceBusIdentityInfo {
  /** `127.0.0.1:PORT` of the namespace's TLS listener: ServiceBusConnection__fullyQualifiedNamespace. */
  fullyQualifiedNamespace: string;
  /** The publisher tenant the namespace and the app's identity live in. */
  tenantId: string;
  /** ARM id of the namespace; role assignments go on it or on `<id>/queues/<queue>`. */
  namespaceResourceId: string;
  /** Client id of the app's user-assigned managed identity. */
  managedIdentityClientId: string;
  /** The data roles that identity holds on the audit queue. */
  roles: RoleName[];
  /**
   * Client id of the PKI services' identity (infra's pkiSenderPrincipalId): Data Sender on the queue
   * only. The demo and the tests' producer send with it.
   */
  producerClientId: string;
  /** IDENTITY_ENDPOINT / IDENTITY_HEADER: a process with these set gets the identity's tokens. */
  managedIdentityEndpoint: string;
  identityHeader: string;
}

export interface ServiceBusIdentity {
  /** App settings replacing ServiceBusConnection. */
  settings: Record<string, string>;
  /** Process environment App Service would provide (not app settings the app validates). */
  environment: Record<string, string>;
  info: ServiceBusIdentityInfo;
}

/**
 * Seeds the publisher tenant, makes `serviceBus` accept its Entra tokens for the namespace, and
 * creates the app's managed identity with `roles` on `queueName`.
 */
export async function provisionServiceBusIdentity(input: {
  azure: AzureStandIn;
  serviceBus: ServiceBusStandIn;
  queueName: string;
  roles: readonly ServiceBusDataRole[];
}): Promise<ServiceBusIdentity> {
  const { azure, serviceBus, queueName } = input;
  const publisher = await azure.control.seedTenant({
    displayName: 'PKI publisher (sandbox)',
    workspace: null,
  });
  const namespaceResourceId = `${publisher.resourceGroup.id}/providers/Microsoft.ServiceBus/namespaces/sb-sandbox`;
  serviceBus.useTokenAuthority(azure.serviceBusAuthority(namespaceResourceId));
  const identity = await azure.control.registerManagedIdentity({
    tenantId: publisher.tenantId,
    name: 'id-pki-siem-export-sandbox',
  });
  const roles = [...new Set(input.roles)].map((role) => SERVICE_BUS_DATA_ROLES[role]);
  for (const role of roles) {
    await azure.control.grantRole({
      tenantId: publisher.tenantId,
      principalId: identity.objectId,
      role,
      scope: `${namespaceResourceId}/queues/${queueName}`,
    });
  }
  const producer = await azure.control.registerManagedIdentity({
    tenantId: publisher.tenantId,
    name: 'id-pki-services-sandbox',
  });
  await azure.control.grantRole({
    tenantId: publisher.tenantId,
    principalId: producer.objectId,
    role: SERVICE_BUS_DATA_ROLES.sender,
    scope: `${namespaceResourceId}/queues/${queueName}`,
  });
  const { managedIdentity } = await azure.control.info();
  return {
    settings: {
      ServiceBusConnection__fullyQualifiedNamespace: serviceBus.fullyQualifiedNamespace,
      ServiceBusConnection__credential: 'managedidentity',
      ServiceBusConnection__clientId: identity.clientId,
      MANAGED_IDENTITY_CLIENT_ID: identity.clientId,
    },
    environment: {
      IDENTITY_ENDPOINT: managedIdentity.endpoint,
      IDENTITY_HEADER: managedIdentity.identityHeader,
    },
    info: {
      fullyQualifiedNamespace: serviceBus.fullyQualifiedNamespace,
      tenantId: publisher.tenantId,
      namespaceResourceId,
      managedIdentityClientId: identity.clientId,
      roles,
      producerClientId: producer.clientId,
      managedIdentityEndpoint: managedIdentity.endpoint,
      identityHeader: managedIdentity.identityHeader,
    },
  };
}

/** Parses `--service-bus-roles sender,receiver`. */
export function parseServiceBusRoles(text: string): ServiceBusDataRole[] {
  const names = text
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '' && name !== 'none');
  const unknown = names.filter((name) => !(name in SERVICE_BUS_DATA_ROLES));
  if (unknown.length > 0) {
    throw new Error(
      `--service-bus-roles takes a comma-separated list of ${Object.keys(SERVICE_BUS_DATA_ROLES).join(', ')} (or "none"); got "${unknown.join(', ')}".`,
    );
  }
  return names as ServiceBusDataRole[];
}
