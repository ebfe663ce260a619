import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';

/**
 * The settings panel (sandbox/panel), served beside the API on the sandbox's HTTP port:
 *   GET /                          the page
 *   GET /panel/panel.js|panel.css  its script (bundled from TypeScript on first request) and styles
 *   GET /panel/session             the API base and the demo tenant's sandbox token, for the page to sign in
 *   GET /panel/workspace-rows      how many rows a workspace received (sandbox only: what Log Analytics shows)
 * Same origin as the API, so the page needs no CORS; the token is the stand-in's, never a real secret.
 */

export interface PanelResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface PanelOptions {
  /** Who the page signs in as. */
  session: () => { tenantId: string; bearerToken: string };
  /** Rows the workspace received over all tables; undefined for a workspace the sandbox does not know. */
  countRows: (workspaceResourceId: string) => Promise<number | undefined>;
}

const PANEL_DIR = path.join(__dirname, 'panel');

/** Scripts, styles and API calls from this origin only; no inline code, no framing. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function respond(status: number, contentType: string, body: string | Buffer): PanelResponse {
  return {
    status,
    headers: {
      'content-type': contentType,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy': CONTENT_SECURITY_POLICY,
    },
    body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
  };
}

const json = (status: number, value: unknown) =>
  respond(status, 'application/json; charset=utf-8', JSON.stringify(value));

/** Only pages the browser loaded from loopback get the token or rows: a rebound DNS name cannot read them. */
function fromLoopback(host: string | undefined): boolean {
  return /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/i.test(host ?? '');
}

async function bundle(): Promise<string> {
  const result = await build({
    entryPoints: [path.join(PANEL_DIR, 'panel.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    tsconfig: path.join(PANEL_DIR, 'tsconfig.json'),
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error('esbuild produced no panel script.');
  return output.text;
}

export function panelRoutes(options: PanelOptions) {
  let script: Promise<string> | undefined;

  return async (request: {
    method: string;
    url: string;
    host: string | undefined;
  }): Promise<PanelResponse | undefined> => {
    const url = new URL(request.url, 'http://sandbox');
    if (url.pathname !== '/' && !url.pathname.startsWith('/panel/')) return undefined;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return json(405, { error: `${request.method} is not supported here; the panel only serves GET.` });
    }
    switch (url.pathname) {
      case '/':
        return respond(200, 'text/html; charset=utf-8', await readFile(path.join(PANEL_DIR, 'index.html')));
      case '/panel/panel.css':
        return respond(200, 'text/css; charset=utf-8', await readFile(path.join(PANEL_DIR, 'panel.css')));
      case '/panel/panel.js':
        script ??= bundle();
        try {
          return respond(200, 'text/javascript; charset=utf-8', await script);
        } catch (error) {
          script = undefined;
          throw error;
        }
      case '/panel/session': {
        if (!fromLoopback(request.host)) {
          return json(403, { error: 'Open the panel at http://127.0.0.1:<port>/ to be signed in.' });
        }
        const { tenantId, bearerToken } = options.session();
        return json(200, { apiBaseUrl: '/api', tenantId, bearerToken });
      }
      case '/panel/workspace-rows': {
        if (!fromLoopback(request.host)) {
          return json(403, { error: 'Open the panel at http://127.0.0.1:<port>/ to read the workspace.' });
        }
        const workspaceResourceId = url.searchParams.get('workspaceResourceId');
        if (!workspaceResourceId) {
          return json(400, { error: 'Name the workspace: ?workspaceResourceId=/subscriptions/…' });
        }
        const total = await options.countRows(workspaceResourceId);
        return total === undefined
          ? json(404, { error: `The sandbox has no workspace ${workspaceResourceId}.` })
          : json(200, { workspaceResourceId, total });
      }
      default:
        return json(404, { error: `No panel file ${url.pathname}.` });
    }
  };
}

export type PanelRoutes = ReturnType<typeof panelRoutes>;
