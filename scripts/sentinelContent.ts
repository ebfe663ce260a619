import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * The Microsoft Sentinel content shipped with the exporter (analytic rules,
 * hunting queries, workbook) is written by hand in Sentinel's own formats
 * under sentinel/. This module reads and validates those sources and derives
 * the ARM template from them, so the YAML/JSON files stay the single source
 * of truth: `npm run sentinel:build` writes the template, and a test fails
 * when the committed template differs from what the sources produce.
 *
 * The rule schema follows the Azure-Sentinel content repository's own
 * validation (.script/tests/detectionTemplateSchemaValidation): required
 * fields, `<number><m|h|d>` durations from 5 minutes to 14 days, a look-back of
 * two days or more only with a frequency of at least an hour, entity mapping
 * identifiers per entity type, custom detail key/value shapes.
 */

export const SENTINEL_DIR = 'sentinel';
export const ANALYTIC_RULES_DIR = join(SENTINEL_DIR, 'analytic-rules');
export const HUNTING_QUERIES_DIR = join(SENTINEL_DIR, 'hunting-queries');
export const WORKBOOKS_DIR = join(SENTINEL_DIR, 'workbooks');
export const ARM_TEMPLATE_PATH = join(SENTINEL_DIR, 'azuredeploy.sentinel.json');

/** MITRE ATT&CK tactics as Sentinel names them (AttackTactic enum of the content repository). */
export const ATTACK_TACTICS = [
  'Reconnaissance',
  'ResourceDevelopment',
  'InitialAccess',
  'Execution',
  'Persistence',
  'PrivilegeEscalation',
  'DefenseEvasion',
  'CredentialAccess',
  'Discovery',
  'LateralMovement',
  'Collection',
  'Exfiltration',
  'CommandAndControl',
  'Impact',
  'ImpairProcessControl',
  'InhibitResponseFunction',
] as const;
export type AttackTactic = (typeof ATTACK_TACTICS)[number];

/**
 * Tactics of each ATT&CK (enterprise) technique our content cites. A rule
 * must list every tactic of each technique it names, as Sentinel's validation
 * requires; a technique missing here must be added from the ATT&CK matrix.
 */
export const TECHNIQUE_TACTICS: Readonly<Record<string, readonly AttackTactic[]>> = {
  T1098: ['Persistence', 'PrivilegeEscalation'], // Account Manipulation
  T1485: ['Impact'], // Data Destruction
  T1489: ['Impact'], // Service Stop
  T1531: ['Impact'], // Account Access Removal
  T1553: ['DefenseEvasion'], // Subvert Trust Controls
  T1562: ['DefenseEvasion'], // Impair Defenses
  T1587: ['ResourceDevelopment'], // Develop Capabilities
  T1588: ['ResourceDevelopment'], // Obtain Capabilities
  T1649: ['CredentialAccess'], // Steal or Forge Authentication Certificates
};

/** Valid and required field-mapping identifiers per entity type (EntityMappingIdentifiers of the content repository). */
const ENTITY_IDENTIFIERS: Readonly<
  Record<string, { valid: readonly string[]; requiredAnyOf: readonly string[][] }>
> = {
  Account: {
    valid: [
      'Name',
      'FullName',
      'NTDomain',
      'DnsDomain',
      'UPNSuffix',
      'Sid',
      'AadTenantId',
      'AadUserId',
      'PUID',
      'IsDomainJoined',
      'DisplayName',
      'ObjectGuid',
    ],
    requiredAnyOf: [['FullName'], ['Sid'], ['Name'], ['AadUserId'], ['PUID'], ['ObjectGuid']],
  },
  Host: {
    valid: [
      'DnsDomain',
      'NTDomain',
      'HostName',
      'FullName',
      'NetBiosName',
      'AzureID',
      'OMSAgentID',
      'OSFamily',
      'OSVersion',
      'IsDomainJoined',
    ],
    requiredAnyOf: [['FullName'], ['HostName'], ['NetBiosName'], ['AzureID'], ['OMSAgentID']],
  },
  IP: { valid: ['Address'], requiredAnyOf: [['Address']] },
  CloudApplication: { valid: ['AppId', 'Name', 'InstanceName'], requiredAnyOf: [['AppId'], ['Name']] },
  AzureResource: { valid: ['ResourceId'], requiredAnyOf: [['ResourceId']] },
  URL: { valid: ['Url'], requiredAnyOf: [['Url']] },
};

const SEVERITIES = ['Informational', 'Low', 'Medium', 'High'] as const;
const TRIGGER_OPERATORS = { gt: 'GreaterThan', lt: 'LessThan', eq: 'Equal', ne: 'NotEqual' } as const;

/** Sentinel YAML notation for queryFrequency/queryPeriod: a whole number of minutes, hours or days. */
const SENTINEL_DURATION = /^(\d+)([mhd])$/;
const MINUTES_PER_UNIT = { m: 1, h: 60, d: 24 * 60 } as const;

export function sentinelDurationMinutes(duration: string): number {
  const match = SENTINEL_DURATION.exec(duration);
  if (match === null) {
    throw new Error(`"${duration}" is not a Sentinel duration like 5m, 1h or 14d`);
  }
  return Number(match[1]) * MINUTES_PER_UNIT[match[2] as keyof typeof MINUTES_PER_UNIT];
}

/** `1h` -> `PT1H`, `14d` -> `P14D`: the ISO 8601 form the alertRules API takes. */
export function sentinelDurationToIso(duration: string): string {
  const match = SENTINEL_DURATION.exec(duration);
  if (match === null) {
    throw new Error(`"${duration}" is not a Sentinel duration like 5m, 1h or 14d`);
  }
  const [, amount, unit] = match;
  return unit === 'd' ? `P${amount}D` : `PT${amount}${unit === 'h' ? 'H' : 'M'}`;
}

/** ISO 8601 duration in minutes, for the day/hour/minute forms ARM accepts here (no years or months). */
export function isoDurationMinutes(duration: string): number {
  const match = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(duration);
  if (match === null || duration === 'P' || duration.endsWith('T')) {
    throw new Error(`"${duration}" is not an ISO 8601 duration like PT5H or P7D`);
  }
  const [, days, hours, minutes, seconds] = match;
  return (
    Number(days ?? 0) * 1440 + Number(hours ?? 0) * 60 + Number(minutes ?? 0) + Number(seconds ?? 0) / 60
  );
}

function isoDurationMinutesOrUndefined(duration: string): number | undefined {
  try {
    return isoDurationMinutes(duration);
  } catch {
    return undefined;
  }
}

const isoDuration = z
  .string()
  .refine(
    (value) => (isoDurationMinutesOrUndefined(value) ?? 0) > 0,
    'expected an ISO 8601 duration such as PT5H or P7D',
  );

const sentinelDuration = z
  .string()
  .regex(SENTINEL_DURATION, 'expected a Sentinel duration such as 5m, 1h or 14d')
  .refine((value) => {
    // Zod runs this check even after the regex failed; a malformed value is reported once, by the regex.
    if (!SENTINEL_DURATION.test(value)) {
      return true;
    }
    const minutes = sentinelDurationMinutes(value);
    return minutes >= 5 && minutes <= 14 * 1440;
  }, 'must be between 5m and 14d');

const techniqueId = z
  .string()
  .regex(/^T\d{4}(\.\d{3})?$/, 'expected a technique id such as T1649 or T1562.008');
const columnName = z
  .string()
  .regex(/^[a-zA-Z_]+\w*$/, 'a column name: a letter or _ then letters, digits, _');

const entityMapping = z
  .strictObject({
    entityType: z.enum(Object.keys(ENTITY_IDENTIFIERS) as [string, ...string[]]),
    fieldMappings: z
      .array(z.strictObject({ identifier: z.string(), columnName }))
      .min(1)
      .max(3),
  })
  .superRefine((mapping, context) => {
    const rules = ENTITY_IDENTIFIERS[mapping.entityType];
    if (rules === undefined) {
      return;
    }
    const used = mapping.fieldMappings.map((field) => field.identifier);
    for (const identifier of used) {
      if (!rules.valid.includes(identifier)) {
        context.addIssue({
          code: 'custom',
          message: `identifier ${identifier} is not valid for ${mapping.entityType}; valid: ${rules.valid.join(', ')}`,
        });
      }
    }
    if (new Set(used).size !== used.length) {
      context.addIssue({ code: 'custom', message: `${mapping.entityType} maps an identifier twice` });
    }
    if (
      !rules.requiredAnyOf.some((combination) => combination.every((identifier) => used.includes(identifier)))
    ) {
      context.addIssue({
        code: 'custom',
        message: `${mapping.entityType} needs one of: ${rules.requiredAnyOf.map((set) => set.join('+')).join(', ')}`,
      });
    }
  });

const requiredDataConnectors = z
  .array(z.strictObject({ connectorId: z.string().min(1), dataTypes: z.array(z.string().min(1)).min(1) }))
  .min(1);

const placeholderFormat = z
  .string()
  .refine((value) => (value.match(/\{\{[^}]+\}\}/g) ?? []).length <= 3, 'at most 3 {{column}} placeholders');

const commonFields = {
  id: z.uuid(),
  name: z.string().min(1).max(256),
  description: z.string().min(1).max(5000),
  requiredDataConnectors,
  tactics: z.array(z.enum(ATTACK_TACTICS)).min(1),
  relevantTechniques: z.array(techniqueId).min(1),
  query: z.string().min(1).max(10_000),
  entityMappings: z.array(entityMapping).min(1).max(5).optional(),
  version: z.string().regex(/^\d+\.\d+\.\d+$/, 'expected a version such as 1.0.0'),
};

const ruleFields = {
  ...commonFields,
  severity: z.enum(SEVERITIES),
  customDetails: z
    .record(
      z
        .string()
        .regex(/^[a-zA-Z]+\w*$/, 'custom detail keys start with a letter')
        .max(20),
      columnName.max(500),
    )
    .refine((details) => Object.keys(details).length <= 20, 'at most 20 custom details')
    .optional(),
  alertDetailsOverride: z
    .strictObject({
      alertDisplayNameFormat: placeholderFormat.optional(),
      alertDescriptionFormat: placeholderFormat.optional(),
    })
    .optional(),
  eventGroupingSettings: z
    .strictObject({ aggregationKind: z.enum(['SingleAlert', 'AlertPerResult']) })
    .optional(),
  incidentConfiguration: z
    .strictObject({
      createIncident: z.boolean(),
      groupingConfiguration: z.strictObject({
        enabled: z.boolean(),
        reopenClosedIncident: z.boolean(),
        lookbackDuration: isoDuration.refine((value) => {
          const minutes = isoDurationMinutesOrUndefined(value);
          return minutes === undefined || (minutes >= 5 && minutes <= 7 * 1440);
        }, 'grouping look-back must be between PT5M and P7D'),
        matchingMethod: z.enum(['AllEntities', 'AnyAlert', 'Selected']),
        groupByEntities: z.array(z.string()),
        groupByAlertDetails: z.array(z.enum(['DisplayName', 'Severity'])),
        groupByCustomDetails: z.array(z.string()),
      }),
    })
    .optional(),
  suppressionEnabled: z.boolean(),
  suppressionDuration: isoDuration,
};

const scheduledRule = z.strictObject({
  ...ruleFields,
  kind: z.literal('Scheduled'),
  queryFrequency: sentinelDuration,
  queryPeriod: sentinelDuration,
  triggerOperator: z.enum(Object.keys(TRIGGER_OPERATORS) as [keyof typeof TRIGGER_OPERATORS]),
  triggerThreshold: z.int().min(0).max(10_000),
});

/** NRT rules run every minute over newly ingested rows: no frequency, period or trigger. */
const nrtRule = z.strictObject({ ...ruleFields, kind: z.literal('NRT') });

const analyticRuleSchema = z
  .discriminatedUnion('kind', [scheduledRule, nrtRule])
  .superRefine((rule, context) => {
    checkTechniqueTactics(rule, context);
    if (
      rule.kind === 'Scheduled' &&
      SENTINEL_DURATION.test(rule.queryFrequency) &&
      SENTINEL_DURATION.test(rule.queryPeriod)
    ) {
      const frequency = sentinelDurationMinutes(rule.queryFrequency);
      const period = sentinelDurationMinutes(rule.queryPeriod);
      if (period < frequency) {
        context.addIssue({ code: 'custom', message: 'queryPeriod must be at least queryFrequency' });
      }
      if (period >= 2 * 1440 && frequency < 60) {
        context.addIssue({
          code: 'custom',
          message: 'with a queryPeriod of 2 days or more, queryFrequency must be at least 1 hour',
        });
      }
    }
    const grouping = rule.incidentConfiguration?.groupingConfiguration;
    if (grouping?.matchingMethod === 'Selected') {
      const mappedEntities = new Set((rule.entityMappings ?? []).map((mapping) => mapping.entityType));
      const customDetailKeys = new Set(Object.keys(rule.customDetails ?? {}));
      if (
        grouping.groupByEntities.length +
          grouping.groupByAlertDetails.length +
          grouping.groupByCustomDetails.length ===
        0
      ) {
        context.addIssue({ code: 'custom', message: 'Selected grouping needs at least one group-by field' });
      }
      for (const entity of grouping.groupByEntities.filter((entity) => !mappedEntities.has(entity))) {
        context.addIssue({
          code: 'custom',
          message: `groups by entity ${entity}, which the rule does not map`,
        });
      }
      for (const key of grouping.groupByCustomDetails.filter((key) => !customDetailKeys.has(key))) {
        context.addIssue({
          code: 'custom',
          message: `groups by custom detail ${key}, which the rule does not define`,
        });
      }
    }
  });

const huntingQuerySchema = z.strictObject(commonFields).superRefine(checkTechniqueTactics);

function checkTechniqueTactics(
  content: { tactics: readonly AttackTactic[]; relevantTechniques: readonly string[] },
  context: z.RefinementCtx,
): void {
  for (const technique of content.relevantTechniques) {
    const parent = technique.split('.')[0] ?? technique;
    const tactics = TECHNIQUE_TACTICS[parent];
    if (tactics === undefined) {
      context.addIssue({
        code: 'custom',
        message: `technique ${technique} is not in TECHNIQUE_TACTICS; add its tactics from the ATT&CK matrix`,
      });
      continue;
    }
    for (const tactic of tactics.filter((tactic) => !content.tactics.includes(tactic))) {
      context.addIssue({
        code: 'custom',
        message: `technique ${technique} belongs to tactic ${tactic}, not listed`,
      });
    }
  }
}

export type AnalyticRule = z.infer<typeof analyticRuleSchema>;
export type HuntingQuery = z.infer<typeof huntingQuerySchema>;

/** A workbook item: only the fields we read are typed; the rest passes through untouched. */
export interface WorkbookItem {
  readonly type: number;
  readonly name?: string;
  readonly content?: { readonly query?: string; readonly items?: readonly WorkbookItem[] };
}
export interface Workbook {
  readonly version: string;
  readonly items: readonly WorkbookItem[];
}

const workbookItem: z.ZodType<WorkbookItem> = z.lazy(() =>
  z.looseObject({
    type: z.number(),
    name: z.string().optional(),
    content: z
      .looseObject({ query: z.string().optional(), items: z.array(workbookItem).optional() })
      .optional(),
  }),
);
const workbookSchema = z.looseObject({
  version: z.literal('Notebook/1.0'),
  items: z.array(workbookItem).min(1),
});

export interface Sourced<T> {
  /** Path relative to the repository root, with forward slashes. */
  readonly file: string;
  readonly content: T;
}

export interface SentinelContent {
  readonly analyticRules: ReadonlyArray<Sourced<AnalyticRule>>;
  readonly huntingQueries: ReadonlyArray<Sourced<HuntingQuery>>;
  readonly workbooks: ReadonlyArray<Sourced<Workbook>>;
}

export class SentinelContentError extends Error {
  override readonly name = 'SentinelContentError';
}

/** Parses one analytic rule's YAML; throws naming the file and every invalid field. */
export function parseAnalyticRule(file: string, text: string): AnalyticRule {
  return validate(file, analyticRuleSchema, parseYaml(text));
}

export function parseHuntingQuery(file: string, text: string): HuntingQuery {
  return validate(file, huntingQuerySchema, parseYaml(text));
}

export function parseWorkbook(file: string, text: string): Workbook {
  return validate(file, workbookSchema, JSON.parse(text));
}

function validate<T>(file: string, schema: z.ZodType<T>, data: unknown): T {
  const result = schema.safeParse(data);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new SentinelContentError(`${file} is not valid Sentinel content:\n${problems.join('\n')}`);
  }
  return result.data;
}

export function loadSentinelContent(root: string = process.cwd()): SentinelContent {
  const load = <T>(
    directory: string,
    extension: string,
    parse: (file: string, text: string) => T,
  ): Array<Sourced<T>> =>
    readdirSync(join(root, directory))
      .filter((name) => name.endsWith(extension))
      .sort()
      .map((name) => {
        const file = relative(root, join(root, directory, name))
          .split('\\')
          .join('/');
        return { file, content: parse(file, readFileSync(join(root, file), 'utf8')) };
      });
  const content = {
    analyticRules: load(ANALYTIC_RULES_DIR, '.yaml', parseAnalyticRule),
    huntingQueries: load(HUNTING_QUERIES_DIR, '.yaml', parseHuntingQuery),
    workbooks: load(WORKBOOKS_DIR, '.json', parseWorkbook),
  };
  const ids = [...content.analyticRules, ...content.huntingQueries].map((item) =>
    item.content.id.toLowerCase(),
  );
  const duplicates = ids.filter((id, index) => ids.indexOf(id) !== index);
  if (duplicates.length > 0) {
    throw new SentinelContentError(`Sentinel content ids must be unique; repeated: ${duplicates.join(', ')}`);
  }
  return content;
}

/** Every KQL query in a workbook, with the name of the item that holds it (groups are searched too). */
export function workbookQueries(workbook: Workbook): Array<{ item: string; query: string }> {
  const found: Array<{ item: string; query: string }> = [];
  const visit = (items: readonly WorkbookItem[]): void => {
    for (const item of items) {
      if (item.content?.query !== undefined) {
        found.push({ item: item.name ?? `type ${item.type} item`, query: item.content.query });
      }
      if (item.content?.items !== undefined) {
        visit(item.content.items);
      }
    }
  };
  visit(workbook.items);
  return found;
}

// ---------------------------------------------------------------------------
// ARM template

/** NRT rules exist only in preview api-versions of Microsoft.SecurityInsights; this one takes both kinds. */
export const ALERT_RULES_API_VERSION = '2023-02-01-preview';
export const SAVED_SEARCHES_API_VERSION = '2020-08-01';
export const WORKBOOKS_API_VERSION = '2022-04-01';

const WORKSPACE_SCOPE =
  "[format('Microsoft.OperationalInsights/workspaces/{0}', parameters('workspaceName'))]";
const WORKSPACE_RESOURCE_ID =
  "[resourceId('Microsoft.OperationalInsights/workspaces', parameters('workspaceName'))]";

export const WORKBOOK_DISPLAY_NAMES: Readonly<Record<string, string>> = {
  'sentinel/workbooks/EZCA_PkiActivity.json': 'EZCA cloud PKI activity',
};

export type ArmTemplate = {
  $schema: string;
  contentVersion: string;
  metadata: Record<string, unknown>;
  parameters: Record<string, Record<string, unknown>>;
  resources: Array<Record<string, unknown>>;
};

/**
 * A string ARM would otherwise evaluate as a template expression (it starts
 * with `[`) is escaped by doubling the bracket.
 */
export function armLiteral(value: string): string {
  return value.startsWith('[') ? `[${value}` : value;
}

function parentTechniques(techniques: readonly string[]): string[] {
  return [...new Set(techniques.map((technique) => technique.split('.')[0] ?? technique))];
}

function generatedFrom(file: string): string {
  return `Generated from ${file} by npm run sentinel:build; edit the source, not this template.`;
}

function alertRuleResource({ file, content: rule }: Sourced<AnalyticRule>): Record<string, unknown> {
  const schedule =
    rule.kind === 'Scheduled'
      ? {
          queryFrequency: sentinelDurationToIso(rule.queryFrequency),
          queryPeriod: sentinelDurationToIso(rule.queryPeriod),
          triggerOperator: TRIGGER_OPERATORS[rule.triggerOperator],
          triggerThreshold: rule.triggerThreshold,
        }
      : {};
  return {
    type: 'Microsoft.SecurityInsights/alertRules',
    apiVersion: ALERT_RULES_API_VERSION,
    name: rule.id,
    scope: WORKSPACE_SCOPE,
    kind: rule.kind,
    comments: generatedFrom(file),
    properties: {
      displayName: armLiteral(rule.name),
      description: armLiteral(rule.description.trim()),
      severity: rule.severity,
      enabled: true,
      query: armLiteral(rule.query.trim()),
      ...schedule,
      suppressionEnabled: rule.suppressionEnabled,
      suppressionDuration: rule.suppressionDuration,
      tactics: rule.tactics,
      // The preview api-version takes technique ids only; sub-techniques stay in the YAML.
      techniques: parentTechniques(rule.relevantTechniques),
      ...(rule.entityMappings === undefined ? {} : { entityMappings: rule.entityMappings }),
      ...(rule.customDetails === undefined ? {} : { customDetails: rule.customDetails }),
      ...(rule.alertDetailsOverride === undefined ? {} : { alertDetailsOverride: rule.alertDetailsOverride }),
      ...(rule.eventGroupingSettings === undefined
        ? {}
        : { eventGroupingSettings: rule.eventGroupingSettings }),
      ...(rule.incidentConfiguration === undefined
        ? {}
        : { incidentConfiguration: rule.incidentConfiguration }),
    },
  };
}

function savedSearchResource({ file, content: hunt }: Sourced<HuntingQuery>): Record<string, unknown> {
  return {
    type: 'Microsoft.OperationalInsights/workspaces/savedSearches',
    apiVersion: SAVED_SEARCHES_API_VERSION,
    name: `[concat(parameters('workspaceName'), '/${hunt.id}')]`,
    comments: generatedFrom(file),
    properties: {
      category: 'Hunting Queries',
      displayName: armLiteral(hunt.name),
      query: armLiteral(hunt.query.trim()),
      version: 2,
      // Sentinel's Hunting blade reads description, tactics and techniques from these tags.
      tags: [
        { name: 'description', value: armLiteral(hunt.description.trim()) },
        { name: 'tactics', value: hunt.tactics.join(',') },
        { name: 'techniques', value: parentTechniques(hunt.relevantTechniques).join(',') },
      ],
    },
  };
}

function workbookResource({ file, content: workbook }: Sourced<Workbook>): Record<string, unknown> {
  const displayName = WORKBOOK_DISPLAY_NAMES[file];
  if (displayName === undefined) {
    throw new SentinelContentError(`${file} has no display name in WORKBOOK_DISPLAY_NAMES`);
  }
  const stem = file.slice(file.lastIndexOf('/') + 1).replace(/\.json$/, '');
  return {
    type: 'Microsoft.Insights/workbooks',
    apiVersion: WORKBOOKS_API_VERSION,
    // Workbook names must be GUIDs; deriving it from the workspace makes redeployment update in place.
    name: `[guid(resourceGroup().id, parameters('workspaceName'), '${stem}')]`,
    location: "[parameters('location')]",
    kind: 'shared',
    comments: generatedFrom(file),
    properties: {
      displayName: armLiteral(displayName),
      serializedData: armLiteral(JSON.stringify(workbook)),
      version: '1.0',
      sourceId: WORKSPACE_RESOURCE_ID,
      category: 'sentinel',
    },
  };
}

export function buildArmTemplate(content: SentinelContent): ArmTemplate {
  return {
    $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
    contentVersion: '1.0.0.0',
    metadata: {
      description:
        'EZCA cloud PKI content for Microsoft Sentinel: analytic rules, hunting queries and a workbook over EZCA_CAs_CL and EZCA_Certificates_CL. Generated by npm run sentinel:build from sentinel/; see docs/sentinel.md.',
    },
    parameters: {
      workspaceName: {
        type: 'string',
        metadata: {
          description:
            'Name of the Log Analytics workspace that has Microsoft Sentinel enabled and receives the EZCA tables.',
        },
      },
      location: {
        type: 'string',
        defaultValue: '[resourceGroup().location]',
        metadata: { description: 'Region of the workbook resource; defaults to the resource group region.' },
      },
    },
    resources: [
      ...content.analyticRules.map(alertRuleResource),
      ...content.huntingQueries.map(savedSearchResource),
      ...content.workbooks.map(workbookResource),
    ],
  };
}
