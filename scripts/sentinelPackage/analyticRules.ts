import { armLiteral, optionalRuleSettings, parentTechniques, scheduleSettings } from '../sentinelArm';
import type { AnalyticRule, SentinelContent } from '../sentinelContent';
import {
  contentProductId,
  contentTemplate,
  metadataResource,
  type PackageContext,
  type TemplateParts,
  ALERT_RULE_TEMPLATES_API_VERSION,
  type Json,
} from './templateParts';

/** Per analytic rule: a contentTemplates resource carrying its AlertRuleTemplate and metadata. */
export function addAnalyticRules(
  content: SentinelContent,
  context: PackageContext,
  template: TemplateParts,
): void {
  const solution = content.solution.content;
  const { variables, resources, dependencies } = template;
  content.analyticRules.forEach(({ content: rule }, index) => {
    const n = index + 1;
    const object = `variables('analyticRuleObject${n}')`;
    variables[`analyticRuleObject${n}`] = {
      [`analyticRuleVersion${n}`]: rule.version,
      [`_analyticRulecontentId${n}`]: rule.id,
      [`analyticRuleId${n}`]: `[resourceId('Microsoft.SecurityInsights/AlertRuleTemplates', '${rule.id}')]`,
      [`analyticRuleTemplateSpecName${n}`]: `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',concat(parameters('workspace'),'-ar-',uniquestring('${rule.id}')))]`,
      [`_analyticRulecontentProductId${n}`]: contentProductId(
        'ar',
        'AnalyticsRule',
        `'${rule.id}'`,
        `'${rule.version}'`,
      ),
    };
    resources.push(
      contentTemplate(context, {
        name: `[${object}.analyticRuleTemplateSpecName${n}]`,
        description: `${solution.Name} Analytics Rule ${n} with template version ${solution.Version}`,
        contentVersion: `[${object}.analyticRuleVersion${n}]`,
        resources: [
          {
            type: 'Microsoft.SecurityInsights/AlertRuleTemplates',
            name: `[${object}._analyticRulecontentId${n}]`,
            apiVersion: ALERT_RULE_TEMPLATES_API_VERSION,
            kind: rule.kind,
            location: "[parameters('workspace-location')]",
            properties: alertRuleTemplateProperties(rule),
          },
          metadataResource(
            context,
            `[concat(parameters('workspace'),'/Microsoft.SecurityInsights/',concat('AnalyticsRule-', last(split(${object}.analyticRuleId${n},'/'))))]`,
            {
              description: `${solution.Name} Analytics Rule ${n}`,
              parentId: `[${object}.analyticRuleId${n}]`,
              contentId: `[${object}._analyticRulecontentId${n}]`,
              kind: 'AnalyticsRule',
              version: `[${object}.analyticRuleVersion${n}]`,
            },
          ),
        ],
        contentId: `[${object}._analyticRulecontentId${n}]`,
        contentKind: 'AnalyticsRule',
        displayName: rule.name,
        productId: `[${object}._analyticRulecontentProductId${n}]`,
      }),
    );
    dependencies.push({
      kind: 'AnalyticsRule',
      contentId: `[${object}._analyticRulecontentId${n}]`,
      version: `[${object}.analyticRuleVersion${n}]`,
    });
  });
}

function alertRuleTemplateProperties(rule: AnalyticRule): Json {
  return {
    description: armLiteral(rule.description),
    displayName: armLiteral(rule.name),
    enabled: false,
    query: armLiteral(rule.query.trim()),
    severity: rule.severity,
    ...scheduleSettings(rule),
    suppressionDuration: rule.suppressionDuration,
    suppressionEnabled: rule.suppressionEnabled,
    status: rule.status,
    requiredDataConnectors: rule.requiredDataConnectors,
    tactics: rule.tactics,
    techniques: parentTechniques(rule.relevantTechniques),
    ...optionalRuleSettings(rule),
  };
}
