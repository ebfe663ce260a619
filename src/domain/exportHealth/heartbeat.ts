import { ConcurrencyConflictError } from '../errors';
import { chunkBySize, rowBytes } from '../ingestionChunks';
import type { Clock, IngestionSink, Logger } from '../ports';
import { declaresHealthStream, HEALTH_STREAM } from '../tableSchema';
import type { TenantConnection } from '../tenantConnection';
import { sealRows } from './chain';
import type { DeliveryRecordStore } from './deliveryRecorder';
import type { HealthChange, HealthRowContent, SignedHealthRow } from './healthRow';
import {
  MAX_ROWS_PER_APPEND,
  type ExpiredTally,
  type HealthChainState,
  type HealthChainStore,
} from './healthChainStore';
import { setAsideForeignRows } from './pendingRows';
import { SigningKeyUnavailableError, type HealthSignatureVerifier, type HealthSigner } from './signing';
import {
  changeRow,
  emptyDeliveries,
  windowRows,
  type ConnectionHealth,
  type WindowDeliveries,
} from './windowRows';
import { windowContaining, windowsToSeal, type HealthWindow } from './windows';

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
  /**
   * The bound on what forwarders record: a window not sealed within this many
   * windows after it ended (heartbeats stopped, the export was turned off, the
   * tenant is gone) is never sealed; its delivery records are deleted and
   * counted, and the tenant's next health row reports the count.
   */
  maxUnsealedWindows: number;
}

/** The actor of rows the heartbeat writes about itself. */
export const HEARTBEAT_ACTOR = 'system:heartbeat';
/** A row and the request's delete each take one of a transaction's 100 operations; the head takes one. */
const MAX_REQUESTS_PER_APPEND = 49;
/** Most delivery records one sweep expires (the rest go on the next sweep). */
export const EXPIRY_SWEEP_LIMIT = 20_000;
/** The sweep runs in the tick that falls in the first minutes of each hour (the timer ticks every 5). */
const SWEEP_MINUTES = 5;

export type TenantHeartbeatOutcome = (
  | { tenantId: string; outcome: 'ok'; sealedRows: number; uploadedRows: number }
  | { tenantId: string; outcome: 'uploadFailed' | 'failed'; reason: string; sealedRows: number }
) & {
  /** Pending rows set aside this tick, not uploaded: not ours (see pendingRows.ts). */
  quarantinedRows?: number;
};

export interface HeartbeatRun {
  /** `unavailable`: no row was signed this tick; delivery is unaffected. */
  signing: 'ok' | 'unavailable';
  reason?: string;
  tenants: TenantHeartbeatOutcome[];
  /** Tenants whose unsealed delivery records expired this tick (the sweep runs hourly). */
  expired?: string[];
}

export interface HeartbeatDeps {
  tenants: ExportingTenants;
  recorder: DeliveryRecordStore;
  chain: HealthChainStore;
  signer: () => Promise<HealthSigner>;
  /** Checks pending rows against our published keys before upload (see pendingRows.ts). */
  verifier: (options?: { refresh?: boolean }) => Promise<HealthSignatureVerifier>;
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
    // Before the signer: while the key is missing, records pile up, and this is what bounds them.
    const expired =
      this.deps.clock.now().getUTCMinutes() < SWEEP_MINUTES ? await this.expireUnsealedRecords() : undefined;
    const withExpired = expired ? { expired } : {};
    let signer: HealthSigner;
    let verifier: HealthSignatureVerifier;
    try {
      signer = await this.deps.signer();
      await signer.currentKey();
      verifier = await this.deps.verifier();
    } catch (error) {
      if (!(error instanceof SigningKeyUnavailableError)) throw error;
      this.deps.logger.error(
        'Export heartbeat stopped: signing key unavailable; event delivery is not affected',
        {
          code: error.code,
          reason: error.message,
        },
      );
      return { signing: 'unavailable', reason: error.message, tenants: [], ...withExpired };
    }
    const outcomes: TenantHeartbeatOutcome[] = [];
    for (const connection of await this.deps.tenants.list()) {
      outcomes.push(await this.runTenant(connection, signer, verifier));
    }
    return { signing: 'ok', tenants: outcomes, ...withExpired };
  }

  /**
   * Deletes the delivery records of windows that can no longer be sealed
   * (see maxUnsealedWindows), of every tenant, exporting or not: the tally
   * is stored first, so a crash before the delete counts them again, never
   * not at all. Returns the tenants whose records expired.
   */
  async expireUnsealedRecords(): Promise<string[]> {
    const cutoff = this.expiryCutoff();
    let expired;
    try {
      expired = await this.deps.recorder.readExpired(cutoff, EXPIRY_SWEEP_LIMIT);
    } catch (error) {
      this.deps.logger.error('Export health: could not sweep expired delivery records; retried next hour', {
        reason: describe(error),
      });
      return [];
    }
    const tenants: string[] = [];
    for (const records of expired) {
      try {
        const size = this.settings.intervalMinutes * 60_000;
        await this.deps.chain.addExpired(records.tenantId, {
          firstWindow: records.windows[0] ?? cutoff.toISOString(),
          lastWindow: new Date(
            Date.parse(records.windows.at(-1) ?? cutoff.toISOString()) + size,
          ).toISOString(),
          windows: records.windows.length,
          delivered: records.delivered,
          parked: records.parked,
          reenqueued: records.reenqueued,
        });
        await records.discard();
        tenants.push(records.tenantId);
        this.deps.logger.warn(
          'Export health: delivery records of windows never sealed expired; the next health row reports the loss',
          {
            tenantId: records.tenantId,
            windows: records.windows.length,
            recordIds: Object.values(records.delivered).reduce((sum, count) => sum + count, 0),
            maxUnsealedWindows: this.settings.maxUnsealedWindows,
          },
        );
      } catch (error) {
        this.deps.logger.error('Export health: could not expire delivery records; retried next hour', {
          tenantId: records.tenantId,
          reason: describe(error),
        });
      }
    }
    return tenants;
  }

  /** Windows ending at or before this are past the bound: never sealed, their records expire. */
  private expiryCutoff(): Date {
    const newestClosedEnd = windowContaining(
      new Date(this.deps.clock.now().getTime() - this.settings.graceMs),
      this.settings.intervalMinutes,
    ).start;
    return new Date(
      newestClosedEnd.getTime() - this.settings.maxUnsealedWindows * this.settings.intervalMinutes * 60_000,
    );
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
    // A planted row under the next sequence number would make the append below fail, and the change unrecorded.
    let verifier = await this.deps.verifier();
    const quarantined = { count: 0 };
    const before = await this.deps.chain.get(connection.tenantId);
    verifier = await this.verifierFor(before, verifier);
    await setAsideForeignRows(this.deps, connection.tenantId, before, verifier, quarantined);
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
    await this.uploadPending(connection, verifier, quarantined).catch((error: unknown) => {
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
    verifier: HealthSignatureVerifier,
  ): Promise<TenantHeartbeatOutcome> {
    const tenantId = connection.tenantId;
    let sealedRows = 0;
    const quarantined = { count: 0 };
    const withQuarantined = () => (quarantined.count > 0 ? { quarantinedRows: quarantined.count } : {});
    try {
      let state = await this.deps.chain.get(tenantId);
      // First: a planted row under the next sequence number would make every append below fail.
      verifier = await this.verifierFor(state, verifier);
      if ((await setAsideForeignRows(this.deps, tenantId, state, verifier, quarantined)).setAside) {
        state = await this.deps.chain.get(tenantId);
      }
      const cutoff = this.expiryCutoff();
      const behind = state.sealedUpTo !== undefined && Date.parse(state.sealedUpTo) < cutoff.getTime();
      if (behind || state.expired) {
        // Windows past the bound are not sealed (their records may be gone: an empty window row would
        // claim nothing was delivered); one signed change row says so, with the counted loss.
        const skipped = behind ? { start: new Date(state.sealedUpTo!), end: cutoff } : undefined;
        const content = changeRow(
          tenantId,
          this.deps.clock.now(),
          'deliveryRecordsExpired',
          HEARTBEAT_ACTOR,
          expiryReason(skipped, state.expired, this.settings.maxUnsealedWindows),
          health(connection),
        );
        const sealed = await sealRows([content], state.head, signer, this.deps.clock.now());
        await this.deps.chain.append(
          tenantId,
          sealed.rows,
          sealed.head,
          skipped ? cutoff.toISOString() : state.sealedUpTo,
          state.etag,
          state.expired ? { clearExpired: state.expired } : {},
        );
        sealedRows += 1;
        state = await this.deps.chain.get(tenantId);
      }
      if (state.refusedRequests) {
        // Not what the CLI writes (see checkChangeRequest): never signed, and gone so they cannot block the tenant.
        for (const refused of state.refusedRequests) {
          this.deps.logger.error('Export health: refused a stored change request; deleted, not sealed', {
            tenantId,
            requestId: refused.id.slice(0, 120),
            reason: refused.reason,
          });
        }
        await this.deps.chain
          .discardRequests(
            tenantId,
            state.refusedRequests.map((refused) => refused.id),
          )
          .catch((error: unknown) => {
            this.deps.logger.warn('Export health: refused change requests not deleted; retried next tick', {
              tenantId,
              reason: describe(error),
            });
          });
      }
      // Changes asked for by the operator CLI (it holds no signing key), oldest first.
      const requests = state.requests ?? [];
      for (let index = 0; index < requests.length; index += MAX_REQUESTS_PER_APPEND) {
        const batch = requests.slice(index, index + MAX_REQUESTS_PER_APPEND);
        const contents = batch.map((request) =>
          changeRow(tenantId, new Date(request.at), request.change, request.actor, request.reason, {
            state: request.connectionState,
            ...(request.connectionReason ? { reason: request.connectionReason } : {}),
          }),
        );
        const sealed = await sealRows(contents, state.head, signer, this.deps.clock.now());
        await this.deps.chain.append(tenantId, sealed.rows, sealed.head, state.sealedUpTo, state.etag, {
          consumedRequests: batch.flatMap((request) => (request.id ? [request.id] : [])),
        });
        sealedRows += sealed.rows.length;
        state = await this.deps.chain.get(tenantId);
      }
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
      return { tenantId, outcome: 'failed', reason: describe(error), sealedRows, ...withQuarantined() };
    }
    try {
      const uploadedRows = await this.uploadPending(connection, verifier, quarantined);
      return { tenantId, outcome: 'ok', sealedRows, uploadedRows, ...withQuarantined() };
    } catch (error) {
      this.deps.logger.warn('Health rows not uploaded; they stay sealed and are retried next tick', {
        tenantId,
        reason: describe(error),
      });
      return { tenantId, outcome: 'uploadFailed', reason: describe(error), sealedRows, ...withQuarantined() };
    }
  }

  /**
   * `verifier`, or a new one from the key store asked again when a pending row names a key id it
   * does not hold: a version this or another instance started signing with after the published keys
   * were last read (a rotation) is ours, and its rows must not be set aside as foreign.
   */
  private async verifierFor(
    state: HealthChainState,
    verifier: HealthSignatureVerifier,
  ): Promise<HealthSignatureVerifier> {
    if (state.pending.every((row) => verifier.knows(row.KeyId_s))) return verifier;
    return this.deps.verifier({ refresh: true });
  }

  /** Uploads our pending rows oldest first; stops at the first failure, keeping the rest pending. */
  private async uploadPending(
    connection: TenantConnection,
    verifier: HealthSignatureVerifier,
    quarantined: { count: number },
  ): Promise<number> {
    const target = connection.saved;
    // A DCR provisioned before the health stream existed would refuse (or drop) the rows: they
    // stay sealed and pending until the hourly schema upgrade declares the stream.
    if (!target || !declaresHealthStream(target.schemaVersion)) return 0;
    const state = await this.deps.chain.get(connection.tenantId);
    const { rows: pending } = await setAsideForeignRows(
      this.deps,
      connection.tenantId,
      state,
      await this.verifierFor(state, verifier),
      quarantined,
    );
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

function expiryReason(
  skipped: HealthWindow | undefined,
  tally: ExpiredTally | undefined,
  maxUnsealedWindows: number,
): string {
  const parts: string[] = [];
  if (skipped) {
    parts.push(
      `Windows ${skipped.start.toISOString()} .. ${skipped.end.toISOString()} were not sealed within ${maxUnsealedWindows} windows of their end (heartbeats stopped or the export was off): no window rows cover them.`,
    );
  }
  if (tally) {
    const ids = Object.values(tally.delivered).reduce<number>((sum, count) => sum + (count ?? 0), 0);
    const perTable = Object.entries(tally.delivered)
      .map(([table, count]) => `${table} ${String(count)}`)
      .join(', ');
    parts.push(
      `Delivery records of ${tally.windows} window(s) between ${tally.firstWindow} and ${tally.lastWindow} expired unsealed: ${ids} record id(s)${perTable ? ` (${perTable})` : ''}, ${tally.parked} parked and ${tally.reenqueued} re-enqueued event(s) are listed by no health row.`,
    );
  }
  return parts.join(' ');
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
