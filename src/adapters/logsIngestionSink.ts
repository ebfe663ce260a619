import { isAggregateLogsUploadError, LogsIngestionClient } from '@azure/monitor-ingestion';
import {
  AuthenticationError,
  AuthenticationRequiredError,
  CredentialUnavailableError,
} from '@azure/identity';
import { RestError } from '@azure/core-rest-pipeline';
import { IngestionFailure, type IngestionFailureKind } from '../domain/errors';
import type { IngestionSink, IngestionTarget } from '../domain/ports';
import type { CustomerCredentials } from './customerCredentials';

/**
 * Uploads rows with @azure/monitor-ingestion, one client per (tenant, endpoint)
 * reused across invocations so tokens and connections are kept.
 *
 * The SDK's own retries are turned off: it retries a 429 only when Retry-After
 * is present and then sleeps for as long as the header says, which can outlast
 * a Service Bus message lock. Every retry decision (re-enqueue with backoff,
 * honouring Retry-After) is the forwarder's.
 */
export class LogsIngestionSink implements IngestionSink {
  private readonly clients = new Map<string, LogsIngestionClient>();

  constructor(
    private readonly credentials: CustomerCredentials,
    private readonly audience: string,
  ) {}

  async upload(
    tenantId: string,
    target: IngestionTarget,
    stream: string,
    rows: ReadonlyArray<Record<string, unknown>>,
    signal?: AbortSignal,
  ): Promise<void> {
    const client = this.clientFor(tenantId, target.logsIngestionEndpoint);
    try {
      await client.upload(target.dataCollectionRuleImmutableId, stream, [...rows], {
        ...(signal ? { abortSignal: signal } : {}),
      });
    } catch (error) {
      throw classifyUploadError(error);
    }
  }

  private clientFor(tenantId: string, endpoint: string): LogsIngestionClient {
    const key = `${tenantId}|${endpoint}`;
    let client = this.clients.get(key);
    if (!client) {
      client = new LogsIngestionClient(endpoint, this.credentials.forTenant(tenantId), {
        audience: this.audience,
        retryOptions: { maxRetries: 0 },
      });
      this.clients.set(key, client);
    }
    return client;
  }
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'REQUEST_SEND_ERROR',
]);

/** Maps whatever the SDK threw to the forwarder's vocabulary, keeping only what is safe to log. */
export function classifyUploadError(error: unknown): IngestionFailure {
  const cause = isAggregateLogsUploadError(error) ? (error.errors[0]?.cause ?? error) : error;

  // MSAL reports an app missing from the tenant (AADSTS700016) as AuthenticationRequiredError.
  if (
    cause instanceof AuthenticationError ||
    cause instanceof AuthenticationRequiredError ||
    cause instanceof CredentialUnavailableError
  ) {
    return new IngestionFailure(
      'unauthenticated',
      `Could not get a token for the customer's tenant: ${firstLine(cause.message)}`,
      {},
      { cause },
    );
  }
  if (cause instanceof Error && cause.name === 'AbortError') {
    return new IngestionFailure('unavailable', 'The upload was cut off by the time budget.', {}, { cause });
  }
  if (cause instanceof RestError) {
    const status = cause.statusCode;
    const serviceCode = cause.code;
    const details = {
      ...(status !== undefined ? { status } : {}),
      ...(serviceCode ? { serviceCode } : {}),
      ...retryAfter(cause),
    };
    if (status === undefined) {
      const kind: IngestionFailureKind = 'unavailable';
      const reason = serviceCode && NETWORK_CODES.has(serviceCode) ? serviceCode : 'network error';
      return new IngestionFailure(kind, `The Logs Ingestion API could not be reached (${reason}).`, details, {
        cause,
      });
    }
    const message = `The Logs Ingestion API answered ${status}${serviceCode ? ` ${serviceCode}` : ''}: ${firstLine(cause.message)}`;
    return new IngestionFailure(kindForStatus(status), message, details, { cause });
  }
  const message = cause instanceof Error ? firstLine(cause.message) : 'unknown error';
  return new IngestionFailure('unavailable', `The upload failed: ${message}`, {}, { cause });
}

function kindForStatus(status: number): IngestionFailureKind {
  if (status === 429) return 'throttled';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'notFound';
  if (status === 401) return 'unauthenticated';
  if (status === 400 || status === 413) return 'rejected';
  return 'unavailable';
}

function retryAfter(error: RestError): { retryAfterMs?: number } {
  const headers = error.response?.headers;
  const ms = Number(headers?.get('retry-after-ms') ?? headers?.get('x-ms-retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return { retryAfterMs: ms };
  const value = headers?.get('retry-after');
  if (!value) return {};
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return { retryAfterMs: Math.max(0, seconds * 1000) };
  const at = Date.parse(value);
  return Number.isNaN(at) ? {} : { retryAfterMs: Math.max(0, at - Date.now()) };
}

/** Service messages can be long and multi-line; the first line says what matters and leaks nothing. */
function firstLine(message: string): string {
  return (message.split('\n')[0] ?? '').slice(0, 500);
}
