import type { ColumnRecord, DcrColumn, DcrDataFlow, TableRecord, TableShape } from './model';
import { compileTransform, TransformError } from './transform';
import type { TableColumnType } from './types';

/**
 * Request-body rules of the Tables API (2022-10-01) and the data collection
 * rules API (2023-03-11), from the specs in shared/azure-specs and the
 * documentation cited in shared/reference/azure-contracts.md. Enumerations are
 * copied from the specs (a test compares them with the spec files).
 */

/** Tables.json `Column.type` (note `dateTime`). */
export const TABLE_COLUMN_TYPES: readonly TableColumnType[] = [
  'string',
  'int',
  'long',
  'real',
  'boolean',
  'dateTime',
  'guid',
  'dynamic',
];
/** Tables.json `Column.dataTypeHint`. */
export const DATA_TYPE_HINTS = ['uri', 'guid', 'armPath', 'ip'] as const;
/** Tables.json `TableProperties.plan` in 2022-10-01. */
export const TABLE_PLANS = ['Basic', 'Analytics'] as const;
/** dataCollectionRules_API.json `ColumnDefinition.type` (note lower-case `datetime`, and no `guid`). */
export const DCR_COLUMN_TYPES = ['string', 'int', 'long', 'real', 'boolean', 'datetime', 'dynamic'] as const;

/** create-custom-table: names a custom column must not take (compared case-insensitively). */
export const RESERVED_COLUMN_NAMES = [
  'id',
  'BilledSize',
  'IsBillable',
  'InvalidTimeGenerated',
  'TenantId',
  'Title',
  'Type',
  'UniqueId',
  '_ItemId',
  '_ResourceGroup',
  '_ResourceId',
  '_SubscriptionId',
  '_TimeReceived',
];

/** DCR service limits (azure-monitor-limits-data-collection-rules). */
export const DCR_LIMITS = {
  dataFlows: 10,
  streams: 10,
  logAnalyticsDestinations: 10,
  transformLength: 15_360,
};
export const MAX_TABLE_COLUMNS = 500;

export interface Problem {
  code: string;
  message: string;
  target?: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const COLUMN_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * Validates a table PUT body against the table's current state. Returns the
 * shape the table will have once the operation completes, or the problems.
 */
export function validateTablePut(
  tableName: string,
  body: unknown,
  existing: TableRecord | undefined,
): { shape: TableShape; problems: [] } | { shape?: undefined; problems: Problem[] } {
  const problems: Problem[] = [];
  const fail = (message: string, target?: string): void => {
    problems.push({ code: 'InvalidParameter', message, ...(target ? { target } : {}) });
  };
  if (!isObject(body) || !isObject(body.properties)) {
    fail("The request body must be a table resource with a 'properties' object.", 'properties');
    return { problems };
  }
  const properties = body.properties;
  const isNew = existing?.committed === undefined;
  const tableType = existing?.tableType ?? 'CustomLog';

  if (isNew && !existing && !/^[A-Za-z][A-Za-z0-9_]{0,59}_CL$/.test(tableName)) {
    fail(
      `Table name '${tableName}' is invalid: a custom table's name must start with a letter, contain only letters, digits and underscores, and end with '_CL'.`,
      'tableName',
    );
  }

  const schema = properties.schema;
  if (schema !== undefined && !isObject(schema))
    fail("'properties.schema' must be an object.", 'properties.schema');
  if (isNew && schema === undefined)
    fail("'properties.schema' is required to create a table.", 'properties.schema');
  const schemaObject = isObject(schema) ? schema : undefined;
  if (schemaObject && schemaObject.name !== tableName) {
    fail(
      `'properties.schema.name' ('${String(schemaObject.name)}') must equal the table name in the URL ('${tableName}').`,
      'properties.schema.name',
    );
  }

  let columns: ColumnRecord[] | undefined = existing?.committed?.columns;
  if (schemaObject && schemaObject.columns !== undefined) {
    columns = parseTableColumns(schemaObject.columns, existing, fail);
  } else if (isNew) {
    columns = [];
  }
  if (columns && tableType === 'CustomLog') {
    // A migrated Classic table has TimeGenerated among its standard columns.
    const timeGenerated = [...(existing?.standardColumns ?? []), ...columns].find(
      (column) => column.name === 'TimeGenerated',
    );
    if (!timeGenerated || timeGenerated.type !== 'dateTime') {
      fail(
        "A custom table must define the column 'TimeGenerated' of type 'dateTime' (mandatory field TimeGenerated, Type DateTime).",
        'properties.schema.columns',
      );
    }
  }

  let plan = existing?.committed?.plan ?? 'Analytics';
  if (properties.plan !== undefined) {
    if (!(TABLE_PLANS as readonly unknown[]).includes(properties.plan)) {
      fail(
        `'properties.plan' must be one of ${TABLE_PLANS.join(', ')} (got ${JSON.stringify(properties.plan)}).`,
        'properties.plan',
      );
    } else {
      plan = properties.plan as string;
    }
  }
  const retention = retentionValue(properties.retentionInDays, 4, 730, 'retentionInDays', fail);
  const totalRetention = retentionValue(
    properties.totalRetentionInDays,
    4,
    4383,
    'totalRetentionInDays',
    fail,
  );

  if (problems.length > 0 || !columns) return { problems };
  const retentionInDays = retention ?? existing?.committed?.retentionInDays ?? -1;
  const totalRetentionInDays = totalRetention ?? existing?.committed?.totalRetentionInDays ?? -1;
  return {
    problems: [],
    shape: {
      columns,
      plan,
      retentionInDays,
      totalRetentionInDays,
      retentionInDaysAsDefault: retentionInDays === -1,
      totalRetentionInDaysAsDefault: totalRetentionInDays === -1,
      tableSubType: existing?.committed?.tableSubType ?? 'DataCollectionRuleBased',
    },
  };
}

function retentionValue(
  value: unknown,
  min: number,
  max: number,
  name: string,
  fail: (message: string, target?: string) => void,
): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    (value !== -1 && (value < min || value > max))
  ) {
    fail(
      `'properties.${name}' must be an integer between ${min} and ${max}, or -1 for the default (got ${JSON.stringify(value)}).`,
      `properties.${name}`,
    );
    return undefined;
  }
  return value;
}

function parseTableColumns(
  raw: unknown,
  existing: TableRecord | undefined,
  fail: (message: string, target?: string) => void,
): ColumnRecord[] | undefined {
  if (!Array.isArray(raw)) {
    fail("'properties.schema.columns' must be an array.", 'properties.schema.columns');
    return undefined;
  }
  if (raw.length > MAX_TABLE_COLUMNS) {
    fail(
      `A table can have at most ${MAX_TABLE_COLUMNS} columns (got ${raw.length}).`,
      'properties.schema.columns',
    );
  }
  const columns: ColumnRecord[] = [];
  const seen = new Set<string>();
  const standard = new Set((existing?.standardColumns ?? []).map((column) => column.name.toLowerCase()));
  raw.forEach((entry: unknown, index) => {
    const target = `properties.schema.columns[${index}]`;
    if (!isObject(entry) || typeof entry.name !== 'string' || typeof entry.type !== 'string') {
      fail(`Column ${index} must be an object with string 'name' and 'type'.`, target);
      return;
    }
    const { name, type } = entry;
    if (!COLUMN_NAME.test(name) || name.length < 2 || name.length > 45) {
      fail(
        `Column name '${name}' is invalid: it must start with a letter, contain only letters, digits and underscores, and be 2 to 45 characters long.`,
        `${target}.name`,
      );
    }
    if (RESERVED_COLUMN_NAMES.some((reserved) => reserved.toLowerCase() === name.toLowerCase())) {
      fail(`Column name '${name}' is reserved (${RESERVED_COLUMN_NAMES.join(', ')}).`, `${target}.name`);
    }
    if (standard.has(name.toLowerCase())) {
      fail(
        `Column name '${name}' is a standard column of this table; a PUT must not declare it again (list only custom columns).`,
        `${target}.name`,
      );
    }
    if (seen.has(name)) fail(`Column name '${name}' appears more than once.`, `${target}.name`);
    seen.add(name);
    // Type names compare case-insensitively: in azure-cli's recording
    // test_monitor_log_analytics_workspace_table.yaml a PUT declaring {"type": "datetime"} is
    // accepted (202) although Tables.json spells it dateTime, and the GET answers "datetime".
    const canonicalType = TABLE_COLUMN_TYPES.find((known) => known.toLowerCase() === type.toLowerCase());
    if (canonicalType === undefined) {
      fail(
        `Column '${name}' has type '${type}'; the type must be one of ${TABLE_COLUMN_TYPES.join(', ')}.`,
        `${target}.type`,
      );
      return;
    }
    const previous = existing?.typeHistory.get(name);
    if (previous !== undefined && previous !== canonicalType) {
      fail(
        `Column '${name}' was defined with type '${previous}'; a column name cannot be reused with a different data type ('${type}').`,
        `${target}.type`,
      );
    }
    if (
      entry.dataTypeHint !== undefined &&
      !(DATA_TYPE_HINTS as readonly unknown[]).includes(entry.dataTypeHint)
    ) {
      fail(
        `Column '${name}' has dataTypeHint ${JSON.stringify(entry.dataTypeHint)}; it must be one of ${DATA_TYPE_HINTS.join(', ')}.`,
        `${target}.dataTypeHint`,
      );
    }
    const column: ColumnRecord = { name, type: canonicalType };
    if (typeof entry.description === 'string') column.description = entry.description;
    if (typeof entry.displayName === 'string') column.displayName = entry.displayName;
    if (typeof entry.dataTypeHint === 'string') column.dataTypeHint = entry.dataTypeHint;
    columns.push(column);
  });
  return columns;
}

export interface ParsedDcr {
  location: string;
  kind: string;
  description?: string;
  tags?: Record<string, string>;
  streamDeclarations: Record<string, { columns: DcrColumn[] }>;
  logAnalytics: Array<{ name: string; workspaceResourceId: string }>;
  dataFlows: DcrDataFlow[];
}

/**
 * Shape and internal-reference checks of a DCR PUT body. Cross-resource checks
 * (workspace exists, same region, output table visible) need the model and
 * happen in the ARM face.
 */
export function validateDcrPut(
  body: unknown,
): { dcr: ParsedDcr; problems: [] } | { dcr?: undefined; problems: Problem[] } {
  const problems: Problem[] = [];
  const fail = (code: string, message: string, target?: string): void => {
    problems.push({ code, message, ...(target ? { target } : {}) });
  };
  if (!isObject(body)) {
    fail('InvalidPayload', 'The request body must be a JSON object.');
    return { problems };
  }
  if (typeof body.location !== 'string' || body.location.trim() === '') {
    fail('LocationRequired', 'The location property is required for this definition.', 'location');
  }
  if (body.kind !== 'Direct') {
    fail(
      'InvalidKind',
      `'kind' must be exactly 'Direct' for a data collection rule with its own logs ingestion endpoint (got ${JSON.stringify(body.kind)}). ` +
        'Endpoints are created only for kind Direct, and cannot be added later.',
      'kind',
    );
  }
  const properties = isObject(body.properties) ? body.properties : undefined;
  if (!properties) {
    fail('InvalidPayload', "'properties' is required.", 'properties');
    return { problems };
  }
  if (properties.dataCollectionEndpointId !== undefined) {
    fail(
      'InvalidPayload',
      'The Azure stand-in does not model data collection endpoints: a Direct DCR needs no dataCollectionEndpointId.',
      'properties.dataCollectionEndpointId',
    );
  }
  if (properties.dataSources !== undefined) {
    fail('InvalidPayload', 'The Azure stand-in does not model agent data sources.', 'properties.dataSources');
  }

  const streamDeclarations: Record<string, { columns: DcrColumn[] }> = {};
  if (!isObject(properties.streamDeclarations) || Object.keys(properties.streamDeclarations).length === 0) {
    fail(
      'InvalidStreamDeclaration',
      "'properties.streamDeclarations' must declare at least one stream.",
      'properties.streamDeclarations',
    );
  } else {
    const entries = Object.entries(properties.streamDeclarations);
    if (entries.length > DCR_LIMITS.streams) {
      fail(
        'InvalidStreamDeclaration',
        `A data collection rule can declare at most ${DCR_LIMITS.streams} streams.`,
      );
    }
    for (const [stream, declaration] of entries) {
      const target = `properties.streamDeclarations['${stream}']`;
      if (!stream.startsWith('Custom-') || stream.length <= 'Custom-'.length) {
        fail(
          'InvalidStreamDeclaration',
          `Stream name '${stream}' is invalid: declared stream names must start with 'Custom-'.`,
          target,
        );
      }
      const columns = parseStreamColumns(stream, declaration, target, fail);
      if (columns) streamDeclarations[stream] = { columns };
    }
  }

  const logAnalytics: Array<{ name: string; workspaceResourceId: string }> = [];
  const destinations = isObject(properties.destinations) ? properties.destinations : undefined;
  const otherDestinations = destinations
    ? Object.keys(destinations).filter((key) => key !== 'logAnalytics')
    : [];
  if (otherDestinations.length > 0) {
    fail(
      'InvalidDestination',
      `The Azure stand-in models only logAnalytics destinations (got ${otherDestinations.join(', ')}).`,
      'properties.destinations',
    );
  }
  if (!destinations || !Array.isArray(destinations.logAnalytics) || destinations.logAnalytics.length === 0) {
    fail(
      'InvalidDestination',
      "'properties.destinations.logAnalytics' must list at least one workspace.",
      'properties.destinations',
    );
  } else {
    if (destinations.logAnalytics.length > DCR_LIMITS.logAnalyticsDestinations) {
      fail(
        'InvalidDestination',
        `At most ${DCR_LIMITS.logAnalyticsDestinations} Log Analytics destinations are allowed.`,
      );
    }
    const names = new Set<string>();
    destinations.logAnalytics.forEach((entry: unknown, index) => {
      const target = `properties.destinations.logAnalytics[${index}]`;
      if (
        !isObject(entry) ||
        typeof entry.name !== 'string' ||
        typeof entry.workspaceResourceId !== 'string'
      ) {
        fail(
          'InvalidDestination',
          'A Log Analytics destination needs a string name and workspaceResourceId.',
          target,
        );
        return;
      }
      if (names.has(entry.name))
        fail('InvalidDestination', `Destination name '${entry.name}' is used twice.`, target);
      names.add(entry.name);
      logAnalytics.push({ name: entry.name, workspaceResourceId: entry.workspaceResourceId });
    });
  }

  const dataFlows: DcrDataFlow[] = [];
  if (!Array.isArray(properties.dataFlows) || properties.dataFlows.length === 0) {
    fail(
      'InvalidDataFlow',
      "'properties.dataFlows' must contain at least one data flow.",
      'properties.dataFlows',
    );
  } else {
    if (properties.dataFlows.length > DCR_LIMITS.dataFlows) {
      fail('InvalidDataFlow', `A data collection rule can have at most ${DCR_LIMITS.dataFlows} data flows.`);
    }
    const destinationNames = new Set(logAnalytics.map((destination) => destination.name));
    properties.dataFlows.forEach((entry: unknown, index) => {
      const target = `properties.dataFlows[${index}]`;
      const flow = parseDataFlow(entry, target, Object.keys(streamDeclarations), destinationNames, fail);
      if (flow) dataFlows.push(flow);
    });
  }

  if (problems.length > 0) return { problems };
  const dcr: ParsedDcr = {
    location: body.location as string,
    kind: body.kind as string,
    streamDeclarations,
    logAnalytics,
    dataFlows,
  };
  if (typeof properties.description === 'string') dcr.description = properties.description;
  if (isObject(body.tags)) dcr.tags = body.tags as Record<string, string>;
  return { dcr, problems: [] };
}

function parseStreamColumns(
  stream: string,
  declaration: unknown,
  target: string,
  fail: (code: string, message: string, target?: string) => void,
): DcrColumn[] | undefined {
  if (!isObject(declaration) || !Array.isArray(declaration.columns) || declaration.columns.length === 0) {
    fail('InvalidStreamDeclaration', `Stream '${stream}' must declare a non-empty 'columns' array.`, target);
    return undefined;
  }
  const columns: DcrColumn[] = [];
  const seen = new Set<string>();
  declaration.columns.forEach((column: unknown, index) => {
    const columnTarget = `${target}.columns[${index}]`;
    if (
      !isObject(column) ||
      typeof column.name !== 'string' ||
      typeof column.type !== 'string' ||
      column.name === ''
    ) {
      fail(
        'InvalidStreamDeclaration',
        `Column ${index} of stream '${stream}' needs a string name and type.`,
        columnTarget,
      );
      return;
    }
    if (seen.has(column.name)) {
      fail(
        'InvalidStreamDeclaration',
        `Column '${column.name}' is declared twice in stream '${stream}'.`,
        columnTarget,
      );
    }
    seen.add(column.name);
    if (!(DCR_COLUMN_TYPES as readonly string[]).includes(column.type)) {
      const hint =
        column.type === 'guid'
          ? " Stream declarations have no 'guid' type: declare it as 'string' (the table column may still be guid)."
          : column.type.toLowerCase() === 'datetime'
            ? " Stream declarations spell it 'datetime' (lower case)."
            : '';
      fail(
        'InvalidStreamDeclaration',
        `Column '${column.name}' of stream '${stream}' has type '${column.type}', which is not one of ${DCR_COLUMN_TYPES.join(', ')}.${hint}`,
        `${columnTarget}.type`,
      );
      return;
    }
    columns.push({ name: column.name, type: column.type });
  });
  return columns;
}

function parseDataFlow(
  entry: unknown,
  target: string,
  declaredStreams: string[],
  destinationNames: Set<string>,
  fail: (code: string, message: string, target?: string) => void,
): DcrDataFlow | undefined {
  if (!isObject(entry) || !Array.isArray(entry.streams) || !Array.isArray(entry.destinations)) {
    fail('InvalidDataFlow', 'A data flow needs arrays streams and destinations.', target);
    return undefined;
  }
  const streams = entry.streams.filter((stream): stream is string => typeof stream === 'string');
  const destinations = entry.destinations.filter((name): name is string => typeof name === 'string');
  if (streams.length === 0 || streams.length !== entry.streams.length) {
    fail('InvalidDataFlow', 'A data flow must name at least one stream, as strings.', `${target}.streams`);
  }
  if (destinations.length === 0 || destinations.length !== entry.destinations.length) {
    fail(
      'InvalidDataFlow',
      'A data flow must name at least one destination, as strings.',
      `${target}.destinations`,
    );
  }
  for (const stream of streams) {
    if (!declaredStreams.includes(stream)) {
      fail(
        'InvalidDataFlow',
        `Data flow stream '${stream}' is not declared in streamDeclarations (declared: ${declaredStreams.join(', ') || 'none'}).`,
        `${target}.streams`,
      );
    }
  }
  for (const destination of destinations) {
    if (!destinationNames.has(destination)) {
      fail(
        'InvalidDataFlow',
        `Data flow destination '${destination}' is not defined in destinations (defined: ${[...destinationNames].join(', ') || 'none'}).`,
        `${target}.destinations`,
      );
    }
  }
  const flow: DcrDataFlow = { streams, destinations };
  if (entry.transformKql !== undefined) {
    if (typeof entry.transformKql !== 'string' || !/^\s*source\b/.test(entry.transformKql)) {
      fail(
        'InvalidTransformQuery',
        "'transformKql' must be a KQL query over 'source'.",
        `${target}.transformKql`,
      );
    } else if (transformProblem(entry.transformKql) !== undefined) {
      fail('InvalidTransformQuery', transformProblem(entry.transformKql)!, `${target}.transformKql`);
    } else if (entry.transformKql.length > DCR_LIMITS.transformLength) {
      fail(
        'InvalidTransformQuery',
        `'transformKql' is longer than ${DCR_LIMITS.transformLength} characters.`,
        `${target}.transformKql`,
      );
    } else {
      flow.transformKql = entry.transformKql;
    }
  }
  const outputStream = entry.outputStream ?? (streams.length === 1 ? streams[0] : undefined);
  if (typeof outputStream !== 'string') {
    fail(
      'InvalidOutputStream',
      "'outputStream' is required when a data flow has several streams.",
      `${target}.outputStream`,
    );
  } else if (!/^(Custom|Microsoft)-[A-Za-z0-9_]+$/.test(outputStream)) {
    fail(
      'InvalidOutputStream',
      `Output stream '${outputStream}' is invalid: use 'Custom-<table>_CL' for a custom table or 'Microsoft-<table>' for a built-in one.`,
      `${target}.outputStream`,
    );
  } else {
    flow.outputStream = outputStream;
  }
  return flow;
}

export function outputTableName(outputStream: string): string {
  return outputStream.replace(/^(Custom|Microsoft)-/, '');
}

function transformProblem(kql: string): string | undefined {
  try {
    compileTransform(kql);
    return undefined;
  } catch (error) {
    if (error instanceof TransformError) return error.message;
    throw error;
  }
}
