import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertLoopback } from './loopback';

/** Azurite's development account name; its key is this process's own (accountKey). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
const ACCOUNTS_ENV = 'AZURITE_ACCOUNTS';

/**
 * The account key of the Azurites this process starts: random per process tree, never the
 * well-known development key. Azurite answers whatever Host header a request carries, so with the
 * public key a web page that rebinds its own name to 127.0.0.1 (DNS rebinding) and finds the port
 * could sign Table requests against the sandbox: read connections, plant health rows. Azurite takes
 * its accounts from AZURITE_ACCOUNTS (`name:key`, replacing the default account) and re-reads that
 * variable every minute (AccountDataStore in azurite/dist), so it stays set for the process's life;
 * children inherit it, and an Azurite they start shares the key.
 */
function accountKey(): string {
  const inherited = process.env[ACCOUNTS_ENV]?.match(/^devstoreaccount1:([A-Za-z0-9+/=]+)$/)?.[1];
  if (inherited) return inherited;
  const key = randomBytes(64).toString('base64');
  process.env[ACCOUNTS_ENV] = `${AZURITE_ACCOUNT}:${key}`;
  return key;
}

export interface RunningAzurite {
  /** e.g. http://127.0.0.1:51234/devstoreaccount1 */
  tableEndpoint: string;
  /** A connection string the real @azure/data-tables client accepts. */
  connectionString: string;
  /**
   * Bulk seeding (the benchmark's thousands of tenants): writes entities of string properties
   * straight into Azurite's in-memory store, in the shape its insert handler stores them
   * (LokiTableMetadataStore.insertTableEntity in azurite/dist), where an insert over HTTP costs ~4 ms
   * of CPU here. The table must exist; reads through the Table API see them as any other entity.
   */
  seedEntities(table: string, entities: ReadonlyArray<SeedEntity>): void;
  stop(): Promise<void>;
}

export type SeedEntity = { partitionKey: string; rowKey: string } & Record<string, string>;

interface LokiCollection {
  findOne(query: Record<string, string>): unknown;
  insert(docs: object[]): unknown;
}

interface AzuriteTableServer {
  start(): Promise<void>;
  close(): Promise<void>;
  getHttpServerAddress(): string;
  metadataStore: { getEntityCollection(account: string, table: string, context: unknown): LokiCollection };
}
type TableServerCtor = new (config: unknown) => AzuriteTableServer;
type TableConfigurationCtor = new (...args: unknown[]) => unknown;

/**
 * Starts Azurite's Table service in this process on a random loopback port.
 * The package's main entry is the VS Code extension, so the server classes are
 * loaded from their dist paths; in-process Azurite sends no telemetry.
 */
export async function startAzurite(): Promise<RunningAzurite> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const TableServer = (require('azurite/dist/src/table/TableServer') as { default: TableServerCtor }).default;
  const TableConfiguration = (
    require('azurite/dist/src/table/TableConfiguration') as { default: TableConfigurationCtor }
  ).default;
  /* eslint-enable @typescript-eslint/no-require-imports */

  const key = accountKey();
  const workDir = mkdtempSync(join(tmpdir(), 'azurite-'));
  const config = new TableConfiguration(
    '127.0.0.1',
    0,
    undefined, // keepAliveTimeout
    join(workDir, '__azurite_db_table__.json'),
    false, // debug log
    false, // access log
    undefined,
    undefined,
    false, // loose
    true, // skipApiVersionCheck: the SDK may be newer than this Azurite
    '',
    '',
    '',
    undefined,
    false,
    true, // in-memory persistence
  );
  const server = new TableServer(config);
  await server.start();
  const address = server.getHttpServerAddress(); // "http://127.0.0.1:PORT"
  assertLoopback(address);
  const tableEndpoint = `${address}/${AZURITE_ACCOUNT}`;
  return {
    tableEndpoint,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${key};` +
      `TableEndpoint=${tableEndpoint};`,
    seedEntities(table, entities) {
      const collection = server.metadataStore.getEntityCollection(AZURITE_ACCOUNT, table, {});
      // Azurite's own timestamp format: seven fractional digits; the ETag carries it URL-encoded.
      const timestamp = new Date().toISOString().replace('Z', '0000Z');
      const eTag = `W/"datetime'${encodeURIComponent(timestamp)}'"`;
      const docs = entities.map(({ partitionKey, rowKey, ...properties }) => {
        if (collection.findOne({ PartitionKey: partitionKey, RowKey: rowKey })) {
          throw new Error(`seedEntities: ${partitionKey}/${rowKey} exists in ${table}`);
        }
        return {
          PartitionKey: partitionKey,
          RowKey: rowKey,
          properties: {
            PartitionKey: partitionKey,
            RowKey: rowKey,
            ...properties,
            Timestamp: timestamp,
            'Timestamp@odata.type': 'Edm.DateTime',
          },
          lastModifiedTime: timestamp,
          eTag,
        };
      });
      collection.insert(docs);
    },
    async stop() {
      await server.close();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}
