import { beforeAll, describe, expect, it } from 'vitest';
import { loadSentinelContent, workbookQueries, type SentinelContent } from '../../scripts/sentinelContent';
import { createKqlChecker, describeKqlErrors, type KqlChecker } from '../support/kql';

/**
 * Every KQL query we ship (analytic rules, hunting queries, workbook tiles,
 * the data connector's queries) is parsed and analysed by Microsoft's Kusto
 * language service against our own table definitions. A built-in table a query
 * uses is declared below, column by column, from its Learn reference page.
 */
const BUILT_IN_TABLES: Readonly<Record<string, string>> = {
  // https://learn.microsoft.com/azure/azure-monitor/reference/tables/dcrlogerrors
  DCRLogErrors:
    '(TimeGenerated:datetime, _BilledSize:real, ClientRequestId:string, CorrelationId:string, InputStreamId:string, _IsBillable:string, Message:string, OperationName:string, _ResourceId:string, SourceSystem:string, _SubscriptionId:string, TenantId:string, Type:string)',
};

let checker: KqlChecker;
let content: SentinelContent;

beforeAll(() => {
  checker = createKqlChecker({ builtInTables: BUILT_IN_TABLES });
  content = loadSentinelContent();
});

function shippedQueries(): Array<{ source: string; query: string }> {
  return [
    ...content.analyticRules.map(({ file, content: rule }) => ({ source: file, query: rule.query })),
    ...content.huntingQueries.map(({ file, content: hunt }) => ({ source: file, query: hunt.query })),
    ...content.workbooks.flatMap(({ file, content: workbook }) =>
      workbookQueries(workbook).map(({ item, query }) => ({ source: `${file} (${item})`, query })),
    ),
    ...content.dataConnectors.flatMap(({ file, content: connector }) => [
      ...connector.graphQueries.map(({ baseQuery }) => ({ source: `${file} (graph)`, query: baseQuery })),
      ...connector.sampleQueries.map(({ query }) => ({ source: `${file} (sample)`, query })),
      ...connector.dataTypes.map(({ lastDataReceivedQuery }) => ({
        source: `${file} (lastDataReceivedQuery)`,
        query: lastDataReceivedQuery,
      })),
      ...connector.connectivityCriterias.flatMap(({ value }) =>
        value.map((query) => ({ source: `${file} (connectivity)`, query })),
      ),
    ]),
  ];
}

describe('KQL of the shipped Sentinel content', () => {
  it('finds every query: 9 rules, 4 hunting queries, the workbook tiles and the connector', () => {
    const sources = shippedQueries().map((entry) => entry.source);
    expect(sources.filter((source) => source.startsWith('sentinel/EZCA/Analytic Rules/'))).toHaveLength(9);
    expect(sources.filter((source) => source.startsWith('sentinel/EZCA/Hunting Queries/'))).toHaveLength(4);
    expect(
      sources.filter((source) => source.startsWith('sentinel/EZCA/Workbooks/')).length,
    ).toBeGreaterThanOrEqual(3);
    expect(
      sources.filter((source) => source.startsWith('sentinel/EZCA/Data Connectors/')).length,
    ).toBeGreaterThanOrEqual(4);
  });

  it('analyses every query without an error diagnostic', () => {
    const failures = shippedQueries().flatMap(({ source, query }) => {
      const { errors } = checker.analyze(query);
      return errors.length === 0 ? [] : [describeKqlErrors(source, query, errors)];
    });
    expect(failures, failures.join('\n\n')).toEqual([]);
  });

  it('maps entities, custom details and alert placeholders only to columns the query returns', () => {
    const problems: string[] = [];
    const items = [
      ...content.analyticRules.map(({ file, content: rule }) => ({
        file,
        query: rule.query,
        columns: [
          ...(rule.entityMappings ?? []).flatMap((mapping) =>
            mapping.fieldMappings.map((field) => field.columnName),
          ),
          ...Object.values(rule.customDetails ?? {}),
          ...[
            rule.alertDetailsOverride?.alertDisplayNameFormat,
            rule.alertDetailsOverride?.alertDescriptionFormat,
          ]
            .flatMap((format) => [...(format ?? '').matchAll(/\{\{([^}]+)\}\}/g)])
            .map((match) => match[1] ?? ''),
        ],
      })),
      ...content.huntingQueries.map(({ file, content: hunt }) => ({
        file,
        query: hunt.query,
        columns: (hunt.entityMappings ?? []).flatMap((mapping) =>
          mapping.fieldMappings.map((field) => field.columnName),
        ),
      })),
    ];
    for (const { file, query, columns } of items) {
      const returned = new Set((checker.analyze(query).resultColumns ?? []).map((column) => column.name));
      for (const column of columns.filter((name) => !returned.has(name))) {
        problems.push(`${file}: ${column} is not a column of the query's result`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('the KQL checker', () => {
  const valid = 'EZCA_Certificates_CL\n| where EventID_d == 4888\n| project TimeGenerated, ActorUpn_s';

  it('accepts a valid query against our schema and reports its result columns', () => {
    const analysis = checker.analyze(valid);
    expect(analysis.errors).toEqual([]);
    expect(analysis.resultColumns).toEqual([
      { name: 'TimeGenerated', type: 'datetime' },
      { name: 'ActorUpn_s', type: 'string' },
    ]);
  });

  it.each([
    {
      flaw: 'an unknown column',
      query: 'EZCA_Certificates_CL\n| where EventId_d == 4888',
      code: 'KS142',
      message: "The name 'EventId_d' does not refer to any known column",
    },
    {
      flaw: 'an unknown table',
      query: 'EZCA_Certificate_CL\n| where EventID_d == 4888',
      code: 'KS204',
      message: "The name 'EZCA_Certificate_CL' does not refer to any known table",
    },
    {
      flaw: 'a syntax error',
      query: 'EZCA_Certificates_CL\n| where EventID_d ==',
      code: 'KS006',
      message: 'Missing expression',
    },
    {
      flaw: 'a datetime compared to a string',
      query: 'EZCA_Certificates_CL\n| where TimeGenerated > "2024-01-01"',
      code: 'KS106',
      message: "The operator '>' is not defined for the operand types datetime and string",
    },
    {
      flaw: 'a string column summed',
      query: 'EZCA_CAs_CL\n| summarize total = sum(CaName_s)',
      code: 'KS138',
      message: 'The argument value must be summable',
    },
  ])('fails a query with $flaw', ({ query, code, message }) => {
    const { errors } = checker.analyze(query);
    expect(errors.map((error) => error.code)).toContain(code);
    const report = describeKqlErrors('broken.yaml', query, errors);
    expect(report).toContain('broken.yaml');
    expect(report).toContain(code);
    expect(report).toContain(message);
    expect(report).toContain(query);
  });

  it('points at the line and column of the error', () => {
    const query = 'EZCA_CAs_CL\n| where EventID_d == 19\n| project NoSuchColumn';
    const [error] = checker.analyze(query).errors;
    expect(error).toMatchObject({ code: 'KS142', line: 3, column: 11 });
  });

  it('knows a built-in table only when it is declared', () => {
    const query = 'SecurityAlert\n| where AlertName has "EZCA"\n| project TimeGenerated, AlertName';
    expect(checker.analyze(query).errors.map((error) => error.code)).toEqual(['KS204']);
    const withAlerts = createKqlChecker({
      builtInTables: { SecurityAlert: '(TimeGenerated:datetime, AlertName:string, AlertSeverity:string)' },
    });
    expect(withAlerts.analyze(query).errors).toEqual([]);
  });
});
