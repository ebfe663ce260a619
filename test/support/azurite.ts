import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertLoopback } from './loopback';

/** Azurite's well-known development account (public, documented, not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface RunningAzurite {
  /** e.g. http://127.0.0.1:51234/devstoreaccount1 */
  tableEndpoint: string;
  /** A connection string the real @azure/data-tables client accepts. */
  connectionString: string;
  stop(): Promise<void>;
}

interface AzuriteTableServer {
  start(): Promise<void>;
  close(): Promise<void>;
  getHttpServerAddress(): string;
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
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
      `TableEndpoint=${tableEndpoint};`,
    async stop() {
      await server.close();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}
