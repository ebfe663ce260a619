import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TABLE_NAMES } from '../src/domain/tableSchema';
import type { AzureStandInControl } from '../test/support/azureStandIn';

/**
 * The sandbox's own small HTTP API (loopback, plain http), beside the app's:
 *   GET  /rows     every row each table of each workspace received, as the table stores it: the
 *                  workspaces of the sandbox's tenants and those a Create Connection named
 *   POST /tenants  seeds another customer tenant: { location?, roles?, unregisteredProviders? } →
 *                  SandboxTenant (201); unregisteredProviders, e.g. ["Microsoft.Insights"], makes a
 *                  subscription that never registered them
 */

export interface SandboxTenant {
  tenantId: string;
  subscriptionId: string;
  resourceGroup: string;
  workspaceResourceId: string;
  location: string;
  /** A bearer token the API accepts for this tenant. */
  bearerToken: string;
}

export interface WorkspaceRows {
  workspaceResourceId: string;
  tenantId: string;
  location: string;
  /** Table name → rows, in the order they were received. */
  tables: Record<string, Record<string, unknown>[]>;
}

export interface RowsResponse {
  workspaces: WorkspaceRows[];
}

export interface NewTenantInput {
  location?: string;
  roles?: string[];
  unregisteredProviders?: string[];
}

export interface RunningControlServer {
  url: string;
  addTenant(input: NewTenantInput): Promise<SandboxTenant>;
  /** Shows this workspace's rows too (e.g. one a Create Connection named). */
  watchWorkspace(workspace: Omit<WorkspaceRows, 'tables'>): void;
  stop(): Promise<void>;
}

class BadRequest extends Error {}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
  });
  response.end(text);
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BadRequest('The body must be JSON, e.g. {"location":"westeurope"}.');
  }
}

function parseNewTenant(body: unknown): NewTenantInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequest('The body must be a JSON object.');
  }
  const { location, roles, unregisteredProviders } = body as Record<string, unknown>;
  if (location !== undefined && typeof location !== 'string')
    throw new BadRequest('location must be a string.');
  if (roles !== undefined && !(Array.isArray(roles) && roles.every((role) => typeof role === 'string'))) {
    throw new BadRequest('roles must be an array of role names.');
  }
  if (
    unregisteredProviders !== undefined &&
    !(Array.isArray(unregisteredProviders) && unregisteredProviders.every((name) => typeof name === 'string'))
  ) {
    throw new BadRequest(
      'unregisteredProviders must be an array of namespaces, e.g. ["Microsoft.Insights"].',
    );
  }
  return {
    ...(location !== undefined ? { location } : {}),
    ...(roles !== undefined ? { roles } : {}),
    ...(unregisteredProviders !== undefined ? { unregisteredProviders } : {}),
  };
}

export async function startControlServer(options: {
  azure: AzureStandInControl;
  newTenant: (input: NewTenantInput) => Promise<SandboxTenant>;
}): Promise<RunningControlServer> {
  // Workspaces whose rows /rows shows: the sandbox's tenants', and any a Create Connection named.
  const workspaces = new Map<string, Omit<WorkspaceRows, 'tables'>>();
  const watchWorkspace = (workspace: Omit<WorkspaceRows, 'tables'>) => {
    const key = workspace.workspaceResourceId.toLowerCase();
    if (!workspaces.has(key)) workspaces.set(key, workspace);
  };
  const addTenant = async (input: NewTenantInput) => {
    const tenant = await options.newTenant(input);
    watchWorkspace(tenant);
    return tenant;
  };

  const rows = async (): Promise<RowsResponse> => {
    const listed = await Promise.all(
      [...workspaces.values()].map(async (workspace): Promise<WorkspaceRows | undefined> => {
        const tables: Record<string, Record<string, unknown>[]> = {};
        try {
          for (const table of TABLE_NAMES) {
            const recorded = await options.azure.rows({ workspaceId: workspace.workspaceResourceId, table });
            tables[table] = recorded.map((entry) => entry.row);
          }
        } catch {
          // A connection named a workspace the stand-in does not have: it has no rows to show.
          return undefined;
        }
        return {
          workspaceResourceId: workspace.workspaceResourceId,
          tenantId: workspace.tenantId,
          location: workspace.location,
          tables,
        };
      }),
    );
    return { workspaces: listed.filter((workspace) => workspace !== undefined) };
  };

  const server = createServer((request, response) => {
    const route = `${request.method ?? 'GET'} ${new URL(request.url ?? '/', 'http://localhost').pathname}`;
    const work = async () => {
      switch (route) {
        case 'GET /rows':
          return send(response, 200, await rows());
        case 'POST /tenants':
          return send(response, 201, await addTenant(parseNewTenant(await readJson(request))));
        default:
          return send(response, 404, {
            error: `No sandbox endpoint ${route}. Try GET /rows or POST /tenants.`,
          });
      }
    };
    work().catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      if (!response.headersSent) send(response, error instanceof BadRequest ? 400 : 500, { error: message });
      else response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    addTenant,
    watchWorkspace,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
