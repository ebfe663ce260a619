import { readFile } from 'node:fs/promises';
import type { TokenCredential } from '@azure/identity';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ambientCredential, type AuditQueueConnection } from '../adapters/auditQueueSender';
import { CONNECTION_TEST_ENTRY, EVENT_CATALOG, catalogEntry } from '../domain/catalog';
import { formatProblems, type Problem } from '../domain/eventContract';
import { auditEventJsonSchema } from '../domain/eventJsonSchema';
import {
  streamDeclarationColumns,
  streamName,
  TABLE_COLUMNS,
  TABLE_NAMES,
  tablesApiColumns,
} from '../domain/tableSchema';
import { type AuditEventDraft, checkDraft } from '../producer/buildEvent';
import { AuditEventPublisher, AuditSendError, type SendResult } from '../producer/publisher';
import { sampleEvent } from '../producer/sampleEvents';
import { EventInputError, type ReadEvent, readEvents } from './readEvents';
import { queueSettingsFromEnv, type QueueSettings } from './queueSettings';
import {
  PARKED_USAGE,
  parkedCommand,
  ParkedUsageError,
  replayCommand,
  type ParkedEventsHandle,
} from './parkedCommands';
import { textTable } from './textTable';
import { DEADLETTER_USAGE, deadLetterCommand, DeadLetterUsageError } from './deadLetterCommand';
import { TENANTS_USAGE, tenantsCommand, TenantsUsageError } from './tenantsCommand';
import { VERIFY_USAGE, verifyCommand, VerifyUsageError } from './verifyCommand';
import { errorMessage } from '../domain/errorText';

/**
 * The operator CLI: `catalog`, `schema`, `enqueue`, `parked`, `replay`, `deadletter`, `tenants`. Exit codes: 0 success,
 * 1 something failed or an event was refused, 2 the command line is wrong.
 * Every error is one line on stderr.
 */

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Record<string, string | undefined>;
  readonly readStdin: () => Promise<string>;
  readonly stdinIsTerminal: boolean;
  /** Builds the publisher for the configured queue; tests substitute a fake sender. */
  readonly openPublisher?: (settings: QueueSettings) => AuditEventPublisher;
  /** Builds the parked-events use case for `parked` and `replay`; tests may substitute it. */
  readonly openParkedEvents?: (env: Record<string, string | undefined>) => Promise<ParkedEventsHandle>;
  /**
   * The Entra credential for ServiceBusConnection__fullyQualifiedNamespace; by default
   * DefaultAzureCredential (az login, managed identity). Tests pass one for the stand-ins.
   */
  readonly credential?: () => TokenCredential;
}

const PROGRAM = 'pki-siem-export';
const MAX_SAMPLE_COUNT = 10_000;

const USAGE = `Usage:
  ${PROGRAM} catalog [--json]            the audit events PKI services may send
  ${PROGRAM} schema [--json] [--event]   columns of the Log Analytics tables (--event: the event JSON Schema)
  ${PROGRAM} enqueue [<file> | -] [--dry-run] [--json]
                                          send events from a JSON array, one JSON event or NDJSON (file or stdin)
  ${PROGRAM} enqueue --sample <eventId> --tenant <guid> [--count <n>] [--dry-run] [--json]
                                          send n sample events of a catalog event ID
${PARKED_USAGE}
${DEADLETTER_USAGE}
${TENANTS_USAGE}
${VERIFY_USAGE}
enqueue, replay and deadletter use the queue in ServiceBusConnection (connection string) or
ServiceBusConnection__fullyQualifiedNamespace (az login / managed identity), queue AUDIT_QUEUE_NAME (default audit-events).
Exit codes: 0 done, 1 failed or some events refused, 2 wrong command line.`;

class UsageError extends Error {}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  args: string[],
  options: T,
  allowPositionals: boolean,
) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    const message = error instanceof Error ? error.message.split('. ')[0] : String(error);
    throw new UsageError(`${command}: ${message}`);
  }
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'catalog':
        return catalogCommand(args, io);
      case 'schema':
        return schemaCommand(args, io);
      case 'enqueue':
        return await enqueueCommand(args, io);
      case 'parked':
        return await parkedCommand(args, io);
      case 'replay':
        return await replayCommand(args, io);
      case 'deadletter':
        return await deadLetterCommand(args, io);
      case 'tenants':
        return await tenantsCommand(args, io);
      case 'verify':
        return await verifyCommand(args, io);
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return 0;
      case undefined:
        throw new UsageError(
          `a command is required: catalog, schema, enqueue, parked, replay, deadletter or tenants (see ${PROGRAM} --help)`,
        );
      default:
        throw new UsageError(
          `unknown command "${command}": use catalog, schema, enqueue, parked, replay, deadletter, tenants or verify (see ${PROGRAM} --help)`,
        );
    }
  } catch (error) {
    io.stderr(`${PROGRAM}: ${oneLine(errorMessage(error))}`);
    return error instanceof UsageError ||
      error instanceof ParkedUsageError ||
      error instanceof DeadLetterUsageError ||
      error instanceof TenantsUsageError ||
      error instanceof VerifyUsageError
      ? 2
      : 1;
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function catalogCommand(args: string[], io: CliIo): number {
  const { values } = parse('catalog', args, { json: { type: 'boolean' } }, false);
  if (values.json) {
    io.stdout(JSON.stringify({ events: EVENT_CATALOG, connectionTest: CONNECTION_TEST_ENTRY }, null, 2));
    return 0;
  }
  io.stdout(
    textTable([
      ['EventID', 'Criticality', 'Table', 'Summary'],
      ...EVENT_CATALOG.map((entry) => [String(entry.eventId), entry.criticality, entry.table, entry.summary]),
      [
        String(CONNECTION_TEST_ENTRY.eventId),
        CONNECTION_TEST_ENTRY.criticality,
        'both',
        `${CONNECTION_TEST_ENTRY.summary}; producers may not send it`,
      ],
    ]),
  );
  return 0;
}

function schemaCommand(args: string[], io: CliIo): number {
  const { values } = parse('schema', args, { json: { type: 'boolean' }, event: { type: 'boolean' } }, false);
  if (values.event) {
    io.stdout(JSON.stringify(auditEventJsonSchema(), null, 2));
    return 0;
  }
  if (values.json) {
    io.stdout(JSON.stringify(TABLE_COLUMNS, null, 2));
    return 0;
  }
  const sections = TABLE_NAMES.map((name) => {
    const apiTypes = tablesApiColumns(name);
    const streamTypes = streamDeclarationColumns(name);
    return `${name} (DCR stream ${streamName(name)})\n${textTable([
      ['Column', 'Type', 'Tables API', 'DCR stream', 'Description'],
      ...TABLE_COLUMNS[name].map((column, index) => [
        column.name,
        column.type,
        apiTypes[index]?.type ?? '',
        streamTypes[index]?.type ?? '',
        column.description,
      ]),
    ])}`;
  });
  io.stdout(sections.join('\n\n'));
  return 0;
}

interface Labeled {
  readonly label: string;
  /** Position in the input, so refusals are listed in input order. */
  readonly position: number;
  readonly draft: unknown;
}

interface Unreadable {
  readonly label: string;
  readonly position: number;
  readonly problems: readonly Problem[];
}

async function enqueueCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    'enqueue',
    args,
    {
      sample: { type: 'string' },
      count: { type: 'string' },
      tenant: { type: 'string' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    true,
  );
  if (positionals.length > 1) throw new UsageError(`enqueue: give one file, not ${positionals.length}`);
  const file = positionals[0];
  if (values.sample !== undefined && file !== undefined) {
    throw new UsageError('enqueue: give either a file or --sample, not both');
  }
  if (values.sample === undefined && (values.count !== undefined || values.tenant !== undefined)) {
    throw new UsageError('enqueue: --count and --tenant go with --sample <eventId>');
  }

  // Resolve the queue before reading anything, so a missing setting fails fast.
  const settings = values['dry-run'] ? undefined : queueSettingsFromEnv(io.env);

  const unreadable: Unreadable[] = [];
  const drafts: Labeled[] = [];
  if (values.sample !== undefined) {
    drafts.push(...sampleDrafts(values.sample, values.count, values.tenant));
  } else {
    (await readInput(file, io)).forEach((item, position) => {
      if ('problems' in item) unreadable.push({ ...item, position });
      else drafts.push({ label: item.label, position, draft: item.value });
    });
  }

  let result: SendResult;
  if (!settings) {
    result = dryRun(drafts);
  } else {
    const publisher = (io.openPublisher ?? ((s: QueueSettings) => openPublisher(s, io.credential)))(settings);
    try {
      result = await publisher.send(drafts.map((item) => item.draft as AuditEventDraft));
    } catch (error) {
      if (error instanceof AuditSendError) reportRefusals(error.result.refused, drafts, [], io);
      throw error;
    } finally {
      await publisher.close();
    }
  }

  const refusedCount = reportRefusals(result.refused, drafts, unreadable, io);
  const sentCount = result.sent.length;
  const total = drafts.length + unreadable.length;
  if (values.json) {
    io.stdout(
      JSON.stringify(
        {
          dryRun: Boolean(values['dry-run']),
          sent: result.sent.map((item) => ({ ...item, label: drafts[item.index]?.label })),
          refused: [
            ...unreadable.map(({ label, problems }) => ({ label, problems })),
            ...result.refused.map((item) => ({ ...item, label: drafts[item.index]?.label })),
          ],
        },
        null,
        2,
      ),
    );
  } else if (settings) {
    io.stdout(
      `Sent ${sentCount} of ${total} events to queue ${settings.queueName}; ${refusedCount} refused.`,
    );
  } else {
    io.stdout(
      `Dry run: ${sentCount} of ${total} events are valid; ${refusedCount} refused. Nothing was sent.`,
    );
  }
  return refusedCount > 0 ? 1 : 0;
}

function sampleDrafts(sample: string, count: string | undefined, tenant: string | undefined): Labeled[] {
  const eventId = Number(sample);
  const entry = Number.isInteger(eventId) ? catalogEntry(eventId) : undefined;
  if (!entry) {
    throw new UsageError(
      `enqueue: --sample ${sample} is not a catalog event ID; use one of ${EVENT_CATALOG.map((e) => e.eventId).join(', ')}`,
    );
  }
  if (tenant === undefined) throw new UsageError('enqueue: --sample needs --tenant <customer tenant GUID>');
  const n = count === undefined ? 1 : Number(count);
  if (!Number.isInteger(n) || n < 1 || n > MAX_SAMPLE_COUNT) {
    throw new UsageError(`enqueue: --count must be a whole number from 1 to ${MAX_SAMPLE_COUNT}`);
  }
  return Array.from({ length: n }, (_, index) => ({
    label: `sample ${index + 1}`,
    position: index,
    draft: sampleEvent(eventId, tenant, index + 1, n),
  }));
}

async function readInput(file: string | undefined, io: CliIo): Promise<ReadEvent[]> {
  if (file === undefined && io.stdinIsTerminal) {
    throw new UsageError('enqueue: give a file of events, - for standard input, or --sample <eventId>');
  }
  const fromStdin = file === undefined || file === '-';
  let text: string;
  try {
    text = fromStdin ? await io.readStdin() : await readFile(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(error);
    throw new EventInputError(`cannot read ${file}: ${reason}`);
  }
  return readEvents(text, fromStdin ? 'standard input' : file);
}

function dryRun(drafts: readonly Labeled[]): SendResult {
  const sent: Array<{ index: number; id: string }> = [];
  const refused: Array<{ index: number; problems: readonly Problem[] }> = [];
  drafts.forEach(({ draft }, index) => {
    const result = checkDraft(draft);
    if (result.ok) sent.push({ index, id: result.event.id });
    else refused.push({ index, problems: result.problems });
  });
  return { sent, refused };
}

function reportRefusals(
  refused: SendResult['refused'],
  drafts: readonly Labeled[],
  unreadable: readonly Unreadable[],
  io: CliIo,
): number {
  const lines = [
    ...unreadable.map((item) => ({ ...item, id: undefined })),
    ...refused.map((item) => ({
      label: drafts[item.index]?.label ?? `event ${item.index + 1}`,
      position: drafts[item.index]?.position ?? item.index,
      id: item.id,
      problems: item.problems,
    })),
  ].sort((a, b) => a.position - b.position);
  for (const { label, id, problems } of lines) {
    io.stderr(`refused ${label}${id ? ` (id ${id})` : ''}: ${oneLine(formatProblems(problems))}`);
  }
  return lines.length;
}

function openPublisher(settings: QueueSettings, credential?: () => TokenCredential): AuditEventPublisher {
  const connection: AuditQueueConnection =
    settings.kind === 'connectionString'
      ? { connectionString: settings.connectionString, queueName: settings.queueName }
      : {
          fullyQualifiedNamespace: settings.fullyQualifiedNamespace,
          credential: credential?.() ?? ambientCredential(settings.managedIdentityClientId),
          queueName: settings.queueName,
        };
  // An operator waits at the terminal: fail within about a minute rather than the SDK's several.
  return AuditEventPublisher.connect(connection, {
    clientOptions: { retryOptions: { maxRetries: 2, timeoutInMs: 20_000 } },
  });
}

/** The real process: console streams, environment and standard input. */
export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(`${text}\n`),
    stderr: (text) => process.stderr.write(`${text}\n`),
    env: process.env,
    stdinIsTerminal: Boolean(process.stdin.isTTY),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}
