/**
 * The one definition of the two custom tables we write in each customer's
 * workspace. Everything else derives from it: the table PUT body, the DCR
 * stream declaration, the row mapper, the column list of docs/producers.md and the KQL
 * checks of the Sentinel content.
 *
 * Column names keep the legacy Data Collector API suffixes (_s string,
 * _d double, _g guid, _t datetime, _b bool) so the seed's queries
 * (`EventID_d == 4888`) and queries customers wrote against the old export keep
 * working. `TimeGenerated` is mandatory in every Log Analytics table.
 */

/** Our logical column types; each maps to one Tables API type and one DCR stream type. */
export type ColumnType = 'string' | 'real' | 'boolean' | 'datetime' | 'guid';

export interface ColumnDefinition {
  readonly name: string;
  readonly type: ColumnType;
  readonly description: string;
  /** The table schema version that added the column (1 when absent). */
  readonly since?: number;
}

/**
 * Version of what we provision (tables, stream declarations, transforms). Bump
 * it with every new column (give the column `since`) or stream: connections
 * provisioned at an older version are upgraded by a timer, and until then their
 * rows leave out the columns their DCR does not declare (Azure would drop them
 * silently). Version 1 is everything before EventTime_t; version 3 adds the
 * export health table and its stream (HEALTH_SCHEMA_VERSION).
 */
export const TABLE_SCHEMA_VERSION = 3;

export const CA_TABLE = 'EZCA_CAs_CL';
export const CERTIFICATE_TABLE = 'EZCA_Certificates_CL';
export type TableName = typeof CA_TABLE | typeof CERTIFICATE_TABLE;
export const TABLE_NAMES: readonly TableName[] = [CA_TABLE, CERTIFICATE_TABLE];

/** Names Log Analytics reserves; a custom column must not use them (create-custom-table docs). */
export const RESERVED_COLUMN_NAMES: ReadonlySet<string> = new Set([
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
]);

const COMMON_COLUMNS: readonly ColumnDefinition[] = [
  {
    name: 'TimeGenerated',
    type: 'datetime',
    description:
      "When the event happened (UTC), unless the event arrived more than 2 days late: Log Analytics then replaces it with the ingestion time. Use EventTime_t for the event's own time.",
  },
  {
    name: 'EventTime_t',
    type: 'datetime',
    description:
      'When the event happened (UTC), as the PKI service stamped it; never replaced by the ingestion time.',
    since: 2,
  },
  {
    name: 'EventID_d',
    type: 'real',
    description: 'Catalog event ID, e.g. 4888 (a double, as the legacy export wrote it).',
  },
  {
    name: 'EventRecordId_g',
    type: 'guid',
    description: 'Unique id of this event; the same on a redelivered copy, so queries can dedupe on it.',
  },
  { name: 'EventSummary_s', type: 'string', description: 'Catalog summary of the event ID.' },
  {
    name: 'Criticality_s',
    type: 'string',
    description: 'Potential criticality: High, Medium, Low or Informational.',
  },
  { name: 'Outcome_s', type: 'string', description: 'Success, Denied or Failure.' },
  { name: 'Message_s', type: 'string', description: 'Human-readable description from the PKI service.' },
  { name: 'CustomerTenantId_g', type: 'guid', description: 'Entra tenant the event belongs to (yours).' },
  { name: 'ActorUpn_s', type: 'string', description: 'User principal name of who acted, when a user acted.' },
  { name: 'ActorObjectId_g', type: 'guid', description: 'Entra object id of who acted.' },
  {
    name: 'ActorAppId_g',
    type: 'guid',
    description: 'Application id of who acted, when an application acted.',
  },
  { name: 'ActorIpAddress_s', type: 'string', description: 'IP address the request came from.' },
  { name: 'CaId_s', type: 'string', description: 'Identifier of the certificate authority concerned.' },
  { name: 'CaName_s', type: 'string', description: 'Display name of the certificate authority concerned.' },
  {
    name: 'Details_s',
    type: 'string',
    description: 'Event-specific details as a JSON object string (parse_json() in KQL).',
  },
  {
    name: 'SchemaVersion_s',
    type: 'string',
    description: 'Version of the event contract the PKI service sent.',
  },
];

const CERTIFICATE_COLUMNS: readonly ColumnDefinition[] = [
  {
    name: 'CertificateSerialNumber_s',
    type: 'string',
    description: 'Serial number of the certificate concerned (upper-case hex).',
  },
  {
    name: 'CertificateThumbprint_s',
    type: 'string',
    description: 'SHA-1 or SHA-256 thumbprint of the certificate concerned (upper-case hex).',
  },
  {
    name: 'CertificateSubject_s',
    type: 'string',
    description: 'Subject distinguished name of the certificate.',
  },
  {
    name: 'CertificateSubjectAltNames_s',
    type: 'string',
    description: 'Subject alternative names as a JSON array string.',
  },
  { name: 'CertificateTemplate_s', type: 'string', description: 'Certificate template or profile used.' },
  { name: 'CertificateRequester_s', type: 'string', description: 'Who requested the certificate.' },
];

/**
 * Both tables share one column set so a security engineer can `union` them
 * without guessing: CA events about a CA certificate (import, renewal) fill the
 * certificate columns too, certificate events name their issuing CA.
 */
export const TABLE_COLUMNS: Readonly<Record<TableName, readonly ColumnDefinition[]>> = {
  [CA_TABLE]: [...COMMON_COLUMNS, ...CERTIFICATE_COLUMNS],
  [CERTIFICATE_TABLE]: [...COMMON_COLUMNS, ...CERTIFICATE_COLUMNS],
};

/** Names of the columns a table has at a schema version (a connection provisioned before versions were recorded is at 1). */
export function columnNamesAt(table: TableName, version: number): ReadonlySet<string> {
  return new Set(
    TABLE_COLUMNS[table].filter((column) => (column.since ?? 1) <= version).map((column) => column.name),
  );
}

/** Tables API (Microsoft.OperationalInsights/workspaces/tables) column type names. */
const TABLES_API_TYPE: Record<ColumnType, string> = {
  string: 'string',
  real: 'real',
  boolean: 'boolean',
  datetime: 'dateTime',
  guid: 'guid',
};

/** DCR stream declaration column types: lower-case `datetime`, and no `guid` type at all. */
const STREAM_TYPE: Record<ColumnType, string> = {
  string: 'string',
  real: 'real',
  boolean: 'boolean',
  datetime: 'datetime',
  guid: 'string',
};

/** KQL scalar type of each column as Log Analytics exposes it: a guid column is `guid` in KQL too. */
const KQL_TYPE: Record<ColumnType, string> = {
  string: 'string',
  real: 'real',
  boolean: 'bool',
  datetime: 'datetime',
  guid: 'guid',
};

export function tablesApiColumns(
  table: ProvisionedTable,
): Array<{ name: string; type: string; description: string }> {
  return columnsOf(table).map((column) => ({
    name: column.name,
    type: TABLES_API_TYPE[column.type],
    description: column.description,
  }));
}

export function streamDeclarationColumns(table: ProvisionedTable): Array<{ name: string; type: string }> {
  return columnsOf(table).map((column) => ({ name: column.name, type: STREAM_TYPE[column.type] }));
}

/** `(TimeGenerated:datetime, EventID_d:real, …)` as the Kusto language service's TableSymbol wants it. */
export function kqlSchema(table: TableName): string {
  return `(${TABLE_COLUMNS[table].map((column) => `${column.name}:${KQL_TYPE[column.type]}`).join(', ')})`;
}

/** The DCR input stream for a table: `Custom-` + table name (stream keys must start with `Custom-`). */
export function streamName(table: ProvisionedTable): string {
  return `Custom-${table}`;
}

/**
 * The data flow's transform: it must produce each table column with exactly the
 * table's type, or Azure refuses the DCR (`InvalidTransformOutput … [produced:'String',
 * output:'Guid']`). Streams have no guid type, so guid columns arrive as strings and
 * are converted here; every other stream type already is the table's type.
 */
export function dataFlowTransform(table: ProvisionedTable): string {
  const conversions = columnsOf(table)
    .filter((column) => column.type === 'guid')
    .map((column) => `${column.name} = toguid(${column.name})`);
  return conversions.length === 0 ? 'source' : `source | extend ${conversions.join(', ')}`;
}

/** The DCR data flow's output stream for a custom table. */
export function outputStreamName(table: ProvisionedTable): string {
  return `Custom-${table}`;
}

/**
 * The export health table (issue 17): signed, chained rows saying what was
 * delivered per window and which configuration changes were made. Declared
 * apart from TableName so the event-table code paths stay as they are.
 */
export const HEALTH_TABLE = 'EZCA_ExportHealth_CL';

export const HEALTH_COLUMNS: readonly ColumnDefinition[] = [
  { name: 'TimeGenerated', type: 'datetime', description: 'When the row was sealed (not signed).' },
  {
    name: 'RowKind_s',
    type: 'string',
    description: 'window (what a window delivered) or change (a configuration change).',
  },
  { name: 'CustomerTenantId_g', type: 'guid', description: 'Entra tenant the row is about (yours).' },
  {
    name: 'WindowStart_t',
    type: 'datetime',
    description: 'Start of the delivery-time window; for a change, when it happened.',
  },
  {
    name: 'WindowEnd_t',
    type: 'datetime',
    description: 'End of the window (exclusive); for a change, when it happened.',
  },
  {
    name: 'Part_d',
    type: 'real',
    description: "Which part of this window's ids for Table_s this row holds (1-based).",
  },
  { name: 'PartCount_d', type: 'real', description: "How many parts this window's ids for Table_s have." },
  { name: 'Table_s', type: 'string', description: 'Event table the listed record ids were delivered to.' },
  {
    name: 'DeliveredCount_d',
    type: 'real',
    description: 'Distinct record ids delivered to Table_s in the whole window (each part repeats it).',
  },
  {
    name: 'RecordIds_s',
    type: 'string',
    description: "This part's record ids (EventRecordId_g): sorted, lower case, comma-separated.",
  },
  { name: 'ParkedCount_d', type: 'real', description: 'Events parked in the window.' },
  {
    name: 'ReenqueuedCount_d',
    type: 'real',
    description: 'Events re-enqueued for a later retry in the window.',
  },
  { name: 'ConnectionState_s', type: 'string', description: 'Connection state when the row was sealed.' },
  { name: 'ConnectionReason_s', type: 'string', description: 'Why the connection is in that state.' },
  {
    name: 'Change_s',
    type: 'string',
    description:
      'For change rows: connectionCreated, settingsSaved, exportDisabled, replayed, suspended or deliveryRecordsExpired.',
  },
  { name: 'Actor_s', type: 'string', description: 'For change rows: who made the change.' },
  { name: 'Reason_s', type: 'string', description: 'For change rows: why.' },
  {
    name: 'Sequence_d',
    type: 'real',
    description: "Position in the tenant's chain of health rows: 1, 2, 3… without gaps.",
  },
  {
    name: 'PreviousHash_s',
    type: 'string',
    description:
      'base64url SHA-256 of the previous health row (canonical form and signature); GENESIS for the first.',
  },
  { name: 'KeyId_s', type: 'string', description: 'Id (kid) of the published key that signed the row.' },
  {
    name: 'Signature_s',
    type: 'string',
    description: 'Detached JWS (ES256 or RS256) over the RFC 8785 canonical JSON of the signed columns.',
  },
];

export function healthTablesApiColumns(): Array<{ name: string; type: string; description: string }> {
  return HEALTH_COLUMNS.map((column) => ({
    name: column.name,
    type: TABLES_API_TYPE[column.type],
    description: column.description,
  }));
}

export function healthStreamDeclarationColumns(): Array<{ name: string; type: string }> {
  return HEALTH_COLUMNS.map((column) => ({ name: column.name, type: STREAM_TYPE[column.type] }));
}

export function healthKqlSchema(): string {
  return `(${HEALTH_COLUMNS.map((column) => `${column.name}:${KQL_TYPE[column.type]}`).join(', ')})`;
}

/** `Custom-EZCA_ExportHealth_CL`: the health table's DCR input and output stream. */
export const HEALTH_STREAM = `Custom-${HEALTH_TABLE}`;

/** The schema version that added the health table and its DCR stream: connections below it never get health rows sent. */
export const HEALTH_SCHEMA_VERSION = 3;

/** Every table Create Connection and the schema upgrade provision, with its stream. */
export type ProvisionedTable = TableName | typeof HEALTH_TABLE;
export const PROVISIONED_TABLES: readonly ProvisionedTable[] = [...TABLE_NAMES, HEALTH_TABLE];

/** The schema version that added a table and its stream (1 when absent). */
export const TABLE_SINCE: Readonly<Partial<Record<ProvisionedTable, number>>> = {
  [HEALTH_TABLE]: HEALTH_SCHEMA_VERSION,
};

export function columnsOf(table: ProvisionedTable): readonly ColumnDefinition[] {
  return table === HEALTH_TABLE ? HEALTH_COLUMNS : TABLE_COLUMNS[table];
}

/** Whether a DCR provisioned at `version` declares the health stream (undefined: before versions were recorded, 1). */
export function declaresHealthStream(version: number | undefined): boolean {
  return (version ?? 1) >= HEALTH_SCHEMA_VERSION;
}
