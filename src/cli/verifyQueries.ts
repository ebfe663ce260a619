import { CONNECTION_TEST_ENTRY } from '../domain/catalog';
import { SIGNED_COLUMNS } from '../domain/exportHealth/healthRow';
import { HEALTH_TABLE, TABLE_NAMES } from '../domain/tableSchema';

/**
 * The two Logs Query API queries `verify` sends, in one place so the Azure
 * stand-in answers exactly these and nothing else. Health rows are chosen by
 * their window, event rows by when Log Analytics ingested them
 * (ingestion_time(): windows are by delivery time, not event time).
 */
export interface VerifyRange {
  from: Date;
  to: Date;
}

/** Health windows next to the range are read too: an event delivered just before `from` is listed there. */
export const EDGE_MS = 60 * 60_000;

export function healthQuery(range: VerifyRange): string {
  const from = new Date(range.from.getTime() - EDGE_MS).toISOString();
  const to = new Date(range.to.getTime() + EDGE_MS).toISOString();
  return [
    HEALTH_TABLE,
    `| where WindowStart_t >= datetime(${from}) and WindowEnd_t <= datetime(${to})`,
    `| project ${[...SIGNED_COLUMNS, 'Signature_s'].join(', ')}`,
  ].join('\n');
}

export function eventsQuery(range: VerifyRange): string {
  const from = new Date(range.from.getTime() - EDGE_MS).toISOString();
  const to = new Date(range.to.getTime() + EDGE_MS).toISOString();
  return [
    `union ${TABLE_NAMES.join(', ')}`,
    `| where ingestion_time() between (datetime(${from}) .. datetime(${to}))`,
    `| where EventID_d != ${CONNECTION_TEST_ENTRY.eventId}`,
    '| project Table = Type, EventRecordId_g = tostring(EventRecordId_g), IngestedAt = ingestion_time()',
  ].join('\n');
}

/** One tenant's chain rows `verify` still needs: sequence numbers `from`..`to`, inclusive. */
export interface ChainSpan {
  tenantId: string;
  from: number;
  to: number;
}

/** At most this many spans in one chain query (a workspace with that many holes is reported, not paged). */
export const MAX_CHAIN_SPANS = 50;
/**
 * How far before the range the chain query looks for a predecessor (by
 * TimeGenerated, the time a row was sealed). An export that was off, or whose
 * heartbeats stopped, for longer than this needs an earlier --from.
 */
export const CHAIN_LOOKBACK_MS = 90 * 86_400_000;

/**
 * The health rows the first query cannot see but the chain needs: the
 * predecessor of each tenant's first row read (its window may lie long before
 * the range: the export was off, or heartbeats stopped, for longer than the
 * one-hour edge), and rows sealed out of window order in between (a change
 * row sealed while older windows were still being caught up). Chosen by
 * sequence number, so the answer is bounded by the spans, however far back
 * the rows lie; only rows outside the first query's windows are asked for.
 */
export function chainQuery(range: VerifyRange, spans: readonly ChainSpan[]): string {
  const from = new Date(range.from.getTime() - EDGE_MS).toISOString();
  const to = new Date(range.to.getTime() + EDGE_MS).toISOString();
  const tenants = spans
    .map(
      (span) =>
        `(tostring(CustomerTenantId_g) == "${span.tenantId.toLowerCase()}" and Sequence_d between (${String(span.from)} .. ${String(span.to)}))`,
    )
    .join(' or ');
  return [
    HEALTH_TABLE,
    `| where WindowStart_t < datetime(${from}) or WindowEnd_t > datetime(${to})`,
    `| where ${tenants}`,
    `| project ${[...SIGNED_COLUMNS, 'Signature_s'].join(', ')}`,
  ].join('\n');
}

export function chainQueryTimespan(range: VerifyRange): { startTime: Date; endTime: Date } {
  return {
    startTime: new Date(range.from.getTime() - EDGE_MS - CHAIN_LOOKBACK_MS),
    endTime: queryTimespan(range).endTime,
  };
}

/**
 * Per tenant, the sequence numbers between the predecessor of the lowest one
 * read and the highest one read that were not read: what chainQuery asks for.
 */
export function missingChainSpans(rows: ReadonlyArray<Record<string, unknown>>): ChainSpan[] {
  const byTenant = new Map<string, Set<number>>();
  for (const row of rows) {
    const tenant = typeof row.CustomerTenantId_g === 'string' ? row.CustomerTenantId_g.toLowerCase() : '';
    const sequence = Number(row.Sequence_d);
    if (!GUID.test(tenant) || !Number.isSafeInteger(sequence) || sequence < 1) continue;
    const seen = byTenant.get(tenant) ?? new Set<number>();
    seen.add(sequence);
    byTenant.set(tenant, seen);
  }
  const spans: ChainSpan[] = [];
  for (const [tenantId, seen] of [...byTenant].sort(([a], [b]) => a.localeCompare(b))) {
    const sorted = [...seen].sort((a, b) => a - b);
    let expected = Math.max(1, sorted[0]! - 1);
    for (const sequence of sorted) {
      if (sequence > expected) spans.push({ tenantId, from: expected, to: sequence - 1 });
      expected = sequence + 1;
    }
  }
  return spans.slice(0, MAX_CHAIN_SPANS);
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The query timespan (applied on TimeGenerated on top of the query): Log
 * Analytics replaces the TimeGenerated of a row more than two days old at
 * ingestion with the ingestion time, so every row ingested in the range has
 * a TimeGenerated at most ~2 days before it (3 to be safe); health rows are
 * stamped when sealed, after their window.
 */
export function queryTimespan(range: VerifyRange): { startTime: Date; endTime: Date } {
  return {
    startTime: new Date(range.from.getTime() - EDGE_MS - 3 * 86_400_000),
    endTime: new Date(range.to.getTime() + EDGE_MS + 86_400_000),
  };
}
