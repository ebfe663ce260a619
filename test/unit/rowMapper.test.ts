import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { catalogEntry, CONNECTION_TEST_EVENT_ID } from '../../src/domain/catalog';
import { type AuditEvent, LIMITS, validateEvent } from '../../src/domain/eventContract';
import { connectionTestRow, eventToRow, type LogRow } from '../../src/domain/rowMapper';
import {
  type ColumnType,
  kqlSchema,
  TABLE_COLUMNS,
  TABLE_NAMES,
  type TableName,
} from '../../src/domain/tableSchema';
import { candidateEventArb, validEventArb } from '../support/auditEventArbitraries';
import { CERTIFICATE_CREATED, REQUEST_DENIED_IPV6, TENANT } from '../fixtures/auditEvents';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** What the Logs Ingestion API accepts for each declared type (guid columns arrive as strings). */
function fitsType(type: ColumnType, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'real':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'datetime':
      return typeof value === 'string' && ISO_UTC.test(value) && !Number.isNaN(Date.parse(value));
    case 'guid':
      return typeof value === 'string' && GUID.test(value);
  }
}

function expectFitsTable(table: TableName, row: LogRow): void {
  const columns = new Map(TABLE_COLUMNS[table].map((column) => [column.name, column.type]));
  for (const [name, value] of Object.entries(row)) {
    const type = columns.get(name);
    expect(type, `${name} is not a column of ${table}`).toBeDefined();
    expect(fitsType(type!, value), `${name}=${JSON.stringify(value)} is not a ${type}`).toBe(true);
    if (typeof value === 'string')
      expect(Buffer.byteLength(value, 'utf8')).toBeLessThanOrEqual(LIMITS.columnBytes);
  }
  expect(row).toHaveProperty('TimeGenerated');
}

function valid(input: unknown): AuditEvent {
  const result = validateEvent(input);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.event;
}

describe('eventToRow', () => {
  it('maps every field of a full certificate event to its column', () => {
    const { table, row } = eventToRow(valid(CERTIFICATE_CREATED));
    expect(table).toBe('EZCA_Certificates_CL');
    expect(row).toEqual({
      TimeGenerated: '2024-05-01T12:34:56.789Z',
      EventTime_t: '2024-05-01T12:34:56.789Z',
      EventID_d: 4887,
      EventRecordId_g: CERTIFICATE_CREATED.id,
      EventSummary_s: 'Certificate was created',
      Criticality_s: 'Low',
      Outcome_s: 'Success',
      Message_s: CERTIFICATE_CREATED.message,
      CustomerTenantId_g: TENANT,
      SchemaVersion_s: '1',
      ActorUpn_s: 'alice@contoso.com',
      ActorObjectId_g: CERTIFICATE_CREATED.actor.objectId,
      ActorIpAddress_s: '203.0.113.7',
      CaId_s: 'ca-issuing-01',
      CaName_s: 'Contoso Issuing CA 01',
      Details_s: JSON.stringify(CERTIFICATE_CREATED.details),
      CertificateSerialNumber_s: CERTIFICATE_CREATED.certificate.serialNumber.toUpperCase(),
      CertificateThumbprint_s: CERTIFICATE_CREATED.certificate.thumbprint.toUpperCase(),
      CertificateSubject_s: CERTIFICATE_CREATED.certificate.subject,
      CertificateSubjectAltNames_s: '["DNS:www.contoso.com","DNS:contoso.com"]',
      CertificateTemplate_s: 'WebServer',
      CertificateRequester_s: 'alice@contoso.com',
    });
    expect(JSON.parse(row.Details_s as string)).toEqual(CERTIFICATE_CREATED.details);
  });

  it('leaves out the columns of fields the event leaves out', () => {
    const { row } = eventToRow(valid(REQUEST_DENIED_IPV6));
    for (const absent of ['ActorUpn_s', 'CaId_s', 'Details_s', 'CertificateSubjectAltNames_s']) {
      expect(row).not.toHaveProperty(absent);
    }
    expect(Object.values(row)).not.toContain(null);
  });

  it('sends every valid event to its catalog table, in a row that fits the declared columns and types', () => {
    fc.assert(
      fc.property(fc.oneof(validEventArb, candidateEventArb), (input) => {
        const result = validateEvent(input);
        if (!result.ok) return;
        const { table, row } = eventToRow(result.event);
        const entry = catalogEntry(result.event.eventId);
        expect(table).toBe(entry?.table);
        expectFitsTable(table, row);
        expect(row.EventID_d).toBe(result.event.eventId);
        expect(row.EventRecordId_g).toBe(result.event.id);
        expect(row.Criticality_s).toBe(entry?.criticality);
        // Compared as JSON text: that is what the column holds (and -0 becomes 0 in JSON anyway).
        if (result.event.details) expect(row.Details_s).toBe(JSON.stringify(result.event.details));
      }),
      { numRuns: 300 },
    );
  });
});

describe('connectionTestRow', () => {
  it.each(TABLE_NAMES)('writes a clearly marked test row that fits %s', (table) => {
    const row = connectionTestRow(
      table,
      TENANT.toUpperCase(),
      new Date('2024-05-01T10:00:00Z'),
      'AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE',
    );
    expectFitsTable(table, row);
    expect(row).toMatchObject({
      TimeGenerated: '2024-05-01T10:00:00.000Z',
      EventID_d: CONNECTION_TEST_EVENT_ID,
      EventRecordId_g: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
      CustomerTenantId_g: TENANT,
      Criticality_s: 'Informational',
    });
    expect(row.EventSummary_s).toMatch(/not a PKI event/);
  });
});

describe("the seed's alert queries", () => {
  // Word for word from the customer how-to ("How To Create Alerts in Azure Sentinel").
  const SEED_QUERIES = [
    'EZCA_Certificates_CL\n| where EventID_d == 4888',
    'EZCA_CAs_CL\n| where EventID_d == 4882',
    'EZCA_CAs_CL\n| where EventID_d == 92',
    'EZCA_CAs_CL\n| where EventID_d == 19',
  ];

  it.each(SEED_QUERIES)('refers only to columns that exist with a numeric type: %s', (query) => {
    const match = /^(\w+)\n\| where (\w+) == (\d+)$/.exec(query);
    expect(match).not.toBeNull();
    const [, table, column, value] = match!;
    expect(TABLE_NAMES).toContain(table);
    const declared = TABLE_COLUMNS[table as TableName].find((candidate) => candidate.name === column);
    expect(declared?.type).toBe('real');
    expect(kqlSchema(table as TableName)).toContain(`${column}:real`);
    // The event the query looks for lands in the table the query reads.
    expect(catalogEntry(Number(value))?.table).toBe(table);
  });
});
