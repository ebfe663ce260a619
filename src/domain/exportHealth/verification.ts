import type { TableName } from '../tableSchema';
import { parseDetachedJws, rowHash, signedPayload, signingInput } from './canonicalRow';
import { checkCoverage, type CoverageRange, type TenantTrail } from './coverage';
import { GENESIS_HASH } from './healthRow';
import { parseRecordIds } from './recordIdParts';
import type { HealthSignatureVerifier } from './signing';

/**
 * What `verify` concludes from the health rows and the event rows a
 * workspace holds: pure, so the same logic runs over a live query and over a
 * portal export. It trusts nothing in the rows but the published keys.
 */

/** An event row present in the workspace. */
export interface PresentEventRow {
  table: string;
  recordId: string;
}

export interface WindowVerdict {
  tenantId: string;
  windowStart: string;
  windowEnd: string;
  status: 'complete' | 'rowsMissing' | 'notIntact';
  delivered: Partial<Record<string, number>>;
  /** Record ids the window lists that are not in the table it names. */
  missing: Array<{ table: string; recordId: string }>;
  problems: string[];
}

export interface VerificationReport {
  ok: boolean;
  windows: WindowVerdict[];
  /** Chain and signature findings not tied to one window (gaps, broken links, unsigned rows). */
  problems: string[];
  /** Stretches at the end of the range whose health rows may not be sealed and ingested yet (not failures). */
  pending: string[];
  /** Event rows present in the range that no health row lists (not signed for). */
  unexpected: Array<{ table: string; recordId: string }>;
  rowsChecked: number;
}

/** A row as any source hands it over: only the signed columns and Signature_s are read. */
type RawRow = object;

function field(row: RawRow, name: string): unknown {
  return (row as Record<string, unknown>)[name];
}

export async function verifyHealth(
  healthRows: readonly RawRow[],
  present: readonly PresentEventRow[],
  verifier: HealthSignatureVerifier,
  options: {
    expectUnlisted?: (row: PresentEventRow) => boolean;
    /** Also require the windows to cover this range (see coverage.ts). */
    coverage?: CoverageRange;
  } = {},
): Promise<VerificationReport> {
  const pending: string[] = [];
  const problems: string[] = [];
  const byTenant = new Map<string, RawRow[]>();
  for (const row of healthRows) {
    const tenant = String(signedPayload(row).CustomerTenantId_g ?? '');
    const list = byTenant.get(tenant) ?? [];
    list.push(row);
    byTenant.set(tenant, list);
  }

  const presentByTable = new Map<string, Set<string>>();
  for (const row of present) {
    const set = presentByTable.get(row.table) ?? new Set<string>();
    set.add(row.recordId.toLowerCase());
    presentByTable.set(row.table, set);
  }

  const listed = new Set<string>();
  const windows = new Map<string, WindowVerdict>();
  for (const [tenant, rows] of byTenant) {
    const valid = await checkChain(tenant, rows, verifier, problems);
    const firstPayload = valid[0] ? signedPayload(valid[0].row) : undefined;
    const trail: TenantTrail = {
      tenantId: tenant,
      windows: [],
      disabledAt: [],
      first: firstPayload && {
        sequence: Number(firstPayload.Sequence_d),
        at: Date.parse(
          String(
            field(valid[0]!.row, 'RowKind_s') === 'window'
              ? firstPayload.WindowEnd_t
              : firstPayload.WindowStart_t,
          ),
        ),
      },
    };
    for (const { row, ok } of valid) {
      if (ok) addToTrail(trail, row);
      if (field(row, 'RowKind_s') !== 'window') continue;
      const payload = signedPayload(row);
      const key = `${tenant}|${String(payload.WindowStart_t)}`;
      const verdict =
        windows.get(key) ??
        ({
          tenantId: tenant,
          windowStart: String(payload.WindowStart_t),
          windowEnd: String(payload.WindowEnd_t),
          status: 'complete',
          delivered: {},
          missing: [],
          problems: [],
        } satisfies WindowVerdict);
      windows.set(key, verdict);
      if (!ok) {
        verdict.status = 'notIntact';
        verdict.problems.push(`health row ${String(payload.Sequence_d)} fails verification`);
        continue;
      }
      const table = String(payload.Table_s ?? '');
      const ids = parseRecordIds(typeof payload.RecordIds_s === 'string' ? payload.RecordIds_s : undefined);
      verdict.delivered[table] = Number(payload.DeliveredCount_d ?? 0);
      const presentIds = presentByTable.get(table) ?? new Set<string>();
      for (const id of ids) {
        listed.add(`${table}|${id}`);
        if (!presentIds.has(id)) {
          verdict.missing.push({ table, recordId: id });
          if (verdict.status === 'complete') verdict.status = 'rowsMissing';
        }
      }
    }
    if (options.coverage) {
      const coverage = checkCoverage(trail, options.coverage);
      problems.push(...coverage.problems);
      pending.push(...coverage.pending);
    }
  }
  checkPartCounts(healthRows, windows);

  const unexpected = present.filter(
    (row) =>
      !listed.has(`${row.table}|${row.recordId.toLowerCase()}`) && !(options.expectUnlisted?.(row) ?? false),
  );
  const sortedWindows = [...windows.values()].sort((a, b) => a.windowStart.localeCompare(b.windowStart));
  return {
    ok:
      problems.length === 0 &&
      unexpected.length === 0 &&
      sortedWindows.every((window) => window.status === 'complete') &&
      healthRows.length > 0,
    windows: sortedWindows,
    problems: healthRows.length === 0 ? ['no health rows in the range: nothing is proven'] : problems,
    pending,
    unexpected: unexpected.map((row) => ({ table: row.table, recordId: row.recordId.toLowerCase() })),
    rowsChecked: healthRows.length,
  };
}

/** Verified rows only: a row that fails its signature or link proves no time. */
function addToTrail(trail: TenantTrail, row: RawRow): void {
  const payload = signedPayload(row);
  const start = Date.parse(String(payload.WindowStart_t));
  const end = Date.parse(String(payload.WindowEnd_t));
  if (Number.isNaN(start) || Number.isNaN(end)) return;
  if (field(row, 'RowKind_s') === 'window') trail.windows.push({ start, end });
  else if (payload.Change_s === 'exportDisabled') trail.disabledAt.push(start);
}

/** Sorts one tenant's rows, checks every signature and every link; reports into `problems`. */
async function checkChain(
  tenant: string,
  rows: readonly RawRow[],
  verifier: HealthSignatureVerifier,
  problems: string[],
): Promise<Array<{ row: RawRow; ok: boolean }>> {
  // A row uploaded twice (a retried upload) is the same row: keep one.
  const unique = new Map<string, RawRow>();
  for (const row of rows) {
    const key = `${String(signedPayload(row).Sequence_d)}|${String(field(row, 'Signature_s'))}`;
    if (!unique.has(key)) unique.set(key, row);
  }
  const sorted = [...unique.values()].sort(
    (a, b) => Number(signedPayload(a).Sequence_d) - Number(signedPayload(b).Sequence_d),
  );
  const results: Array<{ row: RawRow; ok: boolean }> = [];
  let previous: RawRow | undefined;
  for (const row of sorted) {
    const payload = signedPayload(row);
    const sequence = Number(payload.Sequence_d);
    const label = `tenant ${tenant}, health row ${String(payload.Sequence_d)}`;
    let ok = await checkSignature(row, verifier, label, problems);
    if (!Number.isSafeInteger(sequence) || sequence < 1) {
      problems.push(`${label}: no valid sequence number`);
      ok = false;
    } else if (previous) {
      const previousSequence = Number(signedPayload(previous).Sequence_d);
      if (sequence === previousSequence) {
        problems.push(`${label}: two different rows carry this sequence number (one was altered or forged)`);
        ok = false;
      } else if (sequence !== previousSequence + 1) {
        problems.push(
          `${label}: broken chain, health rows ${previousSequence + 1}..${sequence - 1} are missing (deleted or purged)`,
        );
        ok = false;
      } else if (payload.PreviousHash_s !== rowHash(previous)) {
        problems.push(`${label}: broken chain, the previous row was altered or replaced`);
        ok = false;
      }
    } else if (sequence === 1 && payload.PreviousHash_s !== GENESIS_HASH) {
      problems.push(`${label}: the first row does not start the chain`);
      ok = false;
    }
    results.push({ row, ok });
    previous = row;
  }
  return results;
}

async function checkSignature(
  row: RawRow,
  verifier: HealthSignatureVerifier,
  label: string,
  problems: string[],
): Promise<boolean> {
  const jws = parseDetachedJws(field(row, 'Signature_s'));
  if (!jws) {
    problems.push(`${label}: unsigned (no detached JWS in Signature_s)`);
    return false;
  }
  const payload = signedPayload(row);
  if (jws.kid !== payload.KeyId_s) {
    problems.push(`${label}: the signature's key id differs from KeyId_s`);
    return false;
  }
  if (!verifier.knows(jws.kid)) {
    problems.push(`${label}: signed with key ${jws.kid}, which is not among the published keys`);
    return false;
  }
  const valid = await verifier.verify(
    jws.kid,
    jws.alg,
    signingInput(jws.protectedHeader, payload),
    jws.signature,
  );
  if (!valid) problems.push(`${label}: signature does not match the row (altered)`);
  return valid;
}

/** A window whose parts are not all present lost a health row. */
function checkPartCounts(rows: readonly RawRow[], windows: Map<string, WindowVerdict>): void {
  const parts = new Map<string, { seen: Set<number>; count: number }>();
  for (const row of rows) {
    if (field(row, 'RowKind_s') !== 'window') continue;
    const payload = signedPayload(row);
    const tenant = String(payload.CustomerTenantId_g ?? '');
    const key = `${tenant}|${String(payload.WindowStart_t)}|${String(payload.Table_s)}`;
    const entry = parts.get(key) ?? { seen: new Set<number>(), count: Number(payload.PartCount_d ?? 1) };
    entry.seen.add(Number(payload.Part_d ?? 1));
    parts.set(key, entry);
  }
  for (const [key, entry] of parts) {
    if (entry.seen.size >= entry.count) continue;
    const [tenant, start, table] = key.split('|');
    const verdict = windows.get(`${tenant ?? ''}|${start ?? ''}`);
    if (!verdict) continue;
    verdict.status = 'notIntact';
    verdict.problems.push(`${table ?? ''}: ${entry.count - entry.seen.size} of ${entry.count} parts missing`);
  }
}

export type { TableName };
