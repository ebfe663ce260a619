import { armLiteral } from '../sentinelArm';
import type { SentinelContent } from '../sentinelContent';
import {
  addContentTemplates,
  contentProductId,
  templateSpecName,
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
  addContentTemplates(context, template, content.workbooks, (workbook, n) => {
    const { metadata: workbookMetadata, ...serialized } = workbook;
    const contentId = `variables('_workbookContentId${n}')`;
    const version = `variables('workbookVersion${n}')`;
    return {
      kind: 'Workbook',
      parameters: {
        [`workbook${n}-name`]: {
          type: 'string',
          defaultValue: workbookMetadata.title,
          minLength: 1,
          metadata: { description: 'Name for the workbook' },
        },
      },
      variables: {
        [`workbookVersion${n}`]: workbookMetadata.version,
        [`workbookContentId${n}`]: workbookMetadata.workbookKey,
        [`workbookId${n}`]: `[resourceId('Microsoft.Insights/workbooks', variables('workbookContentId${n}'))]`,
        [`workbookTemplateSpecName${n}`]: templateSpecName('Workbook', contentId),
        [`_workbookContentId${n}`]: `[variables('workbookContentId${n}')]`,
        [`_workbookcontentProductId${n}`]: contentProductId('Workbook', contentId, version),
      },
      templateSpecName: `variables('workbookTemplateSpecName${n}')`,
      contentId,
      version,
      productId: `variables('_workbookcontentProductId${n}')`,
      parentId: `variables('workbookId${n}')`,
      metadataDescription: armLiteral(workbookMetadata.description),
      description: `${workbookMetadata.title} Workbook with template version ${context.version}`,
      displayName: `[parameters('workbook${n}-name')]`,
      resource: {
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
    };
  });
}
