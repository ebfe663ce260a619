import { z } from 'zod';

/**
 * Schemas of the analytic rules, hunting queries and workbooks, following the
 * Azure-Sentinel content repository's own validation
 * (.script/tests/detectionTemplateSchemaValidation) and conventions
 * (.github/instructions): required fields, `<number><m|h|d>` durations from 5
 * minutes to 14 days, a look-back of two days or more only with a frequency of
 * at least an hour, entity mapping identifiers per entity type, custom detail
 * key/value shapes, techniques their KillChainTechniquesHelper maps to the
 * rule's tactics, and the window that lets a high-severity rule see late events.
 */

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
 * Tactics of each ATT&CK technique our content may cite, exactly as
 * Azure-Sentinel's KillChainTechniquesHelper
 * (.script/tests/detectionTemplateSchemaValidation/Models/ModelValidationAttributes)
 * maps them: their NoTechniquesWithoutMatchingTactics check requires every
 * mapped tactic in the rule's tactics, and rejects a technique it does not map
 * at all. T1649 (Steal or Forge Authentication Certificates) is such a
 * technique: their helper does not know it, so citing it fails their
 * validation; do not add it here until their helper does.
 */
export const TECHNIQUE_TACTICS: Readonly<Record<string, readonly AttackTactic[]>> = {
  T1078: ['InitialAccess', 'Persistence', 'PrivilegeEscalation', 'DefenseEvasion'], // Valid Accounts
  T1098: ['Persistence'], // Account Manipulation
  T1485: ['Impact'], // Data Destruction
  T1489: ['Impact'], // Service Stop
  T1531: ['Impact'], // Account Access Removal
  T1552: ['CredentialAccess'], // Unsecured Credentials (.004 Private Keys)
  T1553: ['DefenseEvasion'], // Subvert Trust Controls (.004 Install Root Certificate)
  T1562: ['DefenseEvasion'], // Impair Defenses (.008 Disable or Modify Cloud Logs)
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
export const TRIGGER_OPERATORS = { gt: 'GreaterThan', lt: 'LessThan', eq: 'Equal', ne: 'NotEqual' } as const;

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

/**
 * Azure-Sentinel's content conventions (.github/instructions): a description
 * starts with "Identifies", stays under 255 characters and 5 sentences.
 */
export const descriptionSchema = z
  .string()
  .transform((value) => value.trim())
  .pipe(
    z
      .string()
      .startsWith('Identifies', 'starts with "Identifies"')
      .max(254, 'stays under 255 characters')
      .refine((value) => sentenceCount(value) <= 5, 'has at most 5 sentences'),
  );

export function sentenceCount(text: string): number {
  return text.split(/[.!?](?:\s+|$)/).filter((part) => part.trim().length > 0).length;
}

const commonFields = {
  id: z.uuid(),
  // detections.instructions.md: hard limit 100 characters, no closing period.
  name: z
    .string()
    .min(1)
    .max(100)
    .refine((value) => !value.endsWith('.'), 'does not end with a period'),
  description: descriptionSchema,
  requiredDataConnectors,
  tactics: z.array(z.enum(ATTACK_TACTICS)).min(1).max(5),
  relevantTechniques: z.array(techniqueId).min(1).max(10),
  query: z.string().min(1).max(10_000),
  entityMappings: z.array(entityMapping).min(1).max(5).optional(),
  version: z.string().regex(/^\d+\.\d+\.\d+$/, 'expected a version such as 1.0.0'),
};

const ruleFields = {
  ...commonFields,
  severity: z.enum(SEVERITIES),
  status: z.literal('Available'),
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

export const analyticRuleSchema = z
  .discriminatedUnion('kind', [scheduledRule, nrtRule])
  .superRefine((rule, context) => {
    checkTechniqueTactics(rule, context);
    if (rule.severity === 'High') {
      for (const message of lateEventWindowProblems(rule)) {
        context.addIssue({ code: 'custom', message });
      }
    }
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

export /** huntingqueries.instructions.md: the same opening and length, 1 to 3 sentences. */
const huntingDescriptionSchema = descriptionSchema.refine(
  (value) => sentenceCount(value) <= 3,
  'a hunting query description has at most 3 sentences',
);

export const huntingQuerySchema = z
  .strictObject({ ...commonFields, description: huntingDescriptionSchema })
  .superRefine(checkTechniqueTactics);

/**
 * Log Analytics replaces a TimeGenerated more than 2 days older than the
 * arrival with the ingestion time (see TimeGenerated in src/domain/tableSchema.ts),
 * so a row ingested at I has TimeGenerated >= I - 2 days, however late it arrived.
 */
export const MAX_TIME_GENERATED_LAG_MINUTES = 2 * 1440;

/** The value of `let name = value;` in a query, if it declares one. */
export function letValue(query: string, name: string): string | undefined {
  return new RegExp(`let\\s+${name}\\s*=\\s*([^;]+);`).exec(query)?.[1]?.trim();
}

/**
 * A high-severity rule must report every event exactly once however late it
 * arrives: scheduled (NRT only sees rows less than 12 hours late), keeping the
 * earliest ingested copy of each EventRecordId_g and reporting it in the run
 * whose frequency window holds that ingestion time, over a period long enough
 * to still see the row's TimeGenerated. Returns what breaks that, if anything.
 */
export function lateEventWindowProblems(rule: {
  kind: string;
  query: string;
  queryFrequency?: string;
  queryPeriod?: string;
}): string[] {
  if (rule.kind !== 'Scheduled' || rule.queryFrequency === undefined || rule.queryPeriod === undefined) {
    return [
      'a High rule must be Scheduled over ingestion_time(): NRT misses events ingested more than 12 hours late',
    ];
  }
  const problems: string[] = [];
  const runFrequency = letValue(rule.query, 'runFrequency');
  const lookback = letValue(rule.query, 'lookback');
  if (runFrequency !== rule.queryFrequency) {
    problems.push(
      `let runFrequency = ${rule.queryFrequency}; must match queryFrequency (found ${runFrequency})`,
    );
  }
  if (lookback !== rule.queryPeriod) {
    problems.push(`let lookback = ${rule.queryPeriod}; must match queryPeriod (found ${lookback})`);
  }
  const normalized = rule.query.replace(/\s+/g, ' ');
  for (const [needle, why] of [
    ['| where TimeGenerated > ago(lookback)', 'bounds the rows by the look-back'],
    ['| extend IngestedAt = ingestion_time()', "takes each row's ingestion time"],
    ['| summarize arg_min(IngestedAt, *) by EventRecordId_g', 'keeps the first ingested copy of each event'],
    ['| where IngestedAt > ago(runFrequency)', 'reports an event in the run after its first copy arrived'],
  ] as const) {
    if (!normalized.includes(needle)) {
      problems.push(`the query must contain "${needle}" (${why})`);
    }
  }
  if (
    SENTINEL_DURATION.test(rule.queryFrequency) &&
    SENTINEL_DURATION.test(rule.queryPeriod) &&
    sentinelDurationMinutes(rule.queryPeriod) <
      MAX_TIME_GENERATED_LAG_MINUTES + sentinelDurationMinutes(rule.queryFrequency)
  ) {
    problems.push(
      'queryPeriod must be at least 2 days plus queryFrequency, or an event ingested late is outside the window of the run that should report it',
    );
  }
  return problems;
}

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
        message: `technique ${technique}: Azure-Sentinel's KillChainTechniquesHelper maps no tactic to it, so their validation rejects it`,
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
export const workbookSchema = z.looseObject({
  version: z.literal('Notebook/1.0'),
  items: z.array(workbookItem).min(1),
});
