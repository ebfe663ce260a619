import { EVENT_CATALOG, catalogEntry } from '../src/domain/catalog';
import { TABLE_NAMES } from '../src/domain/tableSchema';
import { AuditEventPublisher, buildEvent, sampleEvent } from '../src/producer';
import { SEED_ALERTS, evaluateSeedQuery } from '../test/support/seedAlerts';
import type { RowsResponse } from './controlServer';
import type { SandboxInfo } from './sandbox';

/**
 * `npm run sandbox -- --demo`: the how-to's flow, driven the way the portal and a PKI service drive
 * the product, through the sandbox's public surfaces only (the HTTP API, the queue through the
 * producer, the rows URL).
 */

export interface DemoOutput {
  /** The demo's report (stdout). */
  out: (line: string) => void;
  /** Progress while waiting (stderr). */
  progress: (line: string) => void;
}

const LANDING_DEADLINE_MS = 60_000;
const POLL_INTERVAL_MS = 250;

interface ApiResult {
  status: number;
  body: unknown;
}

async function callApi(info: SandboxInfo, method: string, path: string, json?: unknown): Promise<ApiResult> {
  const response = await fetch(`${info.apiBaseUrl}/tenants/${info.tenantId}/siem${path}`, {
    method,
    headers: {
      authorization: `Bearer ${info.bearerToken}`,
      ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    // not JSON: shown as text
  }
  return { status: response.status, body };
}

export async function fetchRows(rowsUrl: string): Promise<RowsResponse> {
  const response = await fetch(rowsUrl);
  if (!response.ok) throw new Error(`GET ${rowsUrl} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as RowsResponse;
}

/** The rows of one workspace, table name → rows. */
function workspaceTables(
  rows: RowsResponse,
  workspaceResourceId: string,
): Record<string, Record<string, unknown>[]> {
  const workspace = rows.workspaces.find(
    (candidate) => candidate.workspaceResourceId.toLowerCase() === workspaceResourceId.toLowerCase(),
  );
  return workspace?.tables ?? {};
}

function describeSteps(body: unknown): string[] {
  if (typeof body !== 'object' || body === null) return [];
  const steps = (body as { steps?: unknown }).steps;
  if (!Array.isArray(steps)) return [];
  return steps.map((step) => {
    const { name, step: stepName, outcome, status, message, detail } = step as Record<string, unknown>;
    const label = String(name ?? stepName ?? 'step');
    const result = String(outcome ?? status ?? '');
    const why = message ?? detail;
    return `   - ${label}: ${result}${typeof why === 'string' && why ? ` (${why})` : ''}`;
  });
}

function problemText(result: ApiResult): string {
  if (typeof result.body === 'object' && result.body !== null) {
    const { title, detail, code } = result.body as Record<string, unknown>;
    return [code, title, detail].filter((part) => typeof part === 'string' && part).join(': ');
  }
  return String(result.body ?? '');
}

export async function runDemo(info: SandboxInfo, io: DemoOutput): Promise<boolean> {
  const { out, progress } = io;
  out('');
  out(`Demo tenant ${info.tenantId}`);
  out(`Workspace   ${info.workspaceResourceId} (${info.location})`);
  out('');

  out('1. Create Connection  POST /api/tenants/{tenantId}/siem/connection');
  const connection = await callApi(info, 'POST', '/connection', {
    workspaceResourceId: info.workspaceResourceId,
    location: info.location,
  });
  out(`   -> ${connection.status}`);
  for (const line of describeSteps(connection.body)) out(line);
  if (connection.status < 200 || connection.status >= 300) {
    out(`   Create Connection failed: ${problemText(connection)}`);
    return false;
  }

  out('2. Save changes       PUT /api/tenants/{tenantId}/siem');
  const save = await callApi(info, 'PUT', '', {
    workspaceResourceId: info.workspaceResourceId,
    location: info.location,
  });
  out(`   -> ${save.status}`);
  if (save.status < 200 || save.status >= 300) {
    out(`   Save changes failed: ${problemText(save)}`);
    return false;
  }

  out(`3. One event of every catalog ID (${EVENT_CATALOG.length}) enqueued through the producer`);
  const publisher = AuditEventPublisher.connect({
    connectionString: info.serviceBusConnectionString,
    queueName: info.queueName,
  });
  const events = EVENT_CATALOG.map((entry, index) =>
    buildEvent(sampleEvent(entry.eventId, info.tenantId, index + 1, EVENT_CATALOG.length)),
  );
  try {
    const result = await publisher.send(events);
    if (result.refused.length > 0) {
      out(`   The producer refused ${result.refused.length} event(s): ${JSON.stringify(result.refused)}`);
      return false;
    }
    out(`   -> ${result.sent.length} sent`);
  } finally {
    await publisher.close();
  }

  out('4. Waiting for the rows to land in the workspace');
  const expected = new Map(events.map((event) => [event.id.toLowerCase(), event]));
  const deadline = Date.now() + LANDING_DEADLINE_MS;
  let tables: Record<string, Record<string, unknown>[]> = {};
  let landed = new Set<string>();
  for (;;) {
    tables = workspaceTables(await fetchRows(info.rowsUrl), info.workspaceResourceId);
    landed = new Set(
      Object.values(tables)
        .flat()
        .map((row) => String(row.EventRecordId_g ?? '').toLowerCase())
        .filter((id) => expected.has(id)),
    );
    if (landed.size === expected.size || Date.now() > deadline) break;
    progress(`${landed.size}/${expected.size} events landed…`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  out(`   -> ${landed.size} of ${expected.size} events landed`);
  out('');

  for (const table of TABLE_NAMES) {
    const rows = (tables[table] ?? []).filter((row) =>
      expected.has(String(row.EventRecordId_g ?? '').toLowerCase()),
    );
    out(`${table} (${rows.length} row${rows.length === 1 ? '' : 's'})`);
    const byEventId = new Map<number, Record<string, unknown>[]>();
    for (const row of rows) {
      const eventId = Number(row.EventID_d);
      byEventId.set(eventId, [...(byEventId.get(eventId) ?? []), row]);
    }
    for (const [eventId, group] of [...byEventId.entries()].sort(([a], [b]) => a - b)) {
      const entry = catalogEntry(eventId);
      const criticality = String(group[0]?.Criticality_s ?? entry?.criticality ?? '?');
      out(
        `  EventID ${String(eventId).padEnd(5)} ${criticality.padEnd(7)} ${entry?.summary ?? ''}` +
          (group.length > 1 ? `  (${group.length} rows)` : ''),
      );
    }
    out('');
  }

  out("Alert conditions from the how-to's example queries:");
  for (const alert of SEED_ALERTS) {
    const hits = evaluateSeedQuery(alert.query, tables).filter((row) =>
      expected.has(String(row.EventRecordId_g ?? '').toLowerCase()),
    );
    out(
      `  ${hits.length > 0 ? 'ALERT' : 'quiet'}  ${alert.title}: ${alert.query.replace(/\n/g, ' ')}  -> ${hits.length} row(s)`,
    );
  }
  out('');

  const missing = [...expected.values()].filter((event) => !landed.has(event.id.toLowerCase()));
  if (missing.length > 0) {
    out(
      `Not landed within ${LANDING_DEADLINE_MS / 1000} s: ${missing.map((event) => `${event.eventId} (${event.id})`).join(', ')}`,
    );
    return false;
  }
  out(`All ${expected.size} catalog events landed in their tables.`);
  return true;
}
