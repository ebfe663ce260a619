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
