/**
 * The customer how-to's four example alert queries ("How To Create Alerts in Azure Sentinel to
 * Monitor Your Cloud PKI Activity"), word for word, and a small evaluator for their one shape
 * (`<table> | where <column> == <number>`), so the sandbox and the end-to-end tests can say which
 * landed rows each query would return, without a Log Analytics workspace.
 */

export interface SeedAlert {
  /** The heading the how-to gives the query. */
  title: string;
  query: string;
}

export const SEED_ALERTS: readonly SeedAlert[] = [
  {
    title: 'Certificate Request Denied (Event ID 4888)',
    query: 'EZCA_Certificates_CL\n| where EventID_d == 4888',
  },
  {
    title: 'CA Permission Changed (Event ID 4882)',
    query: 'EZCA_CAs_CL\n| where EventID_d == 4882',
  },
  {
    title: 'CA Changes Denied (Event ID 92)',
    query: 'EZCA_CAs_CL\n| where EventID_d == 92',
  },
  {
    title: 'Deleted CA (Event ID 19)',
    query: 'EZCA_CAs_CL\n| where EventID_d == 19',
  },
];

export interface SeedCondition {
  table: string;
  column: string;
  value: number;
}

/** Reads `<table> | where <column> == <number>`; anything else is refused rather than guessed at. */
export function parseSeedQuery(query: string): SeedCondition {
  const match =
    /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\|\s*where\s+([A-Za-z_][A-Za-z0-9_]*)\s*==\s*(-?\d+(?:\.\d+)?)\s*$/.exec(
      query,
    );
  if (!match) {
    throw new Error(`Not a "<table> | where <column> == <number>" query: ${JSON.stringify(query)}`);
  }
  return { table: match[1]!, column: match[2]!, value: Number(match[3]) };
}

/**
 * The rows the query returns from `rowsByTable` (table name → rows as stored). As in KQL, a column of
 * another type or a missing column never equals a number.
 */
export function evaluateSeedQuery(
  query: string,
  rowsByTable: Readonly<Record<string, readonly Record<string, unknown>[]>>,
): Record<string, unknown>[] {
  const condition = parseSeedQuery(query);
  const rows = rowsByTable[condition.table] ?? [];
  return rows.filter((row) => {
    const value = row[condition.column];
    return typeof value === 'number' && value === condition.value;
  });
}
