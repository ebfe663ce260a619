import { ConcurrencyConflictError } from '../domain/errors';
import type { OutageKind, SharedPause, SharedPauseStore } from '../domain/sharedPauses';
import type { Versioned } from '../domain/tenantConnection';
import { etagOf, isStatus, toConflict, type LazyTable } from './tableStorage';

/**
 * The pauses live in the tenants table, all in one partition of their own
 * (RowKey = tenant id): an instance asks for the first rows of that partition
 * (one request, $top) or one tenant's row (a point read), and every reader of
 * connections filters on RowKey 'connection', so it never sees them. Writes are conditional: an insert
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

  async list(
    limit: number,
    signal: AbortSignal,
  ): Promise<{ pauses: Array<Versioned<SharedPause>>; complete: boolean }> {
    const client = await this.table.get();
    // One request ($top = limit): the first page only, never the whole partition.
    const pages = client
      .listEntities<PauseEntity>({
        queryOptions: { filter: `PartitionKey eq '${PAUSE_PARTITION}'` },
        abortSignal: signal,
      })
      .byPage({ maxPageSize: limit });
    const page = await pages.next();
    if (page.done) return { pauses: [], complete: true };
    return {
      pauses: page.value.map((entity) => ({ value: fromEntity(entity), etag: etagOf(entity) })),
      // A page may end early with a continuation token (Table Storage's 5 s or partition limits): not complete then either.
      complete: !page.value.continuationToken,
    };
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
