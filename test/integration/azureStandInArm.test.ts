import { LogsIngestionClient } from '@azure/monitor-ingestion';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { dataCollectionRuleBody, diagnosticSettingBody } from '../../src/adapters/armWorkspace';
import { CA_TABLE, CERTIFICATE_TABLE, HEALTH_TABLE, tablesApiColumns } from '../../src/domain/tableSchema';
import { parseWorkspaceResourceId } from '../../src/domain/workspaceResourceId';
import { AzureStandInAdmin, type StandInInfo } from '../support/azureStandIn';
import {
  arm,
  armWithToken,
  createTable,
  dcrBody,
  dcrUrl,
  pollOperation,
  seedCustomer,
  tableBody,
  tableUrl,
} from './azureStandInHelpers';

interface DcrBody {
  properties: { dataFlows: Array<{ transformKql: string }> };
}

const admin = new AzureStandInAdmin(inject('azureStandInUrl'));
let info: StandInInfo;

beforeAll(async () => {
  info = await admin.info();
});

describe('ARM stand-in: workspaces', () => {
  it('answers a workspace GET with its location and customerId', async () => {
    const customer = await seedCustomer(admin, info, { location: 'West Europe' });
    const response = await arm(
      customer.credential,
      'GET',
      `${info.armEndpoint}${customer.workspaceId}?api-version=2022-10-01`,
    );
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      id: customer.workspaceId,
      location: 'westeurope',
      type: 'Microsoft.OperationalInsights/workspaces',
      properties: { customerId: customer.tenant.workspace!.customerId },
    });
  });

  it('answers the three not-found shapes: workspace, resource group, subscription', async () => {
    const customer = await seedCustomer(admin, info, { roles: ['Reader'] });
    const group = customer.tenant.resourceGroup.id;
    const missingWorkspace = await arm(
      customer.credential,
      'GET',
      `${info.armEndpoint}${group}/providers/Microsoft.OperationalInsights/workspaces/nope?api-version=2022-10-01`,
    );
    expect(missingWorkspace.status).toBe(404);
    expect(missingWorkspace.body.error.code).toBe('ResourceNotFound');
    expect(missingWorkspace.body.error.message).toContain(
      "'Microsoft.OperationalInsights/workspaces/nope' under resource group",
    );

    await admin.grantRole({
      tenantId: customer.tenant.tenantId,
      clientId: customer.clientId,
      role: 'Reader',
      scope: `/subscriptions/${customer.tenant.subscriptionId}`,
    });
    const missingGroup = await arm(
      customer.credential,
      'GET',
      `${info.armEndpoint}/subscriptions/${customer.tenant.subscriptionId}/resourceGroups/rg-gone/providers/Microsoft.OperationalInsights/workspaces/x?api-version=2022-10-01`,
    );
    expect(missingGroup.status).toBe(404);
    expect(missingGroup.body.error.code).toBe('ResourceGroupNotFound');

    const missingSubscription = await arm(
      customer.credential,
      'GET',
      `${info.armEndpoint}/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/x?api-version=2022-10-01`,
    );
    expect(missingSubscription.status).toBe(404);
    expect(missingSubscription.body.error.code).toBe('SubscriptionNotFound');
  });

  it('requires a supported api-version, read from the parsed query string', async () => {
    const customer = await seedCustomer(admin, info);
    const missing = await arm(customer.credential, 'GET', `${info.armEndpoint}${customer.workspaceId}`);
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('MissingApiVersionParameter');
    const unsupported = await arm(
      customer.credential,
      'GET',
      `${info.armEndpoint}${customer.workspaceId}?api-version=1999-01-01`,
    );
    expect(unsupported.status).toBe(400);
    expect(unsupported.body.error.code).toBe('NoRegisteredProviderFound');
    const encoded = await arm(
      customer.credential,
      'GET',
      `${info.armEndpoint}${customer.workspaceId}?api%2Dversion=2023-09-01`,
    );
    expect(encoded.status).toBe(200);
  });
});

describe('ARM stand-in: authentication and authorization', () => {
  it("refuses a token issued by another tenant than the subscription's (InvalidAuthenticationTokenTenant)", async () => {
    const customer = await seedCustomer(admin, info);
    const intruder = await seedCustomer(admin, info);
    const response = await arm(
      intruder.credential,
      'GET',
      `${info.armEndpoint}${customer.workspaceId}?api-version=2022-10-01`,
    );
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('InvalidAuthenticationTokenTenant');
    expect(response.body.error.message).toContain(customer.tenant.tenantId);
    expect(response.headers['www-authenticate']).toContain(
      `authorization_uri="${info.authorityHost}/${customer.tenant.tenantId}"`,
    );
  });

  it('refuses an action the granted roles do not allow, naming the action and the scope (AuthorizationFailed)', async () => {
    const customer = await seedCustomer(admin, info, {
      roles: ['Monitoring Contributor', 'Monitoring Metrics Publisher'],
    });
    const url = tableUrl(info, customer.workspaceId, CA_TABLE);
    const response = await arm(customer.credential, 'PUT', url, tableBody());
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe('AuthorizationFailed');
    const objectId = customer.tenant.servicePrincipals[customer.clientId]!;
    expect(response.body.error.message).toBe(
      `The client '${customer.clientId}' with object id '${objectId}' does not have authorization to perform action ` +
        `'Microsoft.OperationalInsights/workspaces/tables/write' over scope '${customer.workspaceId}/tables/${CA_TABLE}' or the scope is invalid. ` +
        'If access was recently granted, please refresh your credentials.',
    );
  });

  it('lets Log Analytics Contributor write tables but not data collection rules', async () => {
    const customer = await seedCustomer(admin, info, { roles: ['Log Analytics Contributor'] });
    await createTable(info, customer);
    const response = await arm(
      customer.credential,
      'PUT',
      dcrUrl(info, customer, 'dcr-siem'),
      dcrBody(customer),
    );
    expect(response.status).toBe(403);
    expect(response.body.error.message).toContain("action 'Microsoft.Insights/dataCollectionRules/write'");
  });

  it('refuses tokens for another audience, expired tokens and tokens signed by an unknown key', async () => {
    const customer = await seedCustomer(admin, info);
    const url = `${info.armEndpoint}${customer.workspaceId}?api-version=2022-10-01`;
    const monitorToken = await customer.credential.getToken('https://monitor.azure.com/.default');
    const wrongAudience = await armWithToken(monitorToken.token, 'GET', url);
    expect(wrongAudience.status).toBe(401);
    expect(wrongAudience.body.error.code).toBe('InvalidAuthenticationTokenAudience');

    const common = {
      tenantId: customer.tenant.tenantId,
      clientId: customer.clientId,
      audience: 'https://management.azure.com',
    };
    const expired = await admin.mintToken({ ...common, expiresInSeconds: -60 });
    expect((await armWithToken(expired.token, 'GET', url)).body.error.code).toBe(
      'ExpiredAuthenticationToken',
    );
    const forged = await admin.mintToken({ ...common, unpublishedKey: true });
    const forgedResponse = await armWithToken(forged.token, 'GET', url);
    expect(forgedResponse.status).toBe(401);
    expect(forgedResponse.body.error.code).toBe('InvalidAuthenticationToken');
    const valid = await admin.mintToken(common);
    expect((await armWithToken(valid.token, 'GET', url)).status).toBe(200);

    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
  });
});

describe('ARM stand-in: tables', () => {
  it('creates a table as a long-running operation: 202, InProgress, then Succeeded, visible only when done', async () => {
    const customer = await seedCustomer(admin, info);
    const url = tableUrl(info, customer.workspaceId, CA_TABLE);

    const put = await arm(customer.credential, 'PUT', url, tableBody());
    expect(put.status).toBe(202);
    expect(put.headers['azure-asyncoperation']).toMatch(
      new RegExp(
        `^${info.armEndpoint}/subscriptions/${customer.tenant.subscriptionId}/providers/Microsoft.OperationalInsights/locations/westeurope/operationStatuses/[0-9a-f-]+\\?api-version=2022-10-01$`,
      ),
    );
    expect(put.headers.location).toBeDefined();
    const missing = await arm(customer.credential, 'GET', url);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toEqual({
      code: 'ResourceNotFound',
      message: `The specified table: '${CA_TABLE}' was not found`,
    });

    const statuses = await pollOperation(customer.credential, put.headers['azure-asyncoperation']!);
    expect(statuses).toEqual(['InProgress', 'Succeeded']);

    const get = await arm(customer.credential, 'GET', url);
    expect(get.status).toBe(200);
    expect(get.body.properties.provisioningState).toBe('Succeeded');
    expect(get.body.properties.schema).toMatchObject({
      name: CA_TABLE,
      tableSubType: 'DataCollectionRuleBased',
      tableType: 'CustomLog',
    });
    // GET spells dateTime as KQL does, datetime.
    expect(get.body.properties.schema.columns.map((c) => [c.name, c.type])).toEqual(
      tablesApiColumns(CA_TABLE).map((c) => [c.name, c.type === 'dateTime' ? 'datetime' : c.type]),
    );
    expect(JSON.stringify(get.body)).not.toContain('dateTime');

    // While an update runs, GET shows the table as it was, provisioningState Updating.
    const update = await arm(customer.credential, 'PUT', url, tableBody());
    expect(update.status).toBe(202);
    expect((await arm(customer.credential, 'GET', url)).body.properties.provisioningState).toBe('Updating');
    await pollOperation(customer.credential, update.headers['azure-asyncoperation']!);
    expect((await arm(customer.credential, 'GET', url)).body.properties.provisioningState).toBe('Succeeded');
  });

  it('refuses a PUT while the table is Updating, then accepts it once the operation completed', async () => {
    const customer = await seedCustomer(admin, info);
    const url = tableUrl(info, customer.workspaceId, CA_TABLE);
    const first = await arm(customer.credential, 'PUT', url, tableBody());
    const second = await arm(customer.credential, 'PUT', url, tableBody());
    expect(second.status).toBe(409);
    await pollOperation(customer.credential, first.headers['azure-asyncoperation']!);
    expect((await arm(customer.credential, 'PUT', url, tableBody())).status).toBe(202);
  });

  it('validates columns: Tables API type names, reserved names, TimeGenerated, name rules, schema name', async () => {
    const customer = await seedCustomer(admin, info);
    const url = tableUrl(info, customer.workspaceId, 'Probe_CL');
    const put = (columns: Array<{ name: string; type: string }>, name = 'Probe_CL') =>
      arm(customer.credential, 'PUT', url, { properties: { schema: { name, columns } } });
    const time = { name: 'TimeGenerated', type: 'dateTime' };

    expect((await put([time, { name: 'Odd_s', type: 'text' }])).body.error.message).toContain(
      "has type 'text'",
    );
    expect((await put([time, { name: 'TenantId', type: 'string' }])).body.error.message).toContain(
      'reserved',
    );
    expect((await put([time, { name: 'type', type: 'string' }])).body.error.message).toContain('reserved');
    expect((await put([{ name: 'Message_s', type: 'string' }])).body.error.message).toContain(
      'TimeGenerated',
    );
    expect((await put([time, { name: '1abc', type: 'string' }])).body.error.message).toContain('invalid');
    expect((await put([time, { name: 'Too_long_' + 'x'.repeat(40), type: 'string' }])).status).toBe(400);
    expect((await put([time], 'Other_CL')).body.error.message).toContain('must equal the table name');
    const notCustom = await arm(customer.credential, 'PUT', tableUrl(info, customer.workspaceId, 'Probe'), {
      properties: { schema: { name: 'Probe', columns: [time] } },
    });
    expect(notCustom.body.error.message).toContain("end with '_CL'");
    // Type names compare case-insensitively, as a GET's "datetime" sent back must be accepted.
    expect(
      (
        await put([
          { name: 'TimeGenerated', type: 'datetime' },
          { name: 'Ok_s', type: 'String' },
        ])
      ).status,
    ).toBe(202);
  });

  it('replaces the column list on PUT but never lets a column come back with another type', async () => {
    const customer = await seedCustomer(admin, info);
    const url = tableUrl(info, customer.workspaceId, 'Types_CL');
    const time = { name: 'TimeGenerated', type: 'dateTime' };
    const body = (columns: Array<{ name: string; type: string }>) => ({
      properties: { schema: { name: 'Types_CL', columns } },
    });

    const created = await arm(
      customer.credential,
      'PUT',
      url,
      body([time, { name: 'Value_d', type: 'real' }, { name: 'Gone_s', type: 'string' }]),
    );
    await pollOperation(customer.credential, created.headers['azure-asyncoperation']!);
    const shrunk = await arm(
      customer.credential,
      'PUT',
      url,
      body([time, { name: 'Value_d', type: 'real' }]),
    );
    await pollOperation(customer.credential, shrunk.headers['azure-asyncoperation']!);
    const columns = (await arm(customer.credential, 'GET', url)).body.properties.schema.columns as Array<{
      name: string;
    }>;
    expect(columns.map((column) => column.name)).toEqual(['TimeGenerated', 'Value_d']);

    const retyped = await arm(
      customer.credential,
      'PUT',
      url,
      body([time, { name: 'Value_d', type: 'string' }]),
    );
    expect(retyped.status).toBe(400);
    expect(retyped.body.error.message).toContain("defined with type 'real'");
    const revived = await arm(
      customer.credential,
      'PUT',
      url,
      body([time, { name: 'Gone_s', type: 'long' }]),
    );
    expect(revived.status).toBe(400);
  });

  it('requires a Classic table to be migrated before a PUT changes it, and the PUT to leave its standard columns out', async () => {
    const customer = await seedCustomer(admin, info);
    await admin.seedTable({
      workspaceId: customer.workspaceId,
      name: CA_TABLE,
      columns: [{ name: 'EventID_d', type: 'real' }],
    });
    const url = tableUrl(info, customer.workspaceId, CA_TABLE);
    const refused = await arm(customer.credential, 'PUT', url, tableBody());
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toContain('Classic');
    const classic = (await arm(customer.credential, 'GET', url)).body.properties.schema;
    expect(classic.tableSubType).toBe('Classic');
    expect(classic.standardColumns.map((column: { name: string }) => column.name)).toEqual([
      'TenantId',
      'SourceSystem',
      'TimeGenerated',
      'MG',
      'ManagementGroupName',
      'Computer',
      'RawData',
      'Type',
      '_ResourceId',
    ]);

    const migrate = await arm(customer.credential, 'POST', url.replace('?', '/migrate?'));
    expect(migrate.status).toBe(200);
    expect((await arm(customer.credential, 'GET', url)).body.properties.schema.tableSubType).toBe(
      'DataCollectionRuleBased',
    );
    const redeclared = await arm(customer.credential, 'PUT', url, tableBody());
    expect(redeclared.status).toBe(400);
    expect(redeclared.body.error.message).toContain(
      "Column name 'TimeGenerated' is a standard column of this table",
    );
    const custom = tableBody();
    custom.properties.schema.columns = custom.properties.schema.columns.filter(
      (column) => column.name !== 'TimeGenerated',
    );
    expect((await arm(customer.credential, 'PUT', url, custom)).status).toBe(202);
  });
});

describe('ARM stand-in: data collection rules', () => {
  it('creates a Direct DCR (201) with immutableId and endpoints.logsIngestion, and updates it (200) keeping the immutableId', async () => {
    const customer = await seedCustomer(admin, info);
    await createTable(info, customer, CA_TABLE);
    await createTable(info, customer, CERTIFICATE_TABLE);
    const url = dcrUrl(info, customer, 'dcr-ezca-siem');

    const created = await arm(
      customer.credential,
      'PUT',
      url,
      dcrBody(customer, [CA_TABLE, CERTIFICATE_TABLE]),
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'dcr-ezca-siem',
      type: 'Microsoft.Insights/dataCollectionRules',
      location: 'westeurope',
      kind: 'Direct',
      properties: { provisioningState: 'Succeeded' },
    });
    expect(created.body.id).toBe(
      `${customer.tenant.resourceGroup.id}/providers/Microsoft.Insights/dataCollectionRules/dcr-ezca-siem`,
    );
    expect(created.body.properties.immutableId).toMatch(/^dcr-[0-9a-f]{32}$/);
    expect(created.body.properties.endpoints.logsIngestion.startsWith(`${info.baseUrl}/`)).toBe(true);
    expect(created.body.properties.destinations.logAnalytics[0]!.workspaceId).toBe(
      customer.tenant.workspace!.customerId,
    );
    expect(Object.keys(created.body.properties.streamDeclarations)).toEqual([
      `Custom-${CA_TABLE}`,
      `Custom-${CERTIFICATE_TABLE}`,
    ]);

    const updated = await arm(
      customer.credential,
      'PUT',
      url,
      dcrBody(customer, [CA_TABLE, CERTIFICATE_TABLE]),
    );
    expect(updated.status).toBe(200);
    expect(updated.body.properties.immutableId).toBe(created.body.properties.immutableId);
    expect(updated.body.properties.endpoints.logsIngestion).toBe(
      created.body.properties.endpoints.logsIngestion,
    );
    expect(updated.body.etag).not.toBe(created.body.etag);

    const get = await arm(customer.credential, 'GET', url);
    expect(get.body.properties.immutableId).toBe(created.body.properties.immutableId);
  });

  it('refuses a DCR whose output table does not exist yet (InvalidPayload / InvalidOutputTable)', async () => {
    const customer = await seedCustomer(admin, info);
    const response = await arm(
      customer.credential,
      'PUT',
      dcrUrl(info, customer, 'dcr-early'),
      dcrBody(customer),
    );
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({
      code: 'InvalidPayload',
      message: 'Data collection rule is invalid',
    });
    expect(response.body.error.details).toContainEqual(
      expect.objectContaining({
        code: 'InvalidOutputTable',
        message: `Table for output stream 'Custom-${CA_TABLE}' is not available for destination 'customerWorkspace'.`,
      }),
    );
  });

  it('keeps refusing while the finished table is not yet visible to the DCR service', async () => {
    const customer = await seedCustomer(admin, info);
    await admin.configure({ tenantId: customer.tenant.tenantId, tableVisibilityDelayMs: 60_000 });
    await createTable(info, customer);
    const url = dcrUrl(info, customer, 'dcr-wait');
    const refused = await arm(customer.credential, 'PUT', url, dcrBody(customer));
    expect(refused.body.error.details[0]!.code).toBe('InvalidOutputTable');
    expect(await admin.getTable({ workspaceId: customer.workspaceId, name: CA_TABLE })).toMatchObject({
      provisioningState: 'Succeeded',
      visibleToDcr: false,
    });
  });

  it('refuses a DCR in another region than its workspace, naming both regions', async () => {
    const customer = await seedCustomer(admin, info, { location: 'westeurope' });
    await createTable(info, customer);
    const response = await arm(
      customer.credential,
      'PUT',
      dcrUrl(info, customer, 'dcr-region'),
      dcrBody(customer, [CA_TABLE], 'eastus'),
    );
    expect(response.status).toBe(400);
    const detail = response.body.error.details.find((d) => d.code === 'InvalidDestinationLocation');
    expect(detail?.message).toContain("'westeurope'");
    expect(detail?.message).toContain("'eastus'");
  });

  it("refuses 'guid' in a stream declaration, ' Direct' as kind, and undeclared streams or destinations", async () => {
    const customer = await seedCustomer(admin, info);
    await createTable(info, customer);
    const url = dcrUrl(info, customer, 'dcr-bad');

    const guid = dcrBody(customer);
    guid.properties.streamDeclarations[`Custom-${CA_TABLE}`]!.columns.push({ name: 'Extra_g', type: 'guid' });
    const guidResponse = await arm(customer.credential, 'PUT', url, guid);
    expect(guidResponse.status).toBe(400);
    expect(guidResponse.body.error.details[0]!).toMatchObject({ code: 'InvalidStreamDeclaration' });
    expect(guidResponse.body.error.details[0]!.message).toContain("no 'guid' type");

    const spaced = await arm(customer.credential, 'PUT', url, { ...dcrBody(customer), kind: ' Direct' });
    expect(spaced.status).toBe(400);
    expect(spaced.body.error.details[0]!.code).toBe('InvalidKind');

    const wrongDestination = dcrBody(customer);
    wrongDestination.properties.dataFlows[0]!.destinations = ['myworkspace'];
    const destinationResponse = await arm(customer.credential, 'PUT', url, wrongDestination);
    expect(destinationResponse.body.error.details[0]!.message).toContain(
      "destination 'myworkspace' is not defined",
    );

    const noLocation: Record<string, unknown> = { ...dcrBody(customer) };
    delete noLocation.location;
    expect((await arm(customer.credential, 'PUT', url, noLocation)).body.error.code).toBe('LocationRequired');

    const listed = await admin.listDcrs({ tenantId: customer.tenant.tenantId });
    expect(listed).toEqual([]);
  });

  it("refuses the previous body (transform 'source' over guid columns) with Azure's InvalidTransformOutput, and accepts the app's toguid() body", async () => {
    const customer = await seedCustomer(admin, info);
    await createTable(info, customer, CA_TABLE);
    await createTable(info, customer, CERTIFICATE_TABLE);
    await createTable(info, customer, HEALTH_TABLE);
    const body = dataCollectionRuleBody(
      parseWorkspaceResourceId(customer.workspaceId),
      customer.location,
    ) as DcrBody;
    const current = structuredClone(body);
    for (const flow of body.properties.dataFlows) flow.transformKql = 'source';
    const response = await arm(customer.credential, 'PUT', dcrUrl(info, customer, 'dcr-app'), body);
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({
      code: 'InvalidPayload',
      message: 'Data collection rule is invalid',
    });
    expect(response.body.error.details[0]).toEqual({
      code: 'InvalidTransformOutput',
      message:
        "Types of transform output columns do not match the ones defined by the output stream: EventRecordId_g [produced:'String', output:'Guid'], " +
        "CustomerTenantId_g [produced:'String', output:'Guid'], ActorObjectId_g [produced:'String', output:'Guid'], ActorAppId_g [produced:'String', output:'Guid']",
      target: 'properties.dataFlows[0]',
    });

    // The app's body converts the guid columns with toguid(): accepted, and rows land as guids.
    const accepted = await arm(customer.credential, 'PUT', dcrUrl(info, customer, 'dcr-app'), current);
    expect(accepted.status).toBe(201);
    const { immutableId, endpoints } = accepted.body.properties;
    const id = 'A1B2C3D4-0000-4000-8000-00000000000A';
    await new LogsIngestionClient(endpoints.logsIngestion, customer.credential).upload(
      immutableId,
      `Custom-${CA_TABLE}`,
      [{ TimeGenerated: new Date().toISOString(), EventRecordId_g: id, ActorAppId_g: 'not-a-guid' }],
    );
    const [row] = await admin.rows({ workspaceId: customer.workspaceId, table: CA_TABLE });
    expect(row?.row).toMatchObject({ EventRecordId_g: id.toLowerCase() });
    // toguid() of a string that is no guid is null: the value is lost, never an error.
    expect(row?.row).not.toHaveProperty('ActorAppId_g');
  });

  it('refuses a widening type (int into long) and a transform it cannot evaluate, saying so', async () => {
    const customer = await seedCustomer(admin, info);
    const table = await arm(customer.credential, 'PUT', tableUrl(info, customer.workspaceId, 'Widen_CL'), {
      properties: {
        schema: {
          name: 'Widen_CL',
          columns: [
            { name: 'TimeGenerated', type: 'dateTime' },
            { name: 'DaysInactive', type: 'long' },
          ],
        },
      },
    });
    await pollOperation(customer.credential, table.headers['azure-asyncoperation']!);
    const flowBody = (transformKql: string, type = 'int') => ({
      location: customer.location,
      kind: 'Direct',
      properties: {
        streamDeclarations: {
          'Custom-Widen': {
            columns: [
              { name: 'TimeGenerated', type: 'datetime' },
              { name: 'DaysInactive', type },
            ],
          },
        },
        destinations: { logAnalytics: [{ workspaceResourceId: customer.workspaceId, name: 'la' }] },
        dataFlows: [
          { streams: ['Custom-Widen'], destinations: ['la'], transformKql, outputStream: 'Custom-Widen_CL' },
        ],
      },
    });
    const url = dcrUrl(info, customer, 'dcr-widen');
    const widened = await arm(customer.credential, 'PUT', url, flowBody('source'));
    expect(widened.body.error.details[0]!.message).toBe(
      "Types of transform output columns do not match the ones defined by the output stream: DaysInactive [produced:'Int', output:'Long']",
    );
    const converted = await arm(
      customer.credential,
      'PUT',
      url,
      flowBody('source | extend DaysInactive = tolong(DaysInactive)'),
    );
    expect(converted.status).toBe(201);

    const coalesce = await arm(
      customer.credential,
      'PUT',
      url,
      flowBody('source | extend DaysInactive = coalesce(DaysInactive)', 'long'),
    );
    expect(coalesce.status).toBe(400);
    expect(coalesce.body.error.details[0]).toMatchObject({ code: 'InvalidTransformQuery' });
    expect(coalesce.body.error.details[0]!.message).toContain(
      'function provider not found for function: coalesce',
    );
    const summarize = await arm(
      customer.credential,
      'PUT',
      url,
      flowBody('source | summarize count()', 'long'),
    );
    expect(summarize.body.error.details[0]!.message).toContain("does not evaluate 'summarize count()'");
  });

  it('answers ResourceNotFound for a missing DCR and deletes an existing one', async () => {
    const customer = await seedCustomer(admin, info);
    await createTable(info, customer);
    const url = dcrUrl(info, customer, 'dcr-gone');
    expect((await arm(customer.credential, 'GET', url)).body.error.code).toBe('ResourceNotFound');
    await arm(customer.credential, 'PUT', url, dcrBody(customer));
    expect((await arm(customer.credential, 'DELETE', url)).status).toBe(200);
    expect((await arm(customer.credential, 'GET', url)).status).toBe(404);
    expect((await arm(customer.credential, 'DELETE', url)).status).toBe(204);
  });
});

describe('ARM stand-in: diagnostic settings on a data collection rule', () => {
  const settingUrl = (dcr: string, name = 'errors', version = '2021-05-01-preview') =>
    `${dcr.split('?')[0]}/providers/Microsoft.Insights/diagnosticSettings/${name}?api-version=${version}`;

  async function customerWithDcr(): Promise<{
    customer: Awaited<ReturnType<typeof seedCustomer>>;
    dcr: string;
  }> {
    const customer = await seedCustomer(admin, info);
    await createTable(info, customer);
    const dcr = dcrUrl(info, customer, 'dcr-diag');
    expect((await arm(customer.credential, 'PUT', dcr, dcrBody(customer))).status).toBe(201);
    return { customer, dcr };
  }

  it("creates the app's LogErrors setting (200), answers it on GET and lists it on the DCR", async () => {
    const { customer, dcr } = await customerWithDcr();
    const workspace = parseWorkspaceResourceId(customer.workspaceId);
    const put = await arm(customer.credential, 'PUT', settingUrl(dcr), diagnosticSettingBody(workspace));
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      name: 'errors',
      type: 'Microsoft.Insights/diagnosticSettings',
      properties: { workspaceId: customer.workspaceId },
    });
    const get = await arm(customer.credential, 'GET', settingUrl(dcr));
    expect(get.status).toBe(200);
    expect(JSON.stringify(get.body)).toContain('"category":"LogErrors"');
    const [rule] = await admin.listDcrs({ tenantId: customer.tenant.tenantId });
    expect(rule?.diagnosticSettings).toEqual([
      { name: 'errors', workspaceId: customer.workspaceId, categories: ['LogErrors'] },
    ]);
  });

  it('refuses an unknown category, a setting without destination or with nothing enabled, and an unknown api-version', async () => {
    const { customer, dcr } = await customerWithDcr();
    const unknown = await arm(customer.credential, 'PUT', settingUrl(dcr), {
      properties: { workspaceId: customer.workspaceId, logs: [{ category: 'Audit', enabled: true }] },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: 'BadRequest' });
    expect(unknown.body.error.message).toContain("'Audit' is not supported");
    expect(unknown.body.error.message).toContain('LogErrors');

    const noDestination = await arm(customer.credential, 'PUT', settingUrl(dcr), {
      properties: { logs: [{ category: 'LogErrors', enabled: true }] },
    });
    expect(noDestination.status).toBe(400);
    expect(noDestination.body.error.message).toContain('workspaceId');

    const nothingEnabled = await arm(customer.credential, 'PUT', settingUrl(dcr), {
      properties: { workspaceId: customer.workspaceId, logs: [{ category: 'LogErrors', enabled: false }] },
    });
    expect(nothingEnabled.status).toBe(400);

    const version = await arm(customer.credential, 'PUT', settingUrl(dcr, 'errors', '2023-03-11'), {
      properties: { workspaceId: customer.workspaceId, logs: [{ category: 'LogErrors', enabled: true }] },
    });
    expect(version.status).toBe(400);
    expect(version.body.error.code).toBe('NoRegisteredProviderFound');
    expect((await admin.listDcrs({ tenantId: customer.tenant.tenantId }))[0]?.diagnosticSettings).toEqual([]);
  });

  it('needs diagnosticSettings/write (Monitoring Contributor) and an existing DCR', async () => {
    const { customer, dcr } = await customerWithDcr();
    for (const role of ['Monitoring Contributor', 'Log Analytics Contributor'] as const) {
      await admin.revokeRole({ tenantId: customer.tenant.tenantId, clientId: customer.clientId, role });
    }
    const body = diagnosticSettingBody(parseWorkspaceResourceId(customer.workspaceId));
    const refused = await arm(customer.credential, 'PUT', settingUrl(dcr), body);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('AuthorizationFailed');
    expect(refused.body.error.message).toContain("action 'Microsoft.Insights/diagnosticSettings/write'");

    await admin.grantRole({
      tenantId: customer.tenant.tenantId,
      clientId: customer.clientId,
      role: 'Monitoring Contributor',
      scope: customer.tenant.resourceGroup.id,
    });
    const missing = await arm(
      customer.credential,
      'PUT',
      settingUrl(dcrUrl(info, customer, 'dcr-none')),
      body,
    );
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('ResourceNotFound');
    expect((await arm(customer.credential, 'PUT', settingUrl(dcr), body)).status).toBe(200);
  });
});
