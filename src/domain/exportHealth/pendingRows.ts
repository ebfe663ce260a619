import { z } from 'zod';
import { TABLE_NAMES } from '../tableSchema';
import { parseDetachedJws, signedPayload, signingInput } from './canonicalRow';
import type { Logger } from '../ports';
import type { HealthChainState, HealthChainStore, QuarantinedPendingRow } from './healthChainStore';
import type { SignedHealthRow } from './healthRow';
import type { HealthSignatureVerifier } from './signing';

/**
 * The health chain table holds sealed rows waiting for upload, and whoever
 * can write that table (a leaked storage key) can plant one. A pending row is
 * uploaded only when it is what the heartbeat stores: JSON of exactly the row
 * schema, for the tenant whose partition holds it, signed by one of our
 * published keys over its canonical form. Anything else is set aside
 * (quarantined): never uploaded, never in the way of the tenant's heartbeat.
 * A genuine row cannot fail these checks, so setting one aside loses nothing
 * the customer could have verified; a genuine row overwritten by a forged one
 * leaves a gap in the chain, which `verify` reports as a missing row.
 */

/** A Table Storage string property holds 64 KiB of UTF-16: no stored row is longer. */
const MAX_ROW_CHARS = 32_768;
/** Optional texts may be empty: the canonical form treats empty as absent (see canonicalRow.ts). */
const text = (max: number) => z.string().max(max);
const required = (max: number) => z.string().min(1).max(max);
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const instant = z.iso.datetime({ offset: true });

const SIGNED_ROW = z.strictObject({
  RowKind_s: z.enum(['window', 'change']),
  CustomerTenantId_g: z.guid(),
  WindowStart_t: instant,
  WindowEnd_t: instant,
  Part_d: count.optional(),
  PartCount_d: count.optional(),
  Table_s: z.enum(TABLE_NAMES as [string, ...string[]]).optional(),
  DeliveredCount_d: count.optional(),
  RecordIds_s: text(MAX_ROW_CHARS).optional(),
  ParkedCount_d: count.optional(),
  ReenqueuedCount_d: count.optional(),
  ConnectionState_s: text(64).optional(),
  ConnectionReason_s: text(MAX_ROW_CHARS).optional(),
  Change_s: text(64).optional(),
  Actor_s: text(1_024).optional(),
  Reason_s: text(MAX_ROW_CHARS).optional(),
  Sequence_d: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  PreviousHash_s: required(128),
  KeyId_s: required(256),
  Signature_s: required(4_096),
  TimeGenerated: instant,
});

/** A pending row refused: the store's id of it (its row key) and why, for the log and the quarantine. */
export interface RefusedPendingRow {
  id: string;
  reason: string;
}

export type ParsedPendingRow = { ok: true; row: SignedHealthRow } | ({ ok: false } & RefusedPendingRow);

/**
 * Reads a stored pending row (`json`: the entity's text). Never throws: a row
 * that is not JSON of the row schema is refused with the reason. Checks what
 * needs no key; `checkPendingSignature` does the rest.
 */
export function parsePendingRow(id: string, json: unknown): ParsedPendingRow {
  const refuse = (reason: string): ParsedPendingRow => ({ ok: false, id, reason });
  if (typeof json !== 'string' || json.length === 0) return refuse('the entity holds no row text');
  if (json.length > MAX_ROW_CHARS) return refuse('the row text is longer than any row the heartbeat stores');
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return refuse('the row is not JSON');
  }
  const parsed = SIGNED_ROW.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.map(String).join('.') || 'the row';
    // Field names and zod's wording only: a planted value is never echoed into the log.
    return refuse(`the row does not match the health row schema (${where}: ${issue?.code ?? 'invalid'})`);
  }
  return { ok: true, row: parsed.data as SignedHealthRow };
}

/**
 * Undefined when `row` is one of ours for `tenantId`: signed, by a published
 * key (`verifier`), over its own canonical form. Else the reason it is not.
 */
export async function checkPendingSignature(
  row: SignedHealthRow,
  tenantId: string,
  verifier: HealthSignatureVerifier,
): Promise<string | undefined> {
  if (row.CustomerTenantId_g.toLowerCase() !== tenantId.toLowerCase()) {
    return 'the row names another tenant than the partition it is stored in';
  }
  const jws = parseDetachedJws(row.Signature_s);
  if (!jws) return 'the row carries no detached JWS signature';
  if (jws.kid !== row.KeyId_s) return "the signature's key id differs from KeyId_s";
  if (!verifier.knows(jws.kid)) return 'the row is signed with a key that is not among our published keys';
  const valid = await verifier.verify(
    jws.kid,
    jws.alg,
    signingInput(jws.protectedHeader, signedPayload(row)),
    jws.signature,
  );
  return valid ? undefined : 'the signature does not match the row (forged or altered)';
}

/** Logged (error) once per pending row set aside: the line an operator alerts on. */
export const QUARANTINE_MESSAGE =
  'Export health: a stored pending health row is not ours; quarantined, not uploaded';

/**
 * The pending rows of `state` that are ours, in order. The rest (refused by
 * the store, or failing their signature) are logged, keys and reasons only,
 * and set aside in the store, counted into `quarantined`. A failure to set
 * them aside is logged and retried next tick; they are not uploaded meanwhile.
 */
export async function setAsideForeignRows(
  deps: { chain: Pick<HealthChainStore, 'quarantinePending'>; logger: Logger },
  tenantId: string,
  state: HealthChainState,
  verifier: HealthSignatureVerifier,
  quarantined: { count: number },
): Promise<{ rows: SignedHealthRow[]; setAside: boolean }> {
  const refused: QuarantinedPendingRow[] = (state.refusedPending ?? []).map(({ id, reason }) => ({
    id,
    reason,
  }));
  const rows: SignedHealthRow[] = [];
  for (const row of state.pending) {
    const reason = await checkPendingSignature(row, tenantId, verifier);
    if (reason === undefined) rows.push(row);
    else refused.push({ sequence: row.Sequence_d, row, reason });
  }
  if (refused.length === 0) return { rows, setAside: false };
  for (const row of refused) {
    deps.logger.error(QUARANTINE_MESSAGE, {
      tenantId,
      ...('id' in row ? { rowKey: row.id.slice(0, 120) } : { sequence: row.sequence }),
      reason: row.reason,
    });
  }
  try {
    await deps.chain.quarantinePending(tenantId, refused);
    quarantined.count += refused.length;
    return { rows, setAside: true };
  } catch (error) {
    deps.logger.warn('Export health: pending rows not set aside; not uploaded, retried next tick', {
      tenantId,
      reason:
        error instanceof Error
          ? `${error.name}: ${error.message.split('\n')[0]?.slice(0, 300) ?? ''}`
          : typeof error,
    });
    return { rows, setAside: false };
  }
}
