import { IngestionFailure, type IngestionFailureKind } from '../../src/domain/errors';
import type { IngestionSink, IngestionTarget } from '../../src/domain/ports';

/**
 * An in-memory Logs Ingestion sink for unit tests. It keeps the contract the
 * real sink keeps (one call = one request, refused at 1 MB as the service
 * refuses it) and lets a test inject, per tenant, each failure the forwarder
 * must survive.
 */

export type Fault =
  | { kind: Exclude<IngestionFailureKind, 'rejected'>; status?: number; retryAfterMs?: number }
  /** 400 for any chunk holding one of these record ids (EventRecordId_g). */
  | { kind: 'rejectRecords'; recordIds: ReadonlySet<string> }
  /** Never answers; only the abort signal ends the call. */
  | { kind: 'hang' };

export interface RecordedUpload {
  tenantId: string;
  endpoint: string;
  dataCollectionRuleImmutableId: string;
  stream: string;
  rows: Array<Record<string, unknown>>;
}

const STATUS: Record<Exclude<IngestionFailureKind, 'rejected'>, number> = {
  throttled: 429,
  unavailable: 503,
  forbidden: 403,
  notFound: 404,
  unauthenticated: 401,
};

export class FakeIngestionSink implements IngestionSink {
  /** Successful uploads only: what the workspaces received. */
  readonly delivered: RecordedUpload[] = [];
  /** Every call, including failed ones. */
  calls = 0;
  /** Current fault per tenant; a function lets a test vary it per call. */
  readonly faults = new Map<
    string,
    Fault | ((rows: ReadonlyArray<Record<string, unknown>>) => Fault | undefined)
  >();

  upload(
    tenantId: string,
    target: IngestionTarget,
    stream: string,
    rows: ReadonlyArray<Record<string, unknown>>,
    signal?: AbortSignal,
  ): Promise<void> {
    this.calls += 1;
    const bytes = rows.reduce((total, row) => total + Buffer.byteLength(JSON.stringify(row)), 0);
    if (rows.length > 1 && bytes >= 1_000_000) {
      return Promise.reject(
        new IngestionFailure('rejected', `Request of ${bytes} bytes is over the 1 MB limit`, { status: 413 }),
      );
    }
    const configured = this.faults.get(tenantId);
    const fault = typeof configured === 'function' ? configured(rows) : configured;
    if (fault?.kind === 'hang') {
      return new Promise((_resolve, reject) => {
        const onAbort = (): void => {
          const error = new Error('The operation was aborted.');
          error.name = 'AbortError';
          reject(
            new IngestionFailure(
              'unavailable',
              'The upload was cut off by the time budget.',
              {},
              { cause: error },
            ),
          );
        };
        if (signal?.aborted) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    if (fault?.kind === 'rejectRecords') {
      const refused = rows.find((row) => fault.recordIds.has(String(row.EventRecordId_g)));
      if (refused) {
        return Promise.reject(
          new IngestionFailure('rejected', 'The Logs Ingestion API answered 400 InvalidPayload: bad record', {
            status: 400,
            serviceCode: 'InvalidPayload',
          }),
        );
      }
    } else if (fault) {
      const status = fault.status ?? STATUS[fault.kind];
      return Promise.reject(
        new IngestionFailure(fault.kind, `The Logs Ingestion API answered ${status}`, {
          status,
          ...(fault.retryAfterMs !== undefined ? { retryAfterMs: fault.retryAfterMs } : {}),
        }),
      );
    }
    this.delivered.push({
      tenantId,
      endpoint: target.logsIngestionEndpoint,
      dataCollectionRuleImmutableId: target.dataCollectionRuleImmutableId,
      stream,
      rows: rows.map((row) => ({ ...row })),
    });
    return Promise.resolve();
  }

  /** Record ids delivered, with the tenant whose credential and endpoint carried them. */
  deliveredRecords(): Array<{ recordId: string; tenantId: string; endpoint: string; rowTenant: string }> {
    return this.delivered.flatMap((upload) =>
      upload.rows.map((row) => ({
        recordId: String(row.EventRecordId_g),
        tenantId: upload.tenantId,
        endpoint: upload.endpoint,
        rowTenant: String(row.CustomerTenantId_g),
      })),
    );
  }
}
