import { armLiteral, parentTechniques } from '../sentinelArm';
import type { HuntingQuery, SentinelContent } from '../sentinelContent';
import {
  contentProductId,
  contentTemplate,
  metadataResource,
  type PackageContext,
  type TemplateParts,
  type Json,
  SAVED_SEARCHES_PACKAGE_API_VERSION,
} from './templateParts';

/** Per hunting query: a contentTemplates resource carrying its saved search and metadata. */
export function addHuntingQueries(
  content: SentinelContent,
  context: PackageContext,
  template: TemplateParts,
): void {
  const solution = content.solution.content;
  const { variables, resources, dependencies } = template;
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
