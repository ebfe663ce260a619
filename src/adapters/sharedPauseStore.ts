import { ConcurrencyConflictError } from '../domain/errors';
import type { OutageKind, SharedPause, SharedPauseStore } from '../domain/sharedPauses';
import type { Versioned } from '../domain/tenantConnection';
import { etagOf, isStatus, toConflict, type LazyTable } from './tableStorage';

/**
 * The pauses live in the tenants table, all in one partition of their own
 * (RowKey = tenant id): an instance reads every pause with one partition query,
 * whatever the number of tenants, and every reader of connections filters on
 * RowKey 'connection', so it never sees them. Writes are conditional: an insert
 * (409 when it exists) or a replace/delete guarded by the ETag read (412).
 */
export const PAUSE_PARTITION = 'pauses';

interface PauseEntity {
  partitionKey: string;
  rowKey: string;
  untilMs: number;
  failureKind: string;
  failureMessage: string;
  failureStatus?: number;
  failureRetryAfterMs?: number;
  probeHolder?: string;
  probeUntilMs?: number;
}

export class TableSharedPauseStore implements SharedPauseStore {
  constructor(private readonly table: LazyTable) {}

  async list(signal: AbortSignal): Promise<Array<Versioned<SharedPause>>> {
    const client = await this.table.get();
    const pauses: Array<Versioned<SharedPause>> = [];
    const entities = client.listEntities<PauseEntity>({
      queryOptions: { filter: `PartitionKey eq '${PAUSE_PARTITION}'` },
      abortSignal: signal,
    });
    for await (const entity of entities) pauses.push({ value: fromEntity(entity), etag: etagOf(entity) });
    return pauses;
  }

  async get(tenantId: string, signal: AbortSignal): Promise<Versioned<SharedPause> | undefined> {
    const client = await this.table.get();
    try {
      const entity = await client.getEntity<PauseEntity>(PAUSE_PARTITION, tenantId, { abortSignal: signal });
      return { value: fromEntity(entity), etag: etagOf(entity) };
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async put(pause: SharedPause, etag: string | undefined, signal: AbortSignal): Promise<string> {
    const client = await this.table.get();
    const entity = toEntity(pause);
    try {
      const written =
        etag === undefined
          ? await client.createEntity(entity, { abortSignal: signal })
          : await client.updateEntity(entity, 'Replace', { etag, abortSignal: signal });
      return etagOf(written);
    } catch (error) {
      // 404 on replace: deleted meanwhile, which is someone else's write too.
      if (isStatus(error, 404)) {
        throw new ConcurrencyConflictError(`The pause of ${pause.tenantId} was deleted meanwhile.`, {
          cause: error,
        });
      }
      throw toConflict(error, `The pause of ${pause.tenantId}`);
    }
  }

  async remove(tenantId: string, etag: string, signal: AbortSignal): Promise<void> {
    const client = await this.table.get();
    try {
      await client.deleteEntity(PAUSE_PARTITION, tenantId, { etag, abortSignal: signal });
    } catch (error) {
      if (isStatus(error, 404)) return;
      throw toConflict(error, `The pause of ${tenantId}`);
    }
  }
}

function toEntity(pause: SharedPause): PauseEntity {
  return {
    partitionKey: PAUSE_PARTITION,
    rowKey: pause.tenantId,
    untilMs: pause.untilMs,
    failureKind: pause.failure.kind,
    failureMessage: pause.failure.message,
    ...(pause.failure.status !== undefined ? { failureStatus: pause.failure.status } : {}),
    ...(pause.failure.retryAfterMs !== undefined ? { failureRetryAfterMs: pause.failure.retryAfterMs } : {}),
    ...(pause.probe ? { probeHolder: pause.probe.holder, probeUntilMs: pause.probe.untilMs } : {}),
  };
}

function fromEntity(entity: PauseEntity): SharedPause {
  const kind: OutageKind = entity.failureKind === 'throttled' ? 'throttled' : 'unavailable';
  return {
    tenantId: entity.rowKey,
    untilMs: Number(entity.untilMs),
    failure: {
      kind,
      message: String(entity.failureMessage ?? ''),
      ...(typeof entity.failureStatus === 'number' ? { status: entity.failureStatus } : {}),
      ...(typeof entity.failureRetryAfterMs === 'number' ? { retryAfterMs: entity.failureRetryAfterMs } : {}),
    },
    ...(entity.probeHolder && typeof entity.probeUntilMs === 'number'
      ? { probe: { holder: entity.probeHolder, untilMs: entity.probeUntilMs } }
      : {}),
  };
}
