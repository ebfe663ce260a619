import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  dataConnectorSchema,
  solutionDataSchema,
  solutionMetadataSchema,
  workbookMetadataSchema,
  type DataConnector,
  type SolutionData,
  type SolutionMetadata,
  type WorkbookMetadata,
} from './sentinelSolutionFiles';

import {
  analyticRuleSchema,
  huntingQuerySchema,
  workbookSchema,
  type AnalyticRule,
  type HuntingQuery,
  type Workbook,
  type WorkbookItem,
} from './sentinelRuleSchema';

export * from './sentinelRuleSchema';

/**
 * The Microsoft Sentinel content shipped with the exporter is written by hand
 * in Sentinel's own formats, in a solution folder laid out like the
 * Azure-Sentinel repository's Solutions/<Name> (sentinel/EZCA). This module
 * reads and validates every file of it, and the checks across files (unique
 * ids, connectors the solution defines, the packaging input listing every
 * file). scripts/sentinelArm.ts and scripts/sentinelPackage/ derive the
 * direct-deploy template and the Content Hub package from what it returns,
 * so the sources stay the single source of truth.
 */

export const SENTINEL_DIR = 'sentinel';
/** The solution folder, laid out like Azure-Sentinel's Solutions/<Name>. */
export const SOLUTION_DIR = join(SENTINEL_DIR, 'EZCA');
export const ANALYTIC_RULES_DIR = join(SOLUTION_DIR, 'Analytic Rules');
export const HUNTING_QUERIES_DIR = join(SOLUTION_DIR, 'Hunting Queries');
export const WORKBOOKS_DIR = join(SOLUTION_DIR, 'Workbooks');
export const DATA_CONNECTORS_DIR = join(SOLUTION_DIR, 'Data Connectors');
export const WORKBOOKS_METADATA_FILE = 'WorkbooksMetadata.json';
export const ARM_TEMPLATE_PATH = join(SENTINEL_DIR, 'azuredeploy.sentinel.json');

export interface Sourced<T> {
  /** Path relative to the repository root, with forward slashes. */
  readonly file: string;
  readonly content: T;
}

export interface SentinelContent {
  readonly analyticRules: ReadonlyArray<Sourced<AnalyticRule>>;
  readonly huntingQueries: ReadonlyArray<Sourced<HuntingQuery>>;
  readonly workbooks: ReadonlyArray<Sourced<Workbook & { readonly metadata: WorkbookMetadata }>>;
  readonly dataConnectors: ReadonlyArray<Sourced<DataConnector>>;
  readonly solution: Sourced<SolutionData>;
  readonly solutionMetadata: Sourced<SolutionMetadata>;
}

export class SentinelContentError extends Error {
  override readonly name = 'SentinelContentError';
}

/** Azure-Sentinel's content tests refuse non-ASCII characters in rule and connector files. */
function checkAscii(file: string, text: string): void {
  const lines = text.split('\n');
  const line = lines.findIndex((candidate) => [...candidate].some((char) => char.charCodeAt(0) > 0x7f));
  if (line !== -1) {
    throw new SentinelContentError(
      `${file} is not valid Sentinel content:\n  line ${line + 1}: only ASCII characters are allowed`,
    );
  }
}

/** Parses one analytic rule's YAML; throws naming the file and every invalid field. */
export function parseAnalyticRule(file: string, text: string): AnalyticRule {
  checkAscii(file, text);
  return validate(file, analyticRuleSchema, parseYaml(text));
}

export function parseHuntingQuery(file: string, text: string): HuntingQuery {
  checkAscii(file, text);
  return validate(file, huntingQuerySchema, parseYaml(text));
}

export function parseWorkbook(file: string, text: string): Workbook {
  return validate(file, workbookSchema, JSON.parse(text));
}

export function parseDataConnector(file: string, text: string): DataConnector {
  checkAscii(file, text);
  return validate(file, dataConnectorSchema, JSON.parse(text));
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

function repositoryPath(root: string, ...parts: string[]): string {
  return relative(root, join(root, ...parts))
    .split('\\')
    .join('/');
}

export function loadSentinelContent(root: string = process.cwd()): SentinelContent {
  const read = <T>(file: string, parse: (file: string, text: string) => T): Sourced<T> => ({
    file,
    content: parse(file, readFileSync(join(root, file), 'utf8')),
  });
  const load = <T>(
    directory: string,
    extension: string,
    parse: (file: string, text: string) => T,
    skip: readonly string[] = [],
  ): Array<Sourced<T>> =>
    readdirSync(join(root, directory))
      .filter((name) => name.endsWith(extension) && !skip.includes(name))
      .sort()
      .map((name) => read(repositoryPath(root, directory, name), parse));
  const json =
    <T>(schema: z.ZodType<T>) =>
    (file: string, text: string): T =>
      validate(file, schema, JSON.parse(text));

  const workbooksMetadata = read(
    repositoryPath(root, WORKBOOKS_DIR, WORKBOOKS_METADATA_FILE),
    json(z.array(workbookMetadataSchema).min(1)),
  );
  const workbooks = load(WORKBOOKS_DIR, '.json', parseWorkbook, [WORKBOOKS_METADATA_FILE]).map(
    ({ file, content }) => {
      const name = file.slice(file.lastIndexOf('/') + 1);
      const metadata = workbooksMetadata.content.find((entry) => entry.templateRelativePath === name);
      if (metadata === undefined) {
        throw new SentinelContentError(`${file} has no entry in ${workbooksMetadata.file}`);
      }
      return { file, content: { ...content, metadata } };
    },
  );
  const content: SentinelContent = {
    analyticRules: load(ANALYTIC_RULES_DIR, '.yaml', parseAnalyticRule),
    huntingQueries: load(HUNTING_QUERIES_DIR, '.yaml', parseHuntingQuery),
    workbooks,
    dataConnectors: load(DATA_CONNECTORS_DIR, '.json', parseDataConnector),
    solution: read(
      repositoryPath(root, SOLUTION_DIR, 'Data', 'Solution_EZCA.json'),
      json(solutionDataSchema),
    ),
    solutionMetadata: read(
      repositoryPath(root, SOLUTION_DIR, 'SolutionMetadata.json'),
      json(solutionMetadataSchema),
    ),
  };
  checkSolutionConsistency(root, content);
  return content;
}

/** The checks across files: unique ids, connectors the solution defines, the input file listing every file. */
function checkSolutionConsistency(root: string, content: SentinelContent): void {
  const problems: string[] = [];
  const ids = [...content.analyticRules, ...content.huntingQueries].map((item) =>
    item.content.id.toLowerCase(),
  );
  const duplicates = ids.filter((id, index) => ids.indexOf(id) !== index);
  if (duplicates.length > 0) {
    problems.push(`Sentinel content ids must be unique; repeated: ${duplicates.join(', ')}`);
  }
  const connectorTypes = new Map(
    content.dataConnectors.map(({ content: connector }) => [
      connector.id,
      new Set(connector.dataTypes.map((dataType) => dataType.name)),
    ]),
  );
  for (const { file, content: item } of [...content.analyticRules, ...content.huntingQueries]) {
    for (const required of item.requiredDataConnectors) {
      const types = connectorTypes.get(required.connectorId);
      if (types === undefined) {
        problems.push(
          `${file}: requiredDataConnectors names connector ${required.connectorId}, which no file in ${DATA_CONNECTORS_DIR} defines`,
        );
        continue;
      }
      for (const dataType of required.dataTypes.filter((dataType) => !types.has(dataType))) {
        problems.push(`${file}: connector ${required.connectorId} has no data type ${dataType}`);
      }
    }
  }
  for (const { file, content: workbook } of content.workbooks) {
    for (const connector of workbook.metadata.dataConnectorsDependencies.filter(
      (id) => !connectorTypes.has(id),
    )) {
      problems.push(
        `${file}: WorkbooksMetadata names connector ${connector}, which the solution does not define`,
      );
    }
  }
  const solutionDir = repositoryPath(root, SOLUTION_DIR);
  const listed = (key: 'Analytic Rules' | 'Hunting Queries' | 'Workbooks' | 'Data Connectors'): string[] =>
    content.solution.content[key].map((path) => `${solutionDir}/${path}`).sort();
  for (const [key, files] of [
    ['Analytic Rules', content.analyticRules],
    ['Hunting Queries', content.huntingQueries],
    ['Workbooks', content.workbooks],
    ['Data Connectors', content.dataConnectors],
  ] as const) {
    const present = files.map((item) => item.file).sort();
    if (JSON.stringify(listed(key)) !== JSON.stringify(present)) {
      problems.push(
        `${content.solution.file}: "${key}" must list exactly the files of the solution folder (${present.join(', ')})`,
      );
    }
  }
  if (content.solution.content.WorkbookDescription.length !== content.workbooks.length) {
    problems.push(`${content.solution.file}: one WorkbookDescription per workbook`);
  }
  if (problems.length > 0) {
    throw new SentinelContentError(problems.join('\n'));
  }
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
