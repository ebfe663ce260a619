import {
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
} from '@azure/identity';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { AzureStandInAdmin, type StandInInfo } from '../support/azureStandIn';
import { generateClientCertificate } from '../support/testCa';

const ARM_SCOPE = 'https://management.azure.com/.default';
const MONITOR_SCOPE = 'https://monitor.azure.com/.default';

const admin = new AzureStandInAdmin(inject('azureStandInUrl'));
let info: StandInInfo;
let options: { authorityHost: string; disableInstanceDiscovery: true };

beforeAll(async () => {
  info = await admin.info();
  options = { authorityHost: info.authorityHost, disableInstanceDiscovery: true };
});

afterEach(() => {
  vi.unstubAllEnvs();
});

/** A multi-tenant app registered in its publisher's tenant and consented in a customer tenant. */
async function consentedApp(register: Parameters<AzureStandInAdmin['registerApp']>[0] = { secret: true }) {
  const app = await admin.registerApp(register);
  const customer = await admin.seedTenant({ consentApps: [app.clientId] });
  return { app, customer };
}

async function verifyWithJwks(token: string, audience: string, tenantId: string) {
  const jwks = createRemoteJWKSet(new URL(info.jwksUri));
  return jwtVerify(token, jwks, { audience, issuer: info.issuerTemplate.replace('{tenantid}', tenantId) });
}

describe('Entra stand-in with the real @azure/identity credentials', () => {
  it('issues a client-secret token for ARM, signed by a published key, naming the tenant and the service principal', async () => {
    const { app, customer } = await consentedApp();
    const credential = new ClientSecretCredential(customer.tenantId, app.clientId, app.secret!, options);

    const token = await credential.getToken(ARM_SCOPE);

    const { payload } = await verifyWithJwks(token.token, 'https://management.azure.com', customer.tenantId);
    expect(payload).toMatchObject({
      tid: customer.tenantId,
      oid: customer.servicePrincipals[app.clientId],
      appid: app.clientId,
      azp: app.clientId,
      appidacr: '1',
    });
    expect(payload.oid).not.toBe(app.homeServicePrincipalId);
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now());
  });

  it('issues a token for the monitor audience to a certificate credential (PS256 assertion verified against the registered certificate)', async () => {
    const certificate = await generateClientCertificate();
    const { app, customer } = await consentedApp({ certificatePems: [certificate.certificatePem] });
    const credential = new ClientCertificateCredential(
      customer.tenantId,
      app.clientId,
      { certificate: certificate.combinedPem },
      options,
    );

    const token = await credential.getToken(MONITOR_SCOPE);

    const claims = decodeJwt(token.token);
    expect(claims).toMatchObject({ aud: 'https://monitor.azure.com', tid: customer.tenantId, appidacr: '2' });
  });

  it('refuses a certificate the app never registered (AADSTS700027)', async () => {
    const registered = await generateClientCertificate();
    const other = await generateClientCertificate();
    const { app, customer } = await consentedApp({ certificatePems: [registered.certificatePem] });
    const credential = new ClientCertificateCredential(
      customer.tenantId,
      app.clientId,
      { certificate: other.combinedPem },
      options,
    );

    await expect(credential.getToken(ARM_SCOPE)).rejects.toThrow(/AADSTS700027/);
  });

  it('exchanges a managed identity token for an app token through a federated credential (production path)', async () => {
    const publisher = await admin.seedTenant({ workspace: null });
    const identity = await admin.registerManagedIdentity({ tenantId: publisher.tenantId });
    const { app, customer } = await consentedApp({
      homeTenantId: publisher.tenantId,
      federatedCredentials: [
        { issuer: identity.issuer, subject: identity.objectId, audiences: ['api://AzureADTokenExchange'] },
      ],
    });
    vi.stubEnv('IDENTITY_ENDPOINT', info.managedIdentity.endpoint);
    vi.stubEnv('IDENTITY_HEADER', info.managedIdentity.identityHeader);
    const managedIdentity = new ManagedIdentityCredential({ clientId: identity.clientId });
    const credential = new ClientAssertionCredential(
      customer.tenantId,
      app.clientId,
      async () => (await managedIdentity.getToken('api://AzureADTokenExchange/.default')).token,
      options,
    );

    const token = await credential.getToken(ARM_SCOPE);

    expect(decodeJwt(token.token)).toMatchObject({
      tid: customer.tenantId,
      appid: app.clientId,
      oid: customer.servicePrincipals[app.clientId],
    });
  });

  it.each([
    ['subject', 700213, { subject: 'stranger' }],
    ['issuer', 700211, { issuer: 'other-tenant' }],
    ['audience', 700212, { audience: 'api://SomethingElse' }],
  ] as const)(
    'refuses an assertion whose %s matches no federated credential (AADSTS%d)',
    async (_claim, code, mismatch) => {
      const publisher = await admin.seedTenant({ workspace: null });
      const other = await admin.seedTenant({ workspace: null });
      const trusted = await admin.registerManagedIdentity({ tenantId: publisher.tenantId });
      const stranger = await admin.registerManagedIdentity({ tenantId: publisher.tenantId });
      const { app, customer } = await consentedApp({
        homeTenantId: publisher.tenantId,
        federatedCredentials: [
          { issuer: trusted.issuer, subject: trusted.objectId, audiences: ['api://AzureADTokenExchange'] },
        ],
      });
      const assertion = await admin.mintToken({
        tenantId: 'issuer' in mismatch ? other.tenantId : publisher.tenantId,
        audience: 'audience' in mismatch ? mismatch.audience : 'api://AzureADTokenExchange',
        objectId: 'subject' in mismatch ? stranger.objectId : trusted.objectId,
      });
      const credential = new ClientAssertionCredential(
        customer.tenantId,
        app.clientId,
        () => Promise.resolve(assertion.token),
        options,
      );

      await expect(credential.getToken(ARM_SCOPE)).rejects.toThrow(new RegExp(`AADSTS${code}\\b`));
    },
  );

  it('refuses a wrong client secret (AADSTS7000215)', async () => {
    const { app, customer } = await consentedApp();
    const credential = new ClientSecretCredential(customer.tenantId, app.clientId, 'not-the-secret', options);
    await expect(credential.getToken(ARM_SCOPE)).rejects.toThrow(/AADSTS7000215/);
  });

  it('refuses an app nobody registered (AADSTS700016)', async () => {
    const customer = await admin.seedTenant();
    const credential = new ClientSecretCredential(
      customer.tenantId,
      '11111111-2222-3333-4444-555555555555',
      'whatever',
      options,
    );
    await expect(credential.getToken(ARM_SCOPE)).rejects.toThrow(/AADSTS700016/);
  });

  it('refuses an app the tenant never consented to, even with the right secret (AADSTS700016)', async () => {
    const app = await admin.registerApp({ secret: true });
    const stranger = await admin.seedTenant();
    const credential = new ClientSecretCredential(stranger.tenantId, app.clientId, app.secret!, options);
    await expect(credential.getToken(ARM_SCOPE)).rejects.toThrow(/AADSTS700016/);
  });

  it('refuses a scope whose resource it does not know (AADSTS500011)', async () => {
    const { app, customer } = await consentedApp();
    const credential = new ClientSecretCredential(customer.tenantId, app.clientId, app.secret!, options);
    await expect(credential.getToken('https://database.windows.net/.default')).rejects.toThrow(
      /AADSTS500011/,
    );
  });

  it('answers token errors in the Entra shape', async () => {
    const { app, customer } = await consentedApp();
    const response = await fetch(`${info.authorityHost}/${customer.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: app.clientId,
        client_secret: 'wrong',
        scope: ARM_SCOPE,
      }),
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
    expect(body.error_description).toMatch(/^AADSTS7000215: .*Trace ID: .*Correlation ID: /);
  });
});

describe('signing keys and minted API tokens', () => {
  it('serves the same keys per tenant and for common, and an OpenID configuration naming them', async () => {
    const tenant = await admin.seedTenant({ workspace: null });
    const common = (await (await fetch(info.jwksUri)).json()) as { keys: Array<{ kid: string }> };
    const perTenant = (await (
      await fetch(`${info.authorityHost}/${tenant.tenantId}/discovery/v2.0/keys`)
    ).json()) as { keys: Array<{ kid: string }> };
    expect(perTenant.keys.map((key) => key.kid)).toEqual(common.keys.map((key) => key.kid));
    const configuration = (await (
      await fetch(`${info.authorityHost}/${tenant.tenantId}/v2.0/.well-known/openid-configuration`)
    ).json()) as Record<string, string>;
    expect(configuration.issuer).toBe(`${info.authorityHost}/${tenant.tenantId}/v2.0`);
    expect(configuration.jwks_uri).toBe(`${info.authorityHost}/${tenant.tenantId}/discovery/v2.0/keys`);
  });

  it('mints tokens our API can validate through the JWKS: issuer, audience, roles, tid', async () => {
    const tenant = await admin.seedTenant({ workspace: null });
    const minted = await admin.mintToken({ tenantId: tenant.tenantId, roles: ['SiemExport.Manage'] });

    const { payload, protectedHeader } = await verifyWithJwks(
      minted.token,
      info.apiAudience,
      tenant.tenantId,
    );

    expect(payload.roles).toEqual(['SiemExport.Manage']);
    expect(payload.tid).toBe(tenant.tenantId);
    expect(protectedHeader.kid).toBe(minted.kid);
  });

  it('mints the tokens an API must refuse: expired, signed by an unknown key, for another audience', async () => {
    const tenant = await admin.seedTenant({ workspace: null });
    const expired = await admin.mintToken({ tenantId: tenant.tenantId, expiresInSeconds: -120 });
    const forged = await admin.mintToken({ tenantId: tenant.tenantId, unpublishedKey: true });
    const otherAudience = await admin.mintToken({
      tenantId: tenant.tenantId,
      audience: 'api://someone-else',
    });

    await expect(verifyWithJwks(expired.token, info.apiAudience, tenant.tenantId)).rejects.toThrow(/exp/);
    await expect(verifyWithJwks(forged.token, info.apiAudience, tenant.tenantId)).rejects.toThrow(
      /no applicable key/i,
    );
    await expect(verifyWithJwks(otherAudience.token, info.apiAudience, tenant.tenantId)).rejects.toThrow(
      /aud/,
    );
  });

  it('rotates keys: a new key verifies next to the old one, and a retired key no longer verifies', async () => {
    const tenant = await admin.seedTenant({ workspace: null });
    const { kid: newKid } = await admin.addSigningKey();
    const signedByNew = await admin.mintToken({ tenantId: tenant.tenantId, kid: newKid });
    const signedByActive = await admin.mintToken({ tenantId: tenant.tenantId });
    expect(decodeProtectedHeader(signedByNew.token).kid).toBe(newKid);

    await expect(verifyWithJwks(signedByNew.token, info.apiAudience, tenant.tenantId)).resolves.toBeDefined();
    await expect(
      verifyWithJwks(signedByActive.token, info.apiAudience, tenant.tenantId),
    ).resolves.toBeDefined();

    await admin.retireSigningKey({ kid: newKid });
    expect((await admin.signingKeys()).published).not.toContain(newKid);
    await expect(verifyWithJwks(signedByNew.token, info.apiAudience, tenant.tenantId)).rejects.toThrow(
      /no applicable key/i,
    );
    await expect(
      verifyWithJwks(signedByActive.token, info.apiAudience, tenant.tenantId),
    ).resolves.toBeDefined();
  });
});
