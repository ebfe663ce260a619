import { TABLE_NAMES, type TableName } from '../tableSchema';
import type { HealthChange, HealthRowContent } from './healthRow';
import { DEFAULT_MAX_IDS_CHARS, splitRecordIds } from './recordIdParts';
import type { HealthWindow } from './windows';

/** What the forwarders recorded for one tenant and window, merged over every instance. */
export interface WindowDeliveries {
  /** Distinct record ids delivered per table (a redelivered id counts once). */
  delivered: Record<TableName, ReadonlySet<string>>;
  parked: number;
  reenqueued: number;
}

export function emptyDeliveries(): WindowDeliveries {
  return {
    delivered: Object.fromEntries(
      TABLE_NAMES.map((table) => [table, new Set<string>()]),
    ) as unknown as Record<TableName, ReadonlySet<string>>,
    parked: 0,
    reenqueued: 0,
  };
}

export interface ConnectionHealth {
  /** e.g. connected, suspended, disabled. */
  state: string;
  reason?: string;
}

/**
 * The rows describing one window: for each event table (always both, so an
 * empty window still says "nothing delivered"), one row per part of its ids.
 */
export function windowRows(
  tenantId: string,
  window: HealthWindow,
  deliveries: WindowDeliveries,
  connection: ConnectionHealth,
  maxIdsChars = DEFAULT_MAX_IDS_CHARS,
): HealthRowContent[] {
  const rows: HealthRowContent[] = [];
  for (const table of TABLE_NAMES) {
    const ids = deliveries.delivered[table];
    const parts = splitRecordIds(ids, maxIdsChars);
    const partCount = Math.max(1, parts.length);
    for (let index = 0; index < partCount; index += 1) {
      rows.push(
        withoutEmpty({
          RowKind_s: 'window',
          CustomerTenantId_g: tenantId.toLowerCase(),
          WindowStart_t: window.start.toISOString(),
          WindowEnd_t: window.end.toISOString(),
          Part_d: index + 1,
          PartCount_d: partCount,
          Table_s: table,
          DeliveredCount_d: ids.size,
          RecordIds_s: parts[index],
          ParkedCount_d: deliveries.parked,
          ReenqueuedCount_d: deliveries.reenqueued,
          ConnectionState_s: connection.state,
          ConnectionReason_s: connection.reason,
        }),
      );
    }
  }
  return rows;
}

/** A configuration change: what, who and why, at `at`. */
export function changeRow(
  tenantId: string,
  at: Date,
  change: HealthChange,
  actor: string,
  reason: string | undefined,
  connection: ConnectionHealth,
): HealthRowContent {
  return withoutEmpty({
    RowKind_s: 'change',
    CustomerTenantId_g: tenantId.toLowerCase(),
    WindowStart_t: at.toISOString(),
    WindowEnd_t: at.toISOString(),
    Change_s: change,
    Actor_s: actor,
    Reason_s: reason,
    ConnectionState_s: connection.state,
    ConnectionReason_s: connection.reason,
  });
}

/** Absent and empty are the same in Log Analytics; never send an empty string. */
function withoutEmpty(row: HealthRowContent): HealthRowContent {
  const copy: Record<string, unknown> = { ...row };
  for (const [key, value] of Object.entries(copy)) {
    if (value === undefined || value === '') delete copy[key];
  }
  return copy as unknown as HealthRowContent;
}
