import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ClientSecretCredential } from '@azure/identity';
import { LogsIngestionClient } from '@azure/monitor-ingestion';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  AzureStandInAdmin,
  type RegisteredApp,
  type SeededTenant,
  type StandInInfo,
} from '../support/azureStandIn';
import {
  DATA_TYPE_HINTS,
  DCR_COLUMN_TYPES,
  TABLE_COLUMN_TYPES,
  TABLE_PLANS,
} from '../support/azureStandIn/validation';
import { arm, pollOperation, seedCustomer, type Customer } from './azureStandInHelpers';

/**
 * Microsoft's own example requests (shared/azure-specs, beside the repository)
 * must be accepted, minus the example bugs SOURCES.md lists, and the answers
 * must carry the fields the specs give.
 */

const repoRoot = resolve(__dirname, '../..');
/**
 * CI clones the repository with shared/ beside it (../shared/azure-specs); a git
 * worktree sits one level deeper, so the nearest ancestor holding shared/azure-specs wins.
 */
const specCandidates = [
  resolve(repoRoot, '../shared/azure-specs'),
  resolve(repoRoot, '../../shared/azure-specs'),
];
const specsRoot = specCandidates.find((candidate) => existsSync(candidate));
const TABLES_DIR =
  'specification/operationalinsights/resource-manager/Microsoft.OperationalInsights/stable/2022-10-01';
const DCR_DIR = 'specification/monitor/resource-manager/Microsoft.Insights/stable/2023-03-11';
const INGESTION_DIR = 'specification/monitor/data-plane/ingestion/stable/2023-01-01';

function spec<T>(relativePath: string): T {
  if (!specsRoot) {
    throw new Error(
      `The Azure REST specs were not found (looked in ${specCandidates.join(', ')}). ` +
        'They live in shared/azure-specs beside the repository: clone shared/ next to it.',
    );
  }
  const file = resolve(specsRoot, relativePath);
  if (!existsSync(file))
    throw new Error(`Missing ${file} (see shared/azure-specs/SOURCES.md for the expected files).`);
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

interface Example<P> {
  parameters: P;
  responses: Record<string, { body?: Record<string, unknown>; headers?: Record<string, string> }>;
}

const admin = new AzureStandInAdmin(inject('azureStandInUrl'));
let info: StandInInfo;

beforeAll(async () => {
  info = await admin.info();
});

describe('the stand-in speaks the specs', () => {
  it("uses exactly the specs' enumerations for column types, data type hints and plans", () => {
    interface Definitions {
      definitions: Record<
        string,
        { properties: Record<string, { enum?: string[]; items?: { enum?: string[] } }> }
      >;
    }
    const tables = spec<Definitions>(`${TABLES_DIR}/Tables.json`).definitions;
    const dcr = spec<Definitions>(`${DCR_DIR}/dataCollectionRules_API.json`).definitions;
    expect(tables.Column?.properties.type?.enum).toEqual([...TABLE_COLUMN_TYPES]);
    expect(tables.Column?.properties.dataTypeHint?.enum).toEqual([...DATA_TYPE_HINTS]);
    expect(tables.TableProperties?.properties.plan?.enum).toEqual([...TABLE_PLANS]);
    expect(dcr.ColumnDefinition?.properties.type?.enum).toEqual([...DCR_COLUMN_TYPES]);
  });

  it('accepts TablesUpsert.json verbatim and answers with the fields of its 200 response', async () => {
    interface TablesUpsert {
      resourceGroupName: string;
      workspaceName: string;
      'api-version': string;
      subscriptionId: string;
      tableName: string;
      parameters: unknown;
    }
    const example = spec<Example<TablesUpsert>>(`${TABLES_DIR}/examples/TablesUpsert.json`);
    const p = example.parameters;
    const expected = example.responses['200']!.body as {
      name: string;
      properties: { schema: { standardColumns: Array<{ name: string; type: string }> } };
    };
    // The example targets a built-in table (AzureNetworkFlow) every workspace has: seed it with the example's standard columns.
    const app = await admin.registerApp({ secret: true });
    const tenant = await admin.seedTenant({
      subscriptionId: p.subscriptionId,
      resourceGroup: p.resourceGroupName,
      workspace: { name: p.workspaceName, location: 'eastus' },
      consentApps: [app.clientId],
      roles: ['Log Analytics Contributor'],
    });
    await admin.seedTable({
      workspaceId: tenant.workspace!.id,
      name: p.tableName,
      tableType: 'Microsoft',
      tableSubType: 'DataCollectionRuleBased',
      columns: expected.properties.schema.standardColumns.map(({ name, type }) => ({
        name,
        type: type as 'string',
      })),
    });
    const customer = asCustomer(tenant, app);
    const url = `${info.armEndpoint}/subscriptions/${p.subscriptionId}/resourcegroups/${p.resourceGroupName}/providers/Microsoft.OperationalInsights/workspaces/${p.workspaceName}/tables/${p.tableName}?api-version=${p['api-version']}`;

    const put = await arm(customer.credential, 'PUT', url, p.parameters);

    expect(put.status).toBe(202);
    expect(put.headers['azure-asyncoperation']).toBeDefined();
    expect(await pollOperation(customer.credential, put.headers['azure-asyncoperation']!)).toContain(
      'Succeeded',
    );
    const get = await arm(customer.credential, 'GET', url);
    expect(get.status).toBe(200);
    expect(get.body).toMatchObject({
      name: expected.name,
      properties: {
        provisioningState: 'Succeeded',
        retentionInDays: 45,
        totalRetentionInDays: 70,
        archiveRetentionInDays: 25,
        retentionInDaysAsDefault: false,
        totalRetentionInDaysAsDefault: false,
        plan: 'Analytics',
        schema: {
          name: 'AzureNetworkFlow',
          tableSubType: 'DataCollectionRuleBased',
          tableType: 'Microsoft',
          columns: [{ name: 'MyNewColumn', type: 'guid', isHidden: false, isDefaultDisplay: false }],
        },
      },
    });
    expect(get.body.properties.schema.standardColumns.map((c) => c.name)).toEqual(
      expected.properties.schema.standardColumns.map((c) => c.name),
    );
  });

  describe('DataCollectionRulesCreateEmbeddedDCE.json', () => {
    interface DcrExample {
      subscriptionId: string;
      resourceGroupName: string;
      dataCollectionRuleName: string;
      'api-version': string;
      body: {
        kind: string;
        location: string;
        properties: { dataFlows: Array<{ destinations: string[] }> };
      };
    }
    let example: Example<DcrExample>;
    let customer: Customer;
    let url: string;

    beforeAll(async () => {
      example = spec<Example<DcrExample>>(`${DCR_DIR}/examples/DataCollectionRulesCreateEmbeddedDCE.json`);
      const p = example.parameters;
      const app = await admin.registerApp({ secret: true });
      const tenant = await admin.seedTenant({
        subscriptionId: p.subscriptionId,
        resourceGroup: p.resourceGroupName,
        workspace: { name: 'centralTeamWorkspace', location: p.body.location },
        consentApps: [app.clientId],
      });
      customer = asCustomer(tenant, app);
      // The flow's transform projects Time into TimeGenerated, so the table has the example's columns plus TimeGenerated.
      const table = await arm(
        customer.credential,
        'PUT',
        `${info.armEndpoint}${customer.workspaceId}/tables/LOGS1_CL?api-version=2022-10-01`,
        {
          properties: {
            schema: {
              name: 'LOGS1_CL',
              columns: [
                { name: 'TimeGenerated', type: 'dateTime' },
                { name: 'Computer', type: 'string' },
                { name: 'AdditionalContext', type: 'dynamic' },
                { name: 'CounterName', type: 'string' },
                { name: 'CounterValue', type: 'real' },
              ],
            },
          },
        },
      );
      await pollOperation(customer.credential, table.headers['azure-asyncoperation']!);
      url = `${info.armEndpoint}/subscriptions/${p.subscriptionId}/resourceGroups/${p.resourceGroupName}/providers/Microsoft.Insights/dataCollectionRules/${p.dataCollectionRuleName}?api-version=${p['api-version']}`;
    });

    it("refuses the example as published: kind ' Direct' and a data flow naming an undefined destination", async () => {
      const response = await arm(customer.credential, 'PUT', url, example.parameters.body);
      expect(response.status).toBe(400);
      expect(response.body.error.details.map((detail) => detail.code)).toEqual([
        'InvalidKind',
        'InvalidDataFlow',
      ]);
    });

    it('accepts it with the two example bugs corrected, answering 201 with the fields of the spec response', async () => {
      const body = structuredClone(example.parameters.body);
      body.kind = 'Direct';
      body.properties.dataFlows[0]!.destinations = ['centralWorkspace'];
      const expected = structuredClone(example.responses['201']!.body!) as {
        id: string;
        name: string;
        type: string;
        location: string;
        kind: string;
        properties: { dataFlows: Array<{ destinations: string[] }> } & Record<string, unknown>;
      };
      expected.properties.dataFlows[0]!.destinations = ['centralWorkspace'];
      const { immutableId: _immutableId, endpoints: _endpoints, ...expectedProperties } = expected.properties;

      const response = await arm(customer.credential, 'PUT', url, body);

      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({
        id: expected.id,
        name: expected.name,
        type: expected.type,
        location: expected.location,
        kind: expected.kind,
        properties: expectedProperties,
      });
      expect(response.body.properties.immutableId).toMatch(/^dcr-[0-9a-f]{32}$/);
      expect(response.body.properties.endpoints.logsIngestion).toMatch(new RegExp(`^${info.baseUrl}/`));
      expect(response.body.properties.provisioningState).toBe('Succeeded');
      expect(response.body.etag).toEqual(expect.any(String));
    });
  });

  it('accepts the body of post_IngestUsingDataCollectionRule.json, gzipped with its headers, and through the SDK', async () => {
    interface IngestExample {
      'api-version': string;
      'Content-Type': string;
      'Content-Encoding': string;
      body: Array<Record<string, unknown>>;
    }
    const example = spec<Example<IngestExample>>(
      `${INGESTION_DIR}/examples/post_IngestUsingDataCollectionRule.json`,
    );
    expect(Object.keys(example.responses)).toEqual(['204']);
    const customer = await seedCustomer(admin, info);
    // A table and Direct DCR whose stream declares the example's columns (AdditionalContext is a JSON object: dynamic).
    const columns = [
      { name: 'Time', type: 'datetime' },
      { name: 'Computer', type: 'string' },
      { name: 'AdditionalContext', type: 'dynamic' },
    ];
    const table = await arm(
      customer.credential,
      'PUT',
      `${info.armEndpoint}${customer.workspaceId}/tables/Example_CL?api-version=2022-10-01`,
      {
        properties: {
          schema: {
            name: 'Example_CL',
            columns: [
              { name: 'TimeGenerated', type: 'dateTime' },
              { name: 'Time', type: 'dateTime' },
              { name: 'Computer', type: 'string' },
              { name: 'AdditionalContext', type: 'dynamic' },
            ],
          },
        },
      },
    );
    await pollOperation(customer.credential, table.headers['azure-asyncoperation']!);
    const dcr = await arm(
      customer.credential,
      'PUT',
      `${info.armEndpoint}${customer.tenant.resourceGroup.id}/providers/Microsoft.Insights/dataCollectionRules/dcr-example?api-version=2023-03-11`,
      {
        location: customer.location,
        kind: 'Direct',
        properties: {
          streamDeclarations: { 'Custom-Example': { columns } },
          destinations: { logAnalytics: [{ workspaceResourceId: customer.workspaceId, name: 'la' }] },
          dataFlows: [
            {
              streams: ['Custom-Example'],
              destinations: ['la'],
              transformKql: 'source',
              outputStream: 'Custom-Example_CL',
            },
          ],
        },
      },
    );
    expect(dcr.status).toBe(201);
    const { immutableId, endpoints } = dcr.body.properties;
    const p = example.parameters;
    const token = await customer.credential.getToken('https://monitor.azure.com/.default');

    const response = await fetch(
      `${endpoints.logsIngestion}/dataCollectionRules/${immutableId}/streams/Custom-Example?api-version=${p['api-version']}`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token.token}`,
          'content-type': p['Content-Type'],
          'content-encoding': p['Content-Encoding'],
          'x-ms-client-request-id': crypto.randomUUID(),
        },
        body: gzipSync(JSON.stringify(p.body)),
      },
    );
    expect(response.status).toBe(204);
    await new LogsIngestionClient(endpoints.logsIngestion, customer.credential).upload(
      immutableId,
      'Custom-Example',
      p.body,
    );

    const rows = await admin.rows({ workspaceId: customer.workspaceId, table: 'Example_CL' });
    expect(rows.map((entry) => entry.row.Computer)).toEqual([
      'Computer1',
      'Computer2',
      'Computer1',
      'Computer2',
    ]);
    expect(rows[0]?.row.AdditionalContext).toEqual(p.body[0]?.AdditionalContext);
  });
});

function asCustomer(tenant: SeededTenant, app: RegisteredApp): Customer {
  return {
    tenant,
    clientId: app.clientId,
    secret: app.secret!,
    credential: new ClientSecretCredential(tenant.tenantId, app.clientId, app.secret!, {
      authorityHost: info.authorityHost,
      disableInstanceDiscovery: true,
    }),
    workspaceId: tenant.workspace!.id,
    location: tenant.workspace!.location,
  };
}
