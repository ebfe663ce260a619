import { ClientSecretCredential } from '@azure/identity';
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createEmptyPipeline,
  createHttpHeaders,
  createPipelineRequest,
  type HttpMethods,
} from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import {
  CA_TABLE,
  dataFlowTransform,
  streamDeclarationColumns,
  streamName,
  tablesApiColumns,
  type ProvisionedTable,
} from '../../src/domain/tableSchema';
import type { AzureStandInAdmin, RoleName, SeededTenant, StandInInfo } from '../support/azureStandIn';

/** Helpers the stand-in's own tests share: a consented customer tenant, ARM calls, LRO polling, bodies. */

export const ARM_SCOPE = 'https://management.azure.com/.default';

export interface Customer {
  tenant: SeededTenant;
  clientId: string;
  secret: string;
  credential: ClientSecretCredential;
  workspaceId: string;
  location: string;
}

export async function seedCustomer(
  admin: AzureStandInAdmin,
  info: StandInInfo,
  options: { roles?: RoleName[]; location?: string } = {},
): Promise<Customer> {
  const app = await admin.registerApp({ secret: true });
  const tenant = await admin.seedTenant({
    consentApps: [app.clientId],
    ...(options.roles ? { roles: options.roles } : {}),
    workspace: { location: options.location ?? 'westeurope' },
  });
  const credential = new ClientSecretCredential(tenant.tenantId, app.clientId, app.secret!, {
    authorityHost: info.authorityHost,
    disableInstanceDiscovery: true,
  });
  return {
    tenant,
    clientId: app.clientId,
    secret: app.secret!,
    credential,
    workspaceId: tenant.workspace!.id,
    location: tenant.workspace!.location,
  };
}

/**
 * The response fields these tests read, typed as if always present: a missing
 * one fails the test at the assertion that reads it.
 */
export interface ArmBody {
  error: {
    code: string;
    message: string;
    details: Array<{ code: string; message: string; target?: string }>;
  };
  id: string;
  name: string;
  type: string;
  location: string;
  kind: string;
  etag: string;
  status: string;
  properties: {
    customerId: string;
    provisioningState: string;
    immutableId: string;
    endpoints: { logsIngestion: string; metricsIngestion: string };
    streamDeclarations: Record<string, { columns: Array<{ name: string; type: string }> }>;
    destinations: { logAnalytics: Array<{ workspaceResourceId: string; workspaceId: string; name: string }> };
    schema: {
      name: string;
      tableSubType: string;
      tableType: string;
      columns: Array<{ name: string; type: string }>;
      standardColumns: Array<{ name: string; type: string }>;
    };
    retentionInDays: number;
    totalRetentionInDays: number;
    archiveRetentionInDays: number;
  };
}

export interface ArmResponse {
  status: number;
  headers: Record<string, string>;
  body: ArmBody;
}

function parseBody(text: string): ArmBody {
  return (text ? JSON.parse(text) : {}) as ArmBody;
}

/** Sends through a real core-rest-pipeline with the bearer token policy, as the SDK clients do. */
export async function arm(
  credential: TokenCredential,
  method: HttpMethods,
  url: string,
  body?: unknown,
  scope = ARM_SCOPE,
): Promise<ArmResponse> {
  const pipeline = createEmptyPipeline();
  pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential, scopes: scope }));
  const request = createPipelineRequest({
    url,
    method,
    headers: createHttpHeaders({ 'content-type': 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const response = await pipeline.sendRequest(createDefaultHttpClient(), request);
  return {
    status: response.status,
    headers: response.headers.toJSON(),
    body: parseBody(response.bodyAsText ?? ''),
  };
}

/** The same call with a bearer token the test crafted itself. */
export async function armWithToken(
  token: string,
  method: string,
  url: string,
  body?: unknown,
): Promise<ArmResponse> {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers.entries()),
    body: parseBody(text),
  };
}

export function tableUrl(
  info: StandInInfo,
  workspaceId: string,
  table: string,
  apiVersion = '2022-10-01',
): string {
  return `${info.armEndpoint}${workspaceId}/tables/${table}?api-version=${apiVersion}`;
}

export function dcrUrl(
  info: StandInInfo,
  customer: Customer,
  name: string,
  apiVersion = '2023-03-11',
): string {
  return `${info.armEndpoint}${customer.tenant.resourceGroup.id}/providers/Microsoft.Insights/dataCollectionRules/${name}?api-version=${apiVersion}`;
}

export function tableBody(table: ProvisionedTable = CA_TABLE) {
  return { properties: { schema: { name: table, columns: tablesApiColumns(table) } } };
}

export function dcrBody(
  customer: Customer,
  tables: ProvisionedTable[] = [CA_TABLE],
  location = customer.location,
) {
  return {
    location,
    kind: 'Direct',
    properties: {
      streamDeclarations: Object.fromEntries(
        tables.map((table) => [streamName(table), { columns: streamDeclarationColumns(table) }]),
      ),
      destinations: {
        logAnalytics: [{ workspaceResourceId: customer.workspaceId, name: 'customerWorkspace' }],
      },
      dataFlows: tables.map((table) => ({
        streams: [streamName(table)],
        destinations: ['customerWorkspace'],
        transformKql: dataFlowTransform(table),
        outputStream: `Custom-${table}`,
      })),
    },
  };
}

/** Follows Azure-AsyncOperation until a terminal status; returns every status seen. */
export async function pollOperation(credential: TokenCredential, operationUrl: string): Promise<string[]> {
  const statuses: string[] = [];
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const response = await arm(credential, 'GET', operationUrl);
    if (response.status !== 200)
      throw new Error(`operation status ${response.status}: ${JSON.stringify(response.body)}`);
    const status = response.body.status;
    statuses.push(status);
    if (['Succeeded', 'Failed', 'Canceled'].includes(status)) return statuses;
  }
  throw new Error(`operation never finished: ${statuses.join(', ')}`);
}

/** PUTs a table and waits for its operation to succeed. */
export async function createTable(
  info: StandInInfo,
  customer: Customer,
  table: ProvisionedTable = CA_TABLE,
): Promise<void> {
  const put = await arm(
    customer.credential,
    'PUT',
    tableUrl(info, customer.workspaceId, table),
    tableBody(table),
  );
  if (put.status !== 202) throw new Error(`table PUT answered ${put.status}: ${JSON.stringify(put.body)}`);
  const statuses = await pollOperation(customer.credential, put.headers['azure-asyncoperation']!);
  if (statuses.at(-1) !== 'Succeeded') throw new Error(`table operation ended ${statuses.join(', ')}`);
}
