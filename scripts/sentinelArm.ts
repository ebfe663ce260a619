import type { DataConnector } from './sentinelSolutionFiles';
import {
  sentinelDurationToIso,
  TRIGGER_OPERATORS,
  type AnalyticRule,
  type HuntingQuery,
  type SentinelContent,
  type Sourced,
} from './sentinelContent';

/**
 * The direct-deploy ARM template (sentinel/azuredeploy.sentinel.json): the
 * solution's rules, hunting queries, workbook and connector page as plain
 * workspace resources, for customers who deploy outside Content Hub.
 */

/** NRT rules exist only in preview api-versions of Microsoft.SecurityInsights; this one takes both kinds. */
export const ALERT_RULES_API_VERSION = '2023-02-01-preview';
export const SAVED_SEARCHES_API_VERSION = '2020-08-01';
export const WORKBOOKS_API_VERSION = '2022-04-01';

const WORKSPACE_SCOPE =
  "[format('Microsoft.OperationalInsights/workspaces/{0}', parameters('workspaceName'))]";
const WORKSPACE_RESOURCE_ID =
  "[resourceId('Microsoft.OperationalInsights/workspaces', parameters('workspaceName'))]";

export type ArmTemplate = {
  $schema: string;
  contentVersion: string;
  metadata: Record<string, unknown>;
  parameters: Record<string, Record<string, unknown>>;
  resources: Array<Record<string, unknown>>;
};

/**
 * A string ARM would otherwise evaluate as a template expression (it starts
 * with `[`) is escaped by doubling the bracket.
 */
export function armLiteral(value: string): string {
  return value.startsWith('[') ? `[${value}` : value;
}

export function parentTechniques(techniques: readonly string[]): string[] {
  return [...new Set(techniques.map((technique) => technique.split('.')[0] ?? technique))];
}

/** A scheduled rule's query frequency, period and trigger, in the order both templates write them (NRT: none). */
export function scheduleSettings(rule: AnalyticRule): Record<string, unknown> {
  return rule.kind === 'Scheduled'
    ? {
        queryFrequency: sentinelDurationToIso(rule.queryFrequency),
        queryPeriod: sentinelDurationToIso(rule.queryPeriod),
        triggerOperator: TRIGGER_OPERATORS[rule.triggerOperator],
        triggerThreshold: rule.triggerThreshold,
      }
    : {};
}

/** The rule settings a YAML may leave out, in the order both templates write them. */
export function optionalRuleSettings(rule: AnalyticRule): Record<string, unknown> {
  return {
    ...(rule.entityMappings === undefined ? {} : { entityMappings: rule.entityMappings }),
    ...(rule.customDetails === undefined ? {} : { customDetails: rule.customDetails }),
    ...(rule.alertDetailsOverride === undefined ? {} : { alertDetailsOverride: rule.alertDetailsOverride }),
    ...(rule.eventGroupingSettings === undefined
      ? {}
      : { eventGroupingSettings: rule.eventGroupingSettings }),
    ...(rule.incidentConfiguration === undefined
      ? {}
      : { incidentConfiguration: rule.incidentConfiguration }),
  };
}

function generatedFrom(file: string): string {
  return `Generated from "${file}" by npm run sentinel:build; edit the source, not this template.`;
}

function alertRuleResource({ file, content: rule }: Sourced<AnalyticRule>): Record<string, unknown> {
  return {
    type: 'Microsoft.SecurityInsights/alertRules',
    apiVersion: ALERT_RULES_API_VERSION,
    name: rule.id,
    scope: WORKSPACE_SCOPE,
    kind: rule.kind,
    comments: generatedFrom(file),
    properties: {
      displayName: armLiteral(rule.name),
      description: armLiteral(rule.description.trim()),
      severity: rule.severity,
      enabled: true,
      query: armLiteral(rule.query.trim()),
      ...scheduleSettings(rule),
      suppressionEnabled: rule.suppressionEnabled,
      suppressionDuration: rule.suppressionDuration,
      tactics: rule.tactics,
      // The preview api-version takes technique ids only; sub-techniques stay in the YAML.
      techniques: parentTechniques(rule.relevantTechniques),
      ...optionalRuleSettings(rule),
    },
  };
}

function savedSearchResource({ file, content: hunt }: Sourced<HuntingQuery>): Record<string, unknown> {
  return {
    type: 'Microsoft.OperationalInsights/workspaces/savedSearches',
    apiVersion: SAVED_SEARCHES_API_VERSION,
    name: `[concat(parameters('workspaceName'), '/${hunt.id}')]`,
    comments: generatedFrom(file),
    properties: {
      category: 'Hunting Queries',
      displayName: armLiteral(hunt.name),
      query: armLiteral(hunt.query.trim()),
      version: 2,
      // Sentinel's Hunting blade reads description, tactics and techniques from these tags.
      tags: [
        { name: 'description', value: armLiteral(hunt.description.trim()) },
        { name: 'tactics', value: hunt.tactics.join(',') },
        { name: 'techniques', value: parentTechniques(hunt.relevantTechniques).join(',') },
      ],
    },
  };
}

function workbookResource({
  file,
  content: workbook,
}: SentinelContent['workbooks'][number]): Record<string, unknown> {
  const { metadata, ...serialized } = workbook;
  const displayName = metadata.title;
  const stem = file.slice(file.lastIndexOf('/') + 1).replace(/\.json$/, '');
  return {
    type: 'Microsoft.Insights/workbooks',
    apiVersion: WORKBOOKS_API_VERSION,
    // Workbook names must be GUIDs; deriving it from the workspace makes redeployment update in place.
    name: `[guid(resourceGroup().id, parameters('workspaceName'), '${stem}')]`,
    location: "[parameters('location')]",
    kind: 'shared',
    comments: generatedFrom(file),
    properties: {
      displayName: armLiteral(displayName),
      serializedData: armLiteral(JSON.stringify(serialized)),
      version: '1.0',
      sourceId: WORKSPACE_RESOURCE_ID,
      category: 'sentinel',
    },
  };
}

export const DATA_CONNECTORS_API_VERSION = '2021-03-01-preview';

/** The connector page Sentinel shows under Data connectors (a static GenericUI connector: EZCA pushes the data). */
export function dataConnectorResource(
  { file, content: connector }: Sourced<DataConnector>,
  workspaceName: string,
): Record<string, unknown> {
  return {
    type: 'Microsoft.OperationalInsights/workspaces/providers/dataConnectors',
    apiVersion: DATA_CONNECTORS_API_VERSION,
    name: `[concat(${workspaceName},'/Microsoft.SecurityInsights/','${connector.id}')]`,
    kind: 'GenericUI',
    comments: generatedFrom(file),
    properties: { connectorUiConfig: connectorUiConfig(connector) },
  };
}

/** ARM evaluates strings starting with `[`; every string of the connector page is passed through armLiteral. */
export function connectorUiConfig(connector: DataConnector): unknown {
  const escape = (value: unknown): unknown =>
    typeof value === 'string'
      ? armLiteral(value)
      : Array.isArray(value)
        ? value.map(escape)
        : typeof value === 'object' && value !== null
          ? Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, escape(inner)]))
          : value;
  return escape(connector);
}

export function buildArmTemplate(content: SentinelContent): ArmTemplate {
  return {
    $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
    contentVersion: '1.0.0.0',
    metadata: {
      description:
        'EZCA cloud PKI content for Microsoft Sentinel, deployed directly (outside Content Hub): analytic rules, hunting queries, a workbook and the data connector page for EZCA_CAs_CL and EZCA_Certificates_CL. Generated by npm run sentinel:build from sentinel/EZCA; see docs/sentinel.md.',
    },
    parameters: {
      workspaceName: {
        type: 'string',
        metadata: {
          description:
            'Name of the Log Analytics workspace that has Microsoft Sentinel enabled and receives the EZCA tables.',
        },
      },
      location: {
        type: 'string',
        defaultValue: '[resourceGroup().location]',
        metadata: { description: 'Region of the workbook resource; defaults to the resource group region.' },
      },
    },
    resources: [
      ...content.analyticRules.map(alertRuleResource),
      ...content.huntingQueries.map(savedSearchResource),
      ...content.workbooks.map(workbookResource),
      ...content.dataConnectors.map((connector) =>
        dataConnectorResource(connector, "parameters('workspaceName')"),
      ),
    ],
  };
}
