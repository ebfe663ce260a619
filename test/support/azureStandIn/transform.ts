import type { ColumnRecord, DcrColumn } from './model';

/**
 * The small part of a DCR `transformKql` the stand-in evaluates: `source`,
 * then any of `| extend Name = expr, …`, `| project Name [= expr], …` and
 * `| project-away Name, …`, where expr is a column or one conversion function
 * applied to a column. Anything else is refused as not modelled, never
 * guessed at.
 *
 * Azure checks every transform-output column against the output table and
 * refuses any type that differs, even a widening one (int into long):
 * Azure-Sentinel PR #12384 quotes a real 400 `InvalidPayload` / detail
 * `InvalidTransformOutput` "Types of transform output columns do not match the
 * ones defined by the output stream: InterfaceUuid [produced:'String',
 * output:'Guid'], …" with target `properties.dataFlows[0]`; issue 14 quotes
 * `DaysInactive [produced:'Int', output:'Long']`. The fix Azure accepts is a
 * conversion in the transform (`toguid()`), as in Azure-Sentinel's Armis and
 * Infoblox DCRs (`TenantId = toguid(TenantId)`) and criblio/Cribl-Microsoft
 * PR #123. Type names: 'String', 'Guid', 'Int' and 'Long' are quoted; the
 * others follow the same Pascal-case Kusto names (not seen in a recorded
 * response).
 *
 * A function outside the transformation subset is refused by Azure with
 * `InvalidTransformQuery` "SemanticError … Runtime scalar function provider
 * not found for function: coalesce" (Azure-Sentinel PR #14286, #15099).
 */

export type KustoType = 'String' | 'Int' | 'Long' | 'Real' | 'Boolean' | 'DateTime' | 'Guid' | 'Dynamic';

const STREAM_KUSTO: Record<string, KustoType> = {
  string: 'String',
  int: 'Int',
  long: 'Long',
  real: 'Real',
  boolean: 'Boolean',
  datetime: 'DateTime',
  dynamic: 'Dynamic',
};

const TABLE_KUSTO: Record<string, KustoType> = {
  string: 'String',
  int: 'Int',
  long: 'Long',
  real: 'Real',
  boolean: 'Boolean',
  dateTime: 'DateTime',
  guid: 'Guid',
  dynamic: 'Dynamic',
};

type Converter = (value: unknown) => unknown;

const GUID = /^\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i;

/** KQL's to*() functions: a value that cannot be converted becomes null, never an error. */
const FUNCTIONS: Record<string, { type: KustoType; convert: Converter }> = {
  toguid: {
    type: 'Guid',
    convert: (value) => {
      const match = typeof value === 'string' ? GUID.exec(value.trim()) : null;
      return match ? match.slice(1).join('-').toLowerCase() : null;
    },
  },
  tostring: {
    type: 'String',
    convert: (value) => {
      if (value === null || value === undefined) return '';
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      return JSON.stringify(value);
    },
  },
  todatetime: {
    type: 'DateTime',
    convert: (value) => {
      const time = typeof value === 'string' ? Date.parse(value) : Number.NaN;
      return Number.isNaN(time) ? null : new Date(time).toISOString();
    },
  },
  toreal: { type: 'Real', convert: toNumber },
  todouble: { type: 'Real', convert: toNumber },
  tolong: { type: 'Long', convert: (value) => truncated(toNumber(value)) },
  toint: { type: 'Int', convert: (value) => truncated(toNumber(value)) },
  tobool: { type: 'Boolean', convert: toBool },
  toboolean: { type: 'Boolean', convert: toBool },
  parse_json: { type: 'Dynamic', convert: toDynamic },
  todynamic: { type: 'Dynamic', convert: toDynamic },
};

function toDynamic(value: unknown): unknown {
  if (typeof value !== 'string') return value ?? null;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

function toNumber(value: unknown): number | null {
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  return Number.isFinite(number) ? number : null;
}

function truncated(value: number | null): number | null {
  return value === null ? null : Math.trunc(value);
}

function toBool(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 1) return true;
  if (value === 'false' || value === 0) return false;
  return null;
}

interface Expression {
  column: string;
  /** `column.a.b`: members of a dynamic value. */
  members?: string[];
  fn?: string;
}

type Step =
  | { kind: 'extend'; assignments: Array<{ name: string; expression: Expression }> }
  | { kind: 'project'; items: Array<{ name: string; expression: Expression }> }
  | { kind: 'projectAway'; names: string[] };

export interface CompiledTransform {
  outputSchema(input: readonly DcrColumn[]): Map<string, KustoType>;
  apply(row: Record<string, unknown>): Record<string, unknown>;
}

export class TransformError extends Error {
  constructor(
    readonly code: 'InvalidTransformQuery',
    message: string,
  ) {
    super(message);
  }
}

const NAME = '[A-Za-z_][A-Za-z0-9_]*';
const PATH = `${NAME}(?:\\.${NAME})*`;
const EXPRESSION = new RegExp(`^(?:(${NAME})\\s*\\(\\s*(${PATH})\\s*\\)|(${PATH}))$`);
const ASSIGNMENT = new RegExp(`^(${NAME})\\s*=\\s*(.+)$`);
const BARE = new RegExp(`^${NAME}$`);

function notModelled(part: string): TransformError {
  return new TransformError(
    'InvalidTransformQuery',
    `The Azure stand-in does not evaluate '${part.trim().slice(0, 80)}': it models only 'source' followed by ` +
      "'| extend', '| project' and '| project-away' over columns and the to*() conversion functions.",
  );
}

function parseExpression(text: string, part: string): Expression {
  const match = EXPRESSION.exec(text.trim());
  if (!match) throw notModelled(part);
  const path = (text: string): Expression => {
    const [column, ...members] = text.split('.');
    return members.length > 0 ? { column: column!, members } : { column: column! };
  };
  if (match[3] !== undefined) return path(match[3]);
  const fn = match[1]!;
  if (!(fn in FUNCTIONS)) {
    throw new TransformError(
      'InvalidTransformQuery',
      `SemanticError: Runtime scalar function provider not found for function: ${fn} (the Azure stand-in evaluates ${Object.keys(FUNCTIONS).join(', ')}).`,
    );
  }
  return { ...path(match[2]!), fn };
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** Parses a transform; throws TransformError for anything outside the modelled subset. */
export function compileTransform(kql: string | undefined): CompiledTransform {
  const parts = (kql ?? 'source').split('|');
  if (parts[0]!.trim() !== 'source') throw notModelled(parts[0]!);
  const steps: Step[] = parts.slice(1).map((part): Step => {
    const match = /^\s*(project-away|extend|project)\s+([\s\S]+)$/.exec(part);
    if (!match) throw notModelled(part);
    const [, operator, rest] = match as unknown as [string, string, string];
    const entries = splitList(rest);
    if (entries.length === 0) throw notModelled(part);
    if (operator === 'project-away') {
      if (!entries.every((entry) => BARE.test(entry))) throw notModelled(part);
      return { kind: 'projectAway', names: entries };
    }
    const items = entries.map((entry) => {
      const assignment = ASSIGNMENT.exec(entry);
      if (assignment) return { name: assignment[1]!, expression: parseExpression(assignment[2]!, part) };
      if (operator === 'project' && BARE.test(entry)) return { name: entry, expression: { column: entry } };
      throw notModelled(part);
    });
    return operator === 'extend' ? { kind: 'extend', assignments: items } : { kind: 'project', items };
  });

  const typeOf = (expression: Expression, schema: Map<string, KustoType>, part: string): KustoType => {
    const type = schema.get(expression.column);
    if (!type) {
      throw new TransformError(
        'InvalidTransformQuery',
        `SemanticError: '${part}' refers to '${expression.column}', which is not a column of the input stream or of the transform so far.`,
      );
    }
    if (expression.fn) return FUNCTIONS[expression.fn]!.type;
    return expression.members ? 'Dynamic' : type;
  };
  const value = (expression: Expression, row: Record<string, unknown>): unknown => {
    let input = row[expression.column] ?? null;
    for (const member of expression.members ?? []) {
      input =
        typeof input === 'object' && input !== null && !Array.isArray(input)
          ? ((input as Record<string, unknown>)[member] ?? null)
          : null;
    }
    return expression.fn ? FUNCTIONS[expression.fn]!.convert(input) : input;
  };

  return {
    outputSchema(input) {
      let schema = new Map(input.map((column) => [column.name, STREAM_KUSTO[column.type] ?? 'Dynamic']));
      for (const step of steps) {
        const part = step.kind;
        if (step.kind === 'extend') {
          const next = new Map(schema);
          for (const { name, expression } of step.assignments)
            next.set(name, typeOf(expression, schema, part));
          schema = next;
        } else if (step.kind === 'project') {
          schema = new Map(
            step.items.map(({ name, expression }) => [name, typeOf(expression, schema, part)] as const),
          );
        } else {
          for (const name of step.names) schema.delete(name);
        }
      }
      return schema;
    },
    apply(row) {
      let current: Record<string, unknown> = { ...row };
      for (const step of steps) {
        if (step.kind === 'extend') {
          const next = { ...current };
          for (const { name, expression } of step.assignments) next[name] = value(expression, current);
          current = next;
        } else if (step.kind === 'project') {
          current = Object.fromEntries(
            step.items.map(({ name, expression }) => [name, value(expression, current)]),
          );
        } else {
          for (const name of step.names) delete current[name];
        }
      }
      // A row records the values it has: null (absent, or not convertible) is no value in Log Analytics.
      return Object.fromEntries(Object.entries(current).filter(([, entry]) => entry !== null));
    },
  };
}

/**
 * Output columns whose type is not exactly the table column's type, in Azure's
 * `Name [produced:'X', output:'Y']` form; and output columns the table lacks.
 */
export function transformOutputProblems(
  output: Map<string, KustoType>,
  tableColumns: readonly ColumnRecord[],
): { typeMismatches: string[]; missing: string[] } {
  const byName = new Map(tableColumns.map((column) => [column.name, column]));
  const typeMismatches: string[] = [];
  const missing: string[] = [];
  for (const [name, produced] of output) {
    const column = byName.get(name);
    if (!column) {
      missing.push(name);
      continue;
    }
    const expected = TABLE_KUSTO[column.type];
    if (expected !== produced) typeMismatches.push(`${name} [produced:'${produced}', output:'${expected}']`);
  }
  return { typeMismatches, missing };
}
