import fc from 'fast-check';
import { EVENT_CATALOG } from '../../src/domain/catalog';
import { LIMITS } from '../../src/domain/eventContract';

/**
 * fast-check generators for audit events: valid ones (every optional field
 * sometimes present, every string sometimes at its length limit, made of the
 * characters that cost most as JSON) and single-field mutations that each
 * break exactly one named field.
 */

export type EventObject = Record<string, unknown>;

const CA_EVENT_IDS = EVENT_CATALOG.filter((entry) => entry.category === 'CA').map((entry) => entry.eventId);
const EVENT_IDS = EVENT_CATALOG.map((entry) => entry.eventId);

/** Characters chosen for their cost: 1, 2 (`"`), 3, 4 (astral) and 6 (control, lone surrogate) bytes of JSON. */
const COSTLY_CHARACTER = fc.constantFrom(
  'a',
  'Z',
  ' ',
  '"',
  '\\',
  '\n',
  '\u0001',
  'é',
  '€',
  '\u{1F600}',
  '\ud800',
);

/** Non-empty text up to `max` code points: usually short, sometimes right at the limit. */
export function textArb(max: number): fc.Arbitrary<string> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: Math.min(max, 30) }),
    },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: Math.min(max, 30) }) },
    {
      weight: 1,
      arbitrary: fc.string({ unit: COSTLY_CHARACTER, minLength: Math.max(1, max - 3), maxLength: max }),
    },
  );
}

const NIL = '00000000-0000-0000-0000-000000000000';

/** A GUID in either case (the contract accepts both and stores lower case). */
export const guidArb = fc
  .tuple(fc.uuid(), fc.boolean())
  .filter(([uuid]) => uuid !== NIL)
  .map(([uuid, upper]) => (upper ? uuid.toUpperCase() : uuid));

const hexArb = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: min, maxLength: max });

export const timeArb = fc
  .tuple(
    fc.date({
      min: new Date('1970-01-01T00:00:00Z'),
      max: new Date('2199-12-31T23:59:59Z'),
      noInvalidDate: true,
    }),
    fc.constantFrom('', '.1', '.123', '.1234567'),
  )
  .map(([date, fraction]) => date.toISOString().replace(/\.\d{3}Z$/, `${fraction}Z`));

const jsonDetailsArb: fc.Arbitrary<Record<string, unknown>> = fc.dictionary(
  textArb(LIMITS.detailsKeyChars),
  fc.jsonValue({ maxDepth: 4 }),
  { maxKeys: 6 },
);

/** Details whose JSON size lands around its limit. */
const largeDetailsArb = fc
  .string({ unit: COSTLY_CHARACTER, minLength: 12_000, maxLength: 20_000 })
  .map((blob) => ({ blob, kind: 'large' }));

const subjectAltNamesArb = fc.oneof(
  { weight: 4, arbitrary: fc.array(textArb(LIMITS.subjectAltNameChars), { maxLength: 5 }) },
  {
    weight: 1,
    arbitrary: fc.array(fc.string({ unit: COSTLY_CHARACTER, minLength: 100, maxLength: 140 }), {
      minLength: 80,
      maxLength: 160,
    }),
  },
);

const ipArb = fc.oneof(fc.ipV4(), fc.ipV6());

const actorArb = fc.record(
  {
    upn: textArb(LIMITS.upnChars),
    objectId: guidArb,
    appId: guidArb,
    ipAddress: ipArb,
  },
  { requiredKeys: [] },
);

const caArb = fc.record(
  { id: textArb(LIMITS.caIdChars), name: textArb(LIMITS.caNameChars) },
  { requiredKeys: ['id'] },
);

const certificateArb = fc.record(
  {
    serialNumber: hexArb(1, 128),
    thumbprint: fc.oneof(hexArb(40, 40), hexArb(64, 64)),
    subject: textArb(LIMITS.subjectChars),
    subjectAltNames: subjectAltNamesArb,
    template: textArb(LIMITS.templateChars),
    requester: textArb(LIMITS.requesterChars),
  },
  { requiredKeys: [] },
);

/**
 * Candidate events: every field well-formed, but `details`,
 * `certificate.subjectAltNames` and the whole event may exceed their byte
 * limits. The validator must accept exactly those within the limits.
 */
export const candidateEventArb: fc.Arbitrary<EventObject> = fc
  .record(
    {
      schemaVersion: fc.constant('1'),
      id: guidArb,
      tenantId: guidArb,
      eventId: fc.constantFrom(...EVENT_IDS),
      time: timeArb,
      actor: actorArb,
      ca: caArb,
      certificate: certificateArb,
      outcome: fc.constantFrom('Success', 'Denied', 'Failure'),
      message: textArb(LIMITS.messageChars),
      details: fc.oneof({ weight: 4, arbitrary: jsonDetailsArb }, { weight: 1, arbitrary: largeDetailsArb }),
    },
    { requiredKeys: ['schemaVersion', 'id', 'tenantId', 'eventId', 'time', 'outcome', 'message'] },
  )
  .chain((event) =>
    CA_EVENT_IDS.includes(event.eventId) && event.ca === undefined
      ? caArb.map((ca) => ({ ...event, ca }))
      : fc.constant(event),
  );

/** Events that are valid by construction: sizes stay far from the byte limits. */
export const validEventArb: fc.Arbitrary<EventObject> = fc
  .record(
    {
      schemaVersion: fc.constant('1'),
      id: guidArb,
      tenantId: guidArb,
      eventId: fc.constantFrom(...EVENT_IDS),
      time: timeArb,
      actor: actorArb,
      ca: caArb,
      certificate: certificateArb.map((certificate) =>
        certificate.subjectAltNames && certificate.subjectAltNames.length > 5
          ? { ...certificate, subjectAltNames: certificate.subjectAltNames.slice(0, 5) }
          : certificate,
      ),
      outcome: fc.constantFrom('Success', 'Denied', 'Failure'),
      message: textArb(LIMITS.messageChars),
      details: jsonDetailsArb,
    },
    { requiredKeys: ['schemaVersion', 'id', 'tenantId', 'eventId', 'time', 'outcome', 'message'] },
  )
  .chain((event) =>
    CA_EVENT_IDS.includes(event.eventId) && event.ca === undefined
      ? caArb.map((ca) => ({ ...event, ca }))
      : fc.constant(event),
  );

export interface Mutation {
  /** The field the validator must name. */
  readonly field: string;
  readonly label: string;
  readonly apply: (event: EventObject) => EventObject;
}

const DELETE = Symbol('delete');

/**
 * Sets (or deletes) the value at a dotted path, creating parent objects as
 * needed; a created `ca` gets its required `id` so only the mutated field is wrong.
 */
function setAt(event: EventObject, path: string, value: unknown): EventObject {
  const copy = structuredClone(event);
  const segments = path.split('.');
  let parent: Record<string, unknown> = copy;
  for (const segment of segments.slice(0, -1)) {
    const next = parent[segment];
    parent[segment] =
      typeof next === 'object' && next !== null ? next : segment === 'ca' ? { id: 'ca-from-mutation' } : {};
    parent = parent[segment] as Record<string, unknown>;
  }
  const last = segments[segments.length - 1]!;
  if (value === DELETE) delete parent[last];
  else parent[last] = value;
  return copy;
}

const set = (field: string, label: string, value: unknown): Mutation => ({
  field,
  label,
  apply: (event) => setAt(event, field, value),
});

let deepDetails: unknown = 'bottom';
for (let level = 0; level < LIMITS.detailsDepth; level++) deepDetails = { nested: deepDetails };

/** One mutation per way a field can be wrong; each breaks exactly the named field. */
export const MUTATIONS: readonly Mutation[] = [
  set('schemaVersion', 'unknown version', '2'),
  set('schemaVersion', 'number instead of string', 1),
  set('schemaVersion', 'missing', DELETE),
  set('id', 'not a GUID', 'event-42'),
  set('id', 'nil GUID', NIL),
  set('id', 'braced GUID', '{72f988bf-86f1-41af-91ab-2d7cd011db47}'),
  set('id', 'missing', DELETE),
  set('tenantId', 'GUID without dashes', '72f988bf86f141af91ab2d7cd011db47'),
  set('tenantId', 'number', 42),
  set('eventId', 'connection-test id', 1),
  set('eventId', 'not in catalog', 4999),
  set('eventId', 'string', '4888'),
  set('eventId', 'fraction', 4888.5),
  set('eventId', 'missing', DELETE),
  set('time', 'offset instead of Z', '2024-05-01T14:34:56+02:00'),
  set('time', 'no zone', '2024-05-01T12:34:56'),
  set('time', 'date only', '2024-05-01'),
  set('time', 'impossible date', '2023-02-29T00:00:00Z'),
  set('time', 'too many fractional digits', `2024-05-01T12:34:56.${'1'.repeat(20)}Z`),
  set('time', 'epoch number', 1714566896000),
  set('actor', 'string', 'alice@contoso.com'),
  set('actor.upn', 'empty', ''),
  set('actor.upn', 'too long', 'u'.repeat(LIMITS.upnChars + 1)),
  set('actor.objectId', 'not a GUID', 'alice'),
  set('actor.appId', 'number', 7),
  set('actor.ipAddress', 'octet out of range', '256.1.1.1'),
  set('actor.ipAddress', 'with port', '203.0.113.7:443'),
  set('actor.ipAddress', 'host name', 'pki.contoso.com'),
  set('actor.role', 'unknown field', 'admin'),
  set('ca', 'array', []),
  set('ca.name', 'too long', 'n'.repeat(LIMITS.caNameChars + 1)),
  set('ca.id', 'empty', ''),
  set('ca.parent', 'unknown field', 'root'),
  set('certificate.serialNumber', 'with colons', '1a:2b:3c'),
  set('certificate.serialNumber', 'too long', 'a'.repeat(129)),
  set('certificate.thumbprint', '39 digits', 'a'.repeat(39)),
  set('certificate.thumbprint', 'not hex', 'z'.repeat(40)),
  set('certificate.subject', 'too long', 's'.repeat(LIMITS.subjectChars + 1)),
  set('certificate.subjectAltNames', 'string instead of array', 'DNS:www.contoso.com'),
  set(
    'certificate.subjectAltNames',
    'too many entries',
    Array.from({ length: LIMITS.subjectAltNames + 1 }, (_, index) => `DNS:h${index}.contoso.com`),
  ),
  set(
    'certificate.subjectAltNames',
    'too many bytes',
    Array.from({ length: 50 }, () => '\u0001'.repeat(200)),
  ),
  set('certificate.template', 'empty', ''),
  set('certificate.issuer', 'unknown field', 'CN=Root'),
  set('outcome', 'unknown outcome', 'Ok'),
  set('outcome', 'lower case', 'success'),
  set('outcome', 'missing', DELETE),
  set('message', 'empty', ''),
  set('message', 'too long', 'm'.repeat(LIMITS.messageChars + 1)),
  set('message', 'too long in astral characters', '\u{1F600}'.repeat(LIMITS.messageChars + 1)),
  set('message', 'missing', DELETE),
  set('message', 'null', null),
  set('details', 'array', [1, 2]),
  set('details', 'string', '{"a":1}'),
  set('details', 'too large', { blob: 'x'.repeat(LIMITS.detailsBytes) }),
  set('details', 'too deep', { nested: deepDetails }),
  set('tennantId', 'misspelt top-level field', '72f988bf-86f1-41af-91ab-2d7cd011db47'),
  set('eventID', 'wrong-case top-level field', 4888),
];

export const mutatedEventArb = fc
  .tuple(validEventArb, fc.constantFrom(...MUTATIONS))
  .map(([base, mutation]) => ({ base, mutation, event: mutation.apply(base) }));

/** A removed `ca` on a CA event: only `ca` may be named. */
export const caEventWithoutCaArb = validEventArb
  .filter((event) => CA_EVENT_IDS.includes(event.eventId as number))
  .map((event) => setAt(event, 'ca', DELETE));
