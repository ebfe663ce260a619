import { isAggregateLogsUploadError, LogsIngestionClient } from '@azure/monitor-ingestion';
import {
  AuthenticationError,
  AuthenticationRequiredError,
  CredentialUnavailableError,
} from '@azure/identity';
import {
  createDefaultHttpClient,
  type HttpClient,
  type PipelinePolicy,
  RestError,
} from '@azure/core-rest-pipeline';
import { gzip, gzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { IngestionFailure, type IngestionFailureKind } from '../domain/errors';
import type { IngestionSink, IngestionTarget } from '../domain/ports';
import { DEFAULT_TENANT_CACHE_LIMITS, type TenantCacheLimits, TenantCache } from '../domain/tenantCache';
import type { CustomerCredentials } from './customerCredentials';

/**
 * Uploads rows with @azure/monitor-ingestion, one client per (tenant, endpoint)
 * reused across invocations so tokens and connections are kept.
 *
 * The SDK's own retries are turned off: it retries a 429 only when Retry-After
 * is present and then sleeps for as long as the header says, which can outlast
 * a Service Bus message lock. Every retry decision (re-enqueue with backoff,
 * honouring Retry-After) is the forwarder's.
 *
 * The clients live in a bounded cache (TENANT_CACHE_*). LogsIngestionClient
 * has no close method (@azure/monitor-ingestion 1.2 declares none): its
 * sockets belong to its HTTP client, and every client shares this sink's, so
 * a dropped client leaves no connection open and the next client for the
 * same endpoint reuses the pooled ones.
 */
export class LogsIngestionSink implements IngestionSink {
  private readonly clients: TenantCache<LogsIngestionClient>;
  private readonly httpClient: HttpClient = createDefaultHttpClient();

  constructor(
    private readonly credentials: CustomerCredentials,
    private readonly audience: string,
    limits: TenantCacheLimits = DEFAULT_TENANT_CACHE_LIMITS,
  ) {
    this.clients = new TenantCache(limits);
  }

  /** (Tenant, endpoint) pairs whose client this instance holds. */
  get size(): number {
    return this.clients.size;
  }

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

  /** The tenant's client for an endpoint, built when this instance holds none (the benchmark builds them alone). */
  clientFor(tenantId: string, endpoint: string): LogsIngestionClient {
    return this.clients.getOrCreate(`${tenantId}|${endpoint}`, () => {
      const client = new LogsIngestionClient(endpoint, this.credentials.forTenant(tenantId), {
        audience: this.audience,
        retryOptions: { maxRetries: 0 },
        httpClient: this.httpClient,
      });
      client.pipeline.removePolicy({ name: GZIP_POLICY_NAME });
      client.pipeline.addPolicy(gzipPolicy);
      // After gzip, so a second attempt sends the same compressed bytes.
      client.pipeline.addPolicy(staleConnectionPolicy, { afterPolicies: [GZIP_POLICY_NAME] });
      return client;
    });
  }
}

/** The name @azure/monitor-ingestion gives its gzip policy; ours takes its place. */
const GZIP_POLICY_NAME = 'GzippingPolicy';
/** Below this, compressing inline is cheaper than the thread-pool round trip of zlib.gzip. */
const INLINE_GZIP_MAX_BYTES = 64 * 1024;
const gzipAsync = promisify(gzip);

/**
 * The SDK gzips every request with the asynchronous zlib.gzip. The forwarder
 * sends many small requests (a batch of 1,000 events over 50 tenants is
 * about 100 requests of a few kilobytes), for which the thread-pool hop costs
 * several times the compression itself; small bodies are compressed inline,
 * large ones still off the event loop. Same wire format: gzip, whole body.
 */
const gzipPolicy: PipelinePolicy = {
  name: GZIP_POLICY_NAME,
  async sendRequest(request, next) {
    const body = request.body;
    if (typeof body === 'string' || body instanceof Uint8Array) {
      const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      request.body = size <= INLINE_GZIP_MAX_BYTES ? gzipSync(body) : await gzipAsync(body);
    } else if (body !== undefined && body !== null) {
      throw new TypeError('The Logs Ingestion request body is not text or bytes; it cannot be gzipped.');
    }
    return next(request);
  },
};

/**
 * With the SDK's retries off, a request written to a pooled keep-alive connection the server has
 * just closed (idle longer than its timeout; the close not yet read here) fails with ECONNRESET or
 * EPIPE before any answer, and the forwarder would re-enqueue the tenant's events for seconds to
 * minutes. The SDK's default retry policy retries exactly these at once; so does this, once, on a
 * fresh connection (the pool drops the dead one). A second reset is a real outage and goes to the
 * forwarder. As with any retry of a request without an answer, the first may have been ingested:
 * rows keep their record id (at least once).
 */
export const staleConnectionPolicy: PipelinePolicy = {
  name: 'staleConnectionRetry',
  async sendRequest(request, next) {
    try {
      return await next(request);
    } catch (error) {
      const reset =
        error instanceof RestError &&
        error.statusCode === undefined &&
        (error.code === 'ECONNRESET' || error.code === 'EPIPE');
      if (!reset || request.abortSignal?.aborted) throw error;
      return next(request);
    }
  },
};

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
