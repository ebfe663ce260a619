import { RestError, TableClient, type TableEntityResult } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import type { TableStorageSettings } from '../config';
import { ConcurrencyConflictError } from '../domain/errors';

/**
 * Opens a table and creates it on first use. Production reaches the account
 * with the managed identity (shared keys are disabled there); development and
 * tests use a connection string (Azurite).
 */
export function openTable(
  settings: TableStorageSettings,
  tableName: string,
  credential: () => TokenCredential,
): LazyTable {
  const client =
    settings.kind === 'connectionString'
      ? TableClient.fromConnectionString(settings.connectionString, tableName, {
          allowInsecureConnection: isLoopbackHttp(settings.connectionString),
        })
      : new TableClient(settings.endpoint, tableName, credential());
  return new LazyTable(client);
}

/** Azurite speaks plain http on loopback; nothing else may. */
function isLoopbackHttp(connectionString: string): boolean {
  const match = /TableEndpoint=(http:\/\/[^;]+)/i.exec(connectionString);
  if (!match?.[1]) return false;
  const host = new URL(match[1]).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
}

export class LazyTable {
  private ready: Promise<TableClient> | undefined;

  constructor(private readonly client: TableClient) {}

  /** The client, after making sure the table exists (once per process). */
  get(): Promise<TableClient> {
    this.ready ??= this.client
      .createTable()
      .then(() => this.client)
      .catch((error: unknown) => {
        this.ready = undefined;
        throw error;
      });
    return this.ready;
  }
}

export function isStatus(error: unknown, status: number): boolean {
  return error instanceof RestError && error.statusCode === status;
}

/** 409 on create and 412 on a conditional write both mean: someone else got there first. */
export function toConflict(error: unknown, what: string): unknown {
  if (isStatus(error, 409) || isStatus(error, 412)) {
    return new ConcurrencyConflictError(
      `${what} was changed by someone else meanwhile; read it again and retry.`,
      {
        cause: error,
      },
    );
  }
  return error;
}

export function etagOf(entity: TableEntityResult<object> | { etag?: string }): string {
  if (!entity.etag) throw new Error('Table Storage returned an entity without an ETag');
  return entity.etag;
}

/** Table Storage string properties hold at most 64 KiB (32 K UTF-16 units); stay under it. */
export const MAX_STRING_PROPERTY_CHARS = 30_000;
