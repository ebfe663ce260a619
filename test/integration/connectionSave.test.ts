import { describe, expect, it } from 'vitest';
import { connectionWorld } from '../support/connectionWorld';

/**
 * Save changes and status: refusals, stale pages (ETags) and concurrent writes.
 * Shared set-up and the secret scan at the end: test/support/connectionWorld.ts.
 */
const { customer, settings, connect } = connectionWorld();

describe('Save changes', () => {
  it('refuses a tenant never tested, and a failed test', async () => {
    const c = await customer({ location: 'westeurope' });
    const never = await settings('PUT', c.tenantId, { json: { workspaceResourceId: c.workspaceId } });
    expect(never.status).toBe(409);
    expect(never.json()).toMatchObject({ code: 'ConnectionNotTested' });

    await connect(c, 'eastus');
    const failed = await settings('PUT', c.tenantId, { json: { workspaceResourceId: c.workspaceId } });
    expect(failed.status).toBe(409);
    expect(failed.json()).toMatchObject({ code: 'ConnectionTestFailed' });
  });

  it('never lets a stale page overwrite a newer change: the second of two sessions gets 412', async () => {
    const c = await customer();
    await connect(c);
    await settings('PUT', c.tenantId, { json: { workspaceResourceId: c.workspaceId } });
    // Two portal sessions load the same settings…
    const etag = (await settings('GET', c.tenantId)).headers.get('etag')!;
    // …one turns export off, then the other (still showing it on) saves.
    expect((await settings('DELETE', c.tenantId, { ifMatch: etag })).status).toBe(200);
    const stale = await settings('PUT', c.tenantId, {
      json: { workspaceResourceId: c.workspaceId },
      ifMatch: etag,
    });
    expect(stale.status).toBe(412);
    expect(stale.json()).toMatchObject({ code: 'PreconditionFailed' });
    expect((await settings('GET', c.tenantId)).json()).toMatchObject({ state: 'disabled' });
  });

  it('answers concurrent conflicting writes without losing one silently', async () => {
    const c = await customer();
    await connect(c);
    const results = await Promise.all([
      settings('PUT', c.tenantId, { json: { workspaceResourceId: c.workspaceId } }),
      settings('DELETE', c.tenantId),
    ]);
    for (const result of results) expect([200, 409]).toContain(result.status);
    // Whatever the interleaving, the stored state is the one the last successful write answered.
    const final = (await settings('GET', c.tenantId)).json<{ state: string; updatedAt: string }>();
    const written = results
      .filter((result) => result.status === 200)
      .map((result) => result.json<{ state: string; updatedAt: string; stateChangedAt: string }>());
    expect(written.map((body) => body.state)).toContain(final.state);
  });

  it('reports a tenant never configured as 404', async () => {
    const c = await customer();
    const result = await settings('GET', c.tenantId);
    expect(result.status).toBe(404);
    expect(result.json()).toMatchObject({ code: 'ConnectionNotFound' });
  });
});
