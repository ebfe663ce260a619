import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetCompositionForTests } from '../../src/composition';
import { resetConfigForTests } from '../../src/config';
import { invokeHttp } from '../support/functionsHost';
import '../../src/functions/siemSettings';

/** An HTTP request under broken app settings: the one error log line names the settings to fix. */

const NAMES = ['TABLE_STORAGE_CONNECTION_STRING', 'CUSTOMER_APP_CLIENT_ID', 'API_AUDIENCE'] as const;
const saved = new Map<string, string | undefined>();

beforeAll(() => {
  const env: Record<string, string | undefined> = {
    ServiceBusConnection:
      'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;',
    TABLE_STORAGE_CONNECTION_STRING: undefined,
    TABLE_STORAGE_ENDPOINT: undefined,
    CUSTOMER_APP_CLIENT_ID: undefined,
    CUSTOMER_APP_CREDENTIAL: 'secret',
    CUSTOMER_APP_CLIENT_SECRET: 'dev-only',
    API_AUDIENCE: undefined,
    API_ISSUERS: 'https://login.microsoftonline.com/{tenantid}/v2.0',
  };
  for (const [name, value] of Object.entries(env)) {
    saved.set(name, process.env[name]);
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  resetConfigForTests();
  resetCompositionForTests();
});

afterAll(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  resetConfigForTests();
  resetCompositionForTests();
});

describe('an HTTP request when app settings are missing', () => {
  it('answers 500 and logs one error line that names every setting to fix', async () => {
    const result = await invokeHttp({
      method: 'GET',
      path: '/api/tenants/0b7bd8b8-7e2c-4b3e-9b8e-6a7b0c1d2e3f/siem',
      headers: { authorization: 'Bearer x.y.z' },
    });
    expect(result.status).toBe(500);
    const errors = result.logs.filter((line) => line.level === 'error');
    expect(errors).toHaveLength(1);
    const line = JSON.stringify(errors[0]);
    expect(line).toContain('ConfigError: Invalid app settings:');
    for (const name of NAMES) expect(line).toContain(name);
    // The response itself says nothing about our configuration.
    expect(result.text()).not.toMatch(/CUSTOMER_APP_CLIENT_ID|API_AUDIENCE/);
  });
});
