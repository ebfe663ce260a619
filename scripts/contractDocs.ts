import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as prettier from 'prettier';
import { CONNECTION_TEST_ENTRY, EVENT_CATALOG } from '../src/domain/catalog';
import {
  LIMITS,
  MAX_JSON_BYTES_KEYWORD,
  MAX_JSON_DEPTH_KEYWORD,
  SCHEMA_VERSION,
} from '../src/domain/eventContract';
import { AUDIT_EVENT_SCHEMA_FILE, auditEventJsonSchema } from '../src/domain/eventJsonSchema';
import {
  streamDeclarationColumns,
  TABLE_COLUMNS,
  TABLE_NAMES,
  tablesApiColumns,
  type TableName,
} from '../src/domain/tableSchema';

/**
 * Renders the generated artifacts of the event contract: the JSON Schema file
 * and the producers' guide section (contract fields, catalog, table columns).
 * `npm run docs` writes them; test/unit/contractDocs.test.ts checks the
 * committed copies equal what this renders, so the documentation cannot drift
 * from the code.
 */

export const REPO_ROOT = path.resolve(__dirname, '..');
/** The producers' guide holds the contract section; its links are relative to docs/. */
export const CONTRACT_DOC = 'docs/producers.md';
export const CONTRACT_BEGIN = '<!-- BEGIN GENERATED: event contract (npm run docs) -->';
export const CONTRACT_END = '<!-- END GENERATED: event contract -->';

interface JsonSchemaNode {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  items?: JsonSchemaNode;
  properties?: Record<string, JsonSchemaNode>;
  required?: string[];
  description?: string;
  allOf?: Array<{ then?: { required?: string[] } }>;
  [keyword: string]: unknown;
}

export async function format(text: string, filepath: string): Promise<string> {
  const options = await prettier.resolveConfig(path.join(REPO_ROOT, filepath));
  return prettier.format(text, { ...options, filepath });
}

export async function renderJsonSchemaFile(): Promise<string> {
  return format(JSON.stringify(auditEventJsonSchema(), null, 2), AUDIT_EVENT_SCHEMA_FILE);
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function typeOf(node: JsonSchemaNode): string {
  if (node.const !== undefined) return `string \`${JSON.stringify(node.const)}\``;
  if (node.format === 'uuid') return 'string (GUID)';
  if (node.format === 'date-time') return 'string (date-time, UTC, ends in `Z`)';
  if (node.enum && node.type === 'integer') return 'integer (catalog event ID)';
  if (node.enum) return `string: ${node.enum.map((value) => `\`${String(value)}\``).join(', ')}`;
  if (node.type === 'array' && node.items) return `array of ${node.items.type ?? 'values'}s`;
  if (node.pattern && node.description?.includes('hex')) return 'string (hex)';
  if (node.pattern && node.description?.includes('IP address')) return 'string (IPv4 or IPv6)';
  return node.type ?? 'any';
}

function limitsOf(node: JsonSchemaNode): string {
  const limits: string[] = [];
  if (node.maxLength !== undefined) {
    limits.push(`${(node.minLength ?? 0) > 0 ? `${node.minLength}–` : '≤ '}${node.maxLength} characters`);
  }
  if (node.maxItems !== undefined) limits.push(`≤ ${node.maxItems} entries`);
  if (node.items?.maxLength !== undefined) limits.push(`each 1–${node.items.maxLength} characters`);
  const bytes = node[MAX_JSON_BYTES_KEYWORD];
  if (typeof bytes === 'number') limits.push(`≤ ${bytes} bytes as JSON`);
  const depth = node[MAX_JSON_DEPTH_KEYWORD];
  if (typeof depth === 'number') limits.push(`≤ ${depth} levels deep`);
  return limits.join(', ');
}

function fieldRows(
  node: JsonSchemaNode,
  prefix: string,
  parentRequired: boolean,
  requiredOn: ReadonlyMap<string, string>,
): string[] {
  const rows: string[] = [];
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const field = `${prefix}${name}`;
    const required = (node.required ?? []).includes(name);
    const requiredText = required
      ? parentRequired
        ? 'yes'
        : `yes, within \`${prefix.slice(0, -1)}\``
      : (requiredOn.get(field) ?? 'no');
    const limits = limitsOf(child);
    rows.push(
      `- \`${field}\`: ${typeOf(child)}; required: ${requiredText}${limits ? `; ${limits}` : ''}. ${child.description ?? ''}`,
    );
    if (child.properties) rows.push(...fieldRows(child, `${field}.`, false, requiredOn));
  }
  return rows;
}

function contractSection(): string {
  const schema = auditEventJsonSchema() as JsonSchemaNode;
  const requiredOn = new Map<string, string>();
  for (const rule of schema.allOf ?? []) {
    for (const field of rule.then?.required ?? []) requiredOn.set(field, 'on CA events');
  }
  return [
    `### Audit event message, contract version ${SCHEMA_VERSION}`,
    '',
    `One event per Service Bus message: the event as the JSON body, \`contentType: application/json\`, \`messageId\` = \`<tenantId>:<id>\` (the queue's duplicate detection drops a resend of the same event within its window, and spans the whole queue: scoped by tenant, two tenants' events that happen to share an \`id\` both arrive; at most 128 characters, Service Bus's limit; a producer of its own that still sends the bare \`id\` keeps working, but its events share the queue-wide window with every other tenant's), application properties \`tenantId\`, \`eventId\` and \`schemaVersion\`. The \`tenantId\` property is required and must name the body's \`tenantId\` (compared case-insensitively), and the body must name each key once per object: a message without the property, disagreeing with its body, or repeating a key is parked as \`invalidMessage\` under no tenant (\`_unattributed\`) and never delivered, so a faulty producer cannot steer events into another customer's workspace. The JSON Schema is [\`${AUDIT_EVENT_SCHEMA_FILE}\`](../${AUDIT_EVENT_SCHEMA_FILE}); the producer library (\`pki-siem-export/producer\`) builds, validates and sends events.`,
    '',
    `Unknown fields are refused at every level except inside \`details\`, so a misspelt field is reported instead of silently dropped. Lengths count Unicode characters. The whole event must serialize to at most ${LIMITS.eventBytes} bytes of JSON, which keeps it inside a Service Bus Standard message (256 KB) and every column under the Logs Ingestion API's 64 KB field limit. GUIDs are stored in lower case and certificate serial numbers and thumbprints in upper-case hex, whatever case the producer used.`,
    '',
    'The fields, as `name`: type; whether required; limits. What it is:',
    '',
    ...fieldRows(schema, '', true, requiredOn),
    '',
  ].join('\n');
}

function catalogSection(): string {
  const rows = EVENT_CATALOG.map(
    (entry) =>
      `| ${entry.eventId} | ${cell(entry.summary)} | ${cell(entry.description)} | ${entry.criticality} | \`${entry.table}\` |`,
  );
  return [
    '### Event catalog',
    '',
    'CA operations land in `EZCA_CAs_CL`, certificate operations in `EZCA_Certificates_CL`.',
    '',
    '| Event ID | Summary | Description | Potential criticality | Table |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    `| ${CONNECTION_TEST_ENTRY.eventId} | ${cell(CONNECTION_TEST_ENTRY.summary)} | ${cell(CONNECTION_TEST_ENTRY.description)} | ${CONNECTION_TEST_ENTRY.criticality} | both |`,
    '',
    `Event ID ${CONNECTION_TEST_ENTRY.eventId} is written only by Create Connection; producers cannot send it, and alert rules can exclude it with \`where EventID_d != ${CONNECTION_TEST_ENTRY.eventId}\`.`,
    '',
  ].join('\n');
}

function columnTable(table: TableName): string[] {
  const apiTypes = tablesApiColumns(table);
  const streamTypes = streamDeclarationColumns(table);
  return [
    'Each column as `name`: KQL type (Tables API type, DCR stream type). What it holds:',
    '',
    ...TABLE_COLUMNS[table].map(
      (column, index) =>
        `- \`${column.name}\`: ${column.type} (${apiTypes[index]?.type ?? ''}, ${streamTypes[index]?.type ?? ''}). ${column.description}`,
    ),
  ];
}

function columnsSection(): string {
  const [first, ...rest] = TABLE_NAMES;
  if (!first) return '';
  const same = rest.every(
    (table) => JSON.stringify(TABLE_COLUMNS[table]) === JSON.stringify(TABLE_COLUMNS[first]),
  );
  const lines = [
    '### Table columns',
    '',
    'Column names keep the legacy Data Collector suffixes (`_s` string, `_d` double, `_g` GUID), so queries such as `EZCA_Certificates_CL | where EventID_d == 4888` work unchanged. A field the event leaves out is empty in the row.',
    '',
    "Which time to use: `EventTime_t` is when the event happened, always, even when it arrived days late (after an outage or a replay); use it for timelines, investigations and anything about when something was done. `TimeGenerated` is the same time for events that arrive within 2 days, but Log Analytics replaces a time more than 2 days old (or more than 1 day ahead) with the time it received the row, so it is the right column for the time filters of scheduled alert rules (it is what their look-back window and the table's retention use) and wrong for when the event happened. `ingestion_time()` is always when the row arrived.",
    '',
    "The data collection rule's stream has no guid type: it carries the `_g` columns as strings and its transform converts them with `toguid()`, so each row lands with exactly the table's types. In KQL they are `guid`: compare them with a guid (`EventRecordId_g == guid(…)`) or use `tostring()` before mixing them with strings.",
    '',
  ];
  if (same) {
    lines.push(
      `Both tables, ${TABLE_NAMES.map((table) => `\`${table}\``).join(' and ')}, have these columns:`,
      '',
    );
    lines.push(...columnTable(first), '');
  } else {
    for (const table of TABLE_NAMES) lines.push(`\`${table}\`:`, '', ...columnTable(table), '');
  }
  return lines.join('\n');
}

/** The generated contract block, markers included, formatted as Prettier would. */
export async function renderContractSection(): Promise<string> {
  const body = [contractSection(), catalogSection(), columnsSection()].join('\n');
  const formatted = await format(body, CONTRACT_DOC);
  return `${CONTRACT_BEGIN}\n\n${formatted}\n${CONTRACT_END}`;
}

/** The producers' guide with the contract block replaced (or appended under its heading when absent). */
export async function withContractSection(doc: string): Promise<string> {
  return replaceGeneratedBlock(doc, {
    begin: CONTRACT_BEGIN,
    end: CONTRACT_END,
    section: await renderContractSection(),
    heading: '## Event contract, catalog and table columns',
  });
}

/** Replaces the text between two markers (markers included), or appends it under `heading`. */
export function replaceGeneratedBlock(
  doc: string,
  block: { begin: string; end: string; section: string; heading: string },
): string {
  const begin = doc.indexOf(block.begin);
  const end = doc.indexOf(block.end);
  if (begin >= 0 && end > begin) {
    return doc.slice(0, begin) + block.section + doc.slice(end + block.end.length);
  }
  return `${doc.trimEnd()}\n\n${block.heading}\n\n${block.section}\n`;
}

export async function readRepoFile(file: string): Promise<string> {
  return readFile(path.join(REPO_ROOT, file), 'utf8');
}
