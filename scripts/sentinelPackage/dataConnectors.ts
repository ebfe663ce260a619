import { connectorUiConfig, DATA_CONNECTORS_API_VERSION } from '../sentinelArm';
import type { SentinelContent } from '../sentinelContent';
import {
  contentProductId,
  contentTemplate,
  metadataResource,
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
  const solution = content.solution.content;
  const { variables, resources, dependencies } = template;
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
}
