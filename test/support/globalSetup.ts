import type { TestProject } from 'vitest/node';
import { startAzurite } from './azurite';
import { ServiceBusStandIn } from './serviceBus';

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

    const serviceBus = await new ServiceBusStandIn().start();
    stops.push(() => serviceBus.stop());
    project.provide('serviceBusConnectionString', serviceBus.connectionString);
    project.provide('serviceBusAdminUrl', serviceBus.adminUrl);
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
  }
}
