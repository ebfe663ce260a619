import { armLiteral, optionalRuleSettings, parentTechniques, scheduleSettings } from '../sentinelArm';
import type { AnalyticRule, SentinelContent } from '../sentinelContent';
import {
  addContentTemplates,
  contentProductId,
  templateSpecName,
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
  addContentTemplates(context, template, content.analyticRules, (rule, n) => {
    const object = `variables('analyticRuleObject${n}')`;
    return {
      kind: 'AnalyticsRule',
      variables: {
        [`analyticRuleObject${n}`]: {
          [`analyticRuleVersion${n}`]: rule.version,
          [`_analyticRulecontentId${n}`]: rule.id,
          [`analyticRuleId${n}`]: `[resourceId('Microsoft.SecurityInsights/AlertRuleTemplates', '${rule.id}')]`,
          [`analyticRuleTemplateSpecName${n}`]: templateSpecName('AnalyticsRule', `'${rule.id}'`),
          [`_analyticRulecontentProductId${n}`]: contentProductId(
            'AnalyticsRule',
            `'${rule.id}'`,
            `'${rule.version}'`,
          ),
        },
      },
      templateSpecName: `${object}.analyticRuleTemplateSpecName${n}`,
      contentId: `${object}._analyticRulecontentId${n}`,
      version: `${object}.analyticRuleVersion${n}`,
      productId: `${object}._analyticRulecontentProductId${n}`,
      parentId: `${object}.analyticRuleId${n}`,
      metadataDescription: `${context.name} Analytics Rule ${n}`,
      description: `${context.name} Analytics Rule ${n} with template version ${context.version}`,
      displayName: armLiteral(rule.name),
      resource: {
        type: 'Microsoft.SecurityInsights/AlertRuleTemplates',
        name: `[${object}._analyticRulecontentId${n}]`,
        apiVersion: ALERT_RULE_TEMPLATES_API_VERSION,
        kind: rule.kind,
        location: "[parameters('workspace-location')]",
        properties: alertRuleTemplateProperties(rule),
      },
    };
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
