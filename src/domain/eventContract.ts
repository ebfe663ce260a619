import { z } from 'zod';
import { catalogEntry, CONNECTION_TEST_EVENT_ID, EVENT_CATALOG } from './catalog';
import { repeatedJsonKey } from './jsonDuplicateKeys';

/**
 * The audit event message contract, version 1: what a PKI service puts on the
 * queue, one event per message. This zod schema is the single source of truth;
 * the published JSON Schema (schemas/audit-event.v1.schema.json) and the
 * field list of docs/producers.md are generated from it.
 *
 * Decisions a producer should know about:
 * - Unknown fields are refused, at every level except `details`: a typo such
 *   as `tennantId` silently dropped would be an invisible loss.
 * - Every string and array is bounded, `details` and `certificate.subjectAltNames`
 *   by their serialized size, and the whole event by its serialized size, so one
 *   event always fits a Service Bus Standard message (256 KB with properties)
 *   and every column it fills stays under the Logs Ingestion API's 64 KB field
 *   limit (Azure silently truncates a longer value).
 * - Lengths count Unicode characters (code points), as JSON Schema's maxLength does.
 * - A valid event comes back canonical: GUIDs in lower case, certificate serial
 *   number and thumbprint in upper-case hex, so KQL `==` comparisons and the
 *   forwarder's per-tenant grouping never depend on how a producer spelled them.
 */

export const SCHEMA_VERSION = '1';
export const SUPPORTED_SCHEMA_VERSIONS: readonly string[] = [SCHEMA_VERSION];

/** UTF-8 byte and size limits. A column's value must stay under Azure's 64 KB field limit. */
export const LIMITS = {
  /** Logs Ingestion API: a longer field value is silently truncated. */
  columnBytes: 64 * 1024,
  /**
   * The whole event as compact JSON. A Service Bus Standard message holds 256 KB
   * including its properties and the AMQP envelope; half of that leaves room for
   * both and for the properties the forwarder adds when it re-enqueues.
   */
  eventBytes: 128 * 1024,
  /** Details_s and CertificateSubjectAltNames_s hold these as JSON; both stay under columnBytes. */
  detailsBytes: 48 * 1024,
  /** JSON.stringify recurses; a few thousand levels overflow the stack. */
  detailsDepth: 16,
  detailsKeyChars: 128,
  subjectAltNamesBytes: 48 * 1024,
  subjectAltNames: 256,
  subjectAltNameChars: 1024,
  messageChars: 4096,
  subjectChars: 2048,
  upnChars: 1024,
  caIdChars: 512,
  caNameChars: 512,
  templateChars: 256,
  requesterChars: 1024,
  timeChars: 35,
} as const;

/** JSON Schema keywords of our own, for the limits JSON Schema cannot express. */
export const MAX_JSON_BYTES_KEYWORD = 'x-maxJsonBytes';
export const MAX_JSON_DEPTH_KEYWORD = 'x-maxJsonDepth';

export const OUTCOMES = ['Success', 'Denied', 'Failure'] as const;

/** Event IDs a producer may send: the catalog, never the connection test. */
export const PRODUCER_EVENT_IDS: readonly number[] = EVENT_CATALOG.map((entry) => entry.eventId);
const CA_EVENT_IDS: readonly number[] = EVENT_CATALOG.filter((entry) => entry.category === 'CA').map(
  (entry) => entry.eventId,
);

export interface Problem {
  /** Dotted path of the offending field, e.g. `actor.objectId` or `certificate.subjectAltNames[2]`; `(event)` for the event as a whole. */
  readonly field: string;
  /** What is wrong and what to send instead, in plain words. */
  readonly reason: string;
}

export const WHOLE_EVENT = '(event)';

const NIL_GUID = '00000000-0000-0000-0000-000000000000';
const GUID_EXAMPLE = '72f988bf-86f1-41af-91ab-2d7cd011db47';

export function utf8JsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/** Length in Unicode code points, the unit of JSON Schema's maxLength. */
export function codePointLength(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

/** `whenEmpty` tells the producer what to do instead of sending "". */
function text(
  maxChars: number,
  description: string,
  whenEmpty = 'leave the field out when there is nothing to say',
) {
  return z
    .string()
    .min(1, { error: `must not be empty; ${whenEmpty}` })
    .superRefine((value, ctx) => {
      const length = codePointLength(value);
      if (length > maxChars) {
        ctx.addIssue({
          code: 'custom',
          message: `is ${length} characters long; at most ${maxChars} are allowed`,
        });
      }
    })
    .meta({ maxLength: maxChars, description });
}

function guid(description: string, options: { notNil?: boolean } = {}) {
  const schema = z.guid({
    error: (issue) =>
      issue.input === undefined || typeof issue.input !== 'string'
        ? undefined
        : `must be a GUID (8-4-4-4-12 hex digits, e.g. ${GUID_EXAMPLE})`,
  });
  if (!options.notNil) return schema.describe(description);
  return schema
    .refine((value) => value !== NIL_GUID, {
      error: 'must not be the nil GUID 00000000-0000-0000-0000-000000000000',
    })
    .meta({ not: { const: NIL_GUID }, description });
}

function hex(pattern: RegExp, expectation: string, description: string) {
  return z
    .string()
    .regex(pattern, {
      error: (issue) => (typeof issue.input === 'string' ? `must be ${expectation}` : undefined),
    })
    .describe(description);
}

const DEC_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const IPV4 = `(?:${DEC_OCTET}\\.){3}${DEC_OCTET}`;
/** RFC 3986 IPv6address, built from its ABNF (no zone id). */
const IPV6 = (() => {
  const h16 = '[0-9a-fA-F]{1,4}';
  const ls32 = `(?:${h16}:${h16}|${IPV4})`;
  const head = (max: number) =>
    max < 0 ? '' : max === 0 ? `(?:${h16})?` : `(?:(?:${h16}:){0,${max}}${h16})?`;
  return `(?:${[
    `(?:${h16}:){6}${ls32}`,
    `::(?:${h16}:){5}${ls32}`,
    `${head(0)}::(?:${h16}:){4}${ls32}`,
    `${head(1)}::(?:${h16}:){3}${ls32}`,
    `${head(2)}::(?:${h16}:){2}${ls32}`,
    `${head(3)}::${h16}:${ls32}`,
    `${head(4)}::${ls32}`,
    `${head(5)}::${h16}`,
    `${head(6)}::`,
  ].join('|')})`;
})();
const IP_ADDRESS = new RegExp(`^(?:${IPV4}|${IPV6})$`);

/**
 * `details`: any JSON object, bounded by nesting depth and serialized size.
 * Checked iteratively, because a deeply nested value would overflow the stack
 * of the very JSON.stringify that measures it.
 */
function detailsProblem(
  details: Record<string, unknown>,
): { path: PropertyKey[]; message: string } | undefined {
  const pending: Array<{ value: unknown; depth: number; path: PropertyKey[] }> = [
    { value: details, depth: 1, path: [] },
  ];
  while (pending.length > 0) {
    const { value, depth, path } = pending.pop()!;
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return { path, message: `is ${String(value)}, which JSON cannot carry` };
      continue;
    }
    if (value === undefined) return { path, message: 'is undefined, which JSON cannot carry; leave it out' };
    const isArray = Array.isArray(value);
    if (!isArray && !isPlainObject(value)) {
      return {
        path,
        message: `is ${describeType(value)}; details may hold only JSON values (strings, numbers, booleans, null, arrays, objects)`,
      };
    }
    if (depth > LIMITS.detailsDepth) {
      return {
        path,
        message: `is nested ${depth} levels deep in details; at most ${LIMITS.detailsDepth} levels of objects and arrays are allowed`,
      };
    }
    const entries: Array<[PropertyKey, unknown]> = isArray
      ? value.map((item, index) => [index, item])
      : Object.entries(value);
    for (const [key, item] of entries) pending.push({ value: item, depth: depth + 1, path: [...path, key] });
  }
  const bytes = utf8JsonBytes(details);
  if (bytes > LIMITS.detailsBytes) {
    return {
      path: [],
      message: `serializes to ${bytes} bytes of JSON; at most ${LIMITS.detailsBytes} are allowed. Keep large data out of audit events`,
    };
  }
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

const detailsSchema = z
  .record(
    z.string().superRefine((key, ctx) => {
      const length = codePointLength(key);
      if (length < 1 || length > LIMITS.detailsKeyChars) {
        ctx.addIssue({
          code: 'custom',
          message: `is a key ${length} characters long; keys must be 1 to ${LIMITS.detailsKeyChars} characters`,
        });
      }
    }),
    z.unknown(),
  )
  .superRefine((details, ctx) => {
    const problem = detailsProblem(details);
    if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
  })
  .meta({
    propertyNames: { minLength: 1, maxLength: LIMITS.detailsKeyChars },
    [MAX_JSON_BYTES_KEYWORD]: LIMITS.detailsBytes,
    [MAX_JSON_DEPTH_KEYWORD]: LIMITS.detailsDepth,
    description:
      'Event-specific data, any JSON object (becomes Details_s; query it with parse_json()). Nesting and serialized size are bounded.',
  });

const subjectAltNamesSchema = z
  .array(
    text(
      LIMITS.subjectAltNameChars,
      'One subject alternative name, e.g. DNS:www.contoso.com.',
      'drop the empty entry',
    ),
  )
  .max(LIMITS.subjectAltNames, {
    error: (issue) =>
      `has ${Array.isArray(issue.input) ? issue.input.length : 'too many'} entries; at most ${LIMITS.subjectAltNames} are allowed`,
  })
  .superRefine((names, ctx) => {
    const bytes = utf8JsonBytes(names);
    if (bytes > LIMITS.subjectAltNamesBytes) {
      ctx.addIssue({
        code: 'custom',
        message: `serializes to ${bytes} bytes of JSON; at most ${LIMITS.subjectAltNamesBytes} are allowed`,
      });
    }
  })
  .meta({
    [MAX_JSON_BYTES_KEYWORD]: LIMITS.subjectAltNamesBytes,
    description: 'Subject alternative names of the certificate (become a JSON array string).',
  });

const catalogList = PRODUCER_EVENT_IDS.join(', ');

function eventIdProblem(input: unknown): string {
  if (input === undefined) return `is required: one of the catalog event IDs ${catalogList}`;
  if (input === CONNECTION_TEST_EVENT_ID) {
    return `${CONNECTION_TEST_EVENT_ID} is the connection-test event, written only by Create Connection; producers may not send it. Valid event IDs: ${catalogList}`;
  }
  if (typeof input === 'string' && /^\d+$/.test(input) && catalogEntry(Number(input))) {
    return `must be the number ${input}, not the string "${input}"`;
  }
  return `${describeValue(input)} is not in the event catalog; valid event IDs: ${catalogList}`;
}

const actorSchema = z
  .strictObject({
    upn: text(LIMITS.upnChars, 'User principal name of who acted, when a user acted.').optional(),
    objectId: guid('Entra object id of the user or service principal that acted.').optional(),
    appId: guid('Application (client) id of who acted, when an application acted.').optional(),
    ipAddress: z
      .string()
      .regex(IP_ADDRESS, {
        error: (issue) =>
          typeof issue.input === 'string'
            ? 'must be an IPv4 address (e.g. 203.0.113.7) or an IPv6 address (e.g. 2001:db8::7), without port or zone'
            : undefined,
      })
      .describe('IP address the request came from.')
      .optional(),
  })
  .describe('Who acted. All fields optional; give what the PKI service knows.');

const caSchema = z
  .strictObject({
    id: text(LIMITS.caIdChars, 'Identifier of the certificate authority.', 'give the CA identifier'),
    name: text(LIMITS.caNameChars, 'Display name of the certificate authority.').optional(),
  })
  .describe('The certificate authority concerned. Required on CA events; optional on certificate events.');

const certificateSchema = z
  .strictObject({
    serialNumber: hex(
      /^[0-9A-Fa-f]{1,128}$/,
      'the serial number in hex digits without separators (1 to 128 digits)',
      'Serial number, hex digits without separators.',
    )
      .meta({ maxLength: 128 })
      .optional(),
    thumbprint: hex(
      /^(?:[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/,
      'a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) thumbprint without separators',
      'SHA-1 or SHA-256 thumbprint, hex digits without separators.',
    )
      .meta({ maxLength: 64 })
      .optional(),
    subject: text(LIMITS.subjectChars, 'Subject distinguished name.').optional(),
    subjectAltNames: subjectAltNamesSchema.optional(),
    template: text(LIMITS.templateChars, 'Certificate template or profile used.').optional(),
    requester: text(LIMITS.requesterChars, 'Who requested the certificate.').optional(),
  })
  .describe('The certificate concerned, when there is one.');

export const AuditEventSchema = z.strictObject({
  schemaVersion: z
    .literal(SCHEMA_VERSION, {
      error: (issue) =>
        issue.input === undefined
          ? `is required: set it to "${SCHEMA_VERSION}"`
          : `${describeValue(issue.input)} is not a supported schema version; this pki-siem-export supports ${SUPPORTED_SCHEMA_VERSIONS.map((version) => `"${version}"`).join(', ')}`,
    })
    .describe('Version of this contract: "1".'),
  id: guid(
    "Unique id of this event (a UUID); with the tenant id, the Service Bus message id (`<tenantId>:<id>`), and the row's EventRecordId_g (dedupe key).",
    {
      notNil: true,
    },
  ),
  tenantId: guid("The customer's Entra tenant id: whose workspace receives the event.", { notNil: true }),
  eventId: z
    .literal(PRODUCER_EVENT_IDS as [number, ...number[]], { error: (issue) => eventIdProblem(issue.input) })
    .meta({ type: 'integer', description: 'Event ID from the catalog.' }),
  time: z.iso
    .datetime({
      error: (issue) =>
        typeof issue.input === 'string'
          ? `must be an ISO 8601 date-time in UTC ending in Z, e.g. 2024-05-01T12:34:56.789Z${/[+-]\d\d:?\d\d$/.test(issue.input) ? ' (convert the offset to UTC)' : ''}`
          : undefined,
    })
    .max(LIMITS.timeChars, {
      error: `must be at most ${LIMITS.timeChars} characters (use at most 7 fractional digits)`,
    })
    .describe(
      'When it happened: ISO 8601 UTC with Z. Always EventTime_t; TimeGenerated too unless over 2 days late.',
    ),
  actor: actorSchema.optional(),
  ca: caSchema.optional(),
  certificate: certificateSchema.optional(),
  outcome: z
    .enum(OUTCOMES, {
      error: (issue) =>
        issue.input === undefined
          ? `is required: one of ${OUTCOMES.join(', ')}`
          : `${describeValue(issue.input)} is not an outcome; use one of ${OUTCOMES.join(', ')}`,
    })
    .describe('Success, Denied or Failure.'),
  message: text(
    LIMITS.messageChars,
    'Human-readable description of what happened.',
    'say in a few words what happened',
  ),
  details: detailsSchema.optional(),
});

export type AuditEvent = z.output<typeof AuditEventSchema>;
export type Outcome = (typeof OUTCOMES)[number];

export type EventValidation =
  | { ok: true; event: AuditEvent }
  | {
      ok: false;
      problems: Problem[];
      /** The body names this key twice in one object: which value counts would be a guess. */
      repeatedKey?: string;
    };

/** Field names allowed in each strict object, for "did you mean" style messages on unknown fields. */
const ALLOWED_FIELDS: ReadonlyMap<string, readonly string[]> = new Map([
  ['', Object.keys(AuditEventSchema.shape)],
  ['actor', Object.keys(actorSchema.shape)],
  ['ca', Object.keys(caSchema.shape)],
  ['certificate', Object.keys(certificateSchema.shape)],
]);

/**
 * Validates one audit event (an already-parsed JSON value). Never throws.
 * Returns the canonical event, or every problem found, each naming its field.
 */
export function validateEvent(input: unknown): EventValidation {
  if (!isPlainObject(input)) {
    return {
      ok: false,
      problems: [{ field: WHOLE_EVENT, reason: `must be a JSON object, not ${describeType(input)}` }],
    };
  }
  const parsed = AuditEventSchema.safeParse(input, { error: (issue) => fallbackReason(issue, input) });
  const problems: Problem[] = parsed.success ? [] : parsed.error.issues.flatMap((issue) => toProblems(issue));
  problems.push(...crossFieldProblems(input));
  if (!parsed.success || problems.length > 0) return { ok: false, problems };

  const event = canonical(parsed.data);
  const bytes = utf8JsonBytes(event);
  if (bytes > LIMITS.eventBytes) {
    return {
      ok: false,
      problems: [
        {
          field: WHOLE_EVENT,
          reason: `serializes to ${bytes} bytes of JSON; at most ${LIMITS.eventBytes} are allowed. Shorten message, details or certificate.subjectAltNames`,
        },
      ],
    };
  }
  return { ok: true, event };
}

/** Rules across fields, kept outside the zod object so they are reported alongside field problems. */
function crossFieldProblems(input: Record<string, unknown>): Problem[] {
  const eventId = input.eventId;
  if (typeof eventId === 'number' && CA_EVENT_IDS.includes(eventId) && input.ca === undefined) {
    return [
      {
        field: 'ca',
        reason: `is required on CA events (${eventId} is a CA event): give at least ca.id`,
      },
    ];
  }
  return [];
}

export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((problem) => `${problem.field}: ${problem.reason}`).join('; ');
}

// fatal: a body that is not UTF-8 is refused with a reason instead of having its bad bytes replaced.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Validates a queue message body as the forwarder receives it: bytes holding
 * UTF-8 JSON (a leading byte order mark is allowed), a JSON string, or a value
 * the Functions host already parsed.
 */
export function parseEventMessage(body: unknown): EventValidation {
  if (typeof body === 'string' || body instanceof Uint8Array) {
    let textBody: string;
    try {
      textBody = typeof body === 'string' ? body : utf8.decode(body);
    } catch {
      return {
        ok: false,
        problems: [
          {
            field: WHOLE_EVENT,
            reason:
              'the message body is not UTF-8 text; send the event as UTF-8 JSON with contentType application/json',
          },
        ],
      };
    }
    let value: unknown;
    try {
      value = JSON.parse(textBody);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      return {
        ok: false,
        problems: [
          {
            field: WHOLE_EVENT,
            reason: `the message body is not JSON (${detail}); send the event as a JSON object with contentType application/json`,
          },
        ],
      };
    }
    const repeatedKey = repeatedJsonKey(textBody, value);
    if (repeatedKey !== undefined) {
      return {
        ok: false,
        repeatedKey,
        problems: [
          {
            field: WHOLE_EVENT,
            reason: `the message body names the key ${JSON.stringify(repeatedKey)} twice in one object; send each key once (JSON readers disagree on which value counts)`,
          },
        ],
      };
    }
    return validateEvent(value);
  }
  return validateEvent(body);
}

function canonical(event: AuditEvent): AuditEvent {
  const result: AuditEvent = {
    ...event,
    id: event.id.toLowerCase(),
    tenantId: event.tenantId.toLowerCase(),
  };
  if (event.actor) {
    result.actor = { ...event.actor };
    if (event.actor.objectId) result.actor.objectId = event.actor.objectId.toLowerCase();
    if (event.actor.appId) result.actor.appId = event.actor.appId.toLowerCase();
  }
  if (event.certificate) {
    result.certificate = { ...event.certificate };
    if (event.certificate.serialNumber)
      result.certificate.serialNumber = event.certificate.serialNumber.toUpperCase();
    if (event.certificate.thumbprint)
      result.certificate.thumbprint = event.certificate.thumbprint.toUpperCase();
  }
  return result;
}

function fieldPath(path: readonly PropertyKey[]): string {
  let result = '';
  for (const segment of path) {
    if (typeof segment === 'number') result += `[${segment}]`;
    else result += result === '' ? String(segment) : `.${String(segment)}`;
  }
  return result === '' ? WHOLE_EVENT : result;
}

function toProblems(issue: z.core.$ZodIssue): Problem[] {
  if (issue.code === 'unrecognized_keys') {
    const parent = issue.path.map(String).join('.');
    const allowed = ALLOWED_FIELDS.get(parent) ?? [];
    return issue.keys.map((key) => ({
      field: fieldPath([...issue.path, key]),
      reason: `is not a field of ${parent === '' ? 'the audit event' : parent} in contract v1 (allowed: ${allowed.join(', ')}); check the spelling. Unknown fields are refused so a typo cannot silently drop data`,
    }));
  }
  return [{ field: fieldPath(issue.path), reason: issue.message }];
}

/** Reasons for issues no field-specific message covers (mostly a missing field or a wrong JSON type). */
function fallbackReason(issue: z.core.$ZodRawIssue, root: Record<string, unknown>): string | undefined {
  const value = valueAt(root, issue.path ?? []);
  switch (issue.code) {
    case 'invalid_type':
      return value === undefined
        ? 'is required'
        : `must be ${article(issue.expected)}, not ${describeType(value)}`;
    case 'too_big':
      return issue.origin === 'array'
        ? `has too many entries; at most ${String(issue.maximum)} are allowed`
        : `is too long; at most ${String(issue.maximum)} characters are allowed`;
    case 'too_small':
      return 'must not be empty';
    default:
      return undefined;
  }
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

function article(expected: string): string {
  if (expected === 'object' || expected === 'record') return 'a JSON object';
  if (expected === 'array') return 'a JSON array';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a Date (send an ISO 8601 string)';
  if (typeof value === 'object')
    return isPlainObject(value) ? 'an object' : `a ${value.constructor?.name ?? 'non-JSON'} object`;
  return article(typeof value);
}

/** A short rendering of a scalar the producer sent, for messages; never echoes long values. */
function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    return value.length > 40 ? `"${value.slice(0, 40)}…"` : `"${value}"`;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return describeType(value);
}

/** The catalog IDs of CA events, which must name their CA. */
export function caEventIds(): readonly number[] {
  return CA_EVENT_IDS;
}
