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
import type { TokenCredential } from '@azure/identity';
import { backOff } from 'exponential-backoff';
import { normalizeLocation } from '../domain/azureRegions';
import {
  AppNotRegisteredError,
  AuthorizationError,
  type CustomerRole,
  DependencyRejectedError,
  type DomainError,
  NotFoundError,
  StateConflictError,
  TransientDependencyError,
  ValidationError,
} from '../domain/errors';
import type {
  DataCollectionRuleInfo,
  TableProvisioning,
  WorkspaceInfo,
  WorkspaceProvisioner,
} from '../domain/ports';
import {
  dataFlowTransform,
  outputStreamName,
  PROVISIONED_TABLES,
  type ProvisionedTable,
  streamDeclarationColumns,
  streamName,
  TABLE_NAMES,
  type TableName,
  tablesApiColumns,
} from '../domain/tableSchema';
import type { WorkspaceRef } from '../domain/workspaceResourceId';
import { DEFAULT_TENANT_CACHE_LIMITS, TenantCache, type TenantCacheLimits } from '../domain/tenantCache';
import { TenantNotFoundError } from './customerCredentials';

/** API versions of the specs in ../shared/azure-specs (and what Azure Government and China serve too). */
export const API_VERSIONS = {
  workspace: '2022-10-01',
  tables: '2022-10-01',
  dataCollectionRules: '2023-03-11',
  diagnosticSettings: '2021-05-01-preview',
} as const;

/**
 * Name of the diagnostic setting on our DCR. The Sentinel hunting query EZCA_DcrLogErrors filters
 * DCRLogErrors on the DCR's resource id (pki-siem-export-*), not on this name.
 */
export const DIAGNOSTIC_SETTING_NAME = 'pki-siem-export-errors';

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

const DCR_NAME_PREFIX = 'pki-siem-export-';

/**
 * One DCR per workspace: testing another workspace in the same resource group
 * must not re-point the DCR a saved connection delivers through.
 * DCR names are at most 64 characters.
 */
export function dataCollectionRuleName(workspace: WorkspaceRef): string {
  const name = `${DCR_NAME_PREFIX}${workspace.workspaceName}`;
  if (name.length <= 64) return name;
  let hash = 0;
  for (const char of workspace.resourceId.toLowerCase()) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `${name.slice(0, 55)}-${hash.toString(16).padStart(8, '0')}`;
}

interface ArmOperation {
  /** What we were doing, for messages: "read the workspace", "create the table EZCA_CAs_CL". */
  doing: string;
  /** The customer role that grants this operation. */
  role: CustomerRole;
  /** Why the role is needed, for the authorization message. */
  why: string;
  workspace: WorkspaceRef;
  tenantId: string;
}

interface ArmResponse {
  status: number;
  body: unknown;
  headers: { get(name: string): string | undefined };
}

interface ArmErrorBody {
  code?: string;
  message?: string;
  details?: ArmErrorBody[];
}

export interface TableColumn {
  name: string;
  type: string;
  description?: string;
  displayName?: string;
  dataTypeHint?: string;
}

export interface TableResource {
  properties?: {
    plan?: string;
    retentionInDays?: number;
    totalRetentionInDays?: number;
    retentionInDaysAsDefault?: boolean;
    totalRetentionInDaysAsDefault?: boolean;
    schema?: {
      tableSubType?: string;
      columns?: TableColumn[];
      standardColumns?: TableColumn[];
    };
  };
}

class InvalidOutputTable extends Error {}

/**
 * Workspace, tables and DCR through raw ARM REST (api-versions pinned to the
 * specs we test against), with a bearer token of the route tenant's own
 * credential. The SDK pipeline retries 5xx/429/network errors a couple of
 * times; every retry and poll wait ends at the caller's deadline signal.
 */
export class ArmWorkspaceProvisioner implements WorkspaceProvisioner {
  /** Bounded (TENANT_CACHE_*); the pipelines share one HTTP client, so a dropped one holds no socket. */
  private readonly pipelines: TenantCache<Pipeline>;
  private readonly httpClient: HttpClient;
  private readonly arm: string;
  private readonly pollIntervalMs: number;
  private readonly maxPollIntervalMs: number;
  private readonly dcrRetry: { startingDelayMs: number; maxDelayMs: number };
  private readonly requestTimeoutMs: number;

  constructor(private readonly options: ArmWorkspaceProvisionerOptions) {
    this.arm = options.armEndpoint.replace(/\/+$/, '');
    this.httpClient = options.httpClient ?? createDefaultHttpClient();
    this.pipelines = new TenantCache(options.tenantCache ?? DEFAULT_TENANT_CACHE_LIMITS);
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.maxPollIntervalMs = options.maxPollIntervalMs ?? 10_000;
    this.dcrRetry = options.dcrRetry ?? { startingDelayMs: 1_000, maxDelayMs: 15_000 };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
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
    const response = await this.send(
      tenantId,
      'GET',
      workspaceUrl(this.arm, workspace, API_VERSIONS.workspace),
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

  async ensureTable(
    tenantId: string,
    workspace: WorkspaceRef,
    table: ProvisionedTable,
    signal: AbortSignal,
  ): Promise<TableProvisioning> {
    const operation: ArmOperation = {
      doing: `create or update the table ${table}`,
      role: 'Log Analytics Contributor',
      why: `to create and update the tables ${PROVISIONED_TABLES.join(', ')} in the workspace`,
      workspace,
      tenantId,
    };
    const url = tableUrl(this.arm, workspace, table);
    const current = await this.send(tenantId, 'GET', url, undefined, signal);
    let existing: TableResource | undefined;
    if (current.status === 200) existing = current.body as TableResource;
    else if (current.status !== 404 || isWorkspaceMissing(current.body))
      throw mapArmError(current, operation);

    const plan = planTable(table, existing);
    if (plan.action === 'unchanged') return { table, action: 'unchanged', keptColumns: plan.keptColumns };

    let action: TableProvisioning['action'] = existing ? 'updated' : 'created';
    if (existing?.properties?.schema?.tableSubType === 'Classic') {
      // Converting is idempotent and irreversible; the Data Collector API keeps writing the existing columns.
      const migrated = await this.send(
        tenantId,
        'POST',
        tableUrl(this.arm, workspace, table, '/migrate'),
        undefined,
        signal,
      );
      if (migrated.status !== 200 && migrated.status !== 202 && migrated.status !== 204)
        throw mapArmError(migrated, { ...operation, doing: `migrate the Classic table ${table}` });
      if (migrated.status === 202) await this.awaitOperation(tenantId, migrated, operation, signal);
      action = 'migrated';
    }

    let put = await this.send(tenantId, 'PUT', url, plan.body, signal);
    // 409 Conflict: another operation on the table is still running (the schema upgrade timer, or a
    // Create Connection of another instance whose lease expired). Our PUT is idempotent: wait, then
    // send it again, within the caller's deadline, rather than report a failure for a healthy table.
    for (
      let wait = this.pollIntervalMs;
      isTableBusy(put);
      wait = Math.min(wait * 2, this.maxPollIntervalMs)
    ) {
      await sleep(retryAfterMs(put) ?? wait, undefined, { signal });
      put = await this.send(tenantId, 'PUT', url, plan.body, signal);
    }
    if (put.status === 202) await this.awaitOperation(tenantId, put, operation, signal);
    else if (put.status !== 200 && put.status !== 201) throw mapArmError(put, operation);
    return { table, action, keptColumns: plan.keptColumns };
  }

  async ensureDataCollectionRule(
    tenantId: string,
    workspace: WorkspaceRef,
    location: string,
    signal: AbortSignal,
  ): Promise<DataCollectionRuleInfo> {
    const operation: ArmOperation = {
      doing: 'create or update the data collection rule',
      role: 'Monitoring Contributor',
      why: 'to create the data collection rule that routes events into the workspace',
      workspace,
      tenantId,
    };
    const name = dataCollectionRuleName(workspace);
    const url = `${this.arm}${workspace.resourceGroupId}/providers/Microsoft.Insights/dataCollectionRules/${encodeURIComponent(name)}?api-version=${API_VERSIONS.dataCollectionRules}`;
    const body = dataCollectionRuleBody(workspace, location);

    const put = async (): Promise<ArmResponse> => {
      signal.throwIfAborted();
      const response = await this.send(tenantId, 'PUT', url, body, signal);
      if (response.status === 200 || response.status === 201) return response;
      if (isInvalidOutputTable(response.body)) throw new InvalidOutputTable();
      throw mapArmError(response, operation);
    };
    let response: ArmResponse;
    try {
      response = await backOff(put, {
        numOfAttempts: 100,
        startingDelay: this.dcrRetry.startingDelayMs,
        maxDelay: this.dcrRetry.maxDelayMs,
        timeMultiple: 2,
        jitter: 'full',
        // A table just created is not visible to the DCR service at once; anything else is not ours to retry here.
        retry: (error: unknown) => error instanceof InvalidOutputTable && !signal.aborted,
      });
    } catch (error) {
      if (error instanceof InvalidOutputTable) {
        throw new TransientDependencyError(
          'The new tables are not yet visible to the data collection rule service. Click Create Connection again in a few minutes.',
        );
      }
      throw error;
    }

    const rule = response.body as {
      id?: unknown;
      properties?: { immutableId?: unknown; endpoints?: { logsIngestion?: unknown } };
    };
    const immutableId = rule.properties?.immutableId;
    const endpoint = rule.properties?.endpoints?.logsIngestion;
    if (typeof immutableId !== 'string' || typeof rule.id !== 'string') {
      throw new DependencyRejectedError(
        'UnexpectedArmResponse',
        'Azure answered the data collection rule PUT without its immutable id.',
      );
    }
    if (typeof endpoint !== 'string') {
      throw new StateConflictError(
        'DataCollectionRuleWithoutEndpoint',
        `A data collection rule named ${name} already exists in ${workspace.resourceGroupId} but has no logs ingestion endpoint (it was not created as kind Direct, and an endpoint cannot be added later). Delete it and click Create Connection again.`,
      );
    }
    return {
      id: rule.id,
      immutableId,
      logsIngestionEndpoint: endpoint,
      streams: Object.fromEntries(TABLE_NAMES.map((table) => [table, streamName(table)])) as Record<
        TableName,
        string
      >,
    };
  }

  async ensureDiagnosticSetting(
    tenantId: string,
    workspace: WorkspaceRef,
    dataCollectionRuleId: string,
    signal: AbortSignal,
  ): Promise<void> {
    const operation: ArmOperation = {
      doing: 'create the diagnostic setting that sends the data collection rule errors to the workspace',
      role: 'Monitoring Contributor',
      why: 'Microsoft.Insights/diagnosticSettings/write, so that rows Azure refuses show up in the DCRLogErrors table',
      workspace,
      tenantId,
    };
    const url = `${this.arm}${dataCollectionRuleId}/providers/Microsoft.Insights/diagnosticSettings/${DIAGNOSTIC_SETTING_NAME}?api-version=${API_VERSIONS.diagnosticSettings}`;
    const response = await this.send(tenantId, 'PUT', url, diagnosticSettingBody(workspace), signal);
    if (response.status === 200 || response.status === 201) return;
    if (response.status === 404) {
      throw new NotFoundError(
        'DataCollectionRuleNotFound',
        `The data collection rule ${lastPathSegment(dataCollectionRuleId)} was not found when adding its diagnostic setting (it may have been deleted meanwhile). Click Create Connection again.`,
      );
    }
    throw mapArmError(response, operation);
  }

  /** Polls Azure-AsyncOperation until the operation ends; only ever follows the ARM endpoint's own host. */
  private async awaitOperation(
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

  private async send(
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

function workspaceUrl(arm: string, workspace: WorkspaceRef, apiVersion: string): string {
  return `${arm}${workspacePath(workspace)}?api-version=${apiVersion}`;
}

function workspacePath(workspace: WorkspaceRef): string {
  return `/subscriptions/${workspace.subscriptionId}/resourceGroups/${encodeURIComponent(workspace.resourceGroup)}/providers/Microsoft.OperationalInsights/workspaces/${encodeURIComponent(workspace.workspaceName)}`;
}

function tableUrl(arm: string, workspace: WorkspaceRef, table: ProvisionedTable, action = ''): string {
  return `${arm}${workspacePath(workspace)}/tables/${table}${action}?api-version=${API_VERSIONS.tables}`;
}

/** The Direct DCR body: one stream per table into `Custom-<table>`, guid columns converted by the transform. */
/**
 * Diagnostic setting on the DCR (diagnosticsSettings_API.json 2021-05-01-preview: properties.workspaceId
 * and logs[].category/enabled). LogErrors is the DCR's only log category and lands in DCRLogErrors
 * (Learn: Supported logs for Microsoft.Insights/datacollectionrules; Monitor DCR data collection).
 */
export function diagnosticSettingBody(workspace: WorkspaceRef): unknown {
  return {
    properties: {
      workspaceId: workspace.resourceId,
      logs: [{ category: 'LogErrors', enabled: true }],
    },
  };
}

function lastPathSegment(id: string): string {
  return id.split('/').filter(Boolean).at(-1) ?? id;
}

export function dataCollectionRuleBody(workspace: WorkspaceRef, location: string): unknown {
  const destination = 'workspace';
  return {
    location,
    kind: 'Direct',
    properties: {
      description: 'Created by the Keytos application: exports EZCA audit events to this workspace.',
      streamDeclarations: Object.fromEntries(
        PROVISIONED_TABLES.map((table) => [streamName(table), { columns: streamDeclarationColumns(table) }]),
      ),
      destinations: {
        logAnalytics: [{ workspaceResourceId: workspace.resourceId, name: destination }],
      },
      dataFlows: PROVISIONED_TABLES.map((table) => ({
        streams: [streamName(table)],
        destinations: [destination],
        transformKql: dataFlowTransform(table),
        outputStream: outputStreamName(table),
      })),
    },
  };
}

export interface TablePlan {
  action: 'create' | 'update' | 'unchanged';
  keptColumns: string[];
  body: unknown;
}

/**
 * What to PUT for a table. A PUT replaces the custom column list, so columns
 * the customer added are carried over; a column we define that exists with
 * another type is refused (Log Analytics never changes a column's type).
 */
export function planTable(table: ProvisionedTable, existing: TableResource | undefined): TablePlan {
  const ours = tablesApiColumns(table);
  const ourNames = new Set(ours.map((column) => column.name));
  const schema = existing?.properties?.schema;
  const customColumns = schema?.columns ?? [];
  const standardNames = new Set((schema?.standardColumns ?? []).map((column) => column.name));
  const allExisting = new Map(
    [...(schema?.standardColumns ?? []), ...customColumns].map((column) => [column.name, column]),
  );

  const clashes = ours.filter((column) => {
    const found = allExisting.get(column.name);
    return found !== undefined && found.type.toLowerCase() !== column.type.toLowerCase();
  });
  if (clashes.length > 0) {
    const list = clashes
      .map(
        (column) =>
          `${column.name} is ${allExisting.get(column.name)?.type ?? '?'} but must be ${column.type}`,
      )
      .join('; ');
    throw new StateConflictError(
      'TableColumnConflict',
      `The existing table ${table} has columns of another type than the export writes (${list}). Log Analytics cannot change a column's type: rename or remove these columns, or delete the table, then click Create Connection again.`,
    );
  }

  const kept = customColumns
    .filter((column) => !ourNames.has(column.name))
    .map(({ name, type, description, displayName, dataTypeHint }) => ({
      name,
      type,
      ...(description ? { description } : {}),
      ...(displayName ? { displayName } : {}),
      ...(dataTypeHint ? { dataTypeHint } : {}),
    }));
  const keptColumns = kept.map((column) => column.name);

  const complete = ours.every((column) => allExisting.has(column.name));
  if (existing && complete && schema?.tableSubType !== 'Classic') {
    return { action: 'unchanged', keptColumns, body: undefined };
  }

  const properties = existing?.properties;
  return {
    action: existing ? 'update' : 'create',
    keptColumns,
    body: {
      properties: {
        // Carried over so an update never resets the customer's plan or retention.
        ...(properties?.plan ? { plan: properties.plan } : {}),
        ...(properties?.retentionInDays !== undefined && properties.retentionInDaysAsDefault !== true
          ? { retentionInDays: properties.retentionInDays }
          : {}),
        ...(properties?.totalRetentionInDays !== undefined &&
        properties.totalRetentionInDaysAsDefault !== true
          ? { totalRetentionInDays: properties.totalRetentionInDays }
          : {}),
        // A migrated Classic table keeps TimeGenerated and the other Data Collector API columns as
        // standard columns: the PUT lists only custom columns, or Azure refuses it.
        schema: {
          name: table,
          columns: [...ours.filter((column) => !standardNames.has(column.name)), ...kept],
        },
      },
    },
  };
}

function armError(body: unknown): ArmErrorBody {
  const error = (body as { error?: unknown } | undefined)?.error;
  return typeof error === 'object' && error !== null ? error : {};
}

function isWorkspaceMissing(body: unknown): boolean {
  const { code, message } = armError(body);
  return (
    code === 'ResourceGroupNotFound' ||
    code === 'SubscriptionNotFound' ||
    code === 'WorkspaceNotFound' ||
    (code === 'ResourceNotFound' && /workspaces\/[^/']+'/i.test(message ?? ''))
  );
}

function isInvalidOutputTable(body: unknown): boolean {
  const walk = (error: ArmErrorBody | undefined, depth: number): boolean =>
    !!error &&
    depth < 5 &&
    (error.code === 'InvalidOutputTable' ||
      /InvalidOutputTable/.test(error.message ?? '') ||
      (error.details ?? []).some((detail) => walk(detail, depth + 1)));
  return walk(armError(body), 0);
}

function retryAfterMs(response: ArmResponse): number | undefined {
  const value = response.headers.get('retry-after');
  if (value === undefined) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

/**
 * ARM's own message, first line, bounded, with anything token-shaped removed; with the
 * details' messages when the top one is generic ("Data collection rule is invalid").
 */
function armMessage(error: ArmErrorBody): string {
  const details = (error.details ?? [])
    .filter((detail) => detail.message && detail.message !== error.message)
    .slice(0, 3)
    .map((detail) => `${detail.code ? `${detail.code}: ` : ''}${detail.message ?? ''}`.replace(/\s+/g, ' '));
  return safeText([error.message ?? '', ...details].filter((text) => text !== '').join(' — '));
}

export function safeText(text: string): string {
  return (text.split('\n')[0] ?? '')
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[token]')
    .slice(0, 400)
    .trim();
}

/** ARM refusing a table PUT because an operation on that table is in progress. */
function isTableBusy(response: ArmResponse): boolean {
  return response.status === 409 && armError(response.body).code === 'Conflict';
}

/** Turns an ARM error response into the domain error a portal user can act on. */
export function mapArmError(response: ArmResponse, operation: ArmOperation): DomainError {
  const error = armError(response.body);
  const code = error.code ?? '';
  const scope = operation.workspace.resourceGroupId;
  if (
    response.status === 403 &&
    (code === 'AuthorizationFailed' || code === 'LinkedAuthorizationFailed' || code === '')
  ) {
    const action = /perform action '([^']+)'/.exec(error.message ?? '')?.[1];
    return new AuthorizationError(
      `The Keytos application may not ${operation.doing}: grant it the ${operation.role} role on the resource group ${scope} (${operation.why}). In the Azure portal: resource group > Access control (IAM) > Add role assignment. Then click Create Connection again; a new role assignment can take a few minutes to apply.`,
      operation.role,
      scope,
      action,
    );
  }
  if (response.status === 401 && code === 'InvalidAuthenticationTokenTenant') {
    return new ValidationError(
      'WorkspaceInAnotherTenant',
      `The workspace's subscription ${operation.workspace.subscriptionId} does not belong to the Entra tenant ${operation.tenantId}. Choose a workspace in a subscription of this tenant, or configure the export from the EZCA tenant that owns the subscription.`,
      'workspaceResourceId',
    );
  }
  if (response.status === 404 || code === 'ResourceGroupNotFound' || code === 'SubscriptionNotFound') {
    const { workspaceName, resourceGroup, subscriptionId } = operation.workspace;
    return new NotFoundError(
      'WorkspaceNotFound',
      `No Log Analytics workspace "${workspaceName}" was found in resource group "${resourceGroup}" of subscription ${subscriptionId} (${code || 'not found'}). Copy the Resource ID from the workspace's Properties page and check that the Keytos application has its roles on that resource group.`,
    );
  }
  if (response.status === 409 && code === 'MissingSubscriptionRegistration') {
    // Never heals by itself: the subscription must register the provider (microsoft/AzureTRE#4510).
    const namespace = /namespace '([^']+)'/.exec(error.message ?? '')?.[1] ?? 'Microsoft.Insights';
    const { subscriptionId } = operation.workspace;
    return new DependencyRejectedError(
      'MissingSubscriptionRegistration',
      `The subscription ${subscriptionId} has not registered the resource provider ${namespace}, so Azure refused to ${operation.doing}. Someone with rights on the whole subscription (Owner or Contributor on it) must register it once: az provider register --namespace ${namespace} --subscription ${subscriptionId} (Azure portal: Subscriptions > your subscription > Resource providers > ${namespace} > Register). Registration takes a few minutes; when az provider show --namespace ${namespace} --query registrationState says Registered, click Create Connection again.`,
    );
  }
  if (response.status === 429 || response.status === 409 || response.status >= 500) {
    return new TransientDependencyError(
      `Azure could not ${operation.doing} right now (${response.status}${code ? ` ${code}` : ''}). Try again in a few minutes.`,
      retryAfterMs(response),
    );
  }
  return new DependencyRejectedError(
    code || `Arm${response.status}`,
    `Azure refused to ${operation.doing}: ${armMessage(error) || `status ${response.status}`}`,
  );
}

const NETWORK =
  /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|ESOCKETTIMEDOUT|ENOTFOUND|EAI_AGAIN|EPIPE|REQUEST_SEND_ERROR)$/;

/** Errors thrown before any ARM answer: token acquisition, network, deadline. */
function mapTransportError(error: unknown, tenantId: string): unknown {
  if (!(error instanceof Error)) return error;
  if (error.name === 'AbortError') return error;
  // MSAL-based credentials report Entra refusals as AuthenticationError or, for some codes
  // (unauthorized_client: app not in the tenant), as AuthenticationRequiredError.
  if (error.name === 'AuthenticationError' || error.name === 'AuthenticationRequiredError') {
    const response = (error as { errorResponse?: { errorDescription?: string; errorCodes?: number[] } })
      .errorResponse;
    const description = `${response?.errorDescription ?? ''} ${error.message}`;
    if (response?.errorCodes?.includes(700016) || /AADSTS700016\b/.test(description)) {
      return new AppNotRegisteredError(
        `The Keytos application is not registered in your tenant ${tenantId} (Entra ID answered AADSTS700016: application not found in the directory). An administrator of the tenant must consent to the Keytos application (the how-to's prerequisite "The Keytos Entra ID application is registered in your tenant"), then grant it the three roles.`,
      );
    }
    if (/AADSTS90002\b/.test(description))
      return mapTransportError(new TenantNotFoundError(tenantId), tenantId);
    const code = /AADSTS\d+/.exec(description)?.[0];
    const status = (error as { statusCode?: number }).statusCode ?? 0;
    if (!code && (status === 0 || status >= 500)) {
      return new TransientDependencyError(
        'Entra ID did not answer the token request. Try again in a few minutes.',
      );
    }
    return new DependencyRejectedError(
      code ?? 'TokenRequestFailed',
      `Entra ID refused to issue the Keytos application a token for tenant ${tenantId} (${code ?? `status ${status}`}). If the application was removed from your tenant, consent to it again; otherwise contact Keytos support.`,
    );
  }
  if (error instanceof TenantNotFoundError) {
    return new ValidationError(
      'TenantNotFound',
      `Entra ID does not know the tenant ${tenantId} (AADSTS90002). Check the tenant ID EZCA is configured with: it is the Tenant ID on the Overview page of Microsoft Entra ID in the Azure portal, for the tenant whose subscription holds the workspace.`,
      'tenantId',
    );
  }
  if (error.name === 'CredentialUnavailableError') {
    return new DependencyRejectedError(
      'CredentialUnavailable',
      'The service could not use its own identity to reach your tenant. This is a problem on our side; try again later or contact Keytos support.',
    );
  }
  const code = (error as { code?: unknown }).code;
  const statusCode = (error as { statusCode?: unknown }).statusCode;
  if (error.name === 'RestError' && statusCode === undefined) {
    const reason = typeof code === 'string' && NETWORK.test(code) ? code : 'network error';
    return new TransientDependencyError(
      `Azure Resource Manager could not be reached (${reason}). Try again in a few minutes.`,
    );
  }
  return error;
}
