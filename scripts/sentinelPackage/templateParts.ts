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

/** The kinds of content the package carries, with the code the packager writes into their names and product ids. */
const KIND_CODES = {
  AnalyticsRule: 'ar',
  HuntingQuery: 'hq',
  Workbook: 'wb',
  DataConnector: 'dc',
  Solution: 'sl',
} as const;

export type ContentKind = keyof typeof KIND_CODES;

/** The product id expression (without brackets) for content of `kind` with these id and version expressions. */
export function productIdExpression(kind: ContentKind, contentId: string, version: string): string {
  return `concat(take(variables('_solutionId'),50),'-','${KIND_CODES[kind]}','-', uniqueString(concat(variables('_solutionId'),'-','${kind}','-',${contentId},'-', ${version})))`;
}

export function contentProductId(kind: ContentKind, contentId: string, version: string): string {
  return `[${productIdExpression(kind, contentId, version)}]`;
}

/** The name of a content item's contentTemplates resource, unique per workspace and content id. */
export function templateSpecName(kind: ContentKind, contentId: string): string {
  return `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',concat(parameters('workspace'),'-${KIND_CODES[kind]}-',uniquestring(${contentId})))]`;
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
      displayName: options.displayName,
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

/**
 * What one rule, hunting query, workbook or data connector adds to the package; everything else
 * (the contentTemplates resource wrapping `resource` and its metadata, the dependency) is the same
 * for every kind. Expressions are ARM template expressions without their brackets, spelled the way
 * the packager names this kind's variables.
 */
export interface ContentItem {
  readonly kind: Exclude<ContentKind, 'Solution'>;
  /** Added to the main template's parameters and variables, in this order. */
  readonly parameters?: Record<string, Json>;
  readonly variables: Json;
  readonly templateSpecName: string;
  readonly contentId: string;
  readonly version: string;
  /** The expression of the product id; a literal product id expression for kinds that keep none in a variable. */
  readonly productId: string;
  /** The resource id the metadata hangs off. */
  readonly parentId: string;
  /** The resource id the metadata's name is made from, where the packager spells it differently from parentId. */
  readonly metadataNameId?: string;
  readonly metadataDescription?: string;
  /** The contentTemplates resource's description. */
  readonly description: string;
  /**
   * Its display name as ARM reads it: text through armLiteral, or an expression that the
   * deployment evaluates (a workbook's is its name parameter, as Azure-Sentinel's packager writes it).
   */
  readonly displayName: string;
  /** The resource the contentTemplates resource deploys. */
  readonly resource: Json;
  /** Resources the main template carries right after the contentTemplates resource, given the item's metadata. */
  readonly topLevel?: (metadata: Json) => Json[];
}

/** Per item of one kind (numbered from 1, as the packager does): its variables, contentTemplates resource and dependency. */
export function addContentTemplates<T>(
  context: PackageContext,
  template: TemplateParts,
  items: ReadonlyArray<{ readonly content: T }>,
  describe: (item: T, n: number) => ContentItem,
): void {
  items.forEach(({ content }, index) => {
    const item = describe(content, index + 1);
    Object.assign(template.parameters, item.parameters);
    Object.assign(template.variables, item.variables);
    const { kind } = item;
    const contentId = `[${item.contentId}]`;
    const version = `[${item.version}]`;
    const metadata = metadataResource(
      context,
      `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',concat('${kind}-', last(split(${item.metadataNameId ?? item.parentId},'/'))))]`,
      {
        description: item.metadataDescription,
        parentId: `[${item.parentId}]`,
        contentId,
        kind,
        version,
      },
    );
    template.resources.push(
      contentTemplate(context, {
        name: `[${item.templateSpecName}]`,
        description: item.description,
        contentVersion: version,
        resources: [item.resource, metadata],
        contentId,
        contentKind: kind,
        displayName: item.displayName,
        productId: `[${item.productId}]`,
      }),
      ...(item.topLevel?.(metadata) ?? []),
    );
    template.dependencies.push({ kind, contentId, version });
  });
}
