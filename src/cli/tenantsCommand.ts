import { parseArgs } from 'node:util';
import type { TokenCredential } from '@azure/identity';
import type { FleetPage, TenantFleet, TenantOverview } from '../domain/fleet';
import type { ConnectionState } from '../domain/tenantConnection';
import { setting, tableStorageSettings } from './parkedCommands';
import { textTable } from './textTable';

/**
 * `tenants`: the operator's fleet view. Every tenant with its connection
 * state and why, its last delivery, its last error and how many of its events
 * are parked, a page at a time (or all pages with --all). Needs Table Storage
 * only (as `parked`).
 */

export const TENANTS_USAGE = `  pki-siem-export tenants [--state active|degraded|suspended|disabled|tested] [--limit <n>] [--continuation <token>] [--all] [--json]
                                          every tenant: state, reason, last delivery, last error, parked count`;

const STATES: readonly ConnectionState[] = ['active', 'degraded', 'suspended', 'disabled', 'tested'];
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1_000;

/** The command line is wrong (exit code 2). */
export class TenantsUsageError extends Error {}

export interface TenantsIo {
  readonly stdout: (text: string) => void;
  readonly env: Record<string, string | undefined>;
  /** Builds the fleet view over the configured tables; tests may substitute it. */
  readonly openFleet?: (env: Record<string, string | undefined>) => Promise<TenantFleet>;
}

export async function tenantsCommand(args: string[], io: TenantsIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        state: { type: 'string' },
        limit: { type: 'string' },
        continuation: { type: 'string' },
        all: { type: 'boolean' },
        json: { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new TenantsUsageError(
      `tenants: ${error instanceof Error ? error.message.split('. ')[0] : String(error)}`,
    );
  }
  const state = values.state;
  if (state !== undefined && !STATES.includes(state as ConnectionState)) {
    throw new TenantsUsageError(`tenants: unknown --state ${state}; use ${STATES.join(', ')}`);
  }
  const limit = values.limit === undefined ? DEFAULT_LIMIT : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new TenantsUsageError(`tenants: --limit must be a whole number from 1 to ${MAX_LIMIT}`);
  }
  if (values.all && values.continuation !== undefined) {
    throw new TenantsUsageError('tenants: give either --all or --continuation, not both');
  }

  const fleet = await (io.openFleet ?? openFleet)(io.env);
  const query = {
    limit: values.all ? MAX_LIMIT : limit,
    ...(state ? { state: state as ConnectionState } : {}),
  };
  let page: FleetPage = await fleet.list({
    ...query,
    ...(values.continuation ? { continuationToken: values.continuation } : {}),
  });
  const items = [...page.items];
  while (values.all && page.continuationToken) {
    page = await fleet.list({ ...query, continuationToken: page.continuationToken });
    items.push(...page.items);
  }
  const continuationToken = values.all ? undefined : page.continuationToken;

  if (values.json) {
    io.stdout(JSON.stringify({ items, ...(continuationToken ? { continuationToken } : {}) }, null, 2));
    return 0;
  }
  if (items.length === 0) {
    io.stdout(state ? `No tenant is ${state}.` : 'No tenant has a connection.');
    return 0;
  }
  io.stdout(listing(items));
  if (continuationToken) {
    const again = [`--limit ${limit}`, ...(state ? [`--state ${state}`] : [])].join(' ');
    io.stdout(`More: pki-siem-export tenants ${again} --continuation '${continuationToken}'`);
  }
  return 0;
}

function listing(items: readonly TenantOverview[]): string {
  return textTable([
    ['Tenant', 'State', 'Since', 'Last delivery', 'Parked', 'Last error', 'Reason'],
    ...items.map((item) => [
      item.tenantId,
      item.state,
      item.stateChangedAt || '-',
      item.lastDeliveryAt ?? '-',
      String(item.parked),
      item.lastError ? `${item.lastError.at} ${shorten(item.lastError.message, 80)}` : '-',
      shorten(item.stateReason, 160),
    ]),
  ]);
}

function shorten(text: string, max: number): string {
  const line = text.replace(/\s*\n\s*/g, ' ');
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

/** The fleet view over the configured tables, with a connection string or the operator's Azure sign-in. */
async function openFleet(env: Record<string, string | undefined>): Promise<TenantFleet> {
  const tables = tableStorageSettings(env);
  const tenantsTable = setting(env, 'TENANTS_TABLE') as string;
  const parkedTable = setting(env, 'PARKED_TABLE') as string;
  const managedIdentityClientId = setting(env, 'MANAGED_IDENTITY_CLIENT_ID') as string | undefined;
  const [storage, fleet, sender] = await Promise.all([
    import('../adapters/tableStorage'),
    import('../adapters/tenantFleet'),
    import('../adapters/auditQueueSender'),
  ]);
  let credential: TokenCredential | undefined;
  const ambient = (): TokenCredential => {
    credential ??= sender.ambientCredential(managedIdentityClientId);
    return credential;
  };
  return new fleet.TableTenantFleet(
    storage.openTable(tables, tenantsTable, ambient),
    storage.openTable(tables, parkedTable, ambient),
  );
}
