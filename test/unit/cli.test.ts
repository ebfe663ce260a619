import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CliIo, runCli } from '../../src/cli/cli';
import { type QueueSettings, queueSettingsFromEnv } from '../../src/cli/queueSettings';
import { AuditEventPublisher } from '../../src/producer';
import { FakeAuditQueue } from '../support/fakeAuditQueue';
import { CA_DELETED_MINIMAL, CERTIFICATE_CREATED, TENANT } from '../fixtures/auditEvents';

const CONNECTION =
  'Endpoint=sb://127.0.0.1:5672/;SharedAccessKeyName=k;SharedAccessKey=dGVzdA==;UseDevelopmentEmulator=true';

interface Run {
  code: number;
  stdout: string[];
  stderr: string[];
  queue: FakeAuditQueue;
  settings: QueueSettings[];
}

async function run(
  argv: string[],
  options: { env?: Record<string, string>; stdin?: string; queue?: FakeAuditQueue } = {},
): Promise<Run> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const settings: QueueSettings[] = [];
  const queue = options.queue ?? new FakeAuditQueue();
  const io: CliIo = {
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
    env: options.env ?? { ServiceBusConnection: CONNECTION },
    stdinIsTerminal: options.stdin === undefined,
    readStdin: () => Promise.resolve(options.stdin ?? ''),
    openPublisher: (resolved) => {
      settings.push(resolved);
      return new AuditEventPublisher(queue);
    },
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr, queue, settings };
}

async function tempFile(name: string, content: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pki-siem-export-cli-'));
  const file = path.join(dir, name);
  await writeFile(file, content);
  return file;
}

describe('enqueue', () => {
  it('sends N sample events of an event ID for a tenant', async () => {
    const result = await run(['enqueue', '--sample', '4888', '--count', '3', '--tenant', TENANT]);
    expect(result.code).toBe(0);
    expect(result.stdout).toEqual(['Sent 3 of 3 events to queue audit-events; 0 refused.']);
    expect(result.queue.received).toHaveLength(3);
    for (const message of result.queue.received) {
      expect(message.applicationProperties).toEqual({ tenantId: TENANT, eventId: 4888, schemaVersion: '1' });
    }
    expect(result.queue.closed).toBe(true);
    expect(result.settings).toEqual([
      { kind: 'connectionString', connectionString: CONNECTION, queueName: 'audit-events' },
    ]);
  });

  it('reads a JSON array file, sends the valid events and lists the refused ones in order', async () => {
    const file = await tempFile(
      'events.json',
      JSON.stringify([
        CERTIFICATE_CREATED,
        { ...CA_DELETED_MINIMAL, ca: undefined },
        { ...CERTIFICATE_CREATED, eventId: 1 },
      ]),
    );
    const result = await run(['enqueue', file], {
      env: { ServiceBusConnection: CONNECTION, AUDIT_QUEUE_NAME: 'pki-audit' },
    });
    expect(result.code).toBe(1);
    expect(result.queue.received.map((message) => message.messageId)).toEqual([
      `${CERTIFICATE_CREATED.tenantId}:${CERTIFICATE_CREATED.id}`,
    ]);
    expect(result.stderr).toEqual([
      expect.stringMatching(/^refused event 2 \(id C7A1E2F3-.*\): ca: is required on CA events/) as unknown,
      expect.stringMatching(
        /^refused event 3 \(id 0b8a3c8e-.*\): eventId: 1 is the connection-test event/,
      ) as unknown,
    ]);
    expect(result.stdout).toEqual(['Sent 1 of 3 events to queue pki-audit; 2 refused.']);
  });

  it('reads NDJSON from standard input and reports an unparsable line by its number', async () => {
    const stdin = [
      JSON.stringify(CERTIFICATE_CREATED),
      '',
      '{"eventId": 4888,',
      JSON.stringify(CA_DELETED_MINIMAL),
    ].join('\n');
    const result = await run(['enqueue', '-', '--json'], { stdin });
    expect(result.code).toBe(1);
    expect(result.stderr).toEqual([
      expect.stringMatching(/^refused line 3: \(event\): is not JSON/) as unknown,
    ]);
    const report = JSON.parse(result.stdout.join('\n')) as {
      sent: Array<{ label: string }>;
      refused: Array<{ label: string }>;
    };
    expect(report.sent.map((item) => item.label)).toEqual(['line 1', 'line 4']);
    expect(report.refused.map((item) => item.label)).toEqual(['line 3']);
    expect(result.queue.received).toHaveLength(2);
  });

  it('validates without sending in a dry run, needing no queue settings', async () => {
    const file = await tempFile('one.json', JSON.stringify(CERTIFICATE_CREATED));
    const result = await run(['enqueue', file, '--dry-run'], { env: {} });
    expect(result.code).toBe(0);
    expect(result.stdout).toEqual(['Dry run: 1 of 1 events are valid; 0 refused. Nothing was sent.']);
    expect(result.settings).toEqual([]);
  });

  it('says in one line when the broker fails, after reporting nothing as sent that was not', async () => {
    const queue = new FakeAuditQueue();
    queue.failOnSend = 1;
    const result = await run(['enqueue', '--sample', '19', '--tenant', TENANT], { queue });
    expect(result.code).toBe(1);
    expect(result.stderr).toEqual([
      expect.stringMatching(
        /^pki-siem-export: Sending audit events failed after 0 were sent; 1 not confirmed: .*unavailable/,
      ) as unknown,
    ]);
    expect(queue.closed).toBe(true);
  });

  it.each([
    [['enqueue', 'a.json', '--sample', '4888', '--tenant', TENANT], /either a file or --sample/],
    [['enqueue', '--count', '3'], /--count and --tenant go with --sample/],
    [
      ['enqueue', '--sample', '1', '--tenant', TENANT],
      /--sample 1 is not a catalog event ID; use one of 4882/,
    ],
    [['enqueue', '--sample', '4888'], /--sample needs --tenant/],
    [['enqueue', '--sample', '4888', '--tenant', TENANT, '--count', '0'], /--count must be a whole number/],
    [['enqueue', 'a.json', 'b.json'], /one file, not 2/],
    [['enqueue'], /give a file of events, - for standard input, or --sample/],
    [['enqueue', '--dryrun'], /Unknown option '--dryrun'/],
    [[], /a command is required/],
    [['export'], /unknown command "export"/],
  ])('refuses a wrong command line %j with one line and exit code 2', async (argv, message) => {
    const result = await run(argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toHaveLength(1);
    expect(result.stderr[0]).toMatch(message);
    expect(result.queue.received).toHaveLength(0);
  });

  it('reports a missing file in one line', async () => {
    const result = await run(['enqueue', path.join(tmpdir(), 'no-such-events-file.json')]);
    expect(result).toMatchObject({
      code: 1,
      stderr: [expect.stringMatching(/cannot read .*no such file/) as unknown],
    });
  });
});

describe('queueSettingsFromEnv', () => {
  it('uses the managed identity form of the app setting', () => {
    expect(
      queueSettingsFromEnv({
        ServiceBusConnection__fullyQualifiedNamespace: 'contoso.servicebus.windows.net',
        MANAGED_IDENTITY_CLIENT_ID: '68554b48-233f-42b4-9aa7-2eadca4d7727',
      }),
    ).toEqual({
      kind: 'identity',
      fullyQualifiedNamespace: 'contoso.servicebus.windows.net',
      queueName: 'audit-events',
      managedIdentityClientId: '68554b48-233f-42b4-9aa7-2eadca4d7727',
    });
  });

  it('names the settings to set when none is, and refuses both at once', () => {
    expect(() => queueSettingsFromEnv({})).toThrow(
      /ServiceBusConnection .*ServiceBusConnection__fullyQualifiedNamespace/,
    );
    expect(() =>
      queueSettingsFromEnv({
        ServiceBusConnection: CONNECTION,
        ServiceBusConnection__fullyQualifiedNamespace: 'x',
      }),
    ).toThrow(/only one/);
  });

  it('ignores the rest of the app configuration', () => {
    expect(queueSettingsFromEnv({ ServiceBusConnection: CONNECTION, API_AUDIENCE: '' }).queueName).toBe(
      'audit-events',
    );
  });
});
