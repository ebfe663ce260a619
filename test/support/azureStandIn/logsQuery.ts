import {
  chainQuery,
  chainQueryTimespan,
  eventsQuery,
  healthQuery,
  queryTimespan,
  type ChainSpan,
} from '../../../src/cli/verifyQueries';
import { CONNECTION_TEST_ENTRY } from '../../../src/domain/catalog';
import { SIGNED_COLUMNS } from '../../../src/domain/exportHealth/healthRow';
import { HEALTH_COLUMNS, HEALTH_TABLE, TABLE_NAMES } from '../../../src/domain/tableSchema';
import { authenticateBearer } from './auth';
import type { Route, StandInContext } from './context';
import { HttpError, json, readBody, type Reply, type RequestContext } from './http';
import type { WorkspaceRecord } from './model';

/**
 * The Logs Query API (`POST {endpoint}/v1/{workspaceResourceId}/query`, body
 * `{ query, timespan: "<start>/<end>" }`, tokens for https://api.loganalytics.io) for the
 * queries `pki-siem-export verify` sends, and only those: the stand-in does not evaluate KQL,
 * so it recognizes exactly the texts src/cli/verifyQueries.ts builds and refuses anything else
 * with 400 `BadArgumentError` saying so. Answer shape (Learn "Query - Resource Execute",
 * api.loganalytics.io v1): `{ tables: [{ name: "PrimaryResult", columns: [{ name, type }], rows: [[…]] }] }`.
 * Authorization: the caller needs a role with read on the workspace (any `read` action: Reader, Log Analytics
 * Reader/Contributor); otherwise 403 `InsufficientAccessError` (the code the Logs Query API returns
 * for missing read access). Ingestion time is the stand-in's receive time of the row.
 */
export const LOGS_QUERY_AUDIENCE = 'https://api.loganalytics.io';
const READ_ACTION = 'Microsoft.OperationalInsights/workspaces/query/read';

function queryError(status: number, code: string, message: string): HttpError {
  return new HttpError(status, { error: { code, message } }, {}, code);
}

export function logsQueryRoute(context: StandInContext, method: string, url: URL): Route | undefined {
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts[0] !== 'v1' || parts.at(-1) !== 'query' || parts[1]?.toLowerCase() !== 'subscriptions')
    return undefined;
  const resourceId = `/${parts.slice(1, -1).join('/')}`;
  return {
    face: 'logsQuery',
    operation: 'logsQuery',
    handle: async (request) => {
      if (method !== 'POST') throw queryError(405, 'MethodNotAllowed', 'Use POST.');
      return query(context, request, resourceId);
    },
  };
}

async function query(context: StandInContext, request: RequestContext, resourceId: string): Promise<Reply> {
  const auth = await authenticateBearer(context, request.req, [LOGS_QUERY_AUDIENCE]);
  if (!auth.ok)
    throw queryError(401, 'InvalidTokenError', 'The provided authentication is not valid for this resource.');
  const workspace = context.state.workspaceByResourceId(resourceId);
  if (!workspace) throw queryError(404, 'ResourceNotFoundError', `The resource ${resourceId} was not found.`);
  request.tenantId = workspace.tenantId;
  const granted = context.state.grantingAssignments(
    auth.caller.tenantId,
    auth.caller.objectId,
    resourceId,
    READ_ACTION,
    'action',
  );
  if (granted.length === 0) {
    throw queryError(
      403,
      'InsufficientAccessError',
      'The provided credentials have insufficient access to perform the requested operation',
    );
  }
  const body = JSON.parse((await readBody(request.req, 1_000_000)).toString('utf8')) as {
    query?: string;
    timespan?: string;
  };
  const text = body.query ?? '';
  const range = rangeOf(text);
  const spans = range && chainSpansOf(text, range);
  if (!range || (!spans && text !== healthQuery(range) && text !== eventsQuery(range))) {
    throw queryError(
      400,
      'BadArgumentError',
      'The Azure stand-in answers only the queries pki-siem-export verify sends (src/cli/verifyQueries.ts); this query is not one of them.',
    );
  }
  const [start, end] = (body.timespan ?? '').split('/').map((value) => Date.parse(value));
  const expected = spans ? chainQueryTimespan(range) : queryTimespan(range);
  if (start !== expected.startTime.getTime() || end !== expected.endTime.getTime()) {
    throw queryError(
      400,
      'BadArgumentError',
      `The stand-in expects verify's timespan for this query (got ${body.timespan ?? 'none'}).`,
    );
  }
  const inSpan = (row: Record<string, unknown>): boolean => {
    const at = Date.parse(String(row.TimeGenerated));
    return at >= start && at <= end;
  };
  if (spans) return json(200, chainAnswer(workspace, range, spans, inSpan));
  if (text === healthQuery(range)) return json(200, healthAnswer(workspace, range, inSpan));
  return json(200, eventsAnswer(workspace, range, inSpan));
}

/** The tenant and sequence spans of verify's chain query; undefined unless the text is exactly one. */
function chainSpansOf(text: string, range: { from: Date; to: Date }): ChainSpan[] | undefined {
  const spans = [
    ...text.matchAll(
      /tostring\(CustomerTenantId_g\) == "([^"]+)" and Sequence_d between \((\d+) \.\. (\d+)\)/g,
    ),
  ].map((match) => ({ tenantId: match[1]!, from: Number(match[2]), to: Number(match[3]) }));
  return spans.length > 0 && text === chainQuery(range, spans) ? spans : undefined;
}

/** Recovers from/to from verify's query text; undefined unless the text is exactly one of verify's. */
function rangeOf(text: string): { from: Date; to: Date } | undefined {
  const match = /datetime\(([^)]+)\)[^\n]*datetime\(([^)]+)\)/.exec(text);
  if (!match) return undefined;
  const edge = 60 * 60_000;
  const range = { from: new Date(Date.parse(match[1]!) + edge), to: new Date(Date.parse(match[2]!) - edge) };
  if (Number.isNaN(range.from.getTime()) || Number.isNaN(range.to.getTime())) return undefined;
  return range;
}

function healthAnswer(
  workspace: WorkspaceRecord,
  range: { from: Date; to: Date },
  inSpan: (row: Record<string, unknown>) => boolean,
) {
  const from = range.from.getTime() - 60 * 60_000;
  const to = range.to.getTime() + 60 * 60_000;
  return healthTable(
    workspace,
    (row) =>
      inSpan(row) &&
      Date.parse(String(row.WindowStart_t)) >= from &&
      Date.parse(String(row.WindowEnd_t)) <= to,
  );
}

/** The rows of the spans' tenants and sequence numbers that lie outside the health query's windows. */
function chainAnswer(
  workspace: WorkspaceRecord,
  range: { from: Date; to: Date },
  spans: readonly ChainSpan[],
  inSpan: (row: Record<string, unknown>) => boolean,
) {
  const from = range.from.getTime() - 60 * 60_000;
  const to = range.to.getTime() + 60 * 60_000;
  return healthTable(workspace, (row) => {
    const tenant = String(row.CustomerTenantId_g).toLowerCase();
    const sequence = Number(row.Sequence_d);
    return (
      inSpan(row) &&
      (Date.parse(String(row.WindowStart_t)) < from || Date.parse(String(row.WindowEnd_t)) > to) &&
      spans.some((span) => span.tenantId === tenant && sequence >= span.from && sequence <= span.to)
    );
  });
}

function healthTable(workspace: WorkspaceRecord, keep: (row: Record<string, unknown>) => boolean) {
  const names = [...SIGNED_COLUMNS, 'Signature_s'];
  const types = new Map(HEALTH_COLUMNS.map((column) => [column.name, column.type]));
  const rows = (workspace.rows.get(HEALTH_TABLE.toLowerCase()) ?? [])
    .map((recorded) => recorded.row)
    .filter(keep)
    .map((row) => names.map((name) => row[name] ?? null));
  return {
    tables: [
      {
        name: 'PrimaryResult',
        columns: names.map((name) => ({
          name,
          type: types.get(name) === 'guid' ? 'guid' : (types.get(name) ?? 'string'),
        })),
        rows,
      },
    ],
  };
}

function eventsAnswer(
  workspace: WorkspaceRecord,
  range: { from: Date; to: Date },
  inSpan: (row: Record<string, unknown>) => boolean,
) {
  const from = range.from.getTime() - 60 * 60_000;
  const to = range.to.getTime() + 60 * 60_000;
  const rows = TABLE_NAMES.flatMap((table) =>
    (workspace.rows.get(table.toLowerCase()) ?? [])
      .filter((recorded) => {
        const ingested = Date.parse(recorded.receivedAt);
        return (
          inSpan(recorded.row) &&
          ingested >= from &&
          ingested <= to &&
          recorded.row.EventID_d !== CONNECTION_TEST_ENTRY.eventId
        );
      })
      .map((recorded) => [table, String(recorded.row.EventRecordId_g), recorded.receivedAt]),
  );
  return {
    tables: [
      {
        name: 'PrimaryResult',
        columns: [
          { name: 'Table', type: 'string' },
          { name: 'EventRecordId_g', type: 'string' },
          { name: 'IngestedAt', type: 'datetime' },
        ],
        rows,
      },
    ],
  };
}
