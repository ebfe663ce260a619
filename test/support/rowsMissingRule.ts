import { letValue, sentinelDurationMinutes } from '../../scripts/sentinelContent';

/**
 * The Sentinel rule "Exported audit rows missing from the workspace"
 * (sentinel/EZCA/Analytic Rules/EZCA_ExportRowsMissing.yaml), re-implemented step by step: there
 * is no KQL engine on this machine (test/support/kql.ts parses and type-checks, it does not run).
 * `ROWS_MISSING_STEPS` are the query lines the steps below mirror; a caller pins them against the
 * rule's text (a change to the query breaks the pin), and the thresholds come from the query's own
 * `let`s. Used by the unit tests over sample rows and by the sandbox end-to-end test over the
 * stand-in's rows.
 */

export const ROWS_MISSING_STEPS = [
  '| where RowKind_s == "window" and isnotempty(RecordIds_s)',
  '| extend IngestedAt = ingestion_time()',
  '| summarize arg_min(IngestedAt, *) by CustomerTenantId_g, Sequence_d',
  '| where IngestedAt <= ago(ingestionSlack) and IngestedAt > ago(runFrequency + ingestionSlack);',
  'union withsource=Table_s EZCA_CAs_CL, EZCA_Certificates_CL',
  '| project Table_s, RecordId = tostring(EventRecordId_g);',
  '| mv-expand RecordId = split(RecordIds_s, ",") to typeof(string)',
  '| where isnotempty(RecordId)',
  '| join kind=leftanti presentRows on Table_s, RecordId',
  '| summarize MissingIds = make_set(RecordId, 50)',
] as const;

/** A health row as the workspace holds it, with when Log Analytics ingested it. */
export interface RuleHealthRow {
  RowKind_s?: string;
  RecordIds_s?: string;
  Table_s?: string;
  CustomerTenantId_g?: string;
  Sequence_d: number;
  ingestedAt: number;
}

export interface RuleEventRow {
  table: string;
  EventRecordId_g: string;
}

export interface RowsMissingHit {
  sequence: number;
  table: string;
  missing: string[];
}

/** The query without comments, on one line, so the steps can be looked for in it. */
export function normalizedQuery(query: string): string {
  return query
    .split('\n')
    .filter((line) => !line.trim().startsWith('//'))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}

export function rowsMissingRule(query: string) {
  const minutes = (name: string): number => sentinelDurationMinutes(letValue(query, name) ?? 'missing');
  const runFrequencyMs = minutes('runFrequency') * 60_000;
  const slackMs = minutes('ingestionSlack') * 60_000;

  /** `summarize arg_min(IngestedAt, *) by CustomerTenantId_g, Sequence_d`. */
  const firstCopies = <T extends RuleHealthRow>(rows: readonly T[]): T[] => {
    const first = new Map<string, T>();
    for (const row of rows) {
      const key = `${row.CustomerTenantId_g ?? ''}|${row.Sequence_d}`;
      const seen = first.get(key);
      if (seen === undefined || row.ingestedAt < seen.ingestedAt) first.set(key, row);
    }
    return [...first.values()];
  };

  /** One run of the rule at `now`: the missing ids per health row it reports. */
  const run = (
    now: number,
    health: readonly RuleHealthRow[],
    events: readonly RuleEventRow[],
  ): RowsMissingHit[] => {
    const present = new Set(events.map((event) => `${event.table}|${event.EventRecordId_g.toLowerCase()}`));
    return firstCopies(health.filter((row) => row.RowKind_s === 'window' && row.RecordIds_s))
      .filter((row) => row.ingestedAt <= now - slackMs && row.ingestedAt > now - runFrequencyMs - slackMs)
      .flatMap((row) => {
        const missing = (row.RecordIds_s ?? '')
          .split(',')
          .filter((recordId) => recordId !== '')
          .filter((recordId) => !present.has(`${row.Table_s}|${recordId}`));
        return missing.length === 0
          ? []
          : [{ sequence: row.Sequence_d, table: row.Table_s ?? '', missing: [...new Set(missing)] }];
      });
  };

  return { runFrequencyMs, slackMs, run, firstCopies };
}
