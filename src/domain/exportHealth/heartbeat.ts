import { ConcurrencyConflictError } from '../errors';
import { chunkBySize, rowBytes } from '../ingestionChunks';
import type { Clock, IngestionSink, Logger } from '../ports';
import { declaresHealthStream, HEALTH_STREAM } from '../tableSchema';
import type { TenantConnection } from '../tenantConnection';
import { sealRows } from './chain';
import type { DeliveryRecordStore } from './deliveryRecorder';
import type { HealthChange, HealthRowContent, SignedHealthRow } from './healthRow';
import { MAX_ROWS_PER_APPEND, type HealthChainStore } from './healthChainStore';
import { SigningKeyUnavailableError, type HealthSigner } from './signing';
import {
  changeRow,
  emptyDeliveries,
  windowRows,
  type ConnectionHealth,
  type WindowDeliveries,
} from './windowRows';
import { windowsToSeal } from './windows';

/** Where configuration changes are written as signed health rows into the customer's own workspace. */
export interface HealthChangeRecorder {
  recordChange(
    connection: TenantConnection,
    change: HealthChange,
    actor: string,
    reason: string | undefined,
  ): Promise<void>;
}

/** Tenants whose export is on: they get a heartbeat every window. */
export interface ExportingTenants {
  list(): Promise<TenantConnection[]>;
}

export interface HeartbeatSettings {
  intervalMinutes: number;
  /** A window is sealed this long after it ends, so a record write started inside it lands first. */
  graceMs: number;
  /** Most windows one tick seals per tenant (catching up after an outage takes several ticks). */
  maxWindowsPerTick: number;
}

export type TenantHeartbeatOutcome =
  | { tenantId: string; outcome: 'ok'; sealedRows: number; uploadedRows: number }
  | { tenantId: string; outcome: 'uploadFailed' | 'failed'; reason: string; sealedRows: number };

export interface HeartbeatRun {
  /** `unavailable`: no row was signed this tick; delivery is unaffected. */
  signing: 'ok' | 'unavailable';
  reason?: string;
  tenants: TenantHeartbeatOutcome[];
}

export interface HeartbeatDeps {
  tenants: ExportingTenants;
  recorder: DeliveryRecordStore;
  chain: HealthChainStore;
  signer: () => Promise<HealthSigner>;
  ingestion: IngestionSink;
  clock: Clock;
  logger: Logger;
}

/**
 * Seals each exporting tenant's closed windows into signed, chained health
 * rows and uploads them to EZCA_ExportHealth_CL. Order matters for loss:
 * rows are sealed and stored (pending) before the window's delivery records
 * are deleted, and stay pending until Log Analytics accepted them, so a
 * crash or failed upload at any point loses no window.
 */
export class Heartbeat implements HealthChangeRecorder {
  constructor(
    private readonly deps: HeartbeatDeps,
    private readonly settings: HeartbeatSettings,
  ) {}

  async run(): Promise<HeartbeatRun> {
    let signer: HealthSigner;
    try {
      signer = await this.deps.signer();
      await signer.currentKey();
    } catch (error) {
      if (!(error instanceof SigningKeyUnavailableError)) throw error;
      this.deps.logger.error(
        'Export heartbeat stopped: signing key unavailable; event delivery is not affected',
        {
          code: error.code,
          reason: error.message,
        },
      );
      return { signing: 'unavailable', reason: error.message, tenants: [] };
    }
    const outcomes: TenantHeartbeatOutcome[] = [];
    for (const connection of await this.deps.tenants.list()) {
      outcomes.push(await this.runTenant(connection, signer));
    }
    return { signing: 'ok', tenants: outcomes };
  }

  /** Seals one configuration change as its own row now; uploaded now or by the next tick. */
  async recordChange(
    connection: TenantConnection,
    change: HealthChange,
    actor: string,
    reason: string | undefined,
  ): Promise<void> {
    const signer = await this.deps.signer();
    const content = changeRow(
      connection.tenantId,
      this.deps.clock.now(),
      change,
      actor,
      reason,
      health(connection),
    );
    for (let attempt = 0; ; attempt += 1) {
      const state = await this.deps.chain.get(connection.tenantId);
      const sealed = await sealRows([content], state.head, signer, this.deps.clock.now());
      try {
        await this.deps.chain.append(
          connection.tenantId,
          sealed.rows,
          sealed.head,
          state.sealedUpTo,
          state.etag,
        );
        break;
      } catch (error) {
        // The heartbeat sealed rows meanwhile: place the change after them.
        if (!(error instanceof ConcurrencyConflictError) || attempt >= 3) throw error;
      }
    }
    await this.uploadPending(connection).catch((error: unknown) => {
      this.deps.logger.warn('Health change row sealed; upload retried by the next heartbeat', {
        tenantId: connection.tenantId,
        change,
        reason: describe(error),
      });
    });
  }

  private async runTenant(
    connection: TenantConnection,
    signer: HealthSigner,
  ): Promise<TenantHeartbeatOutcome> {
    const tenantId = connection.tenantId;
    let sealedRows = 0;
    try {
      const state = await this.deps.chain.get(tenantId);
      const windows = windowsToSeal(
        state.sealedUpTo ? new Date(state.sealedUpTo) : undefined,
        this.deps.clock.now(),
        this.settings.intervalMinutes,
        this.settings.graceMs,
        this.settings.maxWindowsPerTick,
      );
      const last = windows.at(-1);
      if (last) {
        const recorded = await this.deps.recorder.readUpTo(tenantId, last);
        let head = state.head;
        let etag = state.etag;
        const first = windows[0]?.start.toISOString() ?? '';
        // Records of windows already sealed (a write that landed after its window was sealed)
        // count in the first window sealed now: they were delivered, and must be listed somewhere.
        const stragglers = [...recorded.windows.entries()].filter(([start]) => start < first);
        for (const [index, window] of windows.entries()) {
          const deliveries = recorded.windows.get(window.start.toISOString()) ?? emptyDeliveries();
          const merged =
            index === 0
              ? merge(
                  deliveries,
                  stragglers.map(([, value]) => value),
                )
              : deliveries;
          const contents: HealthRowContent[] = windowRows(tenantId, window, merged, health(connection));
          if (contents.length > MAX_ROWS_PER_APPEND) {
            throw new RangeError(
              `Window ${window.start.toISOString()} lists ${contents.length} health rows, more than ${MAX_ROWS_PER_APPEND} per window`,
            );
          }
          const sealed = await sealRows(contents, head, signer, this.deps.clock.now());
          etag = await this.deps.chain.append(
            tenantId,
            sealed.rows,
            sealed.head,
            window.end.toISOString(),
            etag,
          );
          head = sealed.head;
          sealedRows += sealed.rows.length;
        }
        // Only now, with every window's rows stored, may the records go.
        await recorded.discard();
      }
    } catch (error) {
      this.deps.logger.error('Export heartbeat could not seal windows; retried next tick', {
        tenantId,
        reason: describe(error),
      });
      return { tenantId, outcome: 'failed', reason: describe(error), sealedRows };
    }
    try {
      const uploadedRows = await this.uploadPending(connection);
      return { tenantId, outcome: 'ok', sealedRows, uploadedRows };
    } catch (error) {
      this.deps.logger.warn('Health rows not uploaded; they stay sealed and are retried next tick', {
        tenantId,
        reason: describe(error),
      });
      return { tenantId, outcome: 'uploadFailed', reason: describe(error), sealedRows };
    }
  }

  /** Uploads pending rows oldest first; stops at the first failure, keeping the rest pending. */
  private async uploadPending(connection: TenantConnection): Promise<number> {
    const target = connection.saved;
    // A DCR provisioned before the health stream existed would refuse (or drop) the rows: they
    // stay sealed and pending until the hourly schema upgrade declares the stream.
    if (!target || !declaresHealthStream(target.schemaVersion)) return 0;
    const { pending } = await this.deps.chain.get(connection.tenantId);
    let uploaded = 0;
    for (const chunk of chunkBySize<SignedHealthRow>(pending, (row) => rowBytes({ ...row }))) {
      await this.deps.ingestion.upload(
        connection.tenantId,
        target,
        HEALTH_STREAM,
        chunk.map((row) => ({ ...row })),
      );
      await this.deps.chain.removePending(
        connection.tenantId,
        chunk.map((row) => row.Sequence_d),
      );
      uploaded += chunk.length;
    }
    return uploaded;
  }
}

function health(connection: TenantConnection): ConnectionHealth {
  return { state: connection.state, reason: connection.stateReason };
}

function merge(base: WindowDeliveries, others: readonly WindowDeliveries[]): WindowDeliveries {
  if (others.length === 0) return base;
  const merged = emptyDeliveries();
  for (const source of [base, ...others]) {
    for (const [table, ids] of Object.entries(source.delivered)) {
      const target = merged.delivered[table as keyof typeof merged.delivered] as Set<string>;
      for (const id of ids) target.add(id);
    }
    merged.parked += source.parked;
    merged.reenqueued += source.reenqueued;
  }
  return merged;
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${(error.message.split('\n')[0] ?? '').slice(0, 300)}`;
  return typeof error;
}
