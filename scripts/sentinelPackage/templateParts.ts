import { armLiteral } from '../sentinelArm';

/**
 * The pieces every contentTemplates resource of the package is made of, in
 * the shape Azure-Sentinel's V3 packager writes them.
 */

export const CONTENT_API_VERSION = '2023-04-01-preview';
export const METADATA_API_VERSION = '2022-01-01-preview';
export const ALERT_RULE_TEMPLATES_API_VERSION = '2023-02-01-preview';
export const SAVED_SEARCHES_PACKAGE_API_VERSION = '2022-10-01';
export const WORKBOOKS_PACKAGE_API_VERSION = '2021-08-01';

export const WORKSPACE = "parameters('workspace')";
export const PACKAGE_DEPENDENCY =
  "[extensionResourceId(resourceId('Microsoft.OperationalInsights/workspaces', parameters('workspace')), 'Microsoft.SecurityInsights/contentPackages', variables('_solutionId'))]";
export const TEMPLATE_SCHEMA =
  'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#';

export type Json = Record<string, unknown>;

export function contentProductId(kindCode: string, kind: string, contentId: string, version: string): string {
  return `[concat(take(variables('_solutionId'),50),'-','${kindCode}','-', uniqueString(concat(variables('_solutionId'),'-','${kind}','-',${contentId},'-', ${version})))]`;
}

export interface PackageContext {
  readonly name: string;
  readonly version: string;
  readonly author: Json;
  readonly support: Json;
  readonly source: Json;
}

export function metadataResource(
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

export function contentTemplate(
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

/** What the main template's sections add to as they go; the order they add in is the order of the file. */
export interface TemplateParts {
  readonly variables: Json;
  readonly parameters: Record<string, Json>;
  readonly resources: Json[];
  readonly dependencies: Json[];
}
