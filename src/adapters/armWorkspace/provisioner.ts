import type { HttpClient } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import { normalizeLocation } from '../../domain/azureRegions';
import { DependencyRejectedError } from '../../domain/errors';
import type {
  DataCollectionRuleInfo,
  TableProvisioning,
  WorkspaceInfo,
  WorkspaceProvisioner,
} from '../../domain/ports';
import type { ProvisionedTable } from '../../domain/tableSchema';
import type { TenantCacheLimits } from '../../domain/tenantCache';
import type { WorkspaceRef } from '../../domain/workspaceResourceId';
import { API_VERSIONS, ArmClient, workspaceUrl } from './armClient';
import { type ArmOperation, mapArmError } from './armErrors';
import { ensureDataCollectionRule } from './dataCollectionRule';
import { ensureDiagnosticSetting } from './diagnosticSetting';
import { ensureTable } from './tables';

export interface ArmWorkspaceProvisionerOptions {
  /** ARM endpoint of the cloud, e.g. https://management.azure.com. */
  armEndpoint: string;
  /** The route tenant's credential (one per customer tenant). */
  credentials: { forTenant(tenantId: string): TokenCredential };
  /** First wait before polling a long-running operation when ARM sends no Retry-After; doubles per poll. */
  pollIntervalMs?: number;
  /** Upper bound for a poll wait, whatever Retry-After says. */
  maxPollIntervalMs?: number;
  /** Backoff of DCR PUT retries while a new table is not yet visible to the DCR service. */
  dcrRetry?: { startingDelayMs: number; maxDelayMs: number };
  /** Bound for one ARM request. */
  requestTimeoutMs?: number;
  httpClient?: HttpClient;
  /** Bounds the per-tenant pipelines (token caches); defaults for a 2 GB instance. */
  tenantCache?: TenantCacheLimits;
}

/**
 * Workspace, tables and DCR through raw ARM REST (api-versions pinned to the
 * specs we test against), with a bearer token of the route tenant's own
 * credential. The SDK pipeline retries 5xx/429/network errors a couple of
 * times; every retry and poll wait ends at the caller's deadline signal.
 */
export class ArmWorkspaceProvisioner implements WorkspaceProvisioner {
  private readonly client: ArmClient;
  private readonly dcrRetry: { startingDelayMs: number; maxDelayMs: number };

  constructor(options: ArmWorkspaceProvisionerOptions) {
    this.client = new ArmClient(options);
    this.dcrRetry = options.dcrRetry ?? { startingDelayMs: 1_000, maxDelayMs: 15_000 };
  }

  async readWorkspace(
    tenantId: string,
    workspace: WorkspaceRef,
    signal: AbortSignal,
  ): Promise<WorkspaceInfo> {
    const operation: ArmOperation = {
      doing: 'read the workspace',
      role: 'Log Analytics Contributor',
      why: 'to read the workspace and create the two tables in it (Monitoring Contributor also grants read access, but all three roles are needed)',
      workspace,
      tenantId,
    };
    const response = await this.client.send(
      tenantId,
      'GET',
      workspaceUrl(this.client.arm, workspace, API_VERSIONS.workspace),
      undefined,
      signal,
    );
    if (response.status !== 200) throw mapArmError(response, operation);
    const location = (response.body as { location?: unknown } | undefined)?.location;
    if (typeof location !== 'string') {
      throw new DependencyRejectedError(
        'UnexpectedArmResponse',
        'Azure answered the workspace read without a location.',
      );
    }
    try {
      return { location: normalizeLocation(location) };
    } catch {
      // A region newer than our list: ARM is the authority on where the workspace is.
      return { location: location.replace(/\s+/g, '').toLowerCase() };
    }
  }

  /** Creates or updates one table, carrying over the customer's columns, plan and retention (tables.ts). */
  ensureTable(
    tenantId: string,
    workspace: WorkspaceRef,
    table: ProvisionedTable,
    signal: AbortSignal,
  ): Promise<TableProvisioning> {
    return ensureTable(this.client, tenantId, workspace, table, signal);
  }

  /** The Direct DCR of the workspace, retried while new tables are not yet visible to it (dataCollectionRule.ts). */
  ensureDataCollectionRule(
    tenantId: string,
    workspace: WorkspaceRef,
    location: string,
    signal: AbortSignal,
  ): Promise<DataCollectionRuleInfo> {
    return ensureDataCollectionRule(this.client, this.dcrRetry, tenantId, workspace, location, signal);
  }

  /** Sends the DCR's LogErrors to the workspace (diagnosticSetting.ts). */
  ensureDiagnosticSetting(
    tenantId: string,
    workspace: WorkspaceRef,
    dataCollectionRuleId: string,
    signal: AbortSignal,
  ): Promise<void> {
    return ensureDiagnosticSetting(this.client, tenantId, workspace, dataCollectionRuleId, signal);
  }
}
