import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { SETTINGS } from '../../src/config';
import { EVENT_CATALOG } from '../../src/domain/catalog';
import { parseEventMessage } from '../../src/domain/eventContract';
import { TABLE_COLUMNS } from '../../src/domain/tableSchema';
import { assertLoopback } from '../support/loopback';
import { ServiceBusStandInAdmin, type StandInMessage } from '../support/serviceBus';
import { CERTIFICATE_CREATED, TENANT } from '../fixtures/auditEvents';

/**
 * The CLI as an operator runs it: a separate process (`npx tsx src/cli/main.ts`,
 * the development form of `npx pki-siem-export`), its output and exit code.
 */

const ROOT = path.resolve(__dirname, '../..');

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<Outcome> {
  const baseEnv = { ...process.env };
  for (const name of Object.keys(SETTINGS)) delete baseEnv[name];
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: ROOT, env: { ...baseEnv, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        // A non-zero exit comes back as an error with a numeric code; anything else means the process did not run.
        const code = error?.code;
        if (error && typeof code !== 'number') reject(new Error(`the CLI did not run: ${error.message}`));
        else resolve({ code: typeof code === 'number' ? code : 0, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

describe('pki-siem-export CLI process', () => {
  it('catalog --json prints the event catalog', async () => {
    const { code, stdout, stderr } = await cli(['catalog', '--json']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect((JSON.parse(stdout) as { events: unknown }).events).toEqual(EVENT_CATALOG);
  });

  it('schema --json prints the columns of both tables', async () => {
    const { code, stdout } = await cli(['schema', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual(TABLE_COLUMNS);
  });

  it('answers a wrong option with one line on stderr and a non-zero exit', async () => {
    const { code, stdout, stderr } = await cli(['schema', '--jsno']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^pki-siem-export: schema: Unknown option '--jsno'/) as unknown,
    ]);
  });

  it('enqueue lists refused events and connects to no broker when nothing is valid', async () => {
    const connections: number[] = [];
    const server = createServer((socket) => {
      connections.push(1);
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const endpoint = assertLoopback(`sb://127.0.0.1:${address.port}/`);
    try {
      const dir = await mkdtemp(path.join(tmpdir(), 'pki-siem-export-cli-'));
      const file = path.join(dir, 'events.ndjson');
      await writeFile(
        file,
        [
          JSON.stringify({ ...CERTIFICATE_CREATED, time: '2024-05-01T14:34:56+02:00' }),
          JSON.stringify({ ...CERTIFICATE_CREATED, tennantId: CERTIFICATE_CREATED.tenantId }),
        ].join('\n'),
      );
      const { code, stdout, stderr } = await cli(['enqueue', file], {
        ServiceBusConnection: `Endpoint=${endpoint};SharedAccessKeyName=k;SharedAccessKey=dGVzdA==;UseDevelopmentEmulator=true`,
      });
      expect(code).toBe(1);
      expect(stderr.trimEnd().split('\n')).toEqual([
        expect.stringMatching(
          /^refused line 1 \(id .*\): time: must be an ISO 8601 date-time in UTC ending in Z/,
        ) as unknown,
        expect.stringMatching(
          /^refused line 2 \(id .*\): tennantId: is not a field of the audit event/,
        ) as unknown,
      ]);
      expect(stdout).toBe('Sent 0 of 2 events to queue audit-events; 2 refused.\n');
      expect(connections).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('enqueue --dry-run reads events from standard input', async () => {
    const { code, stdout } = await cli(['enqueue', '--dry-run'], {}, JSON.stringify([CERTIFICATE_CREATED]));
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Dry run: 1 of 1 events are valid/);
  });
});

describe('pki-siem-export enqueue against the Service Bus stand-in', () => {
  const admin = new ServiceBusStandInAdmin(inject('serviceBusAdminUrl'));
  const queueEnv = (queueName: string) => ({
    ServiceBusConnection: inject('serviceBusConnectionString'),
    AUDIT_QUEUE_NAME: queueName,
  });
  const eventIn = (message: StandInMessage) =>
    parseEventMessage(Buffer.from(message.bodyBase64 ?? '', 'base64'));

  it('enqueue --sample --count N lands N valid sample events, in batches under the queue limit', async () => {
    // About 1 KB per sample event: five of them need several batches on a 2 KB queue.
    const queue = await admin.createUniqueQueue({ maxMessageSizeBytes: 2_048 }, 'cli');
    const { code, stdout, stderr } = await cli(
      ['enqueue', '--sample', '4887', '--tenant', TENANT.toUpperCase(), '--count', '5'],
      queueEnv(queue),
    );

    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toBe(`Sent 5 of 5 events to queue ${queue}; 0 refused.\n`);
    const stored = await admin.activeMessages(queue);
    expect(stored).toHaveLength(5);
    const events = stored.map((message) => {
      const parsed = eventIn(message);
      if (!parsed.ok) throw new Error(`not a valid event: ${JSON.stringify(parsed.problems)}`);
      expect(message.messageId).toBe(`${parsed.event.tenantId}:${parsed.event.id}`);
      expect(message.applicationProperties).toEqual({ tenantId: TENANT, eventId: 4887, schemaVersion: '1' });
      return parsed.event;
    });
    expect(new Set(events.map((event) => event.id)).size).toBe(5);
    expect(events.map((event) => event.details)).toEqual(
      [1, 2, 3, 4, 5].map((sequence) => ({ sample: true, sequence, total: 5 })),
    );
    const transfers = await admin.transfers(queue);
    expect(transfers.length).toBeGreaterThan(1);
    expect(
      transfers.every((transfer) => transfer.refusedWith === null && transfer.sizeInBytes <= 2_048),
    ).toBe(true);
  });

  it('enqueue from a file sends the valid events, lists the refused ones and exits 1', async () => {
    const queue = await admin.createUniqueQueue({}, 'cli');
    const dir = await mkdtemp(path.join(tmpdir(), 'pki-siem-export-cli-'));
    const file = path.join(dir, 'events.ndjson');
    await writeFile(
      file,
      [
        JSON.stringify(CERTIFICATE_CREATED),
        JSON.stringify({ ...CERTIFICATE_CREATED, id: 'c0ffee00-0000-4000-8000-000000000001', eventId: 4999 }),
      ].join('\n'),
    );

    const { code, stdout, stderr } = await cli(['enqueue', file], queueEnv(queue));

    expect(code).toBe(1);
    expect(stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(
        /^refused line 2 \(id c0ffee00-0000-4000-8000-000000000001\): eventId: 4999 is not in the event catalog/,
      ) as unknown,
    ]);
    expect(stdout).toBe(`Sent 1 of 2 events to queue ${queue}; 1 refused.\n`);
    const stored = await admin.activeMessages(queue);
    expect(stored.map((message) => message.messageId)).toEqual([`${TENANT}:${CERTIFICATE_CREATED.id}`]);
    expect(eventIn(stored[0]!)).toMatchObject({ ok: true, event: { id: CERTIFICATE_CREATED.id } });
  });
});
