import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { TokenCredential } from '@azure/identity';
import { JwksSignatureVerifier } from '../adapters/jwksSignatureVerifier';
import {
  verifyHealth,
  type PresentEventRow,
  type VerificationReport,
} from '../domain/exportHealth/verification';
import { TABLE_NAMES } from '../domain/tableSchema';
import { parseWorkspaceResourceId } from '../domain/workspaceResourceId';
import {
  chainQuery,
  chainQueryTimespan,
  EDGE_MS,
  eventsQuery,
  healthQuery,
  missingChainSpans,
  queryTimespan,
  type VerifyRange,
} from './verifyQueries';
import type { CliIo } from './cli';

/**
 * `verify`: proves (or disproves) from the customer's side that what the
 * export says it delivered is in the workspace, unaltered. Exit codes:
 * 0 complete and intact, 3 something missing, altered or unsigned,
 * 2 wrong command line, 1 could not run (no access, network, unreadable file).
 */
export const VERIFY_USAGE = `  pki-siem-export verify --workspace <workspaceResourceId> --from <ISO 8601> --to <ISO 8601>
                 (--jwks-url <url> | --keys <jwks.json>) [--json]
                                          check the export health rows' chain and signatures and that every
                                          record id they list is in the workspace (Log Analytics Reader is enough)
  pki-siem-export verify --rows <file.json|file.csv> --from <ISO 8601> --to <ISO 8601> (--jwks-url <url> | --keys <file>) [--json]
                                          the same over query results exported from the portal, offline
  verify exits 0 when complete and intact, 3 when anything is missing, altered or unsigned.`;

/**
 * How long after a heartbeat tick a window's health row may still be on its
 * way: the heartbeat seals a window 2 minutes after it ends, and Log
 * Analytics typically makes a row queryable within minutes (Learn: "Log data
 * ingestion time in Azure Monitor"); 15 minutes in all, stricter than not.
 */
export const SEAL_AND_INGESTION_SLACK_MS = 15 * 60_000;

export class VerifyUsageError extends Error {}

export interface WorkspaceRows {
  health: Array<Record<string, unknown>>;
  events: Array<Record<string, unknown>>;
}

/** Test hooks: the Logs Query endpoint and the credential. */
export interface VerifyIo extends CliIo {
  readonly logsQueryEndpoint?: string;
  readonly credential?: () => TokenCredential;
}

export async function verifyCommand(args: string[], io: CliIo): Promise<number> {
  const options = parseOptions(args);
  const range: VerifyRange = { from: options.from, to: options.to };
  const jwks = await readKeys(options, io);
  const verifier = new JwksSignatureVerifier(jwks);
  if (verifier.size === 0) throw new Error('the signing keys hold no usable ES256/RS256 key');
  const rows = options.rows
    ? await readRowsFile(options.rows)
    : await queryWorkspace(options.workspace!, range, io);

  const present: Array<PresentEventRow & { ingestedAt?: number }> = rows.events.flatMap((row) => {
    const table = row.Table ?? row.Type;
    if (typeof table !== 'string') return [];
    // A row without a record id (the query's tostring() turns null into "") is listed by no health row:
    // it must show as unexpected, never be skipped.
    const recordId = typeof row.EventRecordId_g === 'string' ? row.EventRecordId_g : '';
    const ingested = typeof row.IngestedAt === 'string' ? Date.parse(row.IngestedAt) : Number.NaN;
    return [{ table, recordId, ...(Number.isNaN(ingested) ? {} : { ingestedAt: ingested }) }];
  });
  const inRange = (at: number | undefined): boolean =>
    at === undefined || (at >= range.from.getTime() && at <= range.to.getTime());
  const report = await verifyHealth(rows.health, present, verifier, {
    // Only rows ingested inside the range must be listed; those at the edges may belong to windows outside it.
    expectUnlisted: (row) => !inRange((row as { ingestedAt?: number }).ingestedAt),
    coverage: { from: range.from.getTime(), to: range.to.getTime(), slackMs: SEAL_AND_INGESTION_SLACK_MS },
  });
  const judged = judge(report, range);
  if (options.json) io.stdout(JSON.stringify(judged, null, 2));
  else io.stdout(renderText(judged));
  return judged.ok ? 0 : 3;
}

interface Options {
  workspace?: string;
  rows?: string;
  from: Date;
  to: Date;
  keys?: string;
  jwksUrl?: string;
  json: boolean;
}

function parseOptions(args: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        workspace: { type: 'string' },
        rows: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        keys: { type: 'string' },
        'jwks-url': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw new VerifyUsageError(
      `verify: ${error instanceof Error ? (error.message.split('. ')[0] ?? '') : String(error)}`,
    );
  }
  if ((values.workspace === undefined) === (values.rows === undefined)) {
    throw new VerifyUsageError('verify: give either --workspace <workspaceResourceId> or --rows <file>');
  }
  if (values.workspace !== undefined) {
    try {
      parseWorkspaceResourceId(values.workspace);
    } catch (error) {
      throw new VerifyUsageError(
        `verify: --workspace ${error instanceof Error ? error.message : 'is not a workspace resource ID'}`,
      );
    }
  }
  if ((values.keys === undefined) === (values['jwks-url'] === undefined)) {
    throw new VerifyUsageError(
      'verify: give either --jwks-url <https://<app>/api/siem/signing-keys> or --keys <jwks.json> (the published signing keys)',
    );
  }
  if (values['jwks-url'] !== undefined) checkJwksUrl(values['jwks-url']);
  const from = isoTime('--from', values.from);
  const to = isoTime('--to', values.to);
  if (from.getTime() >= to.getTime()) throw new VerifyUsageError('verify: --from must be before --to');
  return {
    ...(values.workspace !== undefined ? { workspace: values.workspace } : {}),
    ...(values.rows !== undefined ? { rows: values.rows } : {}),
    ...(values.keys !== undefined ? { keys: values.keys } : {}),
    ...(values['jwks-url'] !== undefined ? { jwksUrl: values['jwks-url'] } : {}),
    from,
    to,
    json: values.json,
  };
}

/**
 * The keys decide what verifies: fetched over plain http, anyone on the path
 * could swap in their own and make forged rows pass. Loopback is allowed for
 * the sandbox and tests, which serve the route without TLS on this machine.
 */
function checkJwksUrl(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new VerifyUsageError(`verify: --jwks-url is not a URL: ${value}`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new VerifyUsageError(
      'verify: --jwks-url must be https:// (http:// only for 127.0.0.1/localhost): keys fetched over plain http could be swapped',
    );
  }
}

function isoTime(name: string, value: string | undefined): Date {
  if (value === undefined) throw new VerifyUsageError(`verify: ${name} <ISO 8601 time> is required`);
  // A date and time with an explicit zone: a bare date or local time would shift with the machine's zone.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    throw new VerifyUsageError(
      `verify: ${name} must be an ISO 8601 time with a zone, e.g. 2026-12-01T00:00:00Z`,
    );
  }
  return new Date(value);
}

async function readKeys(options: Options, io: CliIo): Promise<{ keys?: unknown }> {
  if (options.keys) {
    return JSON.parse(await readFile(options.keys, 'utf8')) as { keys?: unknown };
  }
  const url = options.jwksUrl!;
  const response = await fetch(url, { headers: { accept: 'application/json' } }).catch((error: unknown) => {
    throw new Error(
      `could not fetch the signing keys from ${url}: ${error instanceof Error ? error.message : String(error)}`,
    );
  });
  if (!response.ok) throw new Error(`the signing keys URL ${url} answered ${response.status}`);
  void io;
  return (await response.json()) as { keys?: unknown };
}

/** A portal export: CSV, a JSON array of rows, or the Logs Query API's `{ tables: [{ columns, rows }] }`. */
export async function readRowsFile(path: string): Promise<WorkspaceRows> {
  const text = await readFile(path, 'utf8');
  let records: Array<Record<string, unknown>>;
  const trimmed = text.trimStart().replace(/^\uFEFF/, '');
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    records = fromJson(JSON.parse(trimmed) as unknown);
  } else {
    const { parse } = await import('csv-parse/sync');
    records = parse<Record<string, unknown>>(trimmed, {
      columns: true,
      skip_empty_lines: true,
      relax_column_count: true,
    });
  }
  return {
    health: records.filter((row) => typeof row.RowKind_s === 'string' && row.RowKind_s !== ''),
    // Any event table row, with or without a record id: one without is unexpected, not ignored.
    events: records.filter(
      (row) =>
        (typeof row.RowKind_s !== 'string' || row.RowKind_s === '') &&
        ('EventRecordId_g' in row || isEventTable(row.Table ?? row.Type)),
    ),
  };
}

function isEventTable(name: unknown): boolean {
  return typeof name === 'string' && (TABLE_NAMES as readonly string[]).includes(name);
}

function fromJson(value: unknown): Array<Record<string, unknown>> {
  if (Array.isArray(value)) return value as Array<Record<string, unknown>>;
  const tables = (value as { tables?: unknown }).tables;
  if (Array.isArray(tables)) {
    return (tables as Array<{ columns?: Array<{ name: string }>; rows?: unknown[][] }>).flatMap((table) =>
      (table.rows ?? []).map((row) =>
        Object.fromEntries((table.columns ?? []).map((column, index) => [column.name, row[index]])),
      ),
    );
  }
  const list = (value as { value?: unknown }).value;
  if (Array.isArray(list)) return list as Array<Record<string, unknown>>;
  throw new Error(
    'the rows file is JSON but neither an array of rows nor a Logs Query result ({ tables: [...] })',
  );
}

async function queryWorkspace(workspace: string, range: VerifyRange, io: CliIo): Promise<WorkspaceRows> {
  const hooks = io as VerifyIo;
  const [{ LogsQueryClient, LogsQueryResultStatus }, { DefaultAzureCredential }] = await Promise.all([
    import('@azure/monitor-query'),
    import('@azure/identity'),
  ]);
  const endpoint = hooks.logsQueryEndpoint ?? io.env.LOGS_QUERY_ENDPOINT;
  // A private cloud, Azure Stack or the sandbox: an authority MSAL cannot look up at login.microsoftonline.com.
  const disableInstanceDiscovery = io.env.AZURE_DISABLE_INSTANCE_DISCOVERY === 'true';
  const credential =
    hooks.credential?.() ??
    new DefaultAzureCredential(disableInstanceDiscovery ? { disableInstanceDiscovery } : {});
  const client = new LogsQueryClient(credential, {
    ...(endpoint ? { endpoint } : {}),
  });
  const run = async (
    query: string,
    timespan = queryTimespan(range),
  ): Promise<Array<Record<string, unknown>>> => {
    let result;
    try {
      result = await client.queryResource(workspace, query, timespan);
    } catch (error) {
      throw explainQueryError(error, workspace);
    }
    if (result.status !== LogsQueryResultStatus.Success) {
      throw new Error(
        `the workspace answered only part of the query (${result.partialError.message}); narrow --from/--to`,
      );
    }
    return result.tables.flatMap((table) =>
      table.rows.map((row) =>
        Object.fromEntries(
          table.columnDescriptors.map((column, index) => {
            const value = row[index];
            return [column.name ?? String(index), value instanceof Date ? value.toISOString() : value];
          }),
        ),
      ),
    );
  };
  const [health, events] = await Promise.all([run(healthQuery(range)), run(eventsQuery(range))]);
  // The chain's start (and rows sealed out of window order) may lie further back than the edge.
  const spans = missingChainSpans(health);
  if (spans.length > 0) health.push(...(await run(chainQuery(range, spans), chainQueryTimespan(range))));
  return { health, events };
}

function explainQueryError(error: unknown, workspace: string): Error {
  const status = (error as { statusCode?: number }).statusCode;
  const code = (error as { code?: string }).code;
  if (status === 403) {
    return new Error(
      `you may not read ${workspace} (${code ?? '403'}): ask for "Log Analytics Reader" (or Reader) on the workspace or its resource group`,
    );
  }
  if (status === 401)
    return new Error('sign-in failed for the Logs Query API: run az login (or set AZURE_* credentials)');
  if (status === 404)
    return new Error(
      `no workspace at ${workspace} (${code ?? '404'}), or a table it needs does not exist yet`,
    );
  if (status === 400) {
    return new Error(
      `the workspace refused the query (${code ?? '400'}): ${error instanceof Error ? error.message : ''}`,
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}

interface JudgedReport extends VerificationReport {
  from: string;
  to: string;
  /** The windows judged, from the start of the first to the end of the last: the range rounded outward to whole windows. */
  judgedFrom?: string;
  judgedTo?: string;
}

/**
 * Every window that overlaps the range is judged, those only partly inside it
 * too: coverage counts them as covering the range, so an id they list that is
 * missing must fail the run. Rows read further out only serve the chain and
 * the unexpected check. The event query reads an hour either side
 * (EDGE_MS), so the ids of an edge window are all looked for unless the
 * window is longer than that.
 */
function judge(report: VerificationReport, range: VerifyRange): JudgedReport {
  const from = range.from.getTime();
  const to = range.to.getTime();
  const windows = report.windows.filter(
    (window) => Date.parse(window.windowStart) < to && Date.parse(window.windowEnd) > from,
  );
  const beyond = windows.filter(
    (window) =>
      Date.parse(window.windowStart) < from - EDGE_MS || Date.parse(window.windowEnd) > to + EDGE_MS,
  );
  const problems = [...report.problems];
  for (const window of beyond) {
    problems.push(
      `window ${window.windowStart} .. ${window.windowEnd} reaches more than an hour beyond --from/--to: event rows were read only within that hour, so ids it lists may show as missing; set --from/--to to its boundaries`,
    );
  }
  if (windows.length === 0 && report.rowsChecked > 0) {
    problems.push(
      'no health window overlaps the range: nothing is proven for it (is the export on? heartbeats missing?)',
    );
  }
  return {
    ...report,
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    ...(windows.length > 0
      ? { judgedFrom: windows[0]!.windowStart, judgedTo: windows.at(-1)!.windowEnd }
      : {}),
    windows,
    problems,
    ok:
      problems.length === 0 &&
      report.unexpected.length === 0 &&
      windows.length > 0 &&
      windows.every((window) => window.status === 'complete'),
  };
}

function renderText(report: JudgedReport): string {
  const lines: string[] = [];
  for (const window of report.windows) {
    const delivered = Object.entries(window.delivered)
      .map(([table, count]) => `${table}=${String(count)}`)
      .join(' ');
    lines.push(`${window.windowStart} .. ${window.windowEnd}  ${window.status}  ${delivered}`);
    for (const missing of window.missing) lines.push(`  missing ${missing.table} ${missing.recordId}`);
    for (const problem of window.problems) lines.push(`  ${problem}`);
  }
  for (const problem of report.problems) lines.push(`problem: ${problem}`);
  for (const note of report.pending) lines.push(`not yet proven: ${note}`);
  for (const row of report.unexpected)
    lines.push(
      `unexpected (listed by no health row) ${row.table} ${row.recordId === '' ? '(no record id)' : row.recordId}`,
    );
  const missing = report.windows.reduce((sum, window) => sum + window.missing.length, 0);
  if (
    report.judgedFrom &&
    report.judgedTo &&
    (Date.parse(report.judgedFrom) < Date.parse(report.from) ||
      Date.parse(report.judgedTo) > Date.parse(report.to))
  ) {
    lines.push(
      `judged: whole windows ${report.judgedFrom} .. ${report.judgedTo} (every window that overlaps --from ${report.from} .. --to ${report.to})`,
    );
  }
  lines.push(
    report.ok
      ? `verdict: complete and intact (${report.windows.length} windows, ${report.rowsChecked} health rows)`
      : `verdict: NOT complete or NOT intact (${missing} missing, ${report.unexpected.length} unexpected, ${report.problems.length} problems)`,
  );
  return lines.join('\n');
}
