import { armLiteral } from '../sentinelArm';
import type { SentinelContent } from '../sentinelContent';
import {
  contentProductId,
  contentTemplate,
  metadataResource,
  type PackageContext,
  type TemplateParts,
  WORKBOOKS_PACKAGE_API_VERSION,
} from './templateParts';

/** Per workbook: a name parameter and a contentTemplates resource carrying the workbook and its metadata. */
export function addWorkbooks(
  content: SentinelContent,
  context: PackageContext,
  template: TemplateParts,
): void {
  const solution = content.solution.content;
  const { variables, resources, dependencies, parameters } = template;
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
}
