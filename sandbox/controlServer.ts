import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HEALTH_TABLE, TABLE_NAMES } from '../src/domain/tableSchema';
import type { AzureStandInControl } from '../test/support/azureStandIn';
import { loopbackHostProblem, MISDIRECTED_REQUEST } from '../test/support/loopback';

/**
 * The sandbox's own small HTTP API (loopback, plain http), beside the app's:
 *   GET  /rows     every row each table of each workspace received, as the table stores it: the
 *                  workspaces of the sandbox's tenants and those a Create Connection named (the two
 *                  event tables and EZCA_ExportHealth_CL)
 *   DELETE /rows?eventRecordId=<guid>
 *                  makes that event's rows disappear from every workspace, as a purge would
 *   DELETE /rows?healthSequence=<n>&tenantId=<guid>
 *                  the same for the tenant's health row with that Sequence_d (unique per tenant)
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
class NotFound extends Error {}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Which rows `DELETE /rows` purges: the table(s) and the `column == value` filters, all of which must hold. */
interface PurgeTarget {
  tables: readonly string[];
  filters: Array<{ column: string; value: string | number }>;
  describe: string;
}

function parsePurge(query: URLSearchParams): PurgeTarget {
  const eventRecordId = query.get('eventRecordId');
  const healthSequence = query.get('healthSequence');
  const tenantId = query.get('tenantId');
  const usage =
    'Say which row: DELETE /rows?eventRecordId=<guid> (an event row) or DELETE /rows?healthSequence=<n>&tenantId=<guid> (a health row).';
  if ((eventRecordId === null) === (healthSequence === null)) throw new BadRequest(usage);
  if (eventRecordId !== null) {
    if (!GUID.test(eventRecordId))
      throw new BadRequest(`eventRecordId must be a GUID, got "${eventRecordId}".`);
    return {
      tables: TABLE_NAMES,
      filters: [{ column: 'EventRecordId_g', value: eventRecordId }],
      describe: `event row with EventRecordId_g ${eventRecordId}`,
    };
  }
  if (tenantId === null) {
    throw new BadRequest(
      `tenantId=<guid> is required with healthSequence: sequence numbers are per tenant. ${usage}`,
    );
  }
  if (!GUID.test(tenantId)) throw new BadRequest(`tenantId must be a GUID, got "${tenantId}".`);
  if (!/^[1-9]\d*$/.test(healthSequence!)) {
    throw new BadRequest(
      `healthSequence must be a health row's Sequence_d (1, 2, 3 …), got "${healthSequence}".`,
    );
  }
  return {
    tables: [HEALTH_TABLE],
    filters: [
      { column: 'CustomerTenantId_g', value: tenantId },
      { column: 'Sequence_d', value: Number(healthSequence) },
    ],
    describe: `health row with Sequence_d ${healthSequence} of tenant ${tenantId}`,
  };
}

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
          for (const table of [...TABLE_NAMES, HEALTH_TABLE]) {
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

  const purge = async (target: PurgeTarget) => {
    const removed: Array<{ workspaceResourceId: string; table: string; rows: number }> = [];
    for (const workspace of workspaces.values()) {
      for (const table of target.tables) {
        const result = await options.azure
          .purgeRows({ workspaceId: workspace.workspaceResourceId, table, filters: target.filters })
          // A connection named a workspace the stand-in does not have: nothing to purge there.
          .catch(() => ({ removed: 0 }));
        if (result.removed > 0) {
          removed.push({ workspaceResourceId: workspace.workspaceResourceId, table, rows: result.removed });
        }
      }
    }
    if (removed.length === 0) {
      throw new NotFound(`No ${target.describe} in any workspace GET /rows shows; nothing was deleted.`);
    }
    return { removed };
  };

  const server = createServer((request, response) => {
    // Loopback keeps other machines out, not a web page that rebinds its name to 127.0.0.1.
    const misdirected = loopbackHostProblem(request.headers.host, (server.address() as AddressInfo).port);
    if (misdirected) return send(response, MISDIRECTED_REQUEST, { error: misdirected });
    const url = new URL(request.url ?? '/', 'http://localhost');
    const route = `${request.method ?? 'GET'} ${url.pathname}`;
    const work = async () => {
      switch (route) {
        case 'GET /rows':
          return send(response, 200, await rows());
        case 'DELETE /rows':
          return send(response, 200, await purge(parsePurge(url.searchParams)));
        case 'POST /tenants':
          return send(response, 201, await addTenant(parseNewTenant(await readJson(request))));
        default:
          return send(response, 404, {
            error: `No sandbox endpoint ${route}. Try GET /rows, DELETE /rows?eventRecordId=<guid> or POST /tenants.`,
          });
      }
    };
    work().catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      const status = error instanceof BadRequest ? 400 : error instanceof NotFound ? 404 : 500;
      if (!response.headersSent) send(response, status, { error: message });
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
