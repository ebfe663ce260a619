import { z } from 'zod';

/**
 * Schemas of the solution's own files, as Azure-Sentinel's packaging tool
 * (Tools/Create-Azure-Sentinel-Solution/V3/README.md) and its solution
 * validators (.script/SolutionValidations/*.ts) read them: the data
 * connector definition, Data/Solution_<Name>.json, SolutionMetadata.json and
 * the WorkbooksMetadata.json entry.
 */

/** .script/SolutionValidations/ValidDomainsVerticals.json of the Azure-Sentinel repository. */
export const VALID_DOMAINS = [
  'Application',
  'Cloud Provider',
  'Compliance',
  'DevOps',
  'Identity',
  'Internet of Things (IoT)',
  'IT Operations',
  'Migration',
  'Networking',
  'Platform',
  'Security - Others',
  'Security - Threat Intelligence',
  'Security - Threat Protection',
  'Security - 0-day Vulnerability',
  'Security - Automation (SOAR)',
  'Security - Cloud Security',
  'Security - Information Protection',
  'Security - Insider Threat',
  'Security - Network',
  'Security - Vulnerability Management',
  'Storage',
  'Training and Tutorials',
  'User Behavior (UEBA)',
] as const;
export const VALID_VERTICALS = [
  'Aeronautics',
  'Education',
  'Finance',
  'Healthcare',
  'Manufacturing',
  'Retail',
] as const;

const query = z.string().min(1);

/** A static (GenericUI) data connector's connectorUiConfig, as Solutions/<Name>/Data Connectors/*.json hold it. */
export const dataConnectorSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'a connector id: letters, digits, _'),
  title: z.string().min(1),
  publisher: z.string().min(1),
  descriptionMarkdown: z.string().min(1),
  graphQueries: z
    .array(z.strictObject({ metricName: z.string(), legend: z.string(), baseQuery: query }))
    .min(1),
  sampleQueries: z.array(z.strictObject({ description: z.string().min(1), query })).min(1),
  dataTypes: z
    .array(z.strictObject({ name: z.string().regex(/_CL$/, 'a custom table'), lastDataReceivedQuery: query }))
    .min(1),
  connectivityCriterias: z
    .array(z.strictObject({ type: z.literal('IsConnectedQuery'), value: z.array(query).min(1) }))
    .min(1),
  availability: z.strictObject({ status: z.literal(1), isPreview: z.boolean() }),
  permissions: z.strictObject({
    resourceProvider: z
      .array(
        z.strictObject({
          provider: z.string(),
          permissionsDisplayText: z.string(),
          providerDisplayName: z.string(),
          scope: z.enum(['Workspace', 'ResourceGroup', 'Subscription']),
          requiredPermissions: z.partialRecord(z.enum(['read', 'write', 'delete', 'action']), z.boolean()),
        }),
      )
      .min(1),
    customs: z.array(z.strictObject({ name: z.string().min(1), description: z.string().min(1) })).optional(),
  }),
  instructionSteps: z
    .array(z.strictObject({ title: z.string().min(1), description: z.string().min(1) }))
    .min(1),
});
export type DataConnector = z.infer<typeof dataConnectorSchema>;

/** Data/Solution_<Name>.json: the packaging tool's input file. */
export const solutionDataSchema = z.strictObject({
  Name: z.string().min(1),
  Author: z.string().min(1),
  Logo: z.string().startsWith('<img '),
  Description: z.string().min(1),
  'Data Connectors': z.array(z.string()).min(1),
  'Analytic Rules': z.array(z.string()),
  'Hunting Queries': z.array(z.string()),
  Workbooks: z.array(z.string()),
  WorkbookDescription: z.array(z.string()),
  BasePath: z.string().min(1),
  Version: z
    .string()
    .regex(/^3\.\d+\.\d+$/, 'a 3.x.x version: the V3 packager makes content packages from 3.0.0 on'),
  Metadata: z.literal('SolutionMetadata.json'),
  TemplateSpec: z.literal(true),
  Is1PConnector: z.boolean(),
});
export type SolutionData = z.infer<typeof solutionDataSchema>;

/** The support object validSupportObject.ts accepts: a name, and a valid email or link. */
export const supportSchema = z
  .strictObject({
    name: z.string().trim().min(1, 'the support object needs a name'),
    email: z
      .string()
      .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'invalid support email')
      .optional(),
    tier: z.enum(['Microsoft', 'Partner', 'Community']),
    link: z
      .string()
      .regex(/^https:\/\/\S+$/, 'an https support link')
      .optional(),
  })
  .refine((support) => support.email !== undefined || support.link !== undefined, {
    message: 'the support object needs an email or a link',
  });

export const categoriesSchema = z.strictObject({
  domains: z.array(z.enum(VALID_DOMAINS)).min(1, 'at least one valid domain'),
  verticals: z.array(z.enum(VALID_VERTICALS)).optional(),
});

/**
 * SolutionMetadata.json, with the rules of their solution-metadata.instructions.md:
 * publisherId lower-case letters and digits, a Partner or Community offerId
 * naming "sentinel" within 50 characters, no publish date in the future, an
 * https support link.
 */
export const solutionMetadataSchema = z.strictObject({
  publisherId: z
    .string()
    .regex(/^[a-z][a-z0-9]{0,49}$/, 'lower-case letters and digits, starting with a letter'),
  offerId: z
    .string()
    .max(50)
    .regex(/^[a-z0-9_-]+$/, 'lower case, no dot: it is the second half of the solution id')
    .refine((value) => value.includes('sentinel'), 'a Partner offer id contains "sentinel"'),
  firstPublishDate: z.iso
    .date()
    .refine((value) => value <= new Date().toISOString().slice(0, 10), 'not a date in the future'),
  lastPublishDate: z.iso.date().optional(),
  providers: z.array(z.string().min(1)).min(1),
  categories: categoriesSchema,
  support: supportSchema,
});
export type SolutionMetadata = z.infer<typeof solutionMetadataSchema>;

/** One entry of Azure-Sentinel's Workbooks/WorkbooksMetadata.json. */
export const workbookMetadataSchema = z.strictObject({
  workbookKey: z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/),
  logoFileName: z.string().min(1),
  description: z.string().min(1),
  dataTypesDependencies: z.array(z.string().min(1)).min(1),
  dataConnectorsDependencies: z.array(z.string().min(1)).min(1),
  previewImagesFileNames: z.array(z.string()),
  version: z.string().regex(/^\d+\.\d+\.\d+$/),
  title: z.string().min(1),
  templateRelativePath: z.string().endsWith('.json'),
  subtitle: z.string(),
  provider: z.string().min(1),
});
export type WorkbookMetadata = z.infer<typeof workbookMetadataSchema>;

/** The solution id their validSolutionID.ts requires: publisherId.offerId, lower case, one dot. */
export function solutionId(metadata: Pick<SolutionMetadata, 'publisherId' | 'offerId'>): string {
  return `${metadata.publisherId}.${metadata.offerId}`;
}

/**
 * What Azure-Sentinel's solution validators (.script/SolutionValidations:
 * validSolutionID.ts, validSupportObject.ts, validDomainsVerticals.ts) would
 * report on a Package/mainTemplate.json, plus the packager's own minimum:
 * top-level metadata resources and one contentPackages resource.
 */
export function packageProblems(mainTemplate: unknown): string[] {
  const problems: string[] = [];
  const template = (typeof mainTemplate === 'object' && mainTemplate !== null ? mainTemplate : {}) as {
    variables?: Record<string, unknown>;
    resources?: Array<{ type?: string; properties?: Record<string, unknown> }>;
  };
  const id = template.variables?.solutionId;
  if (id === undefined) {
    problems.push("Missing 'solutionId' attribute in the file.");
  } else if (typeof id !== 'string' || !/^[^.]+\.[^.]+$/.test(id) || id !== id.toLowerCase()) {
    problems.push(
      `Invalid solution ID format. Expected format: publisherID.offerID. and it must be in lowercase. Found: ${JSON.stringify(id)}`,
    );
  }
  const resources = template.resources ?? [];
  const metadata = resources.filter(
    (resource) => resource.type === 'Microsoft.OperationalInsights/workspaces/providers/metadata',
  );
  if (metadata.length === 0) {
    problems.push('There are no metadata resources found');
  }
  const packages = resources.filter(
    (resource) => resource.type === 'Microsoft.OperationalInsights/workspaces/providers/contentPackages',
  );
  if (packages.length !== 1) {
    problems.push(`expected one contentPackages resource, found ${packages.length}`);
  }
  for (const resource of [...metadata, ...packages]) {
    const support = supportSchema.safeParse(resource.properties?.support);
    if (!support.success) {
      problems.push(
        `support object: ${support.error.issues.map((issue) => issue.message).join('; ')} (${resource.type})`,
      );
    }
    const categories = resource.properties?.categories;
    if (categories !== undefined) {
      const parsed = categoriesSchema.safeParse(categories);
      if (!parsed.success) {
        problems.push(
          `categories: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
        );
      }
    }
  }
  return problems;
}
