import { randomUUID } from 'node:crypto';
import { resetCompositionForTests } from '../../src/composition';
import { resetConfigForTests } from '../../src/config';
import type { CustomerApp } from './forwarderWorld';
import type { StandInInfo } from './azureStandIn';

/**
 * App settings for running the real function app against the stand-ins:
 * Azurite tables and a Service Bus queue of its own, the customer app's
 * secret credential against the Azure stand-in's Entra.
 */
export function forwarderSettings(options: {
  azuriteConnectionString: string;
  serviceBusConnectionString: string;
  queueName: string;
  info: StandInInfo;
  app: CustomerApp;
  overrides?: Record<string, string>;
}): Record<string, string> {
  const suffix = randomUUID().replace(/-/g, '').slice(0, 10);
  return {
    AUDIT_QUEUE_NAME: options.queueName,
    ServiceBusConnection: options.serviceBusConnectionString,
    TABLE_STORAGE_CONNECTION_STRING: options.azuriteConnectionString,
    TENANTS_TABLE: `Connections${suffix}`,
    PARKED_TABLE: `Parked${suffix}`,
    CUSTOMER_APP_CLIENT_ID: options.app.clientId,
    CUSTOMER_APP_CREDENTIAL: 'secret',
    CUSTOMER_APP_CLIENT_SECRET: options.app.secret,
    AZURE_AUTHORITY_HOST: options.info.authorityHost,
    AZURE_DISABLE_INSTANCE_DISCOVERY: 'true',
    ARM_ENDPOINT: options.info.armEndpoint,
    API_AUDIENCE: options.info.apiAudience,
    API_ISSUERS: options.info.issuerTemplate,
    API_JWKS_URI: options.info.jwksUri,
    // An operator tenant no test token comes from: every token acts only for its own tid.
    API_OPERATOR_TENANT_ID: '5e2a7b3c-1d4f-4a6e-9b8c-0f1e2d3c4b5a',
    ...options.overrides,
  };
}

/**
 * Puts settings into process.env and makes the app read them afresh (config
 * and everything composed from it); returns the function that restores the
 * previous environment.
 */
export function applySettings(settings: Record<string, string>): () => void {
  const previous = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(settings)) {
    previous.set(name, process.env[name]);
    process.env[name] = value;
  }
  resetConfigForTests();
  resetCompositionForTests();
  return () => {
    for (const [name, value] of previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    resetConfigForTests();
    resetCompositionForTests();
  };
}
