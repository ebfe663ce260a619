import type { TableName } from '../tableSchema';
import type { WindowDeliveries } from './windowRows';
import type { HealthWindow } from './windows';

/**
 * What forwarders record for the heartbeat, by delivery time: per tenant and
 * window, the record ids delivered per table and how many events were parked
 * or re-enqueued. Several forwarder instances record concurrently; each record
 * is its own write, merged (distinct ids) when the heartbeat reads the window,
 * so no write contends with another and a redelivered id counts once.
 */
export interface DeliveryRecord {
  tenantId: string;
  /** When the delivery happened: it picks the window (a days-late event counts in the window it was delivered). */
  at: Date;
  delivered?: Partial<Record<TableName, readonly string[]>>;
  parked?: number;
  reenqueued?: number;
}

/** The forwarder's side: one call per batch, after uploads, parks and re-enqueues. */
export interface DeliveryRecorder {
  record(records: readonly DeliveryRecord[]): Promise<void>;
}

/** What one tenant's records up to a window hold, and a handle to delete exactly those. */
export interface RecordedWindows {
  /** Per window start (ISO), merged deliveries; windows with nothing recorded are absent. */
  windows: Map<string, WindowDeliveries>;
  /** Deletes the records read here (and only those: records written since stay). */
  discard(): Promise<void>;
}

/**
 * What expired unsealed for one tenant: records of windows the heartbeat
 * never sealed within the bound (heartbeats stopped, the export was turned
 * off, the tenant is gone). Counts only: the ids themselves are dropped.
 */
export interface ExpiredRecords {
  tenantId: string;
  /** Window starts (ISO) whose records expired, oldest first. */
  windows: string[];
  /** Distinct record ids per table among the expired records. */
  delivered: Partial<Record<TableName, number>>;
  parked: number;
  reenqueued: number;
  /** Deletes the records counted here (and only those). */
  discard(): Promise<void>;
}

/** The heartbeat's side. */
export interface DeliveryRecordStore extends DeliveryRecorder {
  /** Everything recorded for `tenantId` in windows that start before `before.end`. */
  readUpTo(tenantId: string, before: HealthWindow): Promise<RecordedWindows>;
  /**
   * Records of any tenant whose window ended at or before `windowsEndingBy`,
   * at most `limit` records per call (the rest on the next call), per tenant.
   */
  readExpired(windowsEndingBy: Date, limit: number): Promise<ExpiredRecords[]>;
}
