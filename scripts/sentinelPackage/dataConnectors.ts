import { armLiteral, connectorUiConfig, DATA_CONNECTORS_API_VERSION } from '../sentinelArm';
import type { SentinelContent } from '../sentinelContent';
import {
  addContentTemplates,
  contentProductId,
  templateSpecName,
  type PackageContext,
  type TemplateParts,
  type Json,
} from './templateParts';

/** Per data connector: its contentTemplates resource, its top-level metadata and the connector itself. */
export function addDataConnectors(
  content: SentinelContent,
  context: PackageContext,
  template: TemplateParts,
): void {
  addContentTemplates(context, template, content.dataConnectors, (connector, n) => {
    const contentId = `variables('_dataConnectorContentId${n}')`;
    const version = `variables('dataConnectorVersion${n}')`;
    const connectorResource = {
      name: `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',${contentId})]`,
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
    return {
      kind: 'DataConnector',
      variables: {
        [`uiConfigId${n}`]: connector.id,
        [`_uiConfigId${n}`]: `[variables('uiConfigId${n}')]`,
        [`dataConnectorContentId${n}`]: connector.id,
        [`_dataConnectorContentId${n}`]: `[variables('dataConnectorContentId${n}')]`,
        [`dataConnectorId${n}`]: `[extensionResourceId(resourceId('Microsoft.OperationalInsights/workspaces', parameters('workspace')), 'Microsoft.SecurityInsights/dataConnectors', ${contentId})]`,
        [`_dataConnectorId${n}`]: `[variables('dataConnectorId${n}')]`,
        [`dataConnectorTemplateSpecName${n}`]: templateSpecName('DataConnector', contentId),
        [`dataConnectorVersion${n}`]: '1.0.0',
        [`_dataConnectorcontentProductId${n}`]: contentProductId('DataConnector', contentId, version),
      },
      templateSpecName: `variables('dataConnectorTemplateSpecName${n}')`,
      contentId,
      version,
      productId: `variables('_dataConnectorcontentProductId${n}')`,
      parentId: `extensionResourceId(resourceId('Microsoft.OperationalInsights/workspaces', parameters('workspace')), 'Microsoft.SecurityInsights/dataConnectors', ${contentId})`,
      metadataNameId: `variables('_dataConnectorId${n}')`,
      description: `${context.name} data connector with template version ${context.version}`,
      displayName: armLiteral(connector.title),
      resource: connectorResource,
      // The packager repeats the metadata and the connector at the top level, so both deploy with the package.
      topLevel: (metadata) => [
        {
          ...metadata,
          dependsOn: [`[variables('_dataConnectorId${n}')]`],
          location: "[parameters('workspace-location')]",
        },
        connectorResource,
      ],
    };
  });
}
