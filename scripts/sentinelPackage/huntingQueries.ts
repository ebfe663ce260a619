import { armLiteral, parentTechniques } from '../sentinelArm';
import type { HuntingQuery, SentinelContent } from '../sentinelContent';
import {
  addContentTemplates,
  productIdExpression,
  templateSpecName,
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
  addContentTemplates(context, template, content.huntingQueries, (hunt, n) => {
    const object = `variables('huntingQueryObject${n}')`;
    const contentId = `${object}._huntingQuerycontentId${n}`;
    return {
      kind: 'HuntingQuery',
      variables: {
        [`huntingQueryObject${n}`]: {
          [`huntingQueryVersion${n}`]: hunt.version,
          [`_huntingQuerycontentId${n}`]: hunt.id,
          [`huntingQueryTemplateSpecName${n}`]: templateSpecName('HuntingQuery', `'${hunt.id}'`),
        },
      },
      templateSpecName: `${object}.huntingQueryTemplateSpecName${n}`,
      contentId,
      version: `${object}.huntingQueryVersion${n}`,
      // The packager keeps no variable for a hunting query's product id.
      productId: productIdExpression('HuntingQuery', contentId, `'${hunt.version}'`),
      parentId: `resourceId('Microsoft.OperationalInsights/savedSearches', ${contentId})`,
      metadataDescription: `${context.name} Hunting Query ${n}`,
      description: `${hunt.name.replace(/[^A-Za-z0-9 _-]/g, '')}_HuntingQueries Hunting Query with template version ${context.version}`,
      displayName: armLiteral(hunt.name),
      resource: huntingQuerySavedSearch(hunt, `${context.name}_Hunting_Query_${n}`),
    };
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
