import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse as parseDuration, toSeconds } from 'iso8601-duration';
import { describe, expect, it } from 'vitest';
import { HOST_SETTINGS, loadConfig, SETTINGS, type SettingName } from '../../src/config';
import {
  at,
  lastNameSegment,
  nodeWorkerArguments,
  onlyResourceOfType,
  readJson,
  readTemplate,
  resolve,
  resourcesOfType,
  stringsIn,
  type ArmResource,
  type Json,
} from '../support/armTemplate';

const template = readTemplate();

/**
 * Built-in role name -> role definition id, copied from Microsoft's list, not
 * from our template: "Azure built-in roles",
 * https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
 * (source MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles.md,
 * commit 00a583295ba737a5caf885472cb3bca3624e9cde, ms.date 04/09/2026; sections
 * Storage, Integration and Monitor).
 */
const BUILT_IN_ROLES: Record<string, string> = {
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  'Azure Service Bus Data Receiver': '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0',
  'Azure Service Bus Data Sender': '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39',
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb',
  'Key Vault Crypto User': '12338af0-0e69-4776-bea7-57ae8d297424',
};

/** Service Bus caps a queue's lock duration at five minutes. */
const SERVICE_BUS_MAX_LOCK_SECONDS = 5 * 60;

function defaultOf(name: SettingName): unknown {
  const parsed = SETTINGS[name].schema.safeParse(undefined);
  return parsed.success ? parsed.data : undefined;
}

function numericDefault(name: SettingName): number {
  const value = defaultOf(name);
  if (typeof value !== 'number') throw new Error(`${name} has no numeric default`);
  return value;
}

const site = onlyResourceOfType(template, 'Microsoft.Web/sites');
const appSettingEntries = at(site.properties ?? null, 'siteConfig.appSettings') as Array<{
  name: string;
  value: Json;
}>;
const appSettings = new Map(appSettingEntries.map((entry) => [entry.name, entry.value]));

function appSetting(name: string): Json | undefined {
  return resolve(template, appSettings.get(name));
}

const isExpression = (value: Json | undefined): boolean =>
  typeof value === 'string' && value.startsWith('[') && value.endsWith(']');

/** How a value reads in an app setting or a message: strings as they are, the rest as JSON. */
function text(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? 'undefined');
}

function durationSeconds(value: Json | undefined): number {
  if (typeof value !== 'string') throw new Error(`not an ISO 8601 duration: ${text(value)}`);
  return toSeconds(parseDuration(value));
}

const queue = onlyResourceOfType(template, 'Microsoft.ServiceBus/namespaces/queues');
const queueProperty = (name: string): Json | undefined => resolve(template, queue.properties?.[name]);

describe('infra/azuredeploy.json resources', () => {
  it('runs the app on Flex Consumption, Node.js 22, under a user-assigned identity, HTTPS and TLS 1.2 only', () => {
    const plan = onlyResourceOfType(template, 'Microsoft.Web/serverfarms');
    expect(plan.sku).toMatchObject({ name: 'FC1', tier: 'FlexConsumption' });
    expect(plan.properties?.reserved).toBe(true);

    onlyResourceOfType(template, 'Microsoft.ManagedIdentity/userAssignedIdentities');
    const identityId = "[variables('identityId')]";
    expect(site.kind).toBe('functionapp,linux');
    expect(site.identity?.type).toBe('UserAssigned');
    expect(Object.keys(at(site.identity ?? null, 'userAssignedIdentities') as object)).toEqual([identityId]);

    const properties = site.properties ?? {};
    expect(properties.httpsOnly).toBe(true);
    expect(at(properties, 'siteConfig.minTlsVersion')).toBe('1.2');
    expect(at(properties, 'siteConfig.scmMinTlsVersion')).toBe('1.2');
    expect(at(properties, 'siteConfig.ftpsState')).toBe('Disabled');
    expect(at(properties, 'functionAppConfig.runtime')).toEqual({ name: 'node', version: '22' });
    expect(at(properties, 'functionAppConfig.scaleAndConcurrency.instanceMemoryMB')).toBeDefined();
    expect(at(properties, 'functionAppConfig.scaleAndConcurrency.maximumInstanceCount')).toBeDefined();

    // Run-from-package: the package lives in a blob container the identity reads.
    expect(at(properties, 'functionAppConfig.deployment.storage.type')).toBe('blobContainer');
    expect(at(properties, 'functionAppConfig.deployment.storage.value')).toContain('primaryEndpoints.blob');
    expect(at(properties, 'functionAppConfig.deployment.storage.authentication')).toEqual({
      type: 'UserAssignedIdentity',
      userAssignedIdentityResourceId: identityId,
    });
    const container = onlyResourceOfType(
      template,
      'Microsoft.Storage/storageAccounts/blobServices/containers',
    );
    expect(at(properties, 'functionAppConfig.deployment.storage.value')).toContain(
      "variables('deploymentContainerName')",
    );
    expect(lastNameSegment(template, container)).toBe(
      resolve(template, "[variables('deploymentContainerName')]"),
    );
    expect(container.properties?.publicAccess).toBe('None');

    const basicAuth = resourcesOfType(template, 'Microsoft.Web/sites/basicPublishingCredentialsPolicies');
    expect(basicAuth.map((policy) => policy.name.match(/\/(\w+)'/)?.[1]).sort()).toEqual(['ftp', 'scm']);
    for (const policy of basicAuth) expect(policy.properties?.allow).toBe(false);
  });

  it('keeps tenant connections and parked events in a storage account that refuses shared keys', () => {
    const storage = onlyResourceOfType(template, 'Microsoft.Storage/storageAccounts');
    expect(storage.properties).toMatchObject({
      allowSharedKeyAccess: false,
      minimumTlsVersion: 'TLS1_2',
      supportsHttpsTrafficOnly: true,
      allowBlobPublicAccess: false,
    });
    const tables = resourcesOfType(template, 'Microsoft.Storage/storageAccounts/tableServices/tables');
    expect(tables.map((table) => lastNameSegment(template, table)).sort()).toEqual(
      [
        defaultOf('PARKED_TABLE'),
        defaultOf('TENANTS_TABLE'),
        defaultOf('DELIVERY_RECORDS_TABLE'),
        defaultOf('EXPORT_HEALTH_TABLE'),
      ].sort(),
    );
    expect(appSetting('TENANTS_TABLE')).toBe(defaultOf('TENANTS_TABLE'));
    expect(appSetting('PARKED_TABLE')).toBe(defaultOf('PARKED_TABLE'));
    expect(appSetting('DELIVERY_RECORDS_TABLE')).toBe(defaultOf('DELIVERY_RECORDS_TABLE'));
    expect(appSetting('EXPORT_HEALTH_TABLE')).toBe(defaultOf('EXPORT_HEALTH_TABLE'));
  });

  it('creates a Standard Service Bus namespace without local (SAS) auth and the audit queue the app reads', () => {
    const namespace = onlyResourceOfType(template, 'Microsoft.ServiceBus/namespaces');
    expect(namespace.sku).toMatchObject({ name: 'Standard', tier: 'Standard' });
    expect(namespace.properties).toMatchObject({ disableLocalAuth: true, minimumTlsVersion: '1.2' });

    expect(lastNameSegment(template, queue)).toBe(defaultOf('AUDIT_QUEUE_NAME'));
    expect(appSetting('AUDIT_QUEUE_NAME')).toBe(defaultOf('AUDIT_QUEUE_NAME'));
    expect(queueProperty('requiresDuplicateDetection')).toBe(true);
    expect(queueProperty('requiresSession')).toBe(false);
    // Service Bus accepts a duplicate-detection window from 20 seconds to 7 days.
    const window = durationSeconds(queueProperty('duplicateDetectionHistoryTimeWindow'));
    expect(window).toBeGreaterThanOrEqual(20);
    expect(window).toBeLessThanOrEqual(7 * 24 * 3600);
    const maxDeliveryCount = queueProperty('maxDeliveryCount');
    expect(typeof maxDeliveryCount).toBe('number');
    // A few host restarts mid-batch must not dead-letter a healthy event.
    expect(maxDeliveryCount).toBeGreaterThanOrEqual(5);
  });

  it("holds a message's lock longer than the forwarder's time budget, within the Service Bus maximum", () => {
    const lock = durationSeconds(queueProperty('lockDuration'));
    expect(lock).toBeLessThanOrEqual(SERVICE_BUS_MAX_LOCK_SECONDS);
    expect(lock).toBeGreaterThan(numericDefault('FORWARDER_TIME_BUDGET_SECONDS'));
    expect(lock).toBeGreaterThan(Number(appSetting('FORWARDER_TIME_BUDGET_SECONDS')));
  });

  it('keeps a message alive past the retry budget and dead-letters it on expiry instead of dropping it', () => {
    const ttl = durationSeconds(queueProperty('defaultMessageTimeToLive'));
    // A retry scheduled at the very end of the budget still waits up to the longest delay.
    const lastRetryDue =
      numericDefault('RETRY_BUDGET_HOURS') * 3600 + numericDefault('RETRY_MAX_DELAY_SECONDS');
    expect(ttl).toBeGreaterThan(lastRetryDue);
    expect(ttl).toBeGreaterThan(
      Number(appSetting('RETRY_BUDGET_HOURS')) * 3600 + Number(appSetting('RETRY_MAX_DELAY_SECONDS')),
    );
    expect(queueProperty('deadLetteringOnMessageExpiration')).toBe(true);
  });

  it("sends the app's own telemetry to workspace-based Application Insights that accepts only Entra-authenticated ingestion", () => {
    const workspace = onlyResourceOfType(template, 'Microsoft.OperationalInsights/workspaces');
    const insights = onlyResourceOfType(template, 'Microsoft.Insights/components');
    expect(insights.properties?.WorkspaceResourceId).toContain(
      "resourceId('Microsoft.OperationalInsights/workspaces', variables('logAnalyticsName'))",
    );
    expect(workspace.name).toBe("[variables('logAnalyticsName')]");
    expect(insights.properties?.DisableLocalAuth).toBe(true);
    expect(appSetting('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')).toMatch(
      /^\[format\('ClientId=\{0\};Authorization=AAD', reference\(variables\('identityId'\), '[\d-]+'\)\.clientId\)\]$/,
    );
  });
});

/**
 * CORS of the Function App (Microsoft.Web/sites siteConfig.cors, CorsSettings: `allowedOrigins`, a list of
 * origins "for example: http://example.com:12345", "*" allowing all; `supportCredentials`), as
 * `az functionapp cors add|credentials` documents it (https://learn.microsoft.com/cli/azure/functionapp/cors)
 * and the azure-mgmt-web CorsSettings model describes it. The platform answers preflights from it.
 */
describe('infra/azuredeploy.json CORS', () => {
  const cors = at(site.properties ?? null, 'siteConfig.cors');
  const origin = /^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/i;

  it('lets only the origins of the allowedOrigins parameter call the API from a browser, none by default', () => {
    expect(template.parameters.allowedOrigins).toMatchObject({ type: 'array', defaultValue: [] });
    expect(at(cors ?? null, 'allowedOrigins')).toBe("[parameters('allowedOrigins')]");
    expect(resolve(template, at(cors ?? null, 'allowedOrigins'))).toEqual([]);
  });

  it('never allows credentials (cookies): tokens travel in the Authorization header', () => {
    expect(at(cors ?? null, 'supportCredentials')).toBe(false);
  });

  it('documents what an origin looks like, and the parameters file gives only such origins', () => {
    const description = at(template.parameters.allowedOrigins as unknown as Json, 'metadata.description');
    if (typeof description !== 'string') throw new Error('allowedOrigins has no description');
    const example = /e\.g\. (\[.*?\])/.exec(description)?.[1];
    const examples = JSON.parse(example ?? '[]') as string[];
    expect(examples.length).toBeGreaterThan(0);
    const fromFile = at(readJson('infra/azuredeploy.parameters.json'), 'parameters.allowedOrigins.value');
    expect(Array.isArray(fromFile)).toBe(true);
    for (const value of [...examples, ...(fromFile as string[])]) expect(value).toMatch(origin);
  });
});

describe('infra/azuredeploy.json alerts', () => {
  const alert = onlyResourceOfType(template, 'Microsoft.Insights/metricAlerts');
  const actionGroup = onlyResourceOfType(template, 'Microsoft.Insights/actionGroups');

  it("fires as soon as the audit queue's dead-letter queue holds a message", () => {
    expect(alert.properties).toMatchObject({
      enabled: true,
      severity: 1,
      scopes: ["[variables('serviceBusNamespaceId')]"],
    });
    const criteria = at(alert.properties ?? null, 'criteria') as { 'odata.type': string; allOf: Json[] };
    expect(criteria['odata.type']).toBe('Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria');
    expect(criteria.allOf).toHaveLength(1);
    const [criterion] = criteria.allOf as Array<Record<string, Json>>;
    expect(criterion).toMatchObject({
      criterionType: 'StaticThresholdCriterion',
      metricNamespace: 'Microsoft.ServiceBus/namespaces',
      metricName: 'DeadletteredMessages',
      operator: 'GreaterThan',
      threshold: 0,
      timeAggregation: 'Maximum',
    });
    // Only the audit queue's: the dimension names exactly the queue the app reads.
    const [dimension] = criterion?.dimensions as Array<{ name: string; operator: string; values: Json[] }>;
    expect(dimension).toMatchObject({ name: 'EntityName', operator: 'Include' });
    expect(dimension?.values.map((value) => resolve(template, value))).toEqual([
      lastNameSegment(template, queue),
    ]);
    // Metric alerts accept evaluation every 1, 5, 15, 30 or 60 minutes, over a window at least that long.
    const frequency = durationSeconds(resolve(template, alert.properties?.evaluationFrequency));
    expect([60, 300, 900, 1800, 3600]).toContain(frequency);
    expect(durationSeconds(resolve(template, alert.properties?.windowSize))).toBeGreaterThanOrEqual(
      frequency,
    );
  });

  it('notifies through an action group that emails the alertEmail parameter when one is given', () => {
    expect(at(alert.properties ?? null, 'actions')).toEqual([
      { actionGroupId: "[resourceId('Microsoft.Insights/actionGroups', variables('actionGroupName'))]" },
    ]);
    expect(alert.dependsOn).toContain(
      "[resourceId('Microsoft.Insights/actionGroups', variables('actionGroupName'))]",
    );
    expect(actionGroup.name).toBe("[variables('actionGroupName')]");
    // Azure refuses a short name over 12 characters.
    const shortName = resolve(template, actionGroup.properties?.groupShortName);
    expect(shortName).toMatch(/^.{1,12}$/);
    expect(template.parameters.alertEmail).toMatchObject({ type: 'string', defaultValue: '' });
    expect(actionGroup.properties?.emailReceivers).toBe(
      "[if(empty(parameters('alertEmail')), createArray(), createArray(createObject('name', 'operators', 'emailAddress', parameters('alertEmail'), 'useCommonAlertSchema', true())))]",
    );
  });
});

const productionSettings = (Object.keys(SETTINGS) as SettingName[]).filter(
  (name) => !('devOnly' in SETTINGS[name] && SETTINGS[name].devOnly),
);

/** The app settings as deployed, deployment-time values (resource ids, operator parameters) as their documented examples. */
function identityEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of productionSettings) {
    const value = appSetting(name);
    env[name] = isExpression(value) || value === '' ? SETTINGS[name].example : text(value);
  }
  return env;
}

describe('infra/azuredeploy.json app settings', () => {
  it('are exactly the production settings src/config.ts validates plus the host-owned ones', () => {
    const names = appSettingEntries.map((entry) => entry.name);
    expect(new Set(names).size, 'an app setting appears twice').toBe(names.length);
    expect([...names].sort()).toEqual([...productionSettings, ...Object.keys(HOST_SETTINGS)].sort());
  });

  it('gives the Node.js worker a heap limit of a quarter of the instance memory, for every size the plan allows', () => {
    // The host passes languageWorkers__node__arguments to the worker process: Learn, "Azure Functions
    // Node.js developer guide" (languageWorkers__node__arguments in local.settings.json) and "Azure
    // Functions Premium plan", memory usage considerations (--max-old-space-size through
    // languageWorkers:node:arguments); azure-functions-host issue #6455 (the worker otherwise runs with
    // Node's own defaults).
    const sizes = template.parameters.instanceMemoryMB?.allowedValues;
    // Not 512: its 128 MB heap ran out of memory in the bench's wave of 4,000 first-seen tenants.
    expect(sizes).toEqual([2048, 4096]);
    const limits = (sizes as number[]).map((size) => nodeWorkerArguments(template, size));
    expect(limits).toEqual([['--max-old-space-size=512'], ['--max-old-space-size=1024']]);
    expect(nodeWorkerArguments(template)).toEqual(['--max-old-space-size=512']);
  });

  it("the worker arguments really bound V8's heap (Node 20 reads them as the production worker does)", () => {
    const heapLimit = (args: string[]): number =>
      Number(
        execFileSync(process.execPath, [
          ...args,
          '-p',
          "require('node:v8').getHeapStatistics().heap_size_limit",
        ]).toString(),
      );
    const mb = 1024 * 1024;
    // The old generation is capped at a quarter of the instance; the young generation comes on top
    // (tens of MB). Two sizes, so a machine whose own default happens to match one cannot pass both.
    for (const [instanceMemoryMB, oldSpaceMb] of [
      [2048, 512],
      [4096, 1024],
    ] as const) {
      const limit = heapLimit(nodeWorkerArguments(template, instanceMemoryMB));
      expect(limit, `${instanceMemoryMB} MB instance`).toBeGreaterThanOrEqual(oldSpaceMb * mb);
      expect(limit, `${instanceMemoryMB} MB instance`).toBeLessThan((oldSpaceMb + 128) * mb);
    }
  });

  it('set nothing Flex Consumption deprecates and no connection-string form of a connection', () => {
    for (const name of [
      'FUNCTIONS_WORKER_RUNTIME',
      'FUNCTIONS_EXTENSION_VERSION',
      'WEBSITE_RUN_FROM_PACKAGE',
      'WEBSITE_NODE_DEFAULT_VERSION',
      'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
      'AzureWebJobsStorage',
      'ServiceBusConnection',
      'TABLE_STORAGE_CONNECTION_STRING',
      'CUSTOMER_APP_CLIENT_SECRET',
      'CUSTOMER_APP_CERTIFICATE_PATH',
    ]) {
      expect(appSettings.has(name), name).toBe(false);
    }
  });

  it('wire every connection to the managed identity and the resources this template creates', () => {
    const clientId = "[reference(variables('identityId'), '2023-01-31').clientId]";
    expect(appSettings.get('AzureWebJobsStorage__accountName')).toBe("[variables('storageAccountName')]");
    expect(appSetting('AzureWebJobsStorage__credential')).toBe('managedidentity');
    expect(appSetting('AzureWebJobsStorage__clientId')).toBe(clientId);
    expect(appSetting('ServiceBusConnection__credential')).toBe('managedidentity');
    expect(appSetting('ServiceBusConnection__clientId')).toBe(clientId);
    expect(appSetting('MANAGED_IDENTITY_CLIENT_ID')).toBe(clientId);
    expect(appSetting('ServiceBusConnection__fullyQualifiedNamespace')).toContain(
      "reference(variables('serviceBusNamespaceId')",
    );
    expect(appSetting('TABLE_STORAGE_ENDPOINT')).toBe(
      "[reference(variables('storageAccountId'), '2023-05-01').primaryEndpoints.table]",
    );
    expect(appSetting('APPLICATIONINSIGHTS_CONNECTION_STRING')).toContain(
      "reference(variables('applicationInsightsId')",
    );
    expect(appSetting('CUSTOMER_APP_CREDENTIAL')).toBe('managedIdentity');
  });

  it('use the config defaults wherever they are literal, and derive cloud endpoints from the target cloud', () => {
    for (const name of productionSettings) {
      const value = appSetting(name);
      const fallback = defaultOf(name);
      if (!isExpression(value) && fallback !== undefined) {
        // Compared as the app reads them: a literal list setting is text, its default a list.
        expect(SETTINGS[name].schema.parse(value), name).toEqual(fallback);
      }
    }
    expect(appSetting('AZURE_AUTHORITY_HOST')).toBe('[environment().authentication.loginEndpoint]');
    expect(appSetting('ARM_ENDPOINT')).toBe('[environment().resourceManager]');
    // The public-cloud branch of each cloud switch is the config default.
    expect(appSetting('FEDERATED_TOKEN_AUDIENCE')).toMatch(/^\[if\(equals\(environment\(\)\.name/);
    expect(appSetting('FEDERATED_TOKEN_AUDIENCE')).toContain(
      `'${text(defaultOf('FEDERATED_TOKEN_AUDIENCE'))}'))]`,
    );
    expect(appSetting('LOGS_INGESTION_AUDIENCE')).toMatch(/^\[if\(equals\(environment\(\)\.name/);
    expect(appSetting('LOGS_INGESTION_AUDIENCE')).toContain(
      `'${text(defaultOf('LOGS_INGESTION_AUDIENCE'))}'))]`,
    );
  });

  it("grant cross-tenant authority only to the deployment's own tenant and to no app unless named", () => {
    expect(appSetting('API_OPERATOR_TENANT_ID')).toBe('[subscription().tenantId]');
    expect(appSetting('API_OPERATOR_CLIENT_IDS')).toBe('');
    expect(loadConfig({ ...identityEnv(), API_OPERATOR_CLIENT_IDS: '' }).api.operatorClientIds).toEqual([]);
  });

  it('pass loadConfig in identity mode once the operator-supplied values are filled in', () => {
    const config = loadConfig(identityEnv());
    expect(config.serviceBus.kind).toBe('identity');
    expect(config.tableStorage.kind).toBe('identity');
    expect(config.customerApp.credential.kind).toBe('managedIdentity');
  });
});

describe('infra/azuredeploy.json role assignments', () => {
  const assignments = resourcesOfType(template, 'Microsoft.Authorization/roleAssignments');
  const roles = template.variables.roles as Record<string, { roleName: string; id: string }>;

  function roleOf(assignment: ArmResource): { roleName: string; id: string } {
    const key = /variables\('roles'\)\.(\w+)\.id/.exec(text(assignment.properties?.roleDefinitionId))?.[1];
    const role = key === undefined ? undefined : roles[key];
    if (role === undefined)
      throw new Error(`${assignment.name}: roleDefinitionId names no variables('roles') entry`);
    return role;
  }

  it('name each built-in role with the id Microsoft publishes for it', () => {
    expect(Object.keys(roles).length).toBeGreaterThan(0);
    for (const role of Object.values(roles)) {
      expect(BUILT_IN_ROLES[role.roleName], role.roleName).toBe(role.id);
    }
    for (const assignment of assignments) {
      const role = roleOf(assignment);
      expect(assignment.properties?.roleDefinitionId).toMatch(
        /^\[subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', variables\('roles'\)\.\w+\.id\)\]$/,
      );
      expect(assignment.properties?.description).toMatch(new RegExp(`^${role.roleName}: `));
      expect(assignment.name).toContain(`variables('roles').`);
    }
  });

  it('grant the identity exactly what it needs, each on the narrowest scope, and PKI services send-only', () => {
    const scopeKind = (scope: string | undefined): string =>
      scope?.includes('Microsoft.ServiceBus/namespaces/{0}/queues/{1}')
        ? 'audit queue'
        : scope?.includes('Microsoft.Storage/storageAccounts/')
          ? 'storage account'
          : scope?.includes('Microsoft.Insights/components/')
            ? 'application insights'
            : scope?.includes('Microsoft.KeyVault/vaults/')
              ? 'key vault'
              : `unexpected scope ${String(scope)}`;
    const principal = (assignment: ArmResource): string =>
      text(assignment.properties?.principalId).includes("variables('identityId')")
        ? 'app identity'
        : assignment.properties?.principalId === "[parameters('pkiSenderPrincipalId')]"
          ? 'PKI services'
          : 'unexpected principal';

    const granted = assignments.map((assignment) =>
      [principal(assignment), roleOf(assignment).roleName, scopeKind(assignment.scope)].join(' | '),
    );
    expect(granted.sort()).toEqual(
      [
        'app identity | Storage Blob Data Owner | storage account',
        'app identity | Storage Table Data Contributor | storage account',
        'app identity | Azure Service Bus Data Receiver | audit queue',
        'app identity | Azure Service Bus Data Sender | audit queue',
        'app identity | Monitoring Metrics Publisher | application insights',
        'app identity | Key Vault Crypto User | key vault',
        'PKI services | Azure Service Bus Data Sender | audit queue',
      ].sort(),
    );
    for (const assignment of assignments) {
      if (principal(assignment) === 'app identity') {
        expect(assignment.properties?.principalType).toBe('ServicePrincipal');
        expect(assignment.condition).toBeUndefined();
      } else {
        expect(assignment.condition).toBe("[not(empty(parameters('pkiSenderPrincipalId')))]");
      }
    }
  });

  it('exist before the Function App starts, so its first start already has access', () => {
    const dependsOn = site.dependsOn ?? [];
    for (const assignment of assignments.filter((candidate) => candidate.condition === undefined)) {
      const guidCall = /^\[(guid\(.*\))\]$/.exec(assignment.name)?.[1];
      expect(guidCall, assignment.name).toBeDefined();
      expect(
        dependsOn.some((entry) => entry.includes(guidCall as string)),
        `${roleOf(assignment).roleName} is not in the site's dependsOn`,
      ).toBe(true);
    }
  });
});

describe('infra/azuredeploy.json secrets', () => {
  /**
   * The one allowed mention: Application Insights' connection string carries
   * an instrumentation key, which Microsoft documents as an identifier, not a
   * secret ("Connection strings in Application Insights"), and the component
   * has DisableLocalAuth so the key alone cannot ingest anything.
   */
  const appInsightsConnectionString = new Set([
    'APPLICATIONINSIGHTS_CONNECTION_STRING',
    "[reference(variables('applicationInsightsId'), '2020-02-02').ConnectionString]",
  ]);
  const forbidden = [
    /list\w*keys?\b/i,
    /listConnectionStrings/i,
    /list\w*sas\b/i,
    /listSecrets/i,
    /AccountKey=/i,
    /SharedAccessKey/i,
    /SharedAccessSignature/i,
    /[?&]sig=/i,
    /\b(primary|secondary)(Master)?Key\b/i,
    /\bsecure(string|object)\b/i,
    /connection_?string/i,
    /client_?secret/i,
  ];

  function leaks(document: Json): string[] {
    return stringsIn(document)
      .filter(({ text }) => !appInsightsConnectionString.has(text))
      .flatMap(({ path, text }) =>
        forbidden.filter((pattern) => pattern.test(text)).map((pattern) => `${path}: ${pattern} in ${text}`),
      );
  }

  it('appear nowhere in the template: no key, SAS, connection string or secure parameter', () => {
    expect(leaks(readJson('infra/azuredeploy.json'))).toEqual([]);
    expect(onlyResourceOfType(template, 'Microsoft.Insights/components').properties?.DisableLocalAuth).toBe(
      true,
    );
  });

  it('appear nowhere in the parameters file, which names only parameters the template declares', () => {
    const parameters = readJson('infra/azuredeploy.parameters.json');
    expect(leaks(parameters)).toEqual([]);
    for (const name of Object.keys(at(parameters, 'parameters') as object)) {
      expect(template.parameters, name).toHaveProperty(name);
    }
  });

  it.each([
    "[listKeys(variables('storageAccountId'), '2023-05-01').keys[0].value]",
    "[listConnectionStrings(resourceId('x'))]",
    "[listAccountSas(variables('storageAccountId'), '2023-05-01', variables('sas')).accountSasToken]",
    'Endpoint=sb://x/;SharedAccessKeyName=root;SharedAccessKey=abc',
    'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc',
    'https://x.blob.core.windows.net/c?sv=2022-11-02&sig=abc',
    'securestring',
  ])('the scan flags %s', (text) => {
    expect(leaks({ value: text })).not.toEqual([]);
  });
});

describe('deploy button (docs/operations.md)', () => {
  it('opens this template from its raw URL in the portal', () => {
    const readme = readFileSync('docs/operations.md', 'utf8');
    const link = /https:\/\/portal\.azure\.com\/#create\/Microsoft\.Template\/uri\/([^)\s]+)/.exec(
      readme,
    )?.[1];
    expect(link).toBeDefined();
    expect(decodeURIComponent(link as string)).toMatch(
      /^https:\/\/raw\.githubusercontent\.com\/[^/]+\/[^/]+\/[^/]+\/infra\/azuredeploy\.json$/,
    );
  });
});
