import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createEmptyPipeline,
  createHttpHeaders,
  createPipelineRequest,
} from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { JwksSignatureVerifier } from '../../src/adapters/jwksSignatureVerifier';
import { KeyVaultHealthSigner } from '../../src/adapters/keyVaultHealthSigner';
import { EMPTY_CHAIN, sealRows } from '../../src/domain/exportHealth/chain';
import { SigningKeyUnavailableError } from '../../src/domain/exportHealth/signing';
import { verifyHealth } from '../../src/domain/exportHealth/verification';
import { changeRow } from '../../src/domain/exportHealth/windowRows';
import { AzureStandInAdmin } from '../support/azureStandIn';
import { seedCustomer } from './azureStandInHelpers';

const admin = new AzureStandInAdmin(inject('azureStandInUrl'));
const VAULT = 'https://vault.azure.net';

/** What an operator (the deployment) does: create the key, grant the app's identity. */
async function vaultCall(
  credential: TokenCredential,
  method: 'POST',
  url: string,
  body: unknown,
): Promise<{ status: number; body: unknown }> {
  const pipeline = createEmptyPipeline();
  pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential, scopes: `${VAULT}/.default` }));
  const response = await pipeline.sendRequest(
    createDefaultHttpClient(),
    createPipelineRequest({
      url: `${url}?api-version=7.4`,
      method,
      headers: createHttpHeaders({ 'content-type': 'application/json' }),
      body: JSON.stringify(body),
    }),
  );
  return { status: response.status, body: JSON.parse(response.bodyAsText ?? '{}') as unknown };
}

describe('KeyVaultHealthSigner against the Key Vault stand-in', () => {
  it('signs through the vault, publishes every version, and its rows verify; an identity without the role is told which role', async () => {
    const info = await admin.info();
    const operator = await seedCustomer(admin, info);
    const vaultUrl = `${info.baseUrl}/keyvault/kv${randomUUID().slice(0, 8)}`;
    const keyUrl = `${vaultUrl}/keys/export-health`;
    const created = await vaultCall(operator.credential, 'POST', `${keyUrl}/create`, {
      kty: 'RSA',
      key_size: 2048,
    });
    expect(created.status).toBe(200);

    const signer = new KeyVaultHealthSigner({ keyUrl, credential: operator.credential, audience: VAULT });
    const { keyId, algorithm } = await signer.currentKey();
    expect(algorithm).toBe('RS256');
    expect(keyId.startsWith(`${keyUrl}/`)).toBe(true);

    const tenant = randomUUID();
    const content = changeRow(tenant, new Date(), 'settingsSaved', 'alice', 'test', { state: 'active' });
    const first = await sealRows([content], EMPTY_CHAIN, signer, new Date());

    // Rotation: a new version signs from now on; the old one stays published.
    await vaultCall(operator.credential, 'POST', `${keyUrl}/create`, { kty: 'RSA' });
    const rotated = new KeyVaultHealthSigner({ keyUrl, credential: operator.credential, audience: VAULT });
    const second = await sealRows([content], first.head, rotated, new Date());
    expect(second.rows[0]!.KeyId_s).not.toBe(keyId);
    const keys = await rotated.publicKeys();
    expect(keys.map((key) => key.kid)).toEqual([second.rows[0]!.KeyId_s, keyId]);
    expect(keys.every((key) => key.kty === 'RSA' && key.alg === 'RS256' && !('d' in key))).toBe(true);

    const verifier = new JwksSignatureVerifier({ keys });
    const report = await verifyHealth([...first.rows, ...second.rows], [], verifier);
    expect(report.problems).toEqual([]);
    const tampered = { ...second.rows[0]!, Actor_s: 'mallory' };
    expect((await verifyHealth([...first.rows, tampered], [], verifier)).problems.join()).toMatch(/altered/);

    // The app's identity before anyone granted it the role.
    const stranger = await seedCustomer(admin, info);
    const denied = new KeyVaultHealthSigner({ keyUrl, credential: stranger.credential, audience: VAULT });
    const failure = await denied.currentKey().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SigningKeyUnavailableError);
    expect((failure as Error).message).toMatch(/Forbidden.*Key Vault Crypto User/);

    const principal = stranger.tenant.servicePrincipals[stranger.clientId];
    const grant = await vaultCall(operator.credential, 'POST', `${vaultUrl}/grant`, { objectId: principal });
    expect(grant.status).toBe(200);
    const granted = new KeyVaultHealthSigner({ keyUrl, credential: stranger.credential, audience: VAULT });
    expect((await granted.currentKey()).keyId).toBe(second.rows[0]!.KeyId_s);
  });

  it('serves the public keys from a 5-minute cache shared by concurrent callers, so anonymous requests cannot throttle the vault', async () => {
    // Before: every publicKeys() call made 1 + 1 + (versions - 1) vault requests (20 calls here: 60).
    const info = await admin.info();
    const operator = await seedCustomer(admin, info);
    const keyUrl = `${info.baseUrl}/keyvault/kv${randomUUID().slice(0, 8)}/keys/export-health`;
    await vaultCall(operator.credential, 'POST', `${keyUrl}/create`, { kty: 'RSA' });
    await vaultCall(operator.credential, 'POST', `${keyUrl}/create`, { kty: 'RSA' });
    const inner = createDefaultHttpClient();
    let requests = 0;
    let now = Date.parse('2026-12-03T10:00:00Z');
    const signer = new KeyVaultHealthSigner({
      keyUrl,
      credential: operator.credential,
      audience: VAULT,
      now: () => now,
      httpClient: {
        sendRequest: (request) => {
          requests += 1;
          return inner.sendRequest(request);
        },
      },
    });
    const answers = await Promise.all(Array.from({ length: 10 }, () => signer.publicKeys()));
    for (let i = 0; i < 10; i += 1) answers.push(await signer.publicKeys());
    expect(answers.every((keys) => keys.length === 2)).toBe(true);
    expect(requests).toBe(3);
    now += 5 * 60_000;
    expect(await signer.publicKeys()).toHaveLength(2);
    expect(requests).toBe(6);
  });

  it('refuses an RSA key shorter than 2048 bits, as the local signer does', async () => {
    // Before: a 1024-bit key signed and was published. (Real Key Vault creates 2048/3072/4096-bit RSA
    // keys only, but imports smaller ones; the stand-in creates any size to exercise this.)
    const info = await admin.info();
    const operator = await seedCustomer(admin, info);
    const keyUrl = `${info.baseUrl}/keyvault/kv${randomUUID().slice(0, 8)}/keys/export-health`;
    await vaultCall(operator.credential, 'POST', `${keyUrl}/create`, { kty: 'RSA', key_size: 1024 });
    const signer = new KeyVaultHealthSigner({ keyUrl, credential: operator.credential, audience: VAULT });
    const failure = await signer.currentKey().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SigningKeyUnavailableError);
    expect((failure as Error).message).toMatch(/RSA of 1024 bits; use an RSA key of at least 2048 bits/);
  });

  it('a key that does not exist stops signing with a message naming the setting', async () => {
    const info = await admin.info();
    const operator = await seedCustomer(admin, info);
    const signer = new KeyVaultHealthSigner({
      keyUrl: `${info.baseUrl}/keyvault/kv${randomUUID().slice(0, 8)}/keys/missing`,
      credential: operator.credential,
      audience: VAULT,
    });
    await expect(signer.currentKey()).rejects.toThrow(/HEALTH_SIGNING_KEY_URL/);
  });
});
