import { catalogEntry, CONNECTION_TEST_ENTRY } from './catalog';
import { type AuditEvent, SCHEMA_VERSION } from './eventContract';
import { columnNamesAt, TABLE_SCHEMA_VERSION, type TableName } from './tableSchema';

/**
 * A row for the Logs Ingestion API: column name -> value, only columns the
 * table declares. A field the event leaves out is left out of the row (the
 * API stores null for a missing property), never sent as null or "".
 */
export type LogRow = Readonly<Record<string, string | number | boolean>>;

export interface MappedRow {
  readonly table: TableName;
  readonly row: LogRow;
}

/** Maps a validated event to its table and row. */
export function eventToRow(event: AuditEvent): MappedRow {
  const entry = catalogEntry(event.eventId);
  if (!entry) {
    // validateEvent admits only catalog IDs; reaching this means an unvalidated event slipped through.
    throw new Error(`Event ${event.id} has eventId ${event.eventId}, which is not in the catalog`);
  }
  const row: Record<string, string | number | boolean> = {
    TimeGenerated: event.time,
    EventTime_t: event.time,
    EventID_d: event.eventId,
    EventRecordId_g: event.id,
    EventSummary_s: entry.summary,
    Criticality_s: entry.criticality,
    Outcome_s: event.outcome,
    Message_s: event.message,
    CustomerTenantId_g: event.tenantId,
    SchemaVersion_s: event.schemaVersion,
  };
  const set = (column: string, value: string | undefined): void => {
    if (value !== undefined) row[column] = value;
  };
  set('ActorUpn_s', event.actor?.upn);
  set('ActorObjectId_g', event.actor?.objectId);
  set('ActorAppId_g', event.actor?.appId);
  set('ActorIpAddress_s', event.actor?.ipAddress);
  set('CaId_s', event.ca?.id);
  set('CaName_s', event.ca?.name);
  set('Details_s', event.details === undefined ? undefined : JSON.stringify(event.details));
  const certificate = event.certificate;
  set('CertificateSerialNumber_s', certificate?.serialNumber);
  set('CertificateThumbprint_s', certificate?.thumbprint);
  set('CertificateSubject_s', certificate?.subject);
  set(
    'CertificateSubjectAltNames_s',
    certificate?.subjectAltNames === undefined ? undefined : JSON.stringify(certificate.subjectAltNames),
  );
  set('CertificateTemplate_s', certificate?.template);
  set('CertificateRequester_s', certificate?.requester);
  return { table: entry.table, row };
}

/**
 * The row Create Connection writes to prove a table accepts data. It carries
 * the connection-test event ID and says so in plain words, so an analyst who
 * finds it knows it is not a PKI event.
 */
export function connectionTestRow(table: TableName, tenantId: string, now: Date, id: string): LogRow {
  return {
    TimeGenerated: now.toISOString(),
    EventTime_t: now.toISOString(),
    EventID_d: CONNECTION_TEST_ENTRY.eventId,
    EventRecordId_g: id.toLowerCase(),
    EventSummary_s: CONNECTION_TEST_ENTRY.summary,
    Criticality_s: CONNECTION_TEST_ENTRY.criticality,
    Outcome_s: 'Success',
    Message_s: `${CONNECTION_TEST_ENTRY.description} Table ${table}.`,
    CustomerTenantId_g: tenantId.toLowerCase(),
    SchemaVersion_s: SCHEMA_VERSION,
  };
}

/**
 * The row as a DCR provisioned at `schemaVersion` declares it: columns added
 * later are left out until the connection is upgraded, since Azure drops
 * undeclared properties silently. Returns the same row when nothing is left out.
 */
export function rowForSchemaVersion(
  table: TableName,
  row: LogRow,
  schemaVersion: number | undefined,
): LogRow {
  const version = schemaVersion ?? 1;
  if (version >= TABLE_SCHEMA_VERSION) return row;
  const declared = columnNamesAt(table, version);
  return Object.fromEntries(Object.entries(row).filter(([name]) => declared.has(name)));
}
