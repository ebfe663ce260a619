import { userInfo } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { operatorActor, type ConnectionActor } from '../domain/connectionHistory';
import type { TokenCredential } from '@azure/identity';
import { SETTINGS, type TableStorageSettings } from '../config';
import { PARK_CATEGORIES, type ParkedEvents, type ReplaySelection } from '../domain/parkedEvents';
import type { Logger, ParkCategory, ParkedEvent } from '../domain/ports';
import { queueSettingsFromEnv } from './queueSettings';
import { textTable } from './textTable';

/**
 * `parked` and `replay`: an operator's view of a tenant's parked events and
 * the way to put them back on the queue, with the same use case the portal's
 * routes call. They need Table Storage (TABLE_STORAGE_CONNECTION_STRING or
 * TABLE_STORAGE_ENDPOINT, TENANTS_TABLE, PARKED_TABLE) and, for replay, the
 * queue (as `enqueue`) and EXPORT_HEALTH_TABLE; none of the app's other settings.
 * A replay is recorded like one through the API: on the connection's history
 * and as an export health change row, with the operator (`cli:<login name>`)
 * as its actor. The CLI holds no signing key: the row is stored as a request
 * that the service's heartbeat seals into the customer's chain on its next
 * tick (within five minutes).
 */

export const PARKED_USAGE = `  pki-siem-export parked --tenant <guid | _unattributed> [--limit <n>] [--continuation <token>] [--json]
                                          list a tenant's parked events, oldest first
  pki-siem-export replay --tenant <guid> [--id <parkedId>]... [--category <category>]... [--json]
                                          put parked events back on the queue (all, or the ids/categories given)`;

/** Filed here when nothing in a message says whose it is (see the parked event store). */
const UNATTRIBUTED = '_unattributed';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The command line is wrong (exit code 2). */
export class ParkedUsageError extends Error {}
/** A setting the command needs is missing or invalid (exit code 1, like `enqueue`). */
export class ParkedSettingsError extends Error {}

export interface ParkedEventsHandle {
  parkedEvents: ParkedEvents;
  close(): Promise<void>;
}

export interface ParkedIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Record<string, string | undefined>;
  /** Builds the use case over the configured stores and queue; tests may substitute it. */
  readonly openParkedEvents?: (
    env: Record<string, string | undefined>,
    stderr: (text: string) => void,
  ) => Promise<ParkedEventsHandle>;
}

/** The operator running the command, from the machine's login (USER / USERNAME, else the OS account). */
export function cliOperator(env: Record<string, string | undefined>): ConnectionActor {
  let name = env.USER ?? env.USERNAME;
  if (!name) {
    try {
      name = userInfo().username;
    } catch {
      // No account entry (some containers): the actor says so rather than failing the replay.
      name = undefined;
    }
  }
  return operatorActor(name);
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, allowPositionals: false, strict: true });
  } catch (error) {
    const message = error instanceof Error ? error.message.split('. ')[0] : String(error);
    throw new ParkedUsageError(`${command}: ${message}`);
  }
}

function tenantOf(command: string, value: unknown, allowUnattributed: boolean): string {
  if (typeof value !== 'string')
    throw new ParkedUsageError(`${command}: --tenant <customer tenant GUID> is required`);
  if (allowUnattributed && value === UNATTRIBUTED) return value;
  if (!GUID.test(value)) {
    throw new ParkedUsageError(
      `${command}: --tenant must be a tenant GUID${allowUnattributed ? ` or ${UNATTRIBUTED}` : ''}, not "${value}"`,
    );
  }
  return value.toLowerCase();
}

export async function parkedCommand(args: string[], io: ParkedIo): Promise<number> {
  const { values } = parse('parked', args, {
    tenant: { type: 'string' },
    limit: { type: 'string' },
    continuation: { type: 'string' },
    json: { type: 'boolean' },
  });
  const tenantId = tenantOf('parked', values.tenant, true);
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw new ParkedUsageError('parked: --limit must be a whole number from 1 to 100');
  }
  const handle = await (io.openParkedEvents ?? openParkedEvents)(io.env, io.stderr);
  try {
    const page = await handle.parkedEvents.list(tenantId, {
      limit,
      ...(values.continuation ? { continuationToken: values.continuation } : {}),
    });
    if (values.json) {
      io.stdout(JSON.stringify(page, null, 2));
      return 0;
    }
    if (page.items.length === 0) {
      io.stdout(`No parked events for tenant ${tenantId}.`);
      return 0;
    }
    io.stdout(listing(page.items));
    if (page.continuationToken) {
      io.stdout(
        `More: pki-siem-export parked --tenant ${tenantId} --continuation '${page.continuationToken}'`,
      );
    }
    return 0;
  } finally {
    await handle.close();
  }
}

export async function replayCommand(args: string[], io: ParkedIo): Promise<number> {
  const { values } = parse('replay', args, {
    tenant: { type: 'string' },
    id: { type: 'string', multiple: true },
    category: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  const tenantId = tenantOf('replay', values.tenant, false);
  const ids = values.id;
  const categories = values.category;
  const unknown = (categories ?? []).filter(
    (category) => !PARK_CATEGORIES.includes(category as ParkCategory),
  );
  if (unknown.length > 0) {
    throw new ParkedUsageError(
      `replay: unknown --category ${unknown.join(', ')}; use ${PARK_CATEGORIES.join(', ')}`,
    );
  }
  const selection: ReplaySelection = {
    ...(ids ? { parkedIds: ids } : {}),
    ...(categories ? { categories: categories as ParkCategory[] } : {}),
  };
  const handle = await (io.openParkedEvents ?? openParkedEvents)(io.env, io.stderr);
  const actor = cliOperator(io.env);
  let replayed = 0;
  const notFound: string[] = [];
  try {
    // One call moves a bounded number; keep going until the selection is exhausted.
    for (;;) {
      const result = await handle.parkedEvents.replay(tenantId, selection, actor);
      replayed += result.replayed;
      notFound.push(...result.notFound);
      if (!result.remaining) break;
    }
  } finally {
    await handle.close();
  }
  if (values.json) {
    io.stdout(JSON.stringify({ tenantId, replayed, notFound }, null, 2));
  } else {
    io.stdout(`Replayed ${replayed} parked event(s) of tenant ${tenantId}.`);
    for (const id of notFound) io.stderr(`not parked (any more): ${id}`);
  }
  return notFound.length > 0 ? 1 : 0;
}

function listing(items: readonly ParkedEvent[]): string {
  const rows = [
    ['Parked id', 'Category', 'Event', 'Attempts', 'Reason'],
    ...items.map((item) => [
      item.parkedId,
      item.category,
      item.eventId === undefined ? '-' : String(item.eventId),
      String(item.attempts),
      item.reason.length > 160 ? `${item.reason.slice(0, 157)}...` : item.reason,
    ]),
  ];
  return textTable(rows);
}

export function setting<K extends keyof typeof SETTINGS>(
  env: Record<string, string | undefined>,
  name: K,
): unknown {
  const raw = env[name];
  const parsed = SETTINGS[name].schema.safeParse(raw === '' ? undefined : raw);
  if (!parsed.success) {
    throw new ParkedSettingsError(
      `${name} is invalid: ${parsed.error.issues[0]?.message ?? 'unreadable'}. ${SETTINGS[name].description}`,
    );
  }
  return parsed.data;
}

export function tableStorageSettings(env: Record<string, string | undefined>): TableStorageSettings {
  const connectionString = setting(env, 'TABLE_STORAGE_CONNECTION_STRING') as string | undefined;
  const endpoint = setting(env, 'TABLE_STORAGE_ENDPOINT') as string | undefined;
  if (connectionString && endpoint) {
    throw new ParkedSettingsError(
      'Set only one of TABLE_STORAGE_CONNECTION_STRING and TABLE_STORAGE_ENDPOINT.',
    );
  }
  if (connectionString) return { kind: 'connectionString', connectionString };
  if (endpoint) return { kind: 'identity', endpoint };
  throw new ParkedSettingsError(
    'No Table Storage configured: set TABLE_STORAGE_ENDPOINT (with az login or a managed identity) or TABLE_STORAGE_CONNECTION_STRING.',
  );
}

/** The real stores and queue, reached with a connection string or the operator's Azure sign-in. */
async function openParkedEvents(
  env: Record<string, string | undefined>,
  stderr: (text: string) => void,
): Promise<ParkedEventsHandle> {
  const tables = tableStorageSettings(env);
  const tenantsTable = setting(env, 'TENANTS_TABLE') as string;
  const parkedTable = setting(env, 'PARKED_TABLE') as string;
  const healthTable = setting(env, 'EXPORT_HEALTH_TABLE') as string;
  const managedIdentityClientId = setting(env, 'MANAGED_IDENTITY_CLIENT_ID') as string | undefined;
  const [storage, connectionStore, parkedStore, queueAdapter, useCase, sender, chainStore, requests] =
    await Promise.all([
      import('../adapters/tableStorage'),
      import('../adapters/tenantConnectionStore'),
      import('../adapters/parkedEventStore'),
      import('../adapters/serviceBusAuditQueue'),
      import('../domain/parkedEvents'),
      import('../adapters/auditQueueSender'),
      import('../adapters/healthChainStore'),
      import('../domain/exportHealth/changeRequests'),
    ]);
  let credential: TokenCredential | undefined;
  const ambient = (): TokenCredential => {
    credential ??= sender.ambientCredential(managedIdentityClientId);
    return credential;
  };
  let queue: InstanceType<typeof queueAdapter.ServiceBusAuditQueue> | undefined;
  const lazyQueue = {
    send: (messages: Parameters<InstanceType<typeof queueAdapter.ServiceBusAuditQueue>['send']>[0]) => {
      // Listing needs no queue: settings for it are read (and required) only when replaying.
      const settings = queueSettingsFromEnv(env);
      queue ??= new queueAdapter.ServiceBusAuditQueue(
        settings.kind === 'connectionString'
          ? {
              kind: 'connectionString',
              connectionString: settings.connectionString,
              queueName: settings.queueName,
            }
          : {
              kind: 'identity',
              fullyQualifiedNamespace: settings.fullyQualifiedNamespace,
              queueName: settings.queueName,
            },
        ambient,
      );
      return queue.send(messages);
    },
  };
  const clock = { now: () => new Date() };
  const parkedEvents = new useCase.ParkedEvents({
    parked: new parkedStore.TableParkedEventStore(storage.openTable(tables, parkedTable, ambient)),
    connections: new connectionStore.TableTenantConnectionStore(
      storage.openTable(tables, tenantsTable, ambient),
    ),
    queue: lazyQueue,
    clock,
    healthChanges: {
      recorder: new requests.DeferredHealthChangeRecorder(
        new chainStore.TableHealthChainStore(storage.openTable(tables, healthTable, ambient)),
        clock,
      ),
      logger: stderrLogger(stderr),
    },
  });
  return { parkedEvents, close: async () => queue?.close() };
}

/** The use case's log lines (a change row not written) go to stderr, with their fields. */
function stderrLogger(stderr: (text: string) => void): Logger {
  const write = (level: string, message: string, fields?: Record<string, unknown>) =>
    stderr(`${level}: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
  return {
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warning', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}
