import type { SentinelContent } from '../sentinelContent';
import type { Json } from './templateParts';

/** The Content Hub install wizard: workspace picker, then one step per kind of content. */
function textBlock(name: string, text: string): Json {
  return { name, type: 'Microsoft.Common.TextBlock', options: { text } };
}

export function createUiDefinition(content: SentinelContent): Json {
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
