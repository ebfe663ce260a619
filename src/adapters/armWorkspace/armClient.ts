import { setTimeout as sleep } from 'node:timers/promises';
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  type HttpClient,
  type HttpMethods,
  type Pipeline,
} from '@azure/core-rest-pipeline';
import { DependencyRejectedError } from '../../domain/errors';
import type { WorkspaceRef } from '../../domain/workspaceResourceId';
import { DEFAULT_TENANT_CACHE_LIMITS, TenantCache } from '../../domain/tenantCache';
import {
  type ArmErrorBody,
  type ArmOperation,
  mapArmError,
  mapTransportError,
  retryAfterMs,
} from './armErrors';
import type { ArmWorkspaceProvisionerOptions } from './provisioner';

/** API versions of the specs in ../shared/azure-specs (and what Azure Government and China serve too). */
export const API_VERSIONS = {
  workspace: '2022-10-01',
  tables: '2022-10-01',
  dataCollectionRules: '2023-03-11',
  diagnosticSettings: '2021-05-01-preview',
} as const;

export interface ArmResponse {
  status: number;
  body: unknown;
  headers: { get(name: string): string | undefined };
}

/**
 * Raw ARM REST with a bearer token of the route tenant's own credential, one
 * pipeline per tenant. The SDK pipeline retries 5xx/429/network errors a
 * couple of times; every retry and poll wait ends at the caller's deadline signal.
 */
export class ArmClient {
  /** Bounded (TENANT_CACHE_*); the pipelines share one HTTP client, so a dropped one holds no socket. */
  private readonly pipelines: TenantCache<Pipeline>;
  private readonly httpClient: HttpClient;
  readonly arm: string;
  readonly pollIntervalMs: number;
  readonly maxPollIntervalMs: number;
  private readonly requestTimeoutMs: number;

  constructor(private readonly options: ArmWorkspaceProvisionerOptions) {
    this.arm = options.armEndpoint.replace(/\/+$/, '');
    this.httpClient = options.httpClient ?? createDefaultHttpClient();
    this.pipelines = new TenantCache(options.tenantCache ?? DEFAULT_TENANT_CACHE_LIMITS);
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.maxPollIntervalMs = options.maxPollIntervalMs ?? 10_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** Polls Azure-AsyncOperation until the operation ends; only ever follows the ARM endpoint's own host. */
  async awaitOperation(
    tenantId: string,
    accepted: ArmResponse,
    operation: ArmOperation,
    signal: AbortSignal,
  ): Promise<void> {
    const statusUrl = accepted.headers.get('azure-asyncoperation') ?? accepted.headers.get('location');
    if (!statusUrl) return;
    if (new URL(statusUrl).origin !== new URL(this.arm).origin) {
      throw new DependencyRejectedError(
        'UnexpectedArmResponse',
        'Azure pointed the operation status at another host; it was not followed.',
      );
    }
    // ARM usually finishes a table within seconds: poll soon, then back off, unless told when.
    let interval = this.pollIntervalMs;
    let wait = retryAfterMs(accepted) ?? interval;
    for (;;) {
      await sleep(Math.min(wait, this.maxPollIntervalMs), undefined, { signal });
      const poll = await this.send(tenantId, 'GET', statusUrl, undefined, signal);
      interval = Math.min(interval * 2, this.maxPollIntervalMs);
      if (poll.status === 202 && !poll.body) {
        wait = retryAfterMs(poll) ?? interval;
        continue;
      }
      if (poll.status !== 200) throw mapArmError(poll, operation);
      const status = (poll.body as { status?: unknown } | undefined)?.status;
      if (status === 'Succeeded' || status === undefined) return;
      if (status === 'Failed' || status === 'Canceled') {
        const error = (poll.body as { error?: ArmErrorBody }).error ?? { code: String(status) };
        throw mapArmError({ status: 400, body: { error }, headers: poll.headers }, operation);
      }
      wait = retryAfterMs(poll) ?? interval;
    }
  }

  async send(
    tenantId: string,
    method: HttpMethods,
    url: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<ArmResponse> {
    const request = createPipelineRequest({
      url,
      method,
      abortSignal: signal,
      timeout: this.requestTimeoutMs,
      headers: createHttpHeaders(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    let response;
    try {
      response = await this.pipelineFor(tenantId).sendRequest(this.httpClient, request);
    } catch (error) {
      throw mapTransportError(error, tenantId);
    }
    let parsed: unknown;
    if (response.bodyAsText) {
      try {
        parsed = JSON.parse(response.bodyAsText);
      } catch {
        parsed = undefined;
      }
    }
    return { status: response.status, body: parsed, headers: { get: (name) => response.headers.get(name) } };
  }

  private pipelineFor(tenantId: string): Pipeline {
    return this.pipelines.getOrCreate(tenantId, () => {
      const pipeline = createPipelineFromOptions({
        // A few quick retries for 5xx/429/network blips; the deadline signal ends any wait.
        retryOptions: { maxRetries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 4_000 },
      });
      pipeline.addPolicy(
        bearerTokenAuthenticationPolicy({
          credential: this.options.credentials.forTenant(tenantId),
          scopes: `${this.arm}/.default`,
        }),
      );
      return pipeline;
    });
  }
}

export function workspaceUrl(arm: string, workspace: WorkspaceRef, apiVersion: string): string {
  return `${arm}${workspacePath(workspace)}?api-version=${apiVersion}`;
}

export function workspacePath(workspace: WorkspaceRef): string {
  return `/subscriptions/${workspace.subscriptionId}/resourceGroups/${encodeURIComponent(workspace.resourceGroup)}/providers/Microsoft.OperationalInsights/workspaces/${encodeURIComponent(workspace.workspaceName)}`;
}
