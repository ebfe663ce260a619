import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildArmTemplate } from '../../scripts/sentinelArm';
import {
  ANALYTIC_RULES_DIR,
  DATA_CONNECTORS_DIR,
  loadSentinelContent,
  parseAnalyticRule,
  SENTINEL_DIR,
  SentinelContentError,
  SOLUTION_DIR,
} from '../../scripts/sentinelContent';
import {
  buildPackage,
  customTableFile,
  generatedFiles,
  MAIN_TEMPLATE_PATH,
} from '../../scripts/sentinelPackage';
import { packageProblems } from '../../scripts/sentinelSolutionFiles';
import { HEALTH_TABLE, healthKqlSchema, kqlSchema, TABLE_NAMES } from '../../src/domain/tableSchema';

const content = loadSentinelContent();

type Json = Record<string, unknown>;
interface Resource {
  type: string;
  name: string;
  kind?: string;
  properties: Json;
}

const mainTemplate = JSON.parse(readFileSync(MAIN_TEMPLATE_PATH, 'utf8')) as {
  variables: Record<string, unknown>;
  resources: Resource[];
};

/** Resolves the packager's `[variables('x')]` and `[variables('x').y]` references; literals pass through. */
function resolve(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const match = /^\[variables\('(\w+)'\)(?:\.(\w+))?\]$/.exec(value);
  if (match === null) return value.startsWith('[[') ? value.slice(1) : value;
  const variable = mainTemplate.variables[match[1] ?? ''];
  return resolve(match[2] === undefined ? variable : (variable as Json)[match[2]]);
}

function contentTemplates(kind: string): Array<{ properties: Json; inner: Resource[] }> {
  return mainTemplate.resources
    .filter(
      (resource) =>
        resource.type === 'Microsoft.OperationalInsights/workspaces/providers/contentTemplates' &&
        resource.properties.contentKind === kind,
    )
    .map((resource) => ({
      properties: resource.properties,
      inner: (resource.properties.mainTemplate as { resources: Resource[] }).resources,
    }));
}

describe('generated files', () => {
  it('are exactly what npm run sentinel:build writes from the solution folder', () => {
    for (const { path, value } of generatedFiles(content, buildArmTemplate(content))) {
      expect(JSON.parse(readFileSync(path, 'utf8')), `${path} is stale: run npm run sentinel:build`).toEqual(
        JSON.parse(JSON.stringify(value)),
      );
    }
  });

  it('give the KQL tests of Azure-Sentinel each table with the types Log Analytics exposes', () => {
    const schemas = [
      ...TABLE_NAMES.map((table) => ({ table, schema: kqlSchema(table) })),
      { table: HEALTH_TABLE, schema: healthKqlSchema() },
    ];
    for (const { table, schema } of schemas) {
      const file = JSON.parse(readFileSync(join(SENTINEL_DIR, 'CustomTables', `${table}.json`), 'utf8')) as {
        Name: string;
        Properties: Array<{ Name: string; Type: string }>;
      };
      expect(file).toEqual(customTableFile(table, schema));
      expect(`(${file.Properties.map((column) => `${column.Name}:${column.Type}`).join(', ')})`).toBe(schema);
      const types = Object.fromEntries(file.Properties.map((column) => [column.Name, column.Type]));
      expect(types).toMatchObject(
        table === HEALTH_TABLE
          ? {
              TimeGenerated: 'datetime',
              WindowStart_t: 'datetime',
              Sequence_d: 'real',
              CustomerTenantId_g: 'guid',
              RecordIds_s: 'string',
            }
          : {
              TimeGenerated: 'datetime',
              EventTime_t: 'datetime',
              EventID_d: 'real',
              EventRecordId_g: 'guid',
              CustomerTenantId_g: 'guid',
            },
      );
    }
  });
});

describe('Package/mainTemplate.json deploys what the solution folder holds', () => {
  it('every analytic rule, as an alert rule template with the same id, version, query and mappings', () => {
    const templates = contentTemplates('AnalyticsRule');
    expect(templates).toHaveLength(content.analyticRules.length);
    for (const { content: rule } of content.analyticRules) {
      const found = templates.find(({ properties }) => resolve(properties.contentId) === rule.id);
      expect(found, rule.name).toBeDefined();
      const alertRule = found?.inner.find(
        (inner) => inner.type === 'Microsoft.SecurityInsights/AlertRuleTemplates',
      );
      expect(resolve(alertRule?.name)).toBe(rule.id);
      expect(resolve(found?.properties.version)).toBe(rule.version);
      expect(alertRule?.kind).toBe(rule.kind);
      expect(alertRule?.properties).toMatchObject({
        displayName: rule.name,
        description: rule.description,
        query: rule.query.trim(),
        severity: rule.severity,
        status: 'Available',
        tactics: rule.tactics,
        requiredDataConnectors: rule.requiredDataConnectors,
        entityMappings: rule.entityMappings,
        customDetails: rule.customDetails,
      });
    }
  });

  it('every hunting query, as a saved search with the same query, description and tactics', () => {
    const templates = contentTemplates('HuntingQuery');
    expect(templates).toHaveLength(content.huntingQueries.length);
    for (const { content: hunt } of content.huntingQueries) {
      const found = templates.find(({ properties }) => resolve(properties.contentId) === hunt.id);
      const search = found?.inner.find(
        (inner) => inner.type === 'Microsoft.OperationalInsights/savedSearches',
      );
      expect(search?.properties, hunt.name).toMatchObject({
        displayName: hunt.name,
        category: 'Hunting Queries',
        query: hunt.query.trim(),
      });
      expect(search?.properties.tags).toContainEqual({ name: 'description', value: hunt.description });
      expect(search?.properties.tags).toContainEqual({ name: 'tactics', value: hunt.tactics.join(',') });
    }
  });

  it('the workbook, with its JSON and the WorkbooksMetadata key and version', () => {
    const templates = contentTemplates('Workbook');
    expect(templates).toHaveLength(content.workbooks.length);
    for (const { content: workbook } of content.workbooks) {
      const { metadata, ...serialized } = workbook;
      const found = templates.find(
        ({ properties }) => resolve(properties.contentId) === metadata.workbookKey,
      );
      const resource = found?.inner.find((inner) => inner.type === 'Microsoft.Insights/workbooks');
      expect(JSON.parse(resource?.properties.serializedData as string)).toEqual(serialized);
      expect(resolve(found?.properties.version)).toBe(metadata.version);
      // Content hub lists the template under the name the workbook gets: the workbook1-name parameter,
      // evaluated, as Azure-Sentinel's packager writes it (Solutions/Okta Single Sign-On/Package/
      // mainTemplate.json: "displayName": "[parameters('workbook1-name')]"), not that text escaped.
      expect(found?.properties.displayName).toMatch(/^\[parameters\('workbook\d+-name'\)\]$/);
      expect(found?.properties.displayName).toBe(resource?.properties.displayName);
    }
  });

  it('the data connector, with the connector page of the Data Connectors file', () => {
    const templates = contentTemplates('DataConnector');
    expect(templates).toHaveLength(content.dataConnectors.length);
    for (const { content: connector } of content.dataConnectors) {
      const found = templates.find(({ properties }) => resolve(properties.contentId) === connector.id);
      const resource = found?.inner.find(
        (inner) => inner.type === 'Microsoft.OperationalInsights/workspaces/providers/dataConnectors',
      );
      expect(resource?.kind).toBe('GenericUI');
      const page = resource?.properties.connectorUiConfig as Json;
      expect({ ...page, id: resolve(page.id) }).toEqual(connector);
    }
  });

  it('lists every content item as a dependency of the solution package, and nothing else', () => {
    const packages = mainTemplate.resources.filter(
      (resource) => resource.type === 'Microsoft.OperationalInsights/workspaces/providers/contentPackages',
    );
    expect(packages).toHaveLength(1);
    const criteria = (packages[0]?.properties.dependencies as { criteria: Json[] }).criteria;
    const listed = criteria.map(
      (criterion) => `${String(criterion.kind)}:${String(resolve(criterion.contentId))}`,
    );
    expect(listed.sort()).toEqual(
      [
        ...content.analyticRules.map(({ content: rule }) => `AnalyticsRule:${rule.id}`),
        ...content.huntingQueries.map(({ content: hunt }) => `HuntingQuery:${hunt.id}`),
        ...content.workbooks.map(({ content: workbook }) => `Workbook:${workbook.metadata.workbookKey}`),
        ...content.dataConnectors.map(({ content: connector }) => `DataConnector:${connector.id}`),
      ].sort(),
    );
  });

  it('deploys the same rules and queries as the direct-deploy template', () => {
    const direct = buildArmTemplate(content).resources as unknown as Resource[];
    const directRules = direct
      .filter((resource) => resource.type === 'Microsoft.SecurityInsights/alertRules')
      .map((resource) => [resource.name, resource.properties.query]);
    const packagedRules = contentTemplates('AnalyticsRule').map(({ inner }) => {
      const rule = inner.find(
        (resource) => resource.type === 'Microsoft.SecurityInsights/AlertRuleTemplates',
      );
      return [resolve(rule?.name), rule?.properties.query];
    });
    expect(packagedRules.sort()).toEqual(directRules.sort());
  });

  it('gets every parameter it needs from createUiDefinition.json outputs', () => {
    const ui = JSON.parse(readFileSync(join(SOLUTION_DIR, 'Package', 'createUiDefinition.json'), 'utf8')) as {
      handler: string;
      parameters: { outputs: Record<string, string>; steps: Array<{ name: string; elements: unknown[] }> };
    };
    const template = JSON.parse(readFileSync(MAIN_TEMPLATE_PATH, 'utf8')) as {
      parameters: Record<string, { defaultValue?: unknown }>;
    };
    expect(ui.handler).toBe('Microsoft.Azure.CreateUIDef');
    const required = Object.entries(template.parameters)
      .filter(([, parameter]) => parameter.defaultValue === undefined || parameter.defaultValue === '')
      .map(([name]) => name);
    expect(required.length).toBeGreaterThan(0);
    for (const name of required) {
      expect(Object.keys(ui.parameters.outputs), name).toContain(name);
    }
    const steps = Object.fromEntries(ui.parameters.steps.map((step) => [step.name, step.elements.length]));
    expect(steps).toEqual({
      dataconnectors: content.dataConnectors.length,
      workbooks: content.workbooks.length,
      analytics: content.analyticRules.length,
      huntingqueries: content.huntingQueries.length,
    });
  });

  it("passes what Azure-Sentinel's solution validators check", () => {
    expect(packageProblems(mainTemplate)).toEqual([]);
    expect(mainTemplate.variables.solutionId).toBe('keytos.azure-sentinel-solution-ezca');
  });
});

describe("Azure-Sentinel's solution validators, as ported, reject", () => {
  const built = buildPackage(content).mainTemplate as { variables: Json; resources: Resource[] };
  const clone = (): typeof built => JSON.parse(JSON.stringify(built)) as typeof built;

  it('a template without a solution id, or with one not in publisher.offer lower case', () => {
    const missing = clone();
    delete missing.variables.solutionId;
    expect(packageProblems(missing)).toContain("Missing 'solutionId' attribute in the file.");
    const upper = clone();
    upper.variables.solutionId = 'Keytos.ezca';
    expect(packageProblems(upper).join('\n')).toMatch(/Invalid solution ID format/);
  });

  it('a template without metadata resources', () => {
    const bare = clone();
    bare.resources = bare.resources.filter(
      (resource) => resource.type !== 'Microsoft.OperationalInsights/workspaces/providers/metadata',
    );
    expect(packageProblems(bare)).toContain('There are no metadata resources found');
  });

  it('a support object without an email or link, and a domain outside their list', () => {
    const broken = clone();
    for (const resource of broken.resources) {
      if (resource.properties.support !== undefined)
        resource.properties.support = { name: 'Keytos', tier: 'Partner' };
      if (resource.properties.categories !== undefined) resource.properties.categories = { domains: ['PKI'] };
    }
    const problems = packageProblems(broken).join('\n');
    expect(problems).toMatch(/email or a link/);
    expect(problems).toMatch(/categories: domains\.0/);
  });
});

describe('the solution folder is refused when it is broken', () => {
  let root: string | undefined;

  afterEach(() => {
    if (root !== undefined) {
      rmSync(root, { recursive: true, force: true });
      root = undefined;
    }
  });

  function copy(): string {
    root = mkdtempSync(join(tmpdir(), 'sentinel-solution-'));
    cpSync(SENTINEL_DIR, join(root, SENTINEL_DIR), { recursive: true });
    return root;
  }

  function edit(base: string, file: string, change: (text: string) => string): void {
    const path = join(base, file);
    writeFileSync(path, change(readFileSync(path, 'utf8')));
  }

  it('when a rule names a connector the solution does not define', () => {
    const base = copy();
    edit(base, join(ANALYTIC_RULES_DIR, 'EZCA_CaDeleted.yaml'), (text) =>
      text.replace('connectorId: EzcaSiemExport', 'connectorId: EzcaSiemExportV2'),
    );
    expect(() => loadSentinelContent(base)).toThrow(/names connector EzcaSiemExportV2, which no file/);
  });

  it('when a rule asks the connector for a table it does not declare', () => {
    const base = copy();
    edit(base, join(ANALYTIC_RULES_DIR, 'EZCA_CaDeleted.yaml'), (text) =>
      text.replace('      - EZCA_CAs_CL', '      - EZCA_Keys_CL'),
    );
    expect(() => loadSentinelContent(base)).toThrow(/has no data type EZCA_Keys_CL/);
  });

  it('when the connector file lacks its connectivity criteria', () => {
    const base = copy();
    edit(base, join(DATA_CONNECTORS_DIR, 'EZCA_SiemExport.json'), (text) => {
      const connector = JSON.parse(text) as Json;
      delete connector.connectivityCriterias;
      return JSON.stringify(connector);
    });
    expect(() => loadSentinelContent(base)).toThrow(/connectivityCriterias/);
  });

  it('when SolutionMetadata.json has a domain outside their list or a support object without contact', () => {
    const base = copy();
    edit(base, join(SOLUTION_DIR, 'SolutionMetadata.json'), (text) => {
      const metadata = JSON.parse(text) as { categories: Json; support: Json };
      metadata.categories.domains = ['Security - PKI'];
      delete metadata.support.link;
      return JSON.stringify(metadata);
    });
    expect(() => loadSentinelContent(base)).toThrow(SentinelContentError);
    expect(() => loadSentinelContent(base)).toThrow(/categories\.domains\.0[\s\S]*support/);
  });

  it('when the publisher id has a hyphen or the offer id does not name sentinel', () => {
    const base = copy();
    edit(base, join(SOLUTION_DIR, 'SolutionMetadata.json'), (text) =>
      text
        .replace('"publisherId": "keytos"', '"publisherId": "key-tos"')
        .replace('"offerId": "azure-sentinel-solution-ezca"', '"offerId": "ezca-solution"'),
    );
    expect(() => loadSentinelContent(base)).toThrow(
      /publisherId: lower-case letters[\s\S]*contains "sentinel"/,
    );
  });

  it('when the packaging input does not list a rule of the folder', () => {
    const base = copy();
    edit(base, join(SOLUTION_DIR, 'Data', 'Solution_EZCA.json'), (text) =>
      text.replace('    "Analytic Rules/EZCA_CaDeleted.yaml",\n', ''),
    );
    expect(() => loadSentinelContent(base)).toThrow(/"Analytic Rules" must list exactly the files/);
  });
});

describe('the rule conventions of Azure-Sentinel', () => {
  const file = join(ANALYTIC_RULES_DIR, 'EZCA_CaDeleted.yaml');
  const text = readFileSync(file, 'utf8');
  const description = /description: \|\n {2}(.*)\n/.exec(text)?.[1] ?? '';

  it.each([
    [
      'a description not starting with "Identifies"',
      (t: string) => t.replace(description, `Detects ${description}`),
      'starts with "Identifies"',
    ],
    [
      'a description of 255 characters or more',
      (t: string) => t.replace(description, `${description} ${'x'.repeat(200)}`),
      'under 255 characters',
    ],
    [
      'a description of more than 5 sentences',
      (t: string) => t.replace(description, 'Identifies a. B. C. D. E. F.'),
      'at most 5 sentences',
    ],
    [
      'a character outside ASCII',
      (t: string) => t.replace('CA deleted (19)', 'CA gelöscht (19)'),
      'only ASCII',
    ],
    [
      'a name ending with a period',
      (t: string) => t.replace('name: EZCA - CA deleted (19)', 'name: EZCA - CA deleted (19).'),
      'does not end with a period',
    ],
    ['a missing status', (t: string) => t.replace('status: Available\n', ''), 'status'],
    [
      'T1649, which their KillChainTechniquesHelper does not map',
      (t: string) => t.replace('  - T1489\n', '  - T1649\n'),
      'KillChainTechniquesHelper maps no tactic',
    ],
    [
      'a technique whose tactic is missing',
      (t: string) => t.replace('  - T1489\n', '  - T1098\n'),
      'belongs to tactic Persistence',
    ],
    [
      'an Account identifier outside their list',
      (t: string) => t.replace('identifier: UPNSuffix', 'identifier: Email'),
      'identifier Email is not valid',
    ],
  ])('rejects %s', (_change, change, reason) => {
    expect(() => parseAnalyticRule(file, change(text))).toThrow(reason);
  });
});
