import { describe, expect, it } from 'vitest';
import { panelRoutes } from '../../sandbox/panelServer';

/** The sandbox's panel routes, called as its HTTP front door calls them. */

const TOKEN = 'header.payload.signature';
const WORKSPACE =
  '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law-one';

const routes = panelRoutes({
  session: () => ({ tenantId: '11111111-1111-1111-1111-111111111111', bearerToken: TOKEN }),
  countRows: (workspaceResourceId) => Promise.resolve(workspaceResourceId === WORKSPACE ? 7 : undefined),
});

const get = (url: string, host = '127.0.0.1:7071') => routes({ method: 'GET', url, host });
const json = (body: Buffer): unknown => JSON.parse(body.toString('utf8'));

describe('sandbox settings panel routes', () => {
  it('leave every other path to the functions, /api included', async () => {
    expect(await get('/api/tenants/x/siem')).toBeUndefined();
    expect(await get('/panelx')).toBeUndefined();
  });

  it('serve the page with a policy that allows no inline or foreign script', async () => {
    const page = await get('/');
    expect(page?.status).toBe(200);
    expect(page?.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page?.headers['content-security-policy']).toMatch(/script-src 'self';/);
    expect(page?.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    const html = page?.body.toString('utf8') ?? '';
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]/);
    expect(html).not.toContain(TOKEN);
  });

  it('bundle the page script from TypeScript, with the domain validation and no token in it', async () => {
    const script = await get('/panel/panel.js');
    expect(script?.status).toBe(200);
    const text = script?.body.toString('utf8') ?? '';
    expect(text).toContain('is not a GUID');
    expect(text).toContain('West Europe');
    expect(text).not.toContain(TOKEN);
    expect((await get('/panel/panel.css'))?.status).toBe(200);
  });

  it('sign the page in only when it was loaded from loopback', async () => {
    const session = await get('/panel/session');
    expect(json(session!.body)).toEqual({
      apiBaseUrl: '/api',
      tenantId: '11111111-1111-1111-1111-111111111111',
      bearerToken: TOKEN,
    });
    const rebound = await get('/panel/session', 'attacker.example:7071');
    expect(rebound?.status).toBe(403);
    expect(rebound?.body.toString('utf8')).not.toContain(TOKEN);
  });

  it('count the rows a known workspace received and explain bad requests', async () => {
    expect(
      json((await get(`/panel/workspace-rows?workspaceResourceId=${encodeURIComponent(WORKSPACE)}`))!.body),
    ).toEqual({
      workspaceResourceId: WORKSPACE,
      total: 7,
    });
    expect((await get('/panel/workspace-rows?workspaceResourceId=%2Fnope'))?.status).toBe(404);
    expect((await get('/panel/workspace-rows'))?.status).toBe(400);
    const rebound = `/panel/workspace-rows?workspaceResourceId=${encodeURIComponent(WORKSPACE)}`;
    expect((await get(rebound, 'attacker.example:7071'))?.status).toBe(403);
    expect((await routes({ method: 'POST', url: '/', host: '127.0.0.1' }))?.status).toBe(405);
    expect((await get('/panel/nothing.js'))?.status).toBe(404);
  });
});
