import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SETTINGS } from '../../src/config';

const minimal = {
  ServiceBusConnection:
    'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;',
  TABLE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
  CUSTOMER_APP_CLIENT_ID: '68554b48-233f-42b4-9aa7-2eadca4d7727',
  CUSTOMER_APP_CREDENTIAL: 'secret',
  CUSTOMER_APP_CLIENT_SECRET: 'dev-only',
  API_AUDIENCE: 'api://pki-siem-export',
  API_ISSUERS: 'https://login.microsoftonline.com/{tenantid}/v2.0',
  API_OPERATOR_TENANT_ID: '5e2a7b3c-1d4f-4a6e-9b8c-0f1e2d3c4b5a',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('accepts a minimal development configuration and applies public-cloud defaults', () => {
    const config = loadConfig(minimal);
    expect(config.cloud.armEndpoint).toBe('https://management.azure.com');
    expect(config.cloud.logsIngestionAudience).toBe('https://monitor.azure.com');
    expect(config.api.jwksUri).toBe('https://login.microsoftonline.com/common/discovery/v2.0/keys');
    expect(config.api.issuers).toEqual(['https://login.microsoftonline.com/{tenantid}/v2.0']);
    expect(config.serviceBus).toMatchObject({ kind: 'connectionString', queueName: 'audit-events' });
    expect(config.forwarder.retryBudgetMs).toBe(7 * 24 * 3_600_000);
  });

  it('lists the settings a ConfigError names, telling ServiceBusConnection from its __fullyQualifiedNamespace', () => {
    try {
      loadConfig({
        ...minimal,
        ServiceBusConnection__fullyQualifiedNamespace: 'x.servicebus.windows.net',
        API_AUDIENCE: '',
      });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).settings.sort()).toEqual(
        ['API_AUDIENCE', 'ServiceBusConnection', 'ServiceBusConnection__fullyQualifiedNamespace'].sort(),
      );
      return;
    }
    throw new Error('accepted');
  });

  it('names every missing setting at once', () => {
    const problems = problemsOf({});
    const text = problems.join('\n');
    for (const name of [
      'CUSTOMER_APP_CLIENT_ID',
      'API_AUDIENCE',
      'API_ISSUERS',
      'API_OPERATOR_TENANT_ID',
      'MANAGED_IDENTITY_CLIENT_ID',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(
      /exactly one of ServiceBusConnection and ServiceBusConnection__fullyQualifiedNamespace/,
    );
    expect(text).toMatch(/exactly one of TABLE_STORAGE_CONNECTION_STRING and TABLE_STORAGE_ENDPOINT/);
  });

  it('says why a present setting is wrong', () => {
    const problems = problemsOf({
      ...minimal,
      CUSTOMER_APP_CLIENT_ID: 'not-a-guid',
      RETRY_BUDGET_HOURS: '-1',
    });
    expect(problems.find((p) => p.startsWith('CUSTOMER_APP_CLIENT_ID'))).toMatch(/GUID/);
    expect(problems.find((p) => p.startsWith('RETRY_BUDGET_HOURS'))).toBeDefined();
  });

  it('refuses plain-http cloud endpoints: bearer tokens must not travel in clear', () => {
    expect(problemsOf({ ...minimal, ARM_ENDPOINT: 'http://127.0.0.1:8443' }).join()).toMatch(/ARM_ENDPOINT/);
  });

  it('requires the credential material the chosen credential kind needs', () => {
    expect(problemsOf({ ...minimal, CUSTOMER_APP_CREDENTIAL: 'certificate' }).join()).toMatch(
      /CUSTOMER_APP_CERTIFICATE_PATH is missing/,
    );
    expect(problemsOf({ ...minimal, CUSTOMER_APP_CREDENTIAL: 'managedIdentity' }).join()).toMatch(
      /MANAGED_IDENTITY_CLIENT_ID is missing/,
    );
  });

  it('local.settings.sample.json lists every setting the app reads', () => {
    const sample = JSON.parse(readFileSync('local.settings.sample.json', 'utf8')) as {
      Values: Record<string, string>;
    };
    const identityOnly = new Set([
      'ServiceBusConnection__fullyQualifiedNamespace',
      'ServiceBusConnection__credential',
      'ServiceBusConnection__clientId',
      'TABLE_STORAGE_ENDPOINT',
      'MANAGED_IDENTITY_CLIENT_ID',
      'CUSTOMER_APP_CLIENT_SECRET',
      'API_JWKS_URI',
      'HEALTH_SIGNING_KEY_URL',
    ]);
    for (const name of Object.keys(SETTINGS)) {
      if (!identityOnly.has(name)) expect(sample.Values, name).toHaveProperty(name);
    }
    const { Values } = sample;
    expect(() => loadConfig(Values)).not.toThrow();
  });
});
