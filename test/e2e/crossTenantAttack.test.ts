import { describe, expect, it } from 'vitest';
import { buildEvent, sampleEvent } from '../../src/producer';
import { TenantApi, addTenant, publish, type ApiResponse } from '../support/sandboxClient';
import { e2eSandbox, eventually, refuseNextUpload } from './support/harness';

/**
 * Issue 13's attack against the running sandbox: someone creates an Entra tenant of their own,
 * consents the API and assigns themselves every app role, then calls every route for another
 * customer's tenant. Every call is refused (403, problem+json) and the victim's connection and
 * parked events are exactly as they were; the operator's portal token still manages the victim.
 */

const sandbox = e2eSandbox();

/** Every route and method the API registers, with a body that would do harm if it were accepted. */
function everyRoute(victim: TenantApi): Array<[string, string, unknown]> {
  return [
    ['POST', '/connection', { workspaceResourceId: victim.tenant.workspaceResourceId, location: 'eastus' }],
    ['GET', '', undefined],
    ['PUT', '', { workspaceResourceId: victim.tenant.workspaceResourceId, location: victim.tenant.location }],
    ['DELETE', '', undefined],
    ['GET', '/parked', undefined],
    ['POST', '/replay', {}],
  ];
}

async function parkedIds(api: TenantApi): Promise<string[]> {
  const page = await api.parked();
  expect(page.status).toBe(200);
  return (page.body as { items: Array<{ parkedId: string }> }).items.map((item) => item.parkedId);
}

describe('an Entra tenant of its own with every role', { timeout: 90_000 }, () => {
  it('gets 403 on every route of another tenant and changes or reads nothing', async () => {
    const { info } = sandbox;
    const victimTenant = await addTenant(info);
    const victim = new TenantApi(info.apiBaseUrl, victimTenant);
    await victim.connectAndSave();

    // One parked event for the victim: the workspace refuses the next upload outright.
    // Only the event's table: a heartbeat's health-row upload (one-minute windows here) must not take it.
    await refuseNextUpload(sandbox.azure, victimTenant.tenantId, 'Custom-EZCA_Certificates_CL');
    await publish(info, [buildEvent(sampleEvent(4888, victimTenant.tenantId))]);
    const parkedBefore = await eventually('the victim to have a parked event', async () => {
      const ids = await parkedIds(victim);
      return ids.length === 1 ? ids : undefined;
    });
    const before = await victim.settings();
    expect(before.body).toMatchObject({ state: 'active' });

    // The attacker's own tenant, with every role of the API, even naming the portal's app as azp.
    const attackerTenant = await addTenant(info);
    const tokens = await Promise.all(
      [info.portalClientId, undefined].map(async (clientId) => {
        const minted = await sandbox.azure.mintToken({
          tenantId: attackerTenant.tenantId,
          roles: ['SiemExport.Manage', 'SiemExport.AllTenants'],
          ...(clientId ? { clientId } : {}),
        });
        return minted.token;
      }),
    );

    for (const token of tokens) {
      const attacker = new TenantApi(info.apiBaseUrl, { ...victimTenant, bearerToken: token });
      for (const [method, path, body] of everyRoute(victim)) {
        const answer: ApiResponse = await attacker.call(method, path, body, { 'if-match': '*' });
        expect(answer.status, `${method} ${path}`).toBe(403);
        expect(answer.body, `${method} ${path}`).toMatchObject({
          code: 'TenantNotAllowed',
          detail: expect.stringContaining('may only manage its own export') as unknown,
        });
        // Nothing of the victim's is read back to the attacker.
        expect(JSON.stringify(answer.body)).not.toContain(victimTenant.workspaceResourceId);
      }
    }

    const after = await victim.settings();
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before.body);
    expect(await parkedIds(victim)).toEqual(parkedBefore);

    // The operator's portal backend still manages any tenant.
    const operator = new TenantApi(info.apiBaseUrl, {
      ...victimTenant,
      bearerToken: info.operatorBearerToken,
    });
    const viaPortal = await operator.settings();
    expect(viaPortal.status).toBe(200);
    expect(viaPortal.body).toMatchObject({ state: 'active' });
    // The last change is still the victim's own Save changes: the attacker left no trace there.
    expect(viaPortal.body).toMatchObject({
      lastChange: { action: 'saveSettings', actor: { kind: 'caller', tenantId: victimTenant.tenantId } },
    });

    // And GET names who made a change: here the operator's portal turning the export off.
    expect((await operator.call('DELETE', '')).status).toBe(200);
    const afterOff = await victim.settings();
    expect(afterOff.body).toMatchObject({
      state: 'disabled',
      lastChange: {
        action: 'disableExport',
        actor: { kind: 'caller', tenantId: info.operatorTenantId, appId: info.portalClientId },
      },
    });
    expect((afterOff.body as { stateReason: string }).stateReason).toContain(info.operatorTenantId);
  });
});
