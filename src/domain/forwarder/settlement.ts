import type { DeliveryRecord, DeliveryRecorder } from '../exportHealth/deliveryRecorder';
import type { AuditQueue, ParkedEventStore } from '../ports';
import type { Settlement, TenantRun } from './batchState';
import { type ForwardOptions, SettlementError } from './contract';
import { errorLine } from './failures';

/**
 * Stores the copies first, then the parked events. Copies carry ids that
 * are deterministic per attempt, so if parking fails and the batch comes
 * back, sending them again is absorbed by the queue's duplicate detection.
 */
export async function storeSettlement(
  settlement: Settlement,
  stores: { queue: AuditQueue; parked: ParkedEventStore },
  options: ForwardOptions,
): Promise<void> {
  try {
    if (settlement.copies.length > 0) await stores.queue.send(settlement.copies);
  } catch (error) {
    options.logger.error('forwarder: could not re-enqueue; abandoning the batch', {
      invocationId: options.invocationId,
      copies: settlement.copies.length,
      error: errorLine(error),
    });
    throw new SettlementError(
      `Could not re-enqueue ${settlement.copies.length} event(s) for a later attempt: ${errorLine(error)}`,
      { cause: error },
    );
  }
  try {
    if (settlement.parks.length > 0) await stores.parked.park(settlement.parks);
  } catch (error) {
    options.logger.error('forwarder: could not park events; abandoning the batch', {
      invocationId: options.invocationId,
      parked: settlement.parks.length,
      error: errorLine(error),
    });
    throw new SettlementError(`Could not park ${settlement.parks.length} event(s): ${errorLine(error)}`, {
      cause: error,
    });
  }
}

/**
 * One delivery record per tenant, after settlement: ids the workspace
 * accepted and, when settlement succeeded, how many events were parked and
 * re-enqueued. Export health must never fail delivery: a failure is logged,
 * and the rows stay in the workspace unlisted (verify reports them unexpected).
 */
export async function recordDeliveries(
  recorder: DeliveryRecorder | undefined,
  runs: readonly TenantRun[],
  settlement: Settlement,
  at: Date,
  options: ForwardOptions,
  settled: boolean,
): Promise<void> {
  if (!recorder) return;
  const byTenant = new Map<string, DeliveryRecord>();
  for (const run of runs) {
    byTenant.set(run.tenantId, {
      tenantId: run.tenantId,
      at,
      delivered: run.deliveredRecordIds,
      ...(settled ? { parked: 0, reenqueued: run.retried } : {}),
    });
  }
  if (settled) {
    // Every park of the batch, including unreadable messages that still name a tenant.
    for (const park of settlement.parks) {
      if (park.tenantId === undefined) continue;
      const record = byTenant.get(park.tenantId) ?? { tenantId: park.tenantId, at, parked: 0 };
      record.parked = (record.parked ?? 0) + 1;
      byTenant.set(park.tenantId, record);
    }
  }
  const records = [...byTenant.values()].filter(
    (record) =>
      (record.parked ?? 0) > 0 ||
      (record.reenqueued ?? 0) > 0 ||
      Object.values(record.delivered ?? {}).some((ids) => ids.length > 0),
  );
  if (records.length === 0) return;
  try {
    await recorder.record(records);
  } catch (error) {
    options.logger.error(
      'forwarder: could not record deliveries for export health; delivery is not affected',
      {
        invocationId: options.invocationId,
        tenants: records.map((record) => record.tenantId),
        error: errorLine(error),
      },
    );
  }
}
