import { describe, expect, it } from 'vitest';
import { createHttpHeaders, type HttpClient, type PipelineRequest } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import {
  ArmWorkspaceProvisioner,
  dataCollectionRuleBody,
  dataCollectionRuleName,
  mapArmError,
  planTable,
  type TableColumn,
  type TableResource,
} from '../../src/adapters/armWorkspace';
import {
  AuthorizationError,
  DependencyRejectedError,
  NotFoundError,
  StateConflictError,
  TransientDependencyError,
  ValidationError,
} from '../../src/domain/errors';
import { CA_TABLE, CERTIFICATE_TABLE, HEALTH_STREAM, tablesApiColumns } from '../../src/domain/tableSchema';
import { parseWorkspaceResourceId } from '../../src/domain/workspaceResourceId';

const workspace = parseWorkspaceResourceId(
  '/subscriptions/6f1d5b0c-1a2b-4c3d-8e9f-0a1b2c3d4e5f/resourceGroups/rg-siem/providers/Microsoft.OperationalInsights/workspaces/law-sentinel',
);

function table(
  subType: string,
  columns: TableColumn[],
  extra: Partial<NonNullable<TableResource['properties']>> = {},
): TableResource {
  return {
    properties: {
      ...extra,
      schema: {
        tableSubType: subType,
        columns,
        // A DCR-based table lists TimeGenerated among its columns; a Classic one among its standard columns.
        standardColumns:
          subType === 'Classic'
            ? [
                { name: 'TenantId', type: 'guid' },
                { name: 'SourceSystem', type: 'string' },
                { name: 'TimeGenerated', type: 'dateTime' },
                { name: 'Computer', type: 'string' },
                { name: 'RawData', type: 'string' },
              ]
            : [{ name: 'TenantId', type: 'guid' }],
      },
    },
  };
}

describe('planTable', () => {
  it('creates a missing table with exactly our columns', () => {
    const plan = planTable(CA_TABLE, undefined);
    expect(plan.action).toBe('create');
    expect(plan.body).toEqual({
      properties: { schema: { name: CA_TABLE, columns: tablesApiColumns(CA_TABLE) } },
    });
  });

  it('keeps the customer columns a PUT would otherwise drop, and their plan and retention', () => {
    const existing = table(
      'DataCollectionRuleBased',
      [
        { name: 'EventID_d', type: 'real' },
        { name: 'Team_s', type: 'string', description: 'added by the SOC' },
        { name: 'Score_d', type: 'real' },
      ],
      {
        plan: 'Analytics',
        retentionInDays: 90,
        totalRetentionInDays: 365,
        totalRetentionInDaysAsDefault: false,
      },
    );
    const plan = planTable(CERTIFICATE_TABLE, existing);
    expect(plan.action).toBe('update');
    expect(plan.keptColumns).toEqual(['Team_s', 'Score_d']);
    const body = plan.body as {
      properties: { schema: { columns: Array<{ name: string }> }; retentionInDays: number };
    };
    const names = body.properties.schema.columns.map((column) => column.name);
    expect(names).toEqual([...tablesApiColumns(CERTIFICATE_TABLE).map((c) => c.name), 'Team_s', 'Score_d']);
    expect(body.properties).toMatchObject({
      plan: 'Analytics',
      retentionInDays: 90,
      totalRetentionInDays: 365,
    });
  });

  it('leaves a table that already has every column alone', () => {
    const existing = table('DataCollectionRuleBased', [
      ...tablesApiColumns(CA_TABLE),
      { name: 'Extra_s', type: 'string' },
    ]);
    expect(planTable(CA_TABLE, existing)).toMatchObject({ action: 'unchanged', keptColumns: ['Extra_s'] });
  });

  it('always rewrites a Classic table (it is migrated first), keeping its columns', () => {
    const existing = table('Classic', [
      ...tablesApiColumns(CA_TABLE).filter((c) => c.name !== 'TimeGenerated'),
      { name: 'Legacy_s', type: 'string' },
    ]);
    const plan = planTable(CA_TABLE, existing);
    expect(plan.action).toBe('update');
    expect(plan.keptColumns).toEqual(['Legacy_s']);
    // Its standard columns (TimeGenerated among them) stay standard: the PUT must not declare them.
    const names = (
      plan.body as { properties: { schema: { columns: TableColumn[] } } }
    ).properties.schema.columns.map((column) => column.name);
    expect(names).not.toContain('TimeGenerated');
    expect(names).toContain('EventTime_t');
  });

  it('refuses a customer column whose type clashes with ours, naming it', () => {
    const existing = table('Classic', [{ name: 'EventID_d', type: 'string' }]);
    let caught: unknown;
    try {
      planTable(CERTIFICATE_TABLE, existing);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(StateConflictError);
    expect((caught as StateConflictError).code).toBe('TableColumnConflict');
    expect((caught as Error).message).toContain('EventID_d is string but must be real');
  });

  it('treats type names case-insensitively (dateTime vs datetime)', () => {
    const existing = table('DataCollectionRuleBased', [{ name: 'TimeGenerated', type: 'datetime' }]);
    expect(planTable(CA_TABLE, existing).action).toBe('update');
  });
});

describe('Direct DCR', () => {
  it('routes one Custom- stream per table into the workspace, in its region', () => {
    const body = dataCollectionRuleBody(workspace, 'westeurope') as {
      location: string;
      kind: string;
      properties: {
        streamDeclarations: Record<string, { columns: Array<{ type: string }> }>;
        destinations: { logAnalytics: Array<{ workspaceResourceId: string; name: string }> };
        dataFlows: Array<{
          streams: string[];
          destinations: string[];
          outputStream: string;
          transformKql: string;
        }>;
      };
    };
    expect(body.kind).toBe('Direct');
    expect(body.location).toBe('westeurope');
    expect(Object.keys(body.properties.streamDeclarations)).toEqual([
      `Custom-${CA_TABLE}`,
      `Custom-${CERTIFICATE_TABLE}`,
      HEALTH_STREAM,
    ]);
    const types = Object.values(body.properties.streamDeclarations).flatMap((s) =>
      s.columns.map((c) => c.type),
    );
    expect(types).not.toContain('guid');
    expect(types).not.toContain('dateTime');
    const [destination] = body.properties.destinations.logAnalytics;
    expect(destination?.workspaceResourceId).toBe(workspace.resourceId);
    for (const flow of body.properties.dataFlows) {
      expect(flow.destinations).toEqual([destination?.name]);
      expect(flow.outputStream).toBe(flow.streams[0]);
      if (flow.streams[0] === HEALTH_STREAM) {
        // The health table's one guid column, converted like the event tables' guids.
        expect(flow.transformKql).toBe('source | extend CustomerTenantId_g = toguid(CustomerTenantId_g)');
        continue;
      }
      // Streams carry guids as strings; the transform must produce the table's guid type.
      expect(flow.transformKql).toBe(
        'source | extend EventRecordId_g = toguid(EventRecordId_g), CustomerTenantId_g = toguid(CustomerTenantId_g), ' +
          'ActorObjectId_g = toguid(ActorObjectId_g), ActorAppId_g = toguid(ActorAppId_g)',
      );
    }
  });

  it('names one DCR per workspace, within 64 characters', () => {
    expect(dataCollectionRuleName(workspace)).toBe('pki-siem-export-law-sentinel');
    const long = parseWorkspaceResourceId(
      `${workspace.resourceGroupId}/providers/Microsoft.OperationalInsights/workspaces/${'a'.repeat(63)}`,
    );
    const other = parseWorkspaceResourceId(
      `${workspace.resourceGroupId}/providers/Microsoft.OperationalInsights/workspaces/${'a'.repeat(62)}b`,
    );
    expect(dataCollectionRuleName(long).length).toBeLessThanOrEqual(64);
    expect(dataCollectionRuleName(long)).not.toBe(dataCollectionRuleName(other));
  });
});

describe('mapArmError', () => {
  const operation = {
    doing: 'create or update the table EZCA_CAs_CL',
    role: 'Log Analytics Contributor' as const,
    why: 'to create the tables',
    workspace,
    tenantId: '11111111-2222-3333-4444-555555555555',
  };
  const response = (status: number, error: object, headers: Record<string, string> = {}) => ({
    status,
    body: { error },
    headers: { get: (name: string) => headers[name] },
  });

  it('names the missing role and the resource group scope on AuthorizationFailed', () => {
    const error = mapArmError(
      response(403, {
        code: 'AuthorizationFailed',
        message: `The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.OperationalInsights/workspaces/tables/write' over scope '${workspace.resourceId}/tables/EZCA_CAs_CL' or the scope is invalid.`,
      }),
      operation,
    );
    expect(error).toBeInstanceOf(AuthorizationError);
    const authorization = error as AuthorizationError;
    expect(authorization.missingRole).toBe('Log Analytics Contributor');
    expect(authorization.scope).toBe(workspace.resourceGroupId);
    expect(authorization.action).toBe('Microsoft.OperationalInsights/workspaces/tables/write');
    expect(authorization.message).toContain(workspace.resourceGroupId);
  });

  it('maps the other ARM answers to what the portal user can act on', () => {
    expect(
      mapArmError(response(404, { code: 'ResourceNotFound', message: 'gone' }), operation),
    ).toBeInstanceOf(NotFoundError);
    expect(mapArmError(response(404, { code: 'ResourceGroupNotFound' }), operation).code).toBe(
      'WorkspaceNotFound',
    );
    expect(
      mapArmError(response(401, { code: 'InvalidAuthenticationTokenTenant' }), operation),
    ).toBeInstanceOf(ValidationError);
    const busy = mapArmError(response(429, { code: 'TooManyRequests' }, { 'retry-after': '7' }), operation);
    expect(busy).toBeInstanceOf(TransientDependencyError);
    expect((busy as TransientDependencyError).retryAfterMs).toBe(7000);
    expect(mapArmError(response(503, {}), operation)).toBeInstanceOf(TransientDependencyError);
    const rejected = mapArmError(
      response(400, { code: 'InvalidPayload', message: 'bad\nsecond line eyJhbGciOi.eyJzdWIi.sig' }),
      operation,
    );
    expect(rejected).toBeInstanceOf(DependencyRejectedError);
    expect(rejected.code).toBe('InvalidPayload');
    expect(rejected.message).not.toContain('second line');
  });

  it("carries the details of a generic refusal, so 'Data collection rule is invalid' says why", () => {
    const error = mapArmError(
      response(400, {
        code: 'InvalidPayload',
        message: 'Data collection rule is invalid',
        details: [
          {
            code: 'InvalidTransformOutput',
            message:
              "Types of transform output columns do not match the ones defined by the output stream: \nActorAppId_g [produced:'String', output:'Guid']",
          },
        ],
      }),
      operation,
    );
    expect(error.message).toBe(
      "Azure refused to create or update the table EZCA_CAs_CL: Data collection rule is invalid — InvalidTransformOutput: Types of transform output columns do not match the ones defined by the output stream: ActorAppId_g [produced:'String', output:'Guid']",
    );
  });
});

describe('ensureTable while another operation holds the table', () => {
  it('waits out 409 Conflict and sends its idempotent PUT again instead of failing the step', async () => {
    const seen: string[] = [];
    let busy = 2;
    const reply = (request: PipelineRequest, status: number, body: unknown) =>
      Promise.resolve({
        request,
        status,
        headers: createHttpHeaders({ 'content-type': 'application/json' }),
        bodyAsText: JSON.stringify(body),
      });
    const httpClient: HttpClient = {
      sendRequest: (request) => {
        seen.push(request.method);
        if (request.method === 'GET')
          return reply(request, 404, {
            error: { code: 'ResourceNotFound', message: `The specified table: '${CA_TABLE}' was not found` },
          });
        if (busy > 0) {
          busy -= 1;
          return reply(request, 409, {
            error: { code: 'Conflict', message: 'An operation on the table is still in progress.' },
          });
        }
        return reply(request, 200, { properties: { provisioningState: 'Succeeded' } });
      },
    };
    const provisioner = new ArmWorkspaceProvisioner({
      armEndpoint: 'https://management.azure.com',
      credentials: {
        forTenant: (): TokenCredential => ({
          getToken: () => Promise.resolve({ token: 'token', expiresOnTimestamp: Date.now() + 3_600_000 }),
        }),
      },
      httpClient,
      pollIntervalMs: 1,
      maxPollIntervalMs: 2,
    });

    const result = await provisioner.ensureTable(
      '0b6c4a2e-6f4e-4a55-9d61-7d1f0e6b2a10',
      workspace,
      CA_TABLE,
      new AbortController().signal,
    );

    expect(result).toMatchObject({ table: CA_TABLE, action: 'created' });
    expect(seen).toEqual(['GET', 'PUT', 'PUT', 'PUT']);
  });
});
