import { join } from 'node:path';
import { HEALTH_TABLE, healthKqlSchema, kqlSchema, TABLE_NAMES } from '../../src/domain/tableSchema';
import { SENTINEL_DIR } from '../sentinelContent';

/**
 * The CustomTables schema files Azure-Sentinel's KQL validation tests read
 * (.script/tests/KqlvalidationsTests/CustomTables/<table>.json), derived from
 * src/domain/tableSchema.ts.
 */

export const CUSTOM_TABLES_DIR = join(SENTINEL_DIR, 'CustomTables');

/** One CustomTables file per table: {"Name", "Properties": [{"Name", "Type"}]}, with the KQL types Log Analytics exposes. */
export function customTableFile(
  table: string,
  schema: string,
): {
  Name: string;
  Properties: Array<{ Name: string; Type: string }>;
} {
  const columns = schema
    .slice(1, -1)
    .split(', ')
    .map((column) => {
      const [name = '', type = ''] = column.split(':');
      return { Name: name, Type: type };
    });
  return { Name: table, Properties: columns };
}

/** The event tables and the export health table, each with the KQL schema src/domain/tableSchema.ts gives it. */
export const CUSTOM_TABLE_SCHEMAS: ReadonlyArray<{ table: string; schema: string }> = [
  ...TABLE_NAMES.map((table) => ({ table, schema: kqlSchema(table) })),
  { table: HEALTH_TABLE, schema: healthKqlSchema() },
];

export function customTableFiles(): Array<{ path: string; content: ReturnType<typeof customTableFile> }> {
  return CUSTOM_TABLE_SCHEMAS.map(({ table, schema }) => ({
    path: join(CUSTOM_TABLES_DIR, `${table}.json`),
    content: customTableFile(table, schema),
  }));
}
