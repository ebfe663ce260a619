import { createDefaultHttpClient, type HttpClient, type PipelineRequest } from '@azure/core-rest-pipeline';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { CustomerCredentials } from '../../src/adapters/customerCredentials';
import { loadConfig } from '../../src/config';
import { AzureStandInAdmin, type StandInInfo } from '../support/azureStandIn';
import { forwarderSettings } from '../support/forwarderApp';
import { type CustomerApp, provisionTenant, registerCustomerApp } from '../support/forwarderWorld';

/**
 * The customer credentials against the Azure stand-in's Entra: every
 * tenant's token requests go through the one HttpClient the credentials were
 * given (one keep-alive pool per host for all tenants), and each tenant still
 * gets a token of its own.
 */

const azure = new AzureStandInAdmin(inject('azureStandInUrl'));
let info: StandInInfo;
let app: CustomerApp;

beforeAll(async () => {
  info = await azure.info();
  app = await registerCustomerApp(azure);
});

describe('customer credentials', () => {
  it('send every tenant’s token requests through the one HttpClient they were given', async () => {
    const [tenantA, tenantB] = await Promise.all([
      provisionTenant(azure, info, app),
      provisionTenant(azure, info, app),
    ]);
    const config = loadConfig(
      forwarderSettings({
        azuriteConnectionString: inject('azuriteConnectionString'),
        serviceBusConnectionString: inject('serviceBusConnectionString'),
        queueName: 'unused',
        info,
        app,
      }),
    );
    const inner = createDefaultHttpClient();
    const sent: PipelineRequest[] = [];
    const recording: HttpClient = {
      sendRequest: (request) => {
        sent.push(request);
        return inner.sendRequest(request);
      },
    };
    const credentials = new CustomerCredentials(config, recording);
    const scope = `${config.cloud.logsIngestionAudience}/.default`;

    const [tokenA, tokenB] = await Promise.all([
      credentials.forTenant(tenantA.tenantId).getToken(scope),
      credentials.forTenant(tenantB.tenantId).getToken(scope),
    ]);

    const tokenPaths = sent
      .map((request) => new URL(request.url).pathname)
      .filter((path) => path.endsWith('/oauth2/v2.0/token'));
    expect(tokenPaths.sort()).toEqual(
      [`/${tenantA.tenantId}/oauth2/v2.0/token`, `/${tenantB.tenantId}/oauth2/v2.0/token`].sort(),
    );
    expect(tokenA?.token).toBeTruthy();
    expect(tokenB?.token).toBeTruthy();
    expect(tokenA?.token).not.toBe(tokenB?.token);
  });
});
