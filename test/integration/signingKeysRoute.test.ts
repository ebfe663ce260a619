import { HttpRequest, InvocationContext } from '@azure/functions';
import { afterEach, describe, expect, it } from 'vitest';
import { JwksSignatureVerifier } from '../../src/adapters/jwksSignatureVerifier';
import { LocalHealthSigner } from '../../src/adapters/localHealthSigner';
import { resetCompositionForTests } from '../../src/composition';
import { resetConfigForTests } from '../../src/config';
import { healthSigning, resetExportHealthForTests } from '../../src/exportHealthComposition';
import { siemSigningKeys } from '../../src/functions/siemSigningKeys';
import { responseValidator } from '../support/openApi';
import { generateKeyPairSync } from 'node:crypto';

const BASE_ENV = {
  ServiceBusConnection:
    'Endpoint=sb://127.0.0.1;SharedAccessKeyName=k;SharedAccessKey=a2V5;UseDevelopmentEmulator=true;',
  TABLE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
  CUSTOMER_APP_CLIENT_ID: '68554b48-233f-42b4-9aa7-2eadca4d7727',
  CUSTOMER_APP_CREDENTIAL: 'secret',
  CUSTOMER_APP_CLIENT_SECRET: 'not-used',
  API_AUDIENCE: 'api://pki-siem-export',
  API_ISSUERS: 'https://login.microsoftonline.com/{tenantid}/v2.0',
  API_OPERATOR_TENANT_ID: '0b9e3c1d-5a2f-4e6b-8c7d-9f0a1b2c3d4e',
};

const saved = { ...process.env };
function useEnv(extra: Record<string, string>): void {
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
  Object.assign(process.env, BASE_ENV, extra);
  resetConfigForTests();
  resetCompositionForTests();
  resetExportHealthForTests();
}

afterEach(() => {
  process.env = { ...saved };
  resetConfigForTests();
  resetCompositionForTests();
  resetExportHealthForTests();
});

async function get(): Promise<{
  status: number;
  body: unknown;
  headers: Record<string, string>;
  logs: string;
}> {
  const request = new HttpRequest({ method: 'GET', url: 'http://127.0.0.1/api/siem/signing-keys' });
  const logs: string[] = [];
  const response = await siemSigningKeys(
    request,
    new InvocationContext({
      functionName: 'siemSigningKeys',
      logHandler: (_level, ...args) => logs.push(args.map((arg) => JSON.stringify(arg)).join(' ')),
    }),
  );
  const body: unknown =
    response.jsonBody ?? (typeof response.body === 'string' ? JSON.parse(response.body) : undefined);
  return {
    status: response.status ?? 200,
    body,
    headers: response.headers as Record<string, string>,
    logs: logs.join('\n'),
  };
}

describe('GET /api/siem/signing-keys', () => {
  it('publishes the configured key as a JWKS without authentication, and it verifies what that key signs', async () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    useEnv({ HEALTH_SIGNING_PRIVATE_KEY: pem.replace(/\n/g, '\\n') });
    const response = await get();
    expect(response.status).toBe(200);
    expect(response.headers['cache-control']).toBe('public, max-age=300');
    expect(responseValidator('GET', '/siem/signing-keys', 200)(response.body)).toBe(true);
    const signer = await healthSigning();
    const { keyId, algorithm } = await signer.currentKey();
    expect(response.body).toMatchObject({
      keys: [{ kid: keyId, alg: 'ES256', kty: 'EC', crv: 'P-256', use: 'sig' }],
    });
    const input = Buffer.from('header.payload');
    const signature = Buffer.from(await signer.sign(keyId, algorithm, input)).toString('base64url');
    const verifier = new JwksSignatureVerifier(response.body as { keys: unknown });
    expect(await verifier.verify(keyId, 'ES256', input, signature)).toBe(true);
    expect(await verifier.verify(keyId, 'ES256', Buffer.from('header.other'), signature)).toBe(false);
    // The private part is never published.
    expect(JSON.stringify(response.body)).not.toMatch(/"d":/);
  });

  // Before: the anonymous caller got the reason itself (setting names; for Key Vault the vault host,
  // key URL, role and network error) as `detail`.
  it('answers a generic 503 SigningKeyUnavailable when no key is configured; the reason goes to the log', async () => {
    useEnv({});
    const response = await get();
    expect(response.status).toBe(503);
    expect(responseValidator('GET', '/siem/signing-keys', 503)(response.body)).toBe(true);
    expect(response.body).toMatchObject({
      code: 'SigningKeyUnavailable',
      detail: 'The signing keys are unavailable right now; try again later.',
    });
    expect(response.headers['retry-after']).toBe('60');
    expect(JSON.stringify(response.body)).not.toMatch(/HEALTH_SIGNING/);
    expect(response.logs).toMatch(/HEALTH_SIGNING_KEY_URL is missing/);
  });

  it('answers a generic 503 for an unreadable private key', async () => {
    useEnv({ HEALTH_SIGNING_PRIVATE_KEY: 'not a pem' });
    const response = await get();
    expect(response.status).toBe(503);
    expect(JSON.stringify(response.body)).not.toMatch(/PEM|HEALTH_SIGNING/);
    expect(response.logs).toMatch(/HEALTH_SIGNING_PRIVATE_KEY is not a readable PEM/);
  });

  it('a previous key stays published after a rotation', async () => {
    const old = await LocalHealthSigner.generate();
    const rotated = await LocalHealthSigner.generate(await old.publicKeys());
    const keys = await rotated.publicKeys();
    expect(keys.map((key) => key.kid)).toEqual([
      (await rotated.currentKey()).keyId,
      (await old.currentKey()).keyId,
    ]);
  });
});
