import type { TestProject } from 'vitest/node';
import { startAzureStandIn } from './azureStandIn';
import { startAzurite } from './azurite';
import { ServiceBusStandIn } from './serviceBus';
import { readServerTls, readTestTrust } from './testCa';

/**
 * Starts everything the integration tests talk to, once per run, on loopback
 * ports chosen by the OS, and hands the endpoints to test files through
 * `provide`/`inject`. Whatever starts here is stopped in the returned teardown.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<void>> = [];
  try {
    const azurite = await startAzurite();
    stops.push(() => azurite.stop());
    project.provide('azuriteTableEndpoint', azurite.tableEndpoint);
    project.provide('azuriteConnectionString', azurite.connectionString);

    const serviceBus = await new ServiceBusStandIn({ tls: readServerTls() }).start();
    stops.push(() => serviceBus.stop());
    project.provide('serviceBusConnectionString', serviceBus.connectionString);
    project.provide('serviceBusAdminUrl', serviceBus.adminUrl);
    project.provide('serviceBusFullyQualifiedNamespace', serviceBus.fullyQualifiedNamespace);

    const trust = readTestTrust();
    const azure = await startAzureStandIn();
    stops.push(() => azure.stop());
    project.provide('azureStandInUrl', azure.baseUrl);
    project.provide('testCaCertPath', trust.caCertPath);

    // The namespace lives in the publisher's own tenant and subscription, as in production; tests grant
    // Azure Service Bus Data Sender/Receiver on it (or on a queue below it) to an app of that tenant.
    const publisher = await azure.control.seedTenant({ displayName: 'Keytos (publisher)', workspace: null });
    const namespaceResourceId = `${publisher.resourceGroup.id}/providers/Microsoft.ServiceBus/namespaces/sb-standin`;
    serviceBus.useTokenAuthority(azure.serviceBusAuthority(namespaceResourceId));
    project.provide('serviceBusNamespace', { tenantId: publisher.tenantId, resourceId: namespaceResourceId });
  } catch (error) {
    await stopAll(stops);
    throw error;
  }
  return () => stopAll(stops);
}

async function stopAll(stops: Array<() => Promise<void>>): Promise<void> {
  for (const stop of stops.reverse()) {
    await stop();
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    azuriteTableEndpoint: string;
    azuriteConnectionString: string;
    /** Service Bus stand-in (AMQP on loopback); create queues with ServiceBusStandInAdmin first. */
    serviceBusConnectionString: string;
    /** Base URL of the Service Bus stand-in's admin API (see test/support/serviceBus/adminServer.ts). */
    serviceBusAdminUrl: string;
    /** 127.0.0.1:PORT of the Service Bus stand-in's TLS listener, for a TokenCredential client. */
    serviceBusFullyQualifiedNamespace: string;
    /** The Service Bus namespace's tenant and ARM id, where its data roles are granted. */
    serviceBusNamespace: { tenantId: string; resourceId: string };
    /** https://127.0.0.1:PORT of the shared Azure stand-in; drive it with new AzureStandInAdmin(url). */
    azureStandInUrl: string;
    /** PEM of this run's test CA (already trusted through NODE_EXTRA_CA_CERTS). */
    testCaCertPath: string;
  }
}
