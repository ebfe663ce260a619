import type { TableName } from '../tableSchema';

/**
 * One row of EZCA_ExportHealth_CL, the table through which a customer can
 * prove, inside their own workspace, that the audit trail is complete and
 * unaltered. Rows form a per-tenant chain (Sequence_d, PreviousHash_s) and
 * each carries a detached JWS over its canonical form (see canonicalRow.ts).
 *
 * Two kinds:
 * - `window`: what was delivered in one heartbeat window (by delivery time),
 *   one row per event table and part (ids split so RecordIds_s stays far
 *   below the 64 KB column limit), with the window's parked / re-enqueued
 *   counts and the connection state repeated on each part.
 * - `change`: a configuration change (Create Connection, Save, disable,
 *   replay, suspension) with who made it and why.
 */
export type HealthRowKind = 'window' | 'change';

/** What a row says, before it is placed in the chain and signed. */
export interface HealthRowContent {
  RowKind_s: HealthRowKind;
  CustomerTenantId_g: string;
  /** Window rows: the window; change rows: the instant of the change (start = end). */
  WindowStart_t: string;
  WindowEnd_t: string;
  /** 1-based part of this window for this table, and how many parts it has. */
  Part_d?: number;
  PartCount_d?: number;
  /** The event table whose ids this row lists. */
  Table_s?: TableName;
  /** Distinct record ids delivered to Table_s in the whole window (every part repeats it). */
  DeliveredCount_d?: number;
  /** This part's record ids: sorted, lower-case, comma-separated; absent when there are none. */
  RecordIds_s?: string;
  ParkedCount_d?: number;
  ReenqueuedCount_d?: number;
  ConnectionState_s?: string;
  ConnectionReason_s?: string;
  /** Change rows: what changed (connectionCreated, settingsSaved, exportDisabled, replayed, suspended, deliveryRecordsExpired). */
  Change_s?: string;
  Actor_s?: string;
  Reason_s?: string;
}

/** A content placed in the chain: its position and the hash of the row before it. */
export interface ChainedHealthRow extends HealthRowContent {
  /** 1, 2, 3… per tenant, no gaps. */
  Sequence_d: number;
  /** base64url SHA-256 of the previous row's canonical form with its signature; GENESIS for the first. */
  PreviousHash_s: string;
  /** The key that signed it (the JWKS `kid`). */
  KeyId_s: string;
}

/** A sealed row, as uploaded (TimeGenerated is not signed: Log Analytics may replace it). */
export interface SignedHealthRow extends ChainedHealthRow {
  /** Detached compact JWS (`header..signature`) over the canonical form of everything above. */
  Signature_s: string;
  TimeGenerated: string;
}

export const GENESIS_HASH = 'GENESIS';

/** Every signed column, in no particular order (the canonical form sorts them). */
export const SIGNED_COLUMNS = [
  'RowKind_s',
  'CustomerTenantId_g',
  'WindowStart_t',
  'WindowEnd_t',
  'Part_d',
  'PartCount_d',
  'Table_s',
  'DeliveredCount_d',
  'RecordIds_s',
  'ParkedCount_d',
  'ReenqueuedCount_d',
  'ConnectionState_s',
  'ConnectionReason_s',
  'Change_s',
  'Actor_s',
  'Reason_s',
  'Sequence_d',
  'PreviousHash_s',
  'KeyId_s',
] as const satisfies ReadonlyArray<keyof ChainedHealthRow>;

export type SignedColumn = (typeof SIGNED_COLUMNS)[number];

/** Configuration changes that write a change row. */
export type HealthChange =
  | 'connectionCreated'
  | 'settingsSaved'
  | 'exportDisabled'
  | 'replayed'
  | 'suspended'
  /** Written by the heartbeat: windows past the bound were not sealed, and what their records held. */
  | 'deliveryRecordsExpired';
