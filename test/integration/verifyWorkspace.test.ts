import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogsIngestionClient } from '@azure/monitor-ingestion';
import { LogsQueryClient } from '@azure/monitor-query';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { LocalHealthSigner } from '../../src/adapters/localHealthSigner';
import { runCli } from '../../src/cli/cli';
import type { VerifyIo } from '../../src/cli/verifyCommand';
import { EMPTY_CHAIN, sealRows } from '../../src/domain/exportHealth/chain';
import type { SignedHealthRow } from '../../src/domain/exportHealth/healthRow';
import { emptyDeliveries, windowRows } from '../../src/domain/exportHealth/windowRows';
import { windowContaining } from '../../src/domain/exportHealth/windows';
import {
  CA_TABLE,
  dataFlowTransform,
  HEALTH_STREAM,
  HEALTH_TABLE,
  healthStreamDeclarationColumns,
  healthTablesApiColumns,
  streamName,
} from '../../src/domain/tableSchema';
import { AzureStandInAdmin, type StandInInfo } from '../support/azureStandIn';
import {
  arm,
  createTable,
  dcrBody,
  dcrUrl,
  pollOperation,
  seedCustomer,
  tableUrl,
  type Customer,
} from './azureStandInHelpers';

const admin = new AzureStandInAdmin(inject('azureStandInUrl'));
let info: StandInInfo;

beforeAll(async () => {
  info = await admin.info();
});

/** A workspace with the CA table, the health table and a DCR declaring both streams. */
async function connected(customer: Customer): Promise<{
  ingest: LogsIngestionClient;
  immutableId: string;
  uploadHealth: (rows: readonly SignedHealthRow[]) => Promise<void>;
}> {
  await createTable(info, customer, CA_TABLE);
  const put = await arm(customer.credential, 'PUT', tableUrl(info, customer.workspaceId, HEALTH_TABLE), {
    properties: { schema: { name: HEALTH_TABLE, columns: healthTablesApiColumns() } },
  });
  expect(put.status).toBe(202);
  expect((await pollOperation(customer.credential, put.headers['azure-asyncoperation']!)).at(-1)).toBe(
    'Succeeded',
  );
  const body = dcrBody(customer, [CA_TABLE]);
  body.properties.streamDeclarations[HEALTH_STREAM] = { columns: healthStreamDeclarationColumns() };
  body.properties.dataFlows.push({
    streams: [HEALTH_STREAM],
    destinations: ['customerWorkspace'],
    // CustomerTenantId_g is a guid column: the stand-in refuses 'source' here, as Azure does.
    transformKql: dataFlowTransform(HEALTH_TABLE),
    outputStream: HEALTH_STREAM,
  });
  const dcr = await arm(customer.credential, 'PUT', dcrUrl(info, customer, 'dcr-siem'), body);
  expect(dcr.status).toBe(201);
  const ingest = new LogsIngestionClient(dcr.body.properties.endpoints.logsIngestion, customer.credential);
  const immutableId: string = dcr.body.properties.immutableId;
  return {
    ingest,
    immutableId,
    uploadHealth: (rows) =>
      ingest.upload(
        immutableId,
        HEALTH_STREAM,
        rows.map((row) => ({ ...row })),
      ),
  };
}

/** A --keys file holding the signer's public keys, as a customer saves them. */
async function keysFile(signer: LocalHealthSigner, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const keys = join(dir, 'keys.json');
  await writeFile(keys, JSON.stringify({ keys: await signer.publicKeys() }));
  return keys;
}

/** verify's arguments for one health window, checked against these keys. */
function windowArgs(window: { start: Date; end: Date }, keys: string): string[] {
  return ['--from', window.start.toISOString(), '--to', window.end.toISOString(), '--keys', keys];
}

/** verify's arguments for an hour no test writes to, with the stand-in's signing keys. */
function emptyHourArgs(): string[] {
  return [
    '--from',
    '2026-12-01T00:00:00Z',
    '--to',
    '2026-12-01T01:00:00Z',
    '--jwks-url',
    `${info.baseUrl}/common/discovery/v2.0/keys`,
  ];
}

async function verify(
  customer: Customer,
  argv: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: VerifyIo = {
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
    env: {},
    stdinIsTerminal: true,
    readStdin: () => Promise.resolve(''),
    logsQueryEndpoint: info.baseUrl,
    credential: () => customer.credential,
  };
  const code = await runCli(['verify', '--workspace', customer.workspaceId, ...argv], io);
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

describe('verify --workspace against the Logs Query stand-in', () => {
  it('exits 0 when every listed row is there, 3 naming a listed id that is not', async () => {
    const customer = await seedCustomer(admin, info);
    const { ingest, immutableId, uploadHealth } = await connected(customer);
    const now = new Date();
    const window = windowContaining(now, 15);
    const delivered = [randomUUID(), randomUUID(), randomUUID()];
    await ingest.upload(
      immutableId,
      streamName(CA_TABLE),
      delivered.map((id) => ({
        TimeGenerated: now.toISOString(),
        EventTime_t: now.toISOString(),
        EventID_d: 4888,
        EventRecordId_g: id,
        Outcome_s: 'Denied',
      })),
    );
    const signer = await LocalHealthSigner.generate();
    const deliveries = emptyDeliveries();
    deliveries.delivered[CA_TABLE] = new Set(delivered);
    const sealed = await sealRows(
      windowRows(customer.tenant.tenantId, window, deliveries, { state: 'active' }),
      EMPTY_CHAIN,
      signer,
      now,
    );
    await uploadHealth(sealed.rows);
    const range = windowArgs(window, await keysFile(signer, 'verify-ws-'));

    const ok = await verify(customer, range);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(/complete and intact/);
    expect(ok.code).toBe(0);

    // A second window lists an id Azure never stored (as when it answers 204 and drops the row).
    const dropped = randomUUID();
    const next = emptyDeliveries();
    next.delivered[CA_TABLE] = new Set([dropped]);
    const more = await sealRows(
      windowRows(customer.tenant.tenantId, window, next, { state: 'active' }).map((row) => ({
        ...row,
        Part_d: 1,
      })),
      sealed.head,
      signer,
      now,
    );
    await uploadHealth(more.rows);
    const missing = await verify(customer, range);
    expect(missing.code).toBe(3);
    expect(missing.stdout).toContain(`missing ${CA_TABLE} ${dropped}`);
  });

  it('reads the chain start further back than the one-hour edge: a predecessor 3 hours before --from still links', async () => {
    const signer = await LocalHealthSigner.generate();
    const keys = await keysFile(signer, 'verify-chain-');
    const now = new Date();
    const window = windowContaining(now, 15);
    // The export's heartbeats were off for 3 hours: the window before `window` in the chain is that old.
    const old = windowContaining(new Date(now.getTime() - 3 * 3_600_000), 15);

    async function chained(customer: Customer, uploadOld: boolean) {
      const { uploadHealth } = await connected(customer);
      const tenant = customer.tenant.tenantId;
      const first = await sealRows(
        windowRows(tenant, old, emptyDeliveries(), { state: 'active' }),
        EMPTY_CHAIN,
        signer,
        now,
      );
      const second = await sealRows(
        windowRows(tenant, window, emptyDeliveries(), { state: 'active' }),
        first.head,
        signer,
        now,
      );
      await uploadHealth([...(uploadOld ? first.rows : []), ...second.rows]);
      return verify(customer, windowArgs(window, keys));
    }

    const linked = await chained(await seedCustomer(admin, info), true);
    expect(linked.stderr).toBe('');
    expect(linked.stdout).toMatch(/complete and intact/);
    expect(linked.code).toBe(0);

    // The predecessor purged: the chain's start is not proven, and verify says which row it needs.
    const purged = await chained(await seedCustomer(admin, info), false);
    expect(purged.code).toBe(3);
    expect(purged.stdout).toMatch(/earliest health row read is 3 .*predecessor 2 is not among the rows read/);
  });

  it('says which role is missing when the workspace cannot be read', async () => {
    const customer = await seedCustomer(admin, info, { roles: ['Monitoring Metrics Publisher'] });
    const result = await verify(customer, emptyHourArgs());
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/InsufficientAccessError.*Log Analytics Reader/);
  });

  it('needs no more than Log Analytics Reader on the workspace itself', async () => {
    const customer = await seedCustomer(admin, info, { roles: [] });
    const argv = emptyHourArgs();
    const refused = await verify(customer, argv);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/you may not read .*ask for "Log Analytics Reader"/);

    await admin.grantRole({
      tenantId: customer.tenant.tenantId,
      clientId: customer.clientId,
      role: 'Log Analytics Reader',
      scope: customer.workspaceId,
    });
    // Read access now: the workspace simply holds nothing to prove, which is a verdict, not an error.
    const read = await verify(customer, argv);
    expect(read.stderr).toBe('');
    expect(read.code).toBe(3);
    expect(read.stdout).toMatch(/no health rows in the range: nothing is proven/);
  });

  it('the stand-in refuses a query verify does not send, saying so', async () => {
    const customer = await seedCustomer(admin, info);
    const client = new LogsQueryClient(customer.credential, { endpoint: info.baseUrl });
    const error = await client
      .queryResource(customer.workspaceId, `${CA_TABLE} | take 1`, { duration: 'PT1H' })
      .catch((caught: unknown) => caught);
    expect(String((error as Error).message)).toMatch(/answers only the queries pki-siem-export verify sends/);
  });
});
