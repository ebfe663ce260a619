import { spawn } from 'node:child_process';
import { EVENT_CATALOG, catalogEntry } from '../src/domain/catalog';
import { HEALTH_TABLE, TABLE_NAMES } from '../src/domain/tableSchema';
import {
  TenantApi,
  demoTenant,
  oneOfEachCatalogEvent,
  publish,
  workspaceRows,
  type ApiResponse,
} from '../test/support/sandboxClient';
import { SEED_ALERTS, evaluateSeedQuery } from '../test/support/seedAlerts';
import type { SandboxInfo } from './sandbox';

/**
 * `npm run sandbox -- --demo`: the how-to's flow, driven the way the portal and a PKI service drive
 * the product, through the sandbox's public surfaces only (the HTTP API, the queue through the
 * producer, the rows URL), ending with the customer's own check: `verify`.
 */

export interface DemoOutput {
  /** The demo's report (stdout). */
  out: (line: string) => void;
  /** Progress while waiting (stderr). */
  progress: (line: string) => void;
}

const LANDING_DEADLINE_MS = 60_000;
const POLL_INTERVAL_MS = 250;

/** A row or response value as text: strings and numbers as they are, anything else empty. */
function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

/** Create Connection answers `{ test: { outcome, steps: { <step>: { outcome, detail, code? } } } }`. */
function connectionTest(body: unknown): { outcome: string; steps: string[] } {
  const test = (body as { test?: { outcome?: unknown; steps?: unknown } } | undefined)?.test;
  const steps = test?.steps && typeof test.steps === 'object' ? Object.entries(test.steps) : [];
  return {
    outcome: text(test?.outcome) || 'unknown',
    steps: steps.map(([name, step]) => {
      const { outcome, detail } = (step ?? {}) as Record<string, unknown>;
      return `   - ${name}: ${text(outcome)}${typeof detail === 'string' && detail ? ` (${detail})` : ''}`;
    }),
  };
}

function problemText(result: ApiResponse): string {
  if (typeof result.body === 'object' && result.body !== null) {
    const { title, detail, code } = result.body as Record<string, unknown>;
    return [code, title, detail].filter((part) => typeof part === 'string' && part).join(': ');
  }
  return text(result.body);
}

export async function runDemo(info: SandboxInfo, io: DemoOutput): Promise<boolean> {
  const { out, progress } = io;
  out('');
  out(`Demo tenant ${info.tenantId}`);
  out(`Workspace   ${info.workspaceResourceId} (${info.location})`);
  out('');

  const api = new TenantApi(info.apiBaseUrl, demoTenant(info));
  out('1. Create Connection  POST /api/tenants/{tenantId}/siem/connection');
  const connection = await api.createConnection();
  const test = connectionTest(connection.body);
  out(`   -> ${connection.status}, test ${test.outcome}`);
  for (const line of test.steps) out(line);
  if (connection.status !== 200 || (test.outcome !== 'ok' && test.outcome !== 'pending')) {
    out(`   Create Connection did not succeed: ${problemText(connection) || test.outcome}`);
    return false;
  }

  out('2. Save changes       PUT /api/tenants/{tenantId}/siem');
  const save = await api.save();
  out(`   -> ${save.status}`);
  if (save.status !== 200) {
    out(`   Save changes failed: ${problemText(save)}`);
    return false;
  }

  out(`3. One event of every catalog ID (${EVENT_CATALOG.length}) enqueued through the producer`);
  const events = oneOfEachCatalogEvent(info.tenantId);
  await publish(info, events);
  out(`   -> ${events.length} sent`);

  out('4. Waiting for the rows to land in the workspace');
  const expected = new Map(events.map((event) => [event.id.toLowerCase(), event]));
  const deadline = Date.now() + LANDING_DEADLINE_MS;
  let tables: Record<string, Record<string, unknown>[]> = {};
  let landed = new Set<string>();
  for (;;) {
    tables = await workspaceRows(info, info.workspaceResourceId);
    landed = new Set(
      Object.values(tables)
        .flat()
        .map((row) => text(row.EventRecordId_g).toLowerCase())
        .filter((id) => expected.has(id)),
    );
    if (landed.size === expected.size || Date.now() > deadline) break;
    progress(`${landed.size}/${expected.size} events landed…`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  out(`   -> ${landed.size} of ${expected.size} events landed`);
  out('');

  for (const table of TABLE_NAMES) {
    const rows = (tables[table] ?? []).filter((row) => expected.has(text(row.EventRecordId_g).toLowerCase()));
    out(`${table} (${rows.length} row${rows.length === 1 ? '' : 's'})`);
    const byEventId = new Map<number, Record<string, unknown>[]>();
    for (const row of rows) {
      const eventId = Number(row.EventID_d);
      byEventId.set(eventId, [...(byEventId.get(eventId) ?? []), row]);
    }
    for (const [eventId, group] of [...byEventId.entries()].sort(([a], [b]) => a - b)) {
      const entry = catalogEntry(eventId);
      for (const row of group) {
        out(
          `  EventID ${String(eventId).padEnd(5)} ${(text(row.Criticality_s) || entry?.criticality || '?').padEnd(7)} ` +
            `${text(row.Outcome_s).padEnd(8)} ${text(row.EventRecordId_g)}  ${entry?.summary ?? ''}`,
        );
      }
    }
    out('');
  }

  out("Alert conditions from the how-to's example queries:");
  for (const alert of SEED_ALERTS) {
    const hits = evaluateSeedQuery(alert.query, tables).filter((row) =>
      expected.has(text(row.EventRecordId_g).toLowerCase()),
    );
    out(
      `  ${hits.length > 0 ? 'ALERT' : 'quiet'}  ${alert.title}: ${alert.query.replace(/\n/g, ' ')}  -> ${hits.length} row(s)`,
    );
  }
  out('');

  const misplaced = TABLE_NAMES.flatMap((table) =>
    (tables[table] ?? [])
      .filter((row) => expected.has(text(row.EventRecordId_g).toLowerCase()))
      .filter((row) => catalogEntry(Number(row.EventID_d))?.table !== table)
      .map((row) => `${text(row.EventID_d)} in ${table}`),
  );
  if (misplaced.length > 0) {
    out(`In the wrong table: ${misplaced.join(', ')}`);
    return false;
  }
  const missing = [...expected.values()].filter((event) => !landed.has(event.id.toLowerCase()));
  if (missing.length > 0) {
    out(
      `Not landed within ${LANDING_DEADLINE_MS / 1000} s: ${missing.map((event) => `${event.eventId} (${event.id})`).join(', ')}`,
    );
    return false;
  }
  out(`All ${expected.size} catalog events landed in their tables.`);
  out('');
  return verifyStep(info, new Set(expected.keys()), io);
}

/** A one-minute window, sealed 5 s after it ends, reaches the workspace within the next timer run. */
const SEALED_DEADLINE_MS = 150_000;

/**
 * The end of the demo: once a signed health row lists every event, the ready line's verifyCommand,
 * run as printed, proves from the customer's side that all of them are in the workspace.
 */
async function verifyStep(
  info: SandboxInfo,
  expected: ReadonlySet<string>,
  io: DemoOutput,
): Promise<boolean> {
  const { out, progress } = io;
  out('5. Waiting for the export health rows that list them (one-minute windows in the sandbox)');
  const deadline = Date.now() + SEALED_DEADLINE_MS;
  let listed = 0;
  for (;;) {
    const health = (await workspaceRows(info, info.workspaceResourceId))[HEALTH_TABLE] ?? [];
    const ids = new Set(
      health
        .filter((row) => row.RowKind_s === 'window')
        .flatMap((row) => text(row.RecordIds_s).split(','))
        .filter((id) => expected.has(id)),
    );
    listed = ids.size;
    if (listed === expected.size || Date.now() > deadline) break;
    progress(`${listed}/${expected.size} events listed by a sealed health window…`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS * 4));
  }
  out(`   -> ${listed} of ${expected.size} listed by signed health rows`);
  out("6. pki-siem-export verify (the ready line's verifyCommand)");
  const result = await runShell(info.verifyCommand);
  for (const line of result.output.trimEnd().split('\n')) out(`   ${line}`);
  out(`   -> exit ${result.code ?? 'none'}`);
  return result.code === 0;
}

function runShell(command: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, { shell: '/bin/sh', stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.once('error', (error) => resolve({ code: null, output: `${output}${error.message}` }));
    child.once('close', (code) => resolve({ code, output }));
  });
}
