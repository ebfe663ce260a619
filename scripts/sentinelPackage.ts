import { join } from 'node:path';
import { HEALTH_TABLE, healthKqlSchema, kqlSchema, TABLE_NAMES } from '../src/domain/tableSchema';
import {
  armLiteral,
  connectorUiConfig,
  DATA_CONNECTORS_API_VERSION,
  optionalRuleSettings,
  parentTechniques,
} from './sentinelArm';
import {
  ARM_TEMPLATE_PATH,
  SENTINEL_DIR,
  SOLUTION_DIR,
  sentinelDurationToIso,
  TRIGGER_OPERATORS,
  type AnalyticRule,
  type HuntingQuery,
  type SentinelContent,
} from './sentinelContent';
import { solutionId } from './sentinelSolutionFiles';

/**
 * The Content Hub package of the solution (Package/mainTemplate.json and
 * createUiDefinition.json), in the shape Azure-Sentinel's V3 packager
 * (Tools/Create-Azure-Sentinel-Solution/V3, createSolutionV3.ps1) produces:
 * one contentTemplates resource per rule, hunting query, workbook and data
 * connector, each carrying its resource and a metadata resource, top-level
 * metadata for the connector, and the contentPackages resource listing them
 * all as dependencies. Built from the same parsed sources as the direct-deploy
 * template, so the two cannot drift.
 *
 * Plus the CustomTables schema files Azure-Sentinel's KQL validation tests read
 * (.script/tests/KqlvalidationsTests/CustomTables/<table>.json), derived from
 * src/domain/tableSchema.ts.
 */

export const PACKAGE_DIR = join(SOLUTION_DIR, 'Package');
export const MAIN_TEMPLATE_PATH = join(PACKAGE_DIR, 'mainTemplate.json');
export const CREATE_UI_DEFINITION_PATH = join(PACKAGE_DIR, 'createUiDefinition.json');
export const CUSTOM_TABLES_DIR = join(SENTINEL_DIR, 'CustomTables');

export const CONTENT_API_VERSION = '2023-04-01-preview';
export const METADATA_API_VERSION = '2022-01-01-preview';
export const ALERT_RULE_TEMPLATES_API_VERSION = '2023-02-01-preview';
export const SAVED_SEARCHES_PACKAGE_API_VERSION = '2022-10-01';
export const WORKBOOKS_PACKAGE_API_VERSION = '2021-08-01';

const WORKSPACE = "parameters('workspace')";
const PACKAGE_DEPENDENCY =
  "[extensionResourceId(resourceId('Microsoft.OperationalInsights/workspaces', parameters('workspace')), 'Microsoft.SecurityInsights/contentPackages', variables('_solutionId'))]";
const TEMPLATE_SCHEMA = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#';

type Json = Record<string, unknown>;

function contentProductId(kindCode: string, kind: string, contentId: string, version: string): string {
  return `[concat(take(variables('_solutionId'),50),'-','${kindCode}','-', uniqueString(concat(variables('_solutionId'),'-','${kind}','-',${contentId},'-', ${version})))]`;
}

interface PackageContext {
  readonly name: string;
  readonly version: string;
  readonly author: Json;
  readonly support: Json;
  readonly source: Json;
}

function metadataResource(
  context: PackageContext,
  name: string,
  properties: { parentId: string; contentId: string; kind: string; version: string; description?: string },
): Json {
  return {
    type: 'Microsoft.OperationalInsights/workspaces/providers/metadata',
    apiVersion: METADATA_API_VERSION,
    name,
    properties: {
      ...(properties.description === undefined ? {} : { description: properties.description }),
      parentId: properties.parentId,
      contentId: properties.contentId,
      kind: properties.kind,
      version: properties.version,
      source: context.source,
      author: context.author,
      support: context.support,
    },
  };
}

function contentTemplate(
  context: PackageContext,
  options: {
    name: string;
    description: string;
    contentVersion: string;
    resources: Json[];
    contentId: string;
    contentKind: string;
    displayName: string;
    productId: string;
  },
): Json {
  return {
    type: 'Microsoft.OperationalInsights/workspaces/providers/contentTemplates',
    apiVersion: CONTENT_API_VERSION,
    name: options.name,
    location: "[parameters('workspace-location')]",
    dependsOn: [PACKAGE_DEPENDENCY],
    properties: {
      description: options.description,
      mainTemplate: {
        $schema: TEMPLATE_SCHEMA,
        contentVersion: options.contentVersion,
        parameters: {},
        variables: {},
        resources: options.resources,
      },
      packageKind: 'Solution',
      packageVersion: "[variables('_solutionVersion')]",
      packageName: "[variables('_solutionName')]",
      packageId: "[variables('_solutionId')]",
      contentSchemaVersion: '3.0.0',
      contentId: options.contentId,
      contentKind: options.contentKind,
      displayName: armLiteral(options.displayName),
      contentProductId: options.productId,
      id: options.productId,
      version: options.contentVersion,
    },
  };
}

function alertRuleTemplateProperties(rule: AnalyticRule): Json {
  const schedule =
    rule.kind === 'Scheduled'
      ? {
          queryFrequency: sentinelDurationToIso(rule.queryFrequency),
          queryPeriod: sentinelDurationToIso(rule.queryPeriod),
          triggerOperator: TRIGGER_OPERATORS[rule.triggerOperator],
          triggerThreshold: rule.triggerThreshold,
        }
      : {};
  return {
    description: armLiteral(rule.description),
    displayName: armLiteral(rule.name),
    enabled: false,
    query: armLiteral(rule.query.trim()),
    severity: rule.severity,
    ...schedule,
    suppressionDuration: rule.suppressionDuration,
    suppressionEnabled: rule.suppressionEnabled,
    status: rule.status,
    requiredDataConnectors: rule.requiredDataConnectors,
    tactics: rule.tactics,
    techniques: parentTechniques(rule.relevantTechniques),
    ...optionalRuleSettings(rule),
  };
}

export interface PackageFiles {
  readonly mainTemplate: Json;
  readonly createUiDefinition: Json;
}

export function buildPackage(content: SentinelContent): PackageFiles {
  const solution = content.solution.content;
  const metadata = content.solutionMetadata.content;
  const id = solutionId(metadata);
  const support = { ...metadata.support };
  const context: PackageContext = {
    name: solution.Name,
    version: solution.Version,
    author: { name: solution.Author },
    support,
    source: { kind: 'Solution', name: solution.Name, sourceId: "[variables('_solutionId')]" },
  };
  const variables: Json = {
    _solutionName: solution.Name,
    _solutionVersion: solution.Version,
    solutionId: id,
    _solutionId: "[variables('solutionId')]",
    workspaceResourceId: "[resourceId('microsoft.OperationalInsights/Workspaces', parameters('workspace'))]",
  };
  const parameters: Record<string, Json> = {
    location: {
      type: 'string',
      minLength: 1,
      defaultValue: '[resourceGroup().location]',
      metadata: {
        description:
          'Not used, but needed to pass arm-ttk test `Location-Should-Not-Be-Hardcoded`.  We instead use the `workspace-location` which is derived from the LA workspace',
      },
    },
    'workspace-location': {
      type: 'string',
      defaultValue: '',
      metadata: {
        description:
          "[concat('Region to deploy solution resources -- separate from location selection',parameters('location'))]",
      },
    },
    workspace: {
      defaultValue: '',
      type: 'string',
      metadata: { description: 'Workspace name for Log Analytics where Microsoft Sentinel is setup' },
    },
  };
  const resources: Json[] = [];
  const dependencies: Json[] = [];

  content.dataConnectors.forEach(({ content: connector }, index) => {
    const n = index + 1;
    Object.assign(variables, {
      [`uiConfigId${n}`]: connector.id,
      [`_uiConfigId${n}`]: `[variables('uiConfigId${n}')]`,
      [`dataConnectorContentId${n}`]: connector.id,
      [`_dataConnectorContentId${n}`]: `[variables('dataConnectorContentId${n}')]`,
      [`dataConnectorId${n}`]: `[extensionResourceId(resourceId('Microsoft.OperationalInsights/workspaces', parameters('workspace')), 'Microsoft.SecurityInsights/dataConnectors', variables('_dataConnectorContentId${n}'))]`,
      [`_dataConnectorId${n}`]: `[variables('dataConnectorId${n}')]`,
      [`dataConnectorTemplateSpecName${n}`]: `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',concat(parameters('workspace'),'-dc-',uniquestring(variables('_dataConnectorContentId${n}'))))]`,
      [`dataConnectorVersion${n}`]: '1.0.0',
      [`_dataConnectorcontentProductId${n}`]: contentProductId(
        'dc',
        'DataConnector',
        `variables('_dataConnectorContentId${n}')`,
        `variables('dataConnectorVersion${n}')`,
      ),
    });
    const connectorResource = {
      name: `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',variables('_dataConnectorContentId${n}'))]`,
      apiVersion: DATA_CONNECTORS_API_VERSION,
      type: 'Microsoft.OperationalInsights/workspaces/providers/dataConnectors',
      location: "[parameters('workspace-location')]",
      kind: 'GenericUI',
      properties: {
        connectorUiConfig: {
          ...(connectorUiConfig(connector) as Json),
          id: `[variables('_uiConfigId${n}')]`,
        },
      },
    };
    const connectorMetadata = (): Json =>
      metadataResource(
        context,
        `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',concat('DataConnector-', last(split(variables('_dataConnectorId${n}'),'/'))))]`,
        {
          parentId: `[extensionResourceId(resourceId('Microsoft.OperationalInsights/workspaces', parameters('workspace')), 'Microsoft.SecurityInsights/dataConnectors', variables('_dataConnectorContentId${n}'))]`,
          contentId: `[variables('_dataConnectorContentId${n}')]`,
          kind: 'DataConnector',
          version: `[variables('dataConnectorVersion${n}')]`,
        },
      );
    resources.push(
      contentTemplate(context, {
        name: `[variables('dataConnectorTemplateSpecName${n}')]`,
        description: `${solution.Name} data connector with template version ${solution.Version}`,
        contentVersion: `[variables('dataConnectorVersion${n}')]`,
        resources: [connectorResource, connectorMetadata()],
        contentId: `[variables('_dataConnectorContentId${n}')]`,
        contentKind: 'DataConnector',
        displayName: connector.title,
        productId: `[variables('_dataConnectorcontentProductId${n}')]`,
      }),
      {
        ...connectorMetadata(),
        dependsOn: [`[variables('_dataConnectorId${n}')]`],
        location: "[parameters('workspace-location')]",
      },
      connectorResource,
    );
    dependencies.push({
      kind: 'DataConnector',
      contentId: `[variables('_dataConnectorContentId${n}')]`,
      version: `[variables('dataConnectorVersion${n}')]`,
    });
  });

  content.workbooks.forEach(({ content: workbook }, index) => {
    const n = index + 1;
    const { metadata: workbookMetadata, ...serialized } = workbook;
    parameters[`workbook${n}-name`] = {
      type: 'string',
      defaultValue: workbookMetadata.title,
      minLength: 1,
      metadata: { description: 'Name for the workbook' },
    };
    Object.assign(variables, {
      [`workbookVersion${n}`]: workbookMetadata.version,
      [`workbookContentId${n}`]: workbookMetadata.workbookKey,
      [`workbookId${n}`]: `[resourceId('Microsoft.Insights/workbooks', variables('workbookContentId${n}'))]`,
      [`workbookTemplateSpecName${n}`]: `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',concat(parameters('workspace'),'-wb-',uniquestring(variables('_workbookContentId${n}'))))]`,
      [`_workbookContentId${n}`]: `[variables('workbookContentId${n}')]`,
      [`_workbookcontentProductId${n}`]: contentProductId(
        'wb',
        'Workbook',
        `variables('_workbookContentId${n}')`,
        `variables('workbookVersion${n}')`,
      ),
    });
    resources.push(
      contentTemplate(context, {
        name: `[variables('workbookTemplateSpecName${n}')]`,
        description: `${workbookMetadata.title} Workbook with template version ${solution.Version}`,
        contentVersion: `[variables('workbookVersion${n}')]`,
        resources: [
          {
            type: 'Microsoft.Insights/workbooks',
            name: `[variables('workbookContentId${n}')]`,
            location: "[parameters('workspace-location')]",
            kind: 'shared',
            apiVersion: WORKBOOKS_PACKAGE_API_VERSION,
            metadata: { description: armLiteral(workbookMetadata.description) },
            properties: {
              displayName: `[parameters('workbook${n}-name')]`,
              serializedData: armLiteral(JSON.stringify(serialized)),
              version: '1.0',
              sourceId: "[variables('workspaceResourceId')]",
              category: 'sentinel',
            },
          },
          metadataResource(
            context,
            `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',concat('Workbook-', last(split(variables('workbookId${n}'),'/'))))]`,
            {
              description: armLiteral(workbookMetadata.description),
              parentId: `[variables('workbookId${n}')]`,
              contentId: `[variables('_workbookContentId${n}')]`,
              kind: 'Workbook',
              version: `[variables('workbookVersion${n}')]`,
            },
          ),
        ],
        contentId: `[variables('_workbookContentId${n}')]`,
        contentKind: 'Workbook',
        displayName: `[parameters('workbook${n}-name')]`,
        productId: `[variables('_workbookcontentProductId${n}')]`,
      }),
    );
    dependencies.push({
      kind: 'Workbook',
      contentId: `[variables('_workbookContentId${n}')]`,
      version: `[variables('workbookVersion${n}')]`,
    });
  });

  content.analyticRules.forEach(({ content: rule }, index) => {
    const n = index + 1;
    const object = `variables('analyticRuleObject${n}')`;
    variables[`analyticRuleObject${n}`] = {
      [`analyticRuleVersion${n}`]: rule.version,
      [`_analyticRulecontentId${n}`]: rule.id,
      [`analyticRuleId${n}`]: `[resourceId('Microsoft.SecurityInsights/AlertRuleTemplates', '${rule.id}')]`,
      [`analyticRuleTemplateSpecName${n}`]: `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',concat(parameters('workspace'),'-ar-',uniquestring('${rule.id}')))]`,
      [`_analyticRulecontentProductId${n}`]: contentProductId(
        'ar',
        'AnalyticsRule',
        `'${rule.id}'`,
        `'${rule.version}'`,
      ),
    };
    resources.push(
      contentTemplate(context, {
        name: `[${object}.analyticRuleTemplateSpecName${n}]`,
        description: `${solution.Name} Analytics Rule ${n} with template version ${solution.Version}`,
        contentVersion: `[${object}.analyticRuleVersion${n}]`,
        resources: [
          {
            type: 'Microsoft.SecurityInsights/AlertRuleTemplates',
            name: `[${object}._analyticRulecontentId${n}]`,
            apiVersion: ALERT_RULE_TEMPLATES_API_VERSION,
            kind: rule.kind,
            location: "[parameters('workspace-location')]",
            properties: alertRuleTemplateProperties(rule),
          },
          metadataResource(
            context,
            `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',concat('AnalyticsRule-', last(split(${object}.analyticRuleId${n},'/'))))]`,
            {
              description: `${solution.Name} Analytics Rule ${n}`,
              parentId: `[${object}.analyticRuleId${n}]`,
              contentId: `[${object}._analyticRulecontentId${n}]`,
              kind: 'AnalyticsRule',
              version: `[${object}.analyticRuleVersion${n}]`,
            },
          ),
        ],
        contentId: `[${object}._analyticRulecontentId${n}]`,
        contentKind: 'AnalyticsRule',
        displayName: rule.name,
        productId: `[${object}._analyticRulecontentProductId${n}]`,
      }),
    );
    dependencies.push({
      kind: 'AnalyticsRule',
      contentId: `[${object}._analyticRulecontentId${n}]`,
      version: `[${object}.analyticRuleVersion${n}]`,
    });
  });

  content.huntingQueries.forEach(({ content: hunt }, index) => {
    const n = index + 1;
    const object = `variables('huntingQueryObject${n}')`;
    variables[`huntingQueryObject${n}`] = {
      [`huntingQueryVersion${n}`]: hunt.version,
      [`_huntingQuerycontentId${n}`]: hunt.id,
      [`huntingQueryTemplateSpecName${n}`]: `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',concat(parameters('workspace'),'-hq-',uniquestring('${hunt.id}')))]`,
    };
    const productId = contentProductId(
      'hq',
      'HuntingQuery',
      `${object}._huntingQuerycontentId${n}`,
      `'${hunt.version}'`,
    );
    resources.push(
      contentTemplate(context, {
        name: `[${object}.huntingQueryTemplateSpecName${n}]`,
        description: `${hunt.name.replace(/[^A-Za-z0-9 _-]/g, '')}_HuntingQueries Hunting Query with template version ${solution.Version}`,
        contentVersion: `[${object}.huntingQueryVersion${n}]`,
        resources: [
          huntingQuerySavedSearch(hunt, `${solution.Name}_Hunting_Query_${n}`),
          metadataResource(
            context,
            `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',concat('HuntingQuery-', last(split(resourceId('Microsoft.OperationalInsights/savedSearches', ${object}._huntingQuerycontentId${n}),'/'))))]`,
            {
              description: `${solution.Name} Hunting Query ${n}`,
              parentId: `[resourceId('Microsoft.OperationalInsights/savedSearches', ${object}._huntingQuerycontentId${n})]`,
              contentId: `[${object}._huntingQuerycontentId${n}]`,
              kind: 'HuntingQuery',
              version: `[${object}.huntingQueryVersion${n}]`,
            },
          ),
        ],
        contentId: `[${object}._huntingQuerycontentId${n}]`,
        contentKind: 'HuntingQuery',
        displayName: hunt.name,
        productId,
      }),
    );
    dependencies.push({
      kind: 'HuntingQuery',
      contentId: `[${object}._huntingQuerycontentId${n}]`,
      version: `[${object}.huntingQueryVersion${n}]`,
    });
  });

  variables._solutioncontentProductId = `[concat(take(variables('_solutionId'),50),'-','sl','-', uniqueString(concat(variables('_solutionId'),'-','Solution','-',variables('_solutionId'),'-', variables('_solutionVersion'))))]`;
  resources.push({
    type: 'Microsoft.OperationalInsights/workspaces/providers/contentPackages',
    apiVersion: CONTENT_API_VERSION,
    location: "[parameters('workspace-location')]",
    properties: {
      version: solution.Version,
      kind: 'Solution',
      contentSchemaVersion: '3.0.0',
      displayName: solution.Name,
      publisherDisplayName: metadata.support.name,
      descriptionHtml: descriptionHtml(content),
      contentKind: 'Solution',
      contentProductId: "[variables('_solutioncontentProductId')]",
      id: "[variables('_solutioncontentProductId')]",
      icon: solution.Logo,
      contentId: "[variables('_solutionId')]",
      parentId: "[variables('_solutionId')]",
      source: context.source,
      author: context.author,
      support,
      dependencies: { operator: 'AND', criteria: dependencies },
      firstPublishDate: metadata.firstPublishDate,
      ...(metadata.lastPublishDate === undefined ? {} : { lastPublishDate: metadata.lastPublishDate }),
      providers: metadata.providers,
      categories: metadata.categories,
    },
    name: `[concat(${WORKSPACE},'/Microsoft.SecurityInsights/', variables('_solutionId'))]`,
  });

  return {
    mainTemplate: {
      $schema: TEMPLATE_SCHEMA,
      contentVersion: '1.0.0.0',
      metadata: {
        author: solution.Author,
        comments: `Solution template for ${solution.Name}. Generated by npm run sentinel:build from ${SOLUTION_DIR}; edit the sources, not this file.`,
      },
      parameters,
      variables,
      resources,
      outputs: {},
    },
    createUiDefinition: createUiDefinition(content),
  };
}

function huntingQuerySavedSearch(hunt: HuntingQuery, name: string): Json {
  return {
    type: 'Microsoft.OperationalInsights/savedSearches',
    apiVersion: SAVED_SEARCHES_PACKAGE_API_VERSION,
    name,
    location: "[parameters('workspace-location')]",
    properties: {
      eTag: '*',
      displayName: armLiteral(hunt.name),
      category: 'Hunting Queries',
      query: armLiteral(hunt.query.trim()),
      version: 2,
      tags: [
        { name: 'description', value: armLiteral(hunt.description) },
        { name: 'tactics', value: hunt.tactics.join(',') },
        { name: 'techniques', value: parentTechniques(hunt.relevantTechniques).join(',') },
      ],
    },
  };
}

function counts(content: SentinelContent): string {
  return [
    ['Data Connectors', content.dataConnectors.length],
    ['Workbooks', content.workbooks.length],
    ['Analytic Rules', content.analyticRules.length],
    ['Hunting Queries', content.huntingQueries.length],
  ]
    .map(([label, count]) => `<strong>${label}:</strong> ${count}`)
    .join(', ');
}

function descriptionHtml(content: SentinelContent): string {
  const [summary = ''] = content.solution.content.Description.split('\n\n');
  return `<p>${escapeHtml(summary)}</p>\n<p>${counts(content)}</p>\n`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function textBlock(name: string, text: string): Json {
  return { name, type: 'Microsoft.Common.TextBlock', options: { text } };
}

function createUiDefinition(content: SentinelContent): Json {
  const solution = content.solution.content;
  const step = (name: string, label: string, elements: Json[]): Json => ({
    name,
    label,
    subLabel: { preValidation: `Review the ${label.toLowerCase()}`, postValidation: 'Done' },
    bladeTitle: label,
    elements,
  });
  return {
    $schema: 'https://schema.management.azure.com/schemas/0.1.2-preview/CreateUIDefinition.MultiVm.json#',
    handler: 'Microsoft.Azure.CreateUIDef',
    version: '0.1.2-preview',
    parameters: {
      config: {
        isWizard: false,
        basics: {
          description: `${solution.Logo}\n\n**Note:** Please refer to the following before installing the solution:\n\n- Review the solution [Release Notes](https://github.com/Azure/Azure-Sentinel/tree/master/Solutions/${solution.Name}/ReleaseNotes.md)\n\n${solution.Description}\n\n**Data Connectors:** ${content.dataConnectors.length}, **Workbooks:** ${content.workbooks.length}, **Analytic Rules:** ${content.analyticRules.length}, **Hunting Queries:** ${content.huntingQueries.length}`,
          subscription: {
            resourceProviders: [
              'Microsoft.OperationsManagement/solutions',
              'Microsoft.OperationalInsights/workspaces/providers/alertRules',
              'Microsoft.Insights/workbooks',
            ],
          },
          location: {
            metadata: { hidden: 'Hiding location, we get it from the log analytics workspace' },
            visible: false,
          },
          resourceGroup: { allowExisting: true },
        },
      },
      basics: [
        {
          name: 'getLAWorkspace',
          type: 'Microsoft.Solutions.ArmApiControl',
          toolTip: 'This filters by workspaces that exist in the Resource Group selected',
          condition: '[greater(length(resourceGroup().name),0)]',
          request: {
            method: 'GET',
            path: "[concat(subscription().id,'/providers/Microsoft.OperationalInsights/workspaces?api-version=2020-08-01')]",
          },
        },
        {
          name: 'workspace',
          type: 'Microsoft.Common.DropDown',
          label: 'Workspace',
          placeholder: 'Select a workspace',
          toolTip: 'This dropdown will list only workspace that exists in the Resource Group selected',
          constraints: {
            allowedValues:
              '[map(filter(basics(\'getLAWorkspace\').value, (filter) => contains(toLower(filter.id), toLower(resourceGroup().name))), (item) => parse(concat(\'{"label":"\', item.name, \'","value":"\', item.name, \'"}\')))]',
            required: true,
          },
          visible: true,
        },
      ],
      steps: [
        step(
          'dataconnectors',
          'Data Connectors',
          content.dataConnectors.map(({ content: connector }, index) =>
            textBlock(
              `dataconnectors${index + 1}-text`,
              `This Solution installs the data connector for ${connector.title}. You can get the data in after installation: follow the connector page's steps (the three roles, Create Connection, Save changes in EZCA).`,
            ),
          ),
        ),
        step(
          'workbooks',
          'Workbooks',
          content.workbooks.map(({ content: workbook }, index) =>
            textBlock(
              `workbook${index + 1}-text`,
              `${workbook.metadata.title}: ${workbook.metadata.description}`,
            ),
          ),
        ),
        step(
          'analytics',
          'Analytics',
          content.analyticRules.map(({ content: rule }, index) =>
            textBlock(`analytic${index + 1}-text`, `${rule.name}: ${rule.description}`),
          ),
        ),
        step(
          'huntingqueries',
          'Hunting Queries',
          content.huntingQueries.map(({ content: hunt }, index) =>
            textBlock(`huntingquery${index + 1}-text`, `${hunt.name}: ${hunt.description}`),
          ),
        ),
      ],
      outputs: {
        'workspace-location':
          "[first(map(filter(basics('getLAWorkspace').value, (filter) => and(contains(toLower(filter.id), toLower(resourceGroup().name)),equals(filter.name,basics('workspace')))), (item) => item.location))]",
        location: '[location()]',
        workspace: "[basics('workspace')]",
      },
    },
  };
}

/** One CustomTables file per table: {"Name", "Properties": [{"Name", "Type"}]}, with the KQL types Log Analytics exposes. */
export function customTableFile(
  table: string,
  schema: string,
): {
  Name: string;
  Properties: Array<{ Name: string; Type: string }>;
} {
  const columns = schema
    .slice(1, -1)
    .split(', ')
    .map((column) => {
      const [name = '', type = ''] = column.split(':');
      return { Name: name, Type: type };
    });
  return { Name: table, Properties: columns };
}

/** The event tables and the export health table, each with the KQL schema src/domain/tableSchema.ts gives it. */
export const CUSTOM_TABLE_SCHEMAS: ReadonlyArray<{ table: string; schema: string }> = [
  ...TABLE_NAMES.map((table) => ({ table, schema: kqlSchema(table) })),
  { table: HEALTH_TABLE, schema: healthKqlSchema() },
];

export function customTableFiles(): Array<{ path: string; content: ReturnType<typeof customTableFile> }> {
  return CUSTOM_TABLE_SCHEMAS.map(({ table, schema }) => ({
    path: join(CUSTOM_TABLES_DIR, `${table}.json`),
    content: customTableFile(table, schema),
  }));
}

/** Every file npm run sentinel:build writes, with its content; a test compares them with the committed files. */
export function generatedFiles(
  content: SentinelContent,
  armTemplate: unknown,
): Array<{ path: string; value: unknown }> {
  const built = buildPackage(content);
  return [
    { path: ARM_TEMPLATE_PATH, value: armTemplate },
    { path: MAIN_TEMPLATE_PATH, value: built.mainTemplate },
    { path: CREATE_UI_DEFINITION_PATH, value: built.createUiDefinition },
    ...customTableFiles().map(({ path, content: table }) => ({ path, value: table })),
  ];
}
