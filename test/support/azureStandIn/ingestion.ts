import { gunzipSync } from 'node:zlib';
import { authenticateBearer, type Caller } from './auth';
import type { Route, StandInContext } from './context';
import {
  BodyTooLargeError,
  HttpError,
  json,
  readBody,
  segments,
  type Reply,
  type RequestContext,
} from './http';
import type { DcrColumn, DcrRecord } from './model';
import { describeFailure } from './tokens';
import type { DroppedData, RecordedRow } from './types';
import { compileTransform } from './transform';
import { outputTableName } from './validation';

/**
 * The Logs Ingestion API (data plane, 2023-01-01) behind each Direct DCR's
 * `endpoints.logsIngestion`. Like Azure, it answers 204 to data it then drops
 * silently, and records each drop with its reason for tests (admin `dropped`):
 * - a body that is not a JSON array: 204 and nothing ingested
 *   (azure-sdk-for-python#32562; azure-sdk-for-net#34638 "returns 204 but no logs written");
 * - properties the stream does not declare: not ingested (Learn custom-logs-migrate: leave the
 *   DCR unchanged "and you won't ingest the new data");
 * - a value of the wrong type for its stream column: no source says whether Azure drops the
 *   value or the row, so the stand-in drops the whole row (the stricter choice);
 * - a row that is not a JSON object: dropped.
 * 400 remains for what Azure refuses: JSON that does not parse, bad gzip, and 413 for a body
 * over 1 MB. Accepted rows are treated as Azure does: field values over 64 KB are truncated
 * and a TimeGenerated outside [-2 days, +1 day] is replaced by the receive time.
 */

export const INGESTION_API_VERSION = '2023-01-01';
/** "1 MB … both compressed and uncompressed"; the SDK's own chunks stay under 1,000,000 bytes of records. */
export const MAX_INGESTION_BYTES = 1024 * 1024;
export const MAX_FIELD_BYTES = 64 * 1024;
const TELEMETRY_WRITE = 'Microsoft.Insights/Telemetry/Write';
const DAY_MS = 86_400_000;

function ingestionError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): HttpError {
  return new HttpError(status, { error: { code, message } }, { 'x-ms-error-code': code, ...headers }, code);
}

export function ingestionRoute(context: StandInContext, method: string, url: URL): Route | undefined {
  const parts = segments(url);
  if (
    parts.length !== 6 ||
    parts[0] !== 'ingest' ||
    parts[2]?.toLowerCase() !== 'datacollectionrules' ||
    parts[4]?.toLowerCase() !== 'streams'
  ) {
    return undefined;
  }
  const [, slug, , immutableId, , stream] = parts as [string, string, string, string, string, string];
  const dcr = context.state.dcrsByImmutableId.get(immutableId);
  return {
    face: 'ingestion',
    operation: 'upload',
    dcrImmutableId: immutableId,
    stream,
    ...(dcr ? { tenantId: dcr.tenantId } : {}),
    handle: (request) => {
      if (method !== 'POST') {
        return Promise.reject(
          ingestionError(405, 'MethodNotAllowed', `Use POST to upload logs (got ${method}).`),
        );
      }
      return upload(context, request, slug, immutableId, stream);
    },
  };
}

async function upload(
  context: StandInContext,
  request: RequestContext,
  slug: string,
  immutableId: string,
  stream: string,
): Promise<Reply> {
  const { req, url } = request;
  const apiVersion = url.searchParams.get('api-version');
  if (apiVersion !== INGESTION_API_VERSION) {
    throw ingestionError(
      400,
      'InvalidApiVersion',
      `The api-version query parameter must be '${INGESTION_API_VERSION}' (got '${apiVersion ?? ''}').`,
    );
  }
  const caller = await authenticate(context, request);

  const now = Date.now();
  const dcr = context.state.dcrsByImmutableId.get(immutableId);
  const settings = context.state.settings(dcr?.tenantId);
  const notFound = ingestionError(
    404,
    'NotFound',
    `Data collection rule with immutable Id '${immutableId}' not found at this endpoint.`,
  );
  if (!dcr || !dcr.logsIngestionEndpoint.endsWith(`/ingest/${slug}`)) throw notFound;
  if (now - dcr.createdAt < settings.afterDcrCreatedMs) throw notFound;
  authorize(context, caller, dcr, now, settings.afterRoleGrantedMs);

  const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType !== 'application/json') {
    throw ingestionError(
      415,
      'UnsupportedMediaType',
      `Content-Type must be application/json (got '${contentType}').`,
    );
  }
  const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'gzip' && encoding !== 'identity') {
    throw ingestionError(
      415,
      'UnsupportedMediaType',
      `Content-Encoding must be gzip or absent (got '${encoding}').`,
    );
  }
  const parsed = parseBody(await readPayload(request, encoding === 'gzip'));

  const declaration = dcr.streamDeclarations[stream];
  if (!declaration) {
    throw ingestionError(
      404,
      'InvalidStream',
      `Stream '${stream}' is not declared in data collection rule '${immutableId}' (declared: ${Object.keys(dcr.streamDeclarations).join(', ')}).`,
    );
  }
  const flows = dcr.dataFlows.filter((flow) => flow.streams.includes(stream));
  if (flows.length === 0) {
    throw ingestionError(
      400,
      'InvalidStream',
      `Stream '${stream}' has no data flow in data collection rule '${immutableId}'.`,
    );
  }
  const receivedAt = new Date(now).toISOString();
  const drop = (entry: Omit<DroppedData, 'tenantId' | 'dcrImmutableId' | 'stream' | 'receivedAt'>): void => {
    context.state.dropped.push({
      tenantId: caller.tenantId,
      dcrImmutableId: immutableId,
      stream,
      receivedAt,
      ...entry,
    });
  };
  const drops: Array<Parameters<Drop>[0]> = [];
  const rows = sortRows(Array.isArray(parsed) ? parsed : [], declaration.columns, stream, (entry) =>
    drops.push(entry),
  );
  if (!Array.isArray(parsed)) {
    drops.unshift({
      kind: 'body',
      reason: `The body is not a JSON array (got ${parsed === null ? 'null' : typeof parsed}): nothing was ingested.`,
    });
  }
  if (drops.length > 0 && settings.refuseDroppedRows) {
    const shown = drops
      .slice(0, 10)
      .map((entry) =>
        entry.rowIndex === undefined ? entry.reason : `row ${entry.rowIndex}: ${entry.reason}`,
      );
    throw ingestionError(
      400,
      'InvalidRowData',
      `${drops.length} value(s) do not fit the stream declaration (refuseDroppedRows is set; Azure would answer 204 and drop them): ${shown.join('; ')}${drops.length > shown.length ? '; …' : ''}`,
    );
  }
  for (const entry of drops) drop(entry);

  for (const flow of flows) {
    for (const destinationName of flow.destinations) {
      const destination = dcr.logAnalytics.find((candidate) => candidate.name === destinationName);
      if (!destination || !flow.outputStream) continue;
      const tableKey = outputTableName(flow.outputStream).toLowerCase();
      const stored = destination.workspace.rows.get(tableKey) ?? [];
      // The ARM face accepted only transforms the stand-in evaluates (transform.ts).
      const transform = compileTransform(flow.transformKql);
      for (const row of rows)
        stored.push(storeRow(transform.apply(row), caller.tenantId, immutableId, stream, now, receivedAt));
      destination.workspace.rows.set(tableKey, stored);
    }
  }
  request.rowCount = rows.length;
  return json(204, undefined);
}

async function authenticate(context: StandInContext, request: RequestContext): Promise<Caller> {
  const result = await authenticateBearer(context, request.req, context.options.monitorAudiences);
  if (result.ok) return result.caller;
  const problem = result.problem;
  switch (problem.kind) {
    case 'missing':
      throw ingestionError(
        401,
        'InvalidAuthenticationToken',
        'The Authorization header with a bearer token is missing.',
      );
    case 'invalidHeader':
      throw ingestionError(
        401,
        'InvalidAuthenticationToken',
        'The Authorization header must be "Bearer <token>".',
      );
    case 'invalidToken':
      throw ingestionError(401, 'InvalidAuthenticationToken', describeFailure(problem.failure));
    case 'untrustedIssuer':
      throw ingestionError(
        401,
        'InvalidAuthenticationToken',
        `The token issuer '${problem.issuer}' is not trusted.`,
      );
    case 'audience':
      throw ingestionError(
        401,
        'InvalidAuthenticationTokenAudience',
        `The access token audience '${problem.audience}' is not valid for the Logs Ingestion API; request a token for '${problem.allowed[0] ?? ''}/.default'.`,
      );
  }
}

/** Monitoring Metrics Publisher (its data action) on the DCR or a scope above it, in the DCR's own tenant. */
function authorize(
  context: StandInContext,
  caller: Caller,
  dcr: DcrRecord,
  now: number,
  propagationMs: number,
): void {
  const sameTenant = caller.tenantId.toLowerCase() === dcr.tenantId.toLowerCase();
  const grants = sameTenant
    ? context.state.grantingAssignments(dcr.tenantId, caller.objectId, dcr.id, TELEMETRY_WRITE, 'dataAction')
    : [];
  const effective = grants.filter((grant) => now - grant.createdAt >= propagationMs);
  if (effective.length > 0) return;
  throw ingestionError(
    403,
    'OperationFailed',
    `The authentication token provided does not have access to ingest data for the data collection rule with immutable Id '${dcr.immutableId}' ` +
      `PipelineAccessResult: AccessGranted: False, IsRbacPresent: ${grants.length > 0 ? 'True' : 'False'}, DcrArmId: ${dcr.id}, ` +
      `Message: Required authorization action was not found for tenantId ${caller.tenantId} objectId ${caller.objectId} on resourceId ${dcr.id}.`,
  );
}

async function readPayload(request: RequestContext, gzipped: boolean): Promise<Buffer> {
  const tooLarge = (size: string): HttpError =>
    ingestionError(
      413,
      'ContentLengthLimitExceeded',
      `Maximum allowed content length: ${MAX_INGESTION_BYTES} bytes (1 MB), compressed and uncompressed. Provided content length: ${size}. Split the data into several calls.`,
    );
  let raw: Buffer;
  try {
    raw = await readBody(request.req, MAX_INGESTION_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw tooLarge(`${error.received} bytes`);
    throw error;
  }
  if (!gzipped) return raw;
  try {
    return gunzipSync(raw, { maxOutputLength: MAX_INGESTION_BYTES });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw tooLarge(`more than ${MAX_INGESTION_BYTES} bytes once decompressed`);
    }
    throw ingestionError(
      400,
      'InvalidContentEncoding',
      `The body is not valid gzip: ${(error as Error).message}.`,
    );
  }
}

function parseBody(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8')) as unknown;
  } catch (error) {
    throw ingestionError(400, 'InvalidJson', `The body is not valid JSON: ${(error as Error).message}.`);
  }
}

const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Why a value does not fit a stream column type (undefined when it fits). */
export function streamTypeProblem(type: string, value: unknown): string | undefined {
  if (value === null) return undefined;
  switch (type) {
    case 'string':
      return typeof value === 'string' ? undefined : 'a JSON string';
    case 'int':
      return typeof value === 'number' && Number.isInteger(value) && Math.abs(value) <= 2 ** 31
        ? undefined
        : 'a 32-bit integer';
    case 'long':
      return typeof value === 'number' && Number.isSafeInteger(value) ? undefined : 'an integer';
    case 'real':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : 'a JSON number';
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'true or false';
    case 'datetime':
      return typeof value === 'string' && ISO_DATETIME.test(value) && !Number.isNaN(Date.parse(value))
        ? undefined
        : 'an ISO 8601 date-time string';
    default:
      return undefined;
  }
}

type Drop = (entry: Omit<DroppedData, 'tenantId' | 'dcrImmutableId' | 'stream' | 'receivedAt'>) => void;

/** The rows Azure would store: undeclared properties removed, mistyped rows and non-objects dropped. */
function sortRows(
  rows: unknown[],
  columns: DcrColumn[],
  stream: string,
  drop: Drop,
): Array<Record<string, unknown>> {
  const types = new Map(columns.map((column) => [column.name, column.type]));
  const kept: Array<Record<string, unknown>> = [];
  rows.forEach((row, rowIndex) => {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      drop({ kind: 'row', rowIndex, reason: `Row ${rowIndex} is not a JSON object.` });
      return;
    }
    const stored: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(row as Record<string, unknown>)) {
      const type = types.get(name);
      if (type === undefined) {
        drop({
          kind: 'property',
          rowIndex,
          column: name,
          reason: `Column '${name}' is not declared in stream '${stream}': its value was not ingested.`,
        });
        continue;
      }
      const expected = streamTypeProblem(type, value);
      if (expected) {
        drop({
          kind: 'row',
          rowIndex,
          column: name,
          reason: `Column '${name}' (${type}) must be ${expected}, got ${JSON.stringify(value)?.slice(0, 60)}: the row was not ingested.`,
        });
        return;
      }
      stored[name] = value;
    }
    kept.push(stored);
  });
  return kept;
}

function storeRow(
  row: Record<string, unknown>,
  tenantId: string,
  dcrImmutableId: string,
  stream: string,
  now: number,
  receivedAt: string,
): RecordedRow {
  const stored: Record<string, unknown> = {};
  const truncatedColumns: string[] = [];
  for (const [name, value] of Object.entries(row)) {
    if (typeof value === 'string' && Buffer.byteLength(value) > MAX_FIELD_BYTES) {
      stored[name] = Buffer.from(value).subarray(0, MAX_FIELD_BYTES).toString('utf8');
      truncatedColumns.push(name);
    } else {
      stored[name] = value;
    }
  }
  let timeGeneratedReplaced = false;
  const time = typeof stored.TimeGenerated === 'string' ? Date.parse(stored.TimeGenerated) : Number.NaN;
  if (Number.isNaN(time)) {
    stored.TimeGenerated = receivedAt;
  } else if (time < now - 2 * DAY_MS || time > now + DAY_MS) {
    stored.TimeGenerated = receivedAt;
    timeGeneratedReplaced = true;
  }
  return {
    tenantId,
    dcrImmutableId,
    stream,
    receivedAt,
    row: stored,
    ...(truncatedColumns.length > 0 ? { truncatedColumns } : {}),
    ...(timeGeneratedReplaced ? { timeGeneratedReplaced } : {}),
  };
}
