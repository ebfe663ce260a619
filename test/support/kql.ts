import { createRequire } from 'node:module';
import { HEALTH_TABLE, healthKqlSchema, kqlSchema, TABLE_NAMES } from '../../src/domain/tableSchema';

/**
 * Parses and analyses KQL with Microsoft's own Kusto language service
 * (`@kusto/language-service-next`) against a database made of our
 * custom tables, exactly as `kqlSchema()` and `healthKqlSchema()` declare them, plus whatever
 * built-in tables a caller declares explicitly. A query that names an
 * unknown table or column, compares incompatible types or does not parse
 * gets error diagnostics here, long before a customer's rule fails in Sentinel.
 *
 * The language service is a Bridge.NET build that installs the globals
 * `Bridge`, `System` and `Kusto` when required; it takes ~0.3 s to load and
 * ~0.5 s to warm up, so it is loaded once per process (once per test file).
 */

/** The slice of the Kusto.Language object model this module uses. */
interface KustoList<T> {
  readonly Count: number;
  getItem(index: number): T;
}
interface KustoDiagnostic {
  readonly Code: string;
  readonly Severity: string;
  readonly Message: string;
  readonly Start: number;
  readonly Length: number;
}
interface KustoColumn {
  readonly Name: string;
  readonly Type: { readonly Name: string };
}
interface KustoCode {
  GetDiagnostics(): KustoList<KustoDiagnostic>;
  readonly ResultType: { readonly Columns?: KustoList<KustoColumn> } | null;
}
interface KustoLanguage {
  Symbols: {
    TableSymbol: { $ctor7: new (name: string, schema: string, description: string | null) => unknown };
    DatabaseSymbol: { ctor: new (name: string, members: unknown[]) => unknown };
  };
  GlobalState: { Default: { WithDatabase(database: unknown): unknown } };
  KustoCode: { ParseAndAnalyze(text: string, globals: unknown): KustoCode };
}

let kustoLanguage: KustoLanguage | undefined;

function loadKustoLanguage(): KustoLanguage {
  if (kustoLanguage === undefined) {
    const requireFromHere = createRequire(import.meta.url);
    requireFromHere('@kusto/language-service-next/bridge.js');
    requireFromHere('@kusto/language-service-next/Kusto.Language.Bridge.js');
    const installed = (globalThis as unknown as { Kusto?: { Language?: KustoLanguage } }).Kusto?.Language;
    if (installed === undefined) {
      throw new Error('@kusto/language-service-next loaded but did not install the global Kusto.Language');
    }
    kustoLanguage = installed;
  }
  return kustoLanguage;
}

export interface KqlDiagnostic {
  readonly code: string;
  readonly severity: string;
  readonly message: string;
  /** Offset into the query text, and the 1-based line and column it falls on. */
  readonly start: number;
  readonly line: number;
  readonly column: number;
}

export interface KqlResultColumn {
  readonly name: string;
  readonly type: string;
}

export interface KqlAnalysis {
  readonly diagnostics: readonly KqlDiagnostic[];
  readonly errors: readonly KqlDiagnostic[];
  /** Columns of the query's tabular result, or undefined when the result is not a table. */
  readonly resultColumns: readonly KqlResultColumn[] | undefined;
}

export interface KqlChecker {
  analyze(query: string): KqlAnalysis;
}

export interface KqlCheckerOptions {
  /**
   * Built-in Log Analytics tables a query may use, name -> `(col:type, …)`.
   * Declared explicitly so a query cannot lean on a table the check knows nothing about.
   */
  readonly builtInTables?: Readonly<Record<string, string>>;
}

export function createKqlChecker(options: KqlCheckerOptions = {}): KqlChecker {
  const kusto = loadKustoLanguage();
  const schemas: Array<[string, string]> = [
    ...TABLE_NAMES.map((table): [string, string] => [table, kqlSchema(table)]),
    [HEALTH_TABLE, healthKqlSchema()],
    ...Object.entries(options.builtInTables ?? {}),
  ];
  const tables = schemas.map(([name, schema]) => new kusto.Symbols.TableSymbol.$ctor7(name, schema, null));
  const database = new kusto.Symbols.DatabaseSymbol.ctor('workspace', tables);
  const globals = kusto.GlobalState.Default.WithDatabase(database);

  return {
    analyze(query: string): KqlAnalysis {
      const code = kusto.KustoCode.ParseAndAnalyze(query, globals);
      const diagnostics = toArray(code.GetDiagnostics()).map((diagnostic) => {
        const { line, column } = lineAndColumn(query, diagnostic.Start);
        return {
          code: diagnostic.Code,
          severity: diagnostic.Severity,
          message: diagnostic.Message,
          start: diagnostic.Start,
          line,
          column,
        };
      });
      const columns = code.ResultType?.Columns;
      return {
        diagnostics,
        errors: diagnostics.filter((diagnostic) => diagnostic.severity === 'Error'),
        resultColumns:
          columns === undefined
            ? undefined
            : toArray(columns).map((column) => ({ name: column.Name, type: column.Type.Name })),
      };
    },
  };
}

/** One readable report per failing query: where it lives, each error at its line, and the query itself. */
export function describeKqlErrors(source: string, query: string, errors: readonly KqlDiagnostic[]): string {
  const lines = query.split('\n');
  const problems = errors.map((error) => {
    const text = lines[error.line - 1] ?? '';
    const caret = `${' '.repeat(Math.max(error.column - 1, 0))}^`;
    return `  ${error.code} at line ${error.line}, column ${error.column}: ${error.message}\n    ${text}\n    ${caret}`;
  });
  return `${source}: ${errors.length} KQL error(s)\n${problems.join('\n')}\n--- query ---\n${query}`;
}

function toArray<T>(list: KustoList<T>): T[] {
  const items: T[] = [];
  for (let index = 0; index < list.Count; index += 1) {
    items.push(list.getItem(index));
  }
  return items;
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return { line, column };
}
