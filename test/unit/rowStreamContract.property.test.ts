import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dataCollectionRuleBody } from '../../src/adapters/armWorkspace';
import { EVENT_CATALOG } from '../../src/domain/catalog';
import { validateEvent } from '../../src/domain/eventContract';
import { eventToRow } from '../../src/domain/rowMapper';
import { TABLE_COLUMNS, streamName, type TableName } from '../../src/domain/tableSchema';
import { parseWorkspaceResourceId } from '../../src/domain/workspaceResourceId';
import { streamTypeProblem } from '../support/azureStandIn/ingestion';
import { compileTransform } from '../support/azureStandIn/transform';
import { validEventArb } from '../support/auditEventArbitraries';

/**
 * Azure answers 204 to rows that do not fit the DCR's stream and drops them
 * silently, so nothing but this test would notice a mapper that drifts from
 * the stream declaration. For every catalog event ID, every row the mapper
 * emits must (1) name only declared stream columns, (2) give each a value of
 * its stream type (the Logs Ingestion stand-in's own rules), and (3) come out
 * of the DCR's transform with every guid column still set (toguid() of a
 * malformed guid is null: the value would be lost without an error).
 */

const body = dataCollectionRuleBody(
  parseWorkspaceResourceId(
    '/subscriptions/6f1d5b0c-1a2b-4c3d-8e9f-0a1b2c3d4e5f/resourceGroups/rg-siem/providers/Microsoft.OperationalInsights/workspaces/law-sentinel',
  ),
  'eastus',
) as {
  properties: {
    streamDeclarations: Record<string, { columns: Array<{ name: string; type: string }> }>;
    dataFlows: Array<{ streams: string[]; transformKql: string }>;
  };
};

function streamOf(table: TableName) {
  const stream = streamName(table);
  const columns = new Map(
    body.properties.streamDeclarations[stream]!.columns.map((column) => [column.name, column.type]),
  );
  const flow = body.properties.dataFlows.find((candidate) => candidate.streams.includes(stream))!;
  return { stream, columns, transform: compileTransform(flow.transformKql) };
}

describe('every mapped row fits the stream declaration of the DCR we create', () => {
  it.each(EVENT_CATALOG.map((entry) => [entry.eventId, entry.table] as const))(
    'event %i into %s',
    (eventId, table) => {
      const { stream, columns, transform } = streamOf(table);
      const guidColumns = TABLE_COLUMNS[table].filter((column) => column.type === 'guid').map((c) => c.name);
      fc.assert(
        fc.property(validEventArb, (generated) => {
          const result = validateEvent({ ...generated, eventId });
          if (!result.ok) return;
          const mapped = eventToRow(result.event);
          expect(mapped.table).toBe(table);
          for (const [name, value] of Object.entries(mapped.row)) {
            const type = columns.get(name);
            expect(type, `${name} is not declared in ${stream}`).toBeDefined();
            expect(streamTypeProblem(type!, value), `${name}=${JSON.stringify(value)}`).toBeUndefined();
          }
          const stored = transform.apply(mapped.row);
          for (const name of guidColumns) {
            if (name in mapped.row) expect(stored[name], `${name} lost by toguid()`).toBe(mapped.row[name]);
          }
        }),
        { numRuns: 40 },
      );
    },
  );
});
