import rhea, { type Message, type Typed } from 'rhea';
import type { JsonValue } from './types';

/**
 * AMQP 1.0 message handling for the Service Bus stand-in.
 *
 * Messages are kept as the typed sections they arrived in, not as rhea's
 * decoded objects: rhea's decoder flattens application properties to plain
 * JavaScript values, and re-encoding those would turn a `long` into a `uint`,
 * a `double` 2.0 into an integer, and so on. Service Bus hands a receiver the
 * exact AMQP types the sender used, so the stand-in re-emits the original
 * typed values and only rewrites what the broker owns (header delivery count,
 * broker annotations).
 */

/** The parts of rhea's `types` module the typings leave out. */
interface RheaTypes {
  Reader: new (buffer: Buffer) => { read(): Typed; remaining(): number };
  Writer: new () => { write(value: Typed): void; toBuffer(): Buffer };
  wrap_ulong(value: number): Typed;
  wrap_long(value: number): Typed;
  wrap_int(value: number): Typed;
  wrap_string(value: string): Typed;
  wrap_symbol(value: string): Typed;
  wrap_binary(value: Buffer): Typed;
  wrap_timestamp(value: number): Typed;
  wrap_list(value: unknown[]): Typed;
  wrap_map(value: Record<string, unknown>): Typed;
  wrap_symbolic_map(value: Record<string, unknown>): Typed;
  wrap_array(values: unknown[], code: number, descriptor: undefined): Typed;
  described(descriptor: Typed, value: Typed): Typed;
  unwrap(value: unknown): unknown;
}

interface RheaMessageUtil {
  decode: ((buffer: Buffer) => Message) & { [CAPTURES_RAW_BYTES]?: true };
  header(fields: Record<string, unknown>): { described(): Typed };
  properties(fields: Record<string, unknown>): { described(): Typed };
  accepted(): { described(): Typed };
  rejected(fields?: Record<string, unknown>): { described(): Typed };
  modified(fields?: Record<string, unknown>): { described(): Typed };
}

export const amqpTypes = rhea.types as unknown as RheaTypes;
export const amqpMessageUtil = rhea.message as unknown as RheaMessageUtil;

const SECTION = {
  header: 0x70,
  deliveryAnnotations: 0x71,
  messageAnnotations: 0x72,
  properties: 0x73,
  applicationProperties: 0x74,
  data: 0x75,
  sequence: 0x76,
  value: 0x77,
  footer: 0x78,
} as const;

const SYMBOLIC_SECTION: Record<string, number> = {
  'amqp:header:list': SECTION.header,
  'amqp:delivery-annotations:map': SECTION.deliveryAnnotations,
  'amqp:message-annotations:map': SECTION.messageAnnotations,
  'amqp:properties:list': SECTION.properties,
  'amqp:application-properties:map': SECTION.applicationProperties,
  'amqp:data:binary': SECTION.data,
  'amqp:amqp-sequence:list': SECTION.sequence,
  'amqp:value:*': SECTION.value,
  'amqp:footer:map': SECTION.footer,
};

/** Message format Service Bus uses for a batch: one outer message whose data sections are whole messages. */
export const BATCH_MESSAGE_FORMAT = 0x80013700;

export const ANNOTATION = {
  sequenceNumber: 'x-opt-sequence-number',
  enqueuedTime: 'x-opt-enqueued-time',
  lockedUntil: 'x-opt-locked-until',
  scheduledEnqueueTime: 'x-opt-scheduled-enqueue-time',
  messageState: 'x-opt-message-state',
} as const;

const CAPTURES_RAW_BYTES = Symbol.for('serviceBusStandIn.capturesRawBytes');
const RAW_BYTES = Symbol.for('serviceBusStandIn.rawBytes');

/**
 * rhea decodes every incoming single-format message before the broker sees it
 * and keeps no copy of the bytes. Wrapping its decoder (once per process) lets
 * the broker recover the exact bytes; the only effect on other rhea users in
 * the process is a hidden symbol property on decoded messages.
 */
export function captureRawMessageBytes(): void {
  const util = amqpMessageUtil;
  if (util.decode[CAPTURES_RAW_BYTES]) {
    return;
  }
  const original = util.decode.bind(util);
  const capturing = (buffer: Buffer): Message => {
    const decoded = original(buffer);
    Object.defineProperty(decoded, RAW_BYTES, { value: Buffer.from(buffer), enumerable: false });
    return decoded;
  };
  util.decode = Object.assign(capturing, { [CAPTURES_RAW_BYTES]: true as const });
}

export function rawBytesOf(message: Message): Buffer | undefined {
  const raw = (message as unknown as Record<symbol, unknown>)[RAW_BYTES];
  return Buffer.isBuffer(raw) ? raw : undefined;
}

export class AmqpDecodeError extends Error {}

/** One message split into its typed sections. */
export interface AmqpSections {
  /** Plain header fields (durable, priority, ttl, first_acquirer); the delivery count is the broker's. */
  header: { durable?: boolean; priority?: number; ttl?: number; first_acquirer?: boolean };
  /** Message annotations keyed by symbol, values as received. */
  messageAnnotations: Map<string, Typed>;
  /** The properties section as received (a described list), if any. */
  properties: Typed | undefined;
  /** Application properties keyed by name, values as received. */
  applicationProperties: Map<string, Typed>;
  bodySections: Typed[];
  footer: Typed | undefined;
}

function sectionCode(section: Typed): number | undefined {
  const descriptor = (section as { descriptor?: Typed }).descriptor;
  if (!descriptor) {
    return undefined;
  }
  const value: unknown = descriptor.value;
  if (typeof value === 'number') {
    return value;
  }
  if (typeof value === 'string') {
    return SYMBOLIC_SECTION[value];
  }
  return undefined;
}

function typedEntries(map: Typed): Map<string, Typed> {
  const items = map.value as Typed[];
  const entries = new Map<string, Typed>();
  for (let i = 0; i + 1 < items.length; i += 2) {
    const key = items[i];
    const value = items[i + 1];
    if (key && value) {
      entries.set(String(key.value), value);
    }
  }
  return entries;
}

/** Splits encoded message bytes into typed sections; throws AmqpDecodeError on anything malformed. */
export function parseSections(bytes: Buffer): AmqpSections {
  const sections: AmqpSections = {
    header: {},
    messageAnnotations: new Map(),
    properties: undefined,
    applicationProperties: new Map(),
    bodySections: [],
    footer: undefined,
  };
  try {
    const reader = new amqpTypes.Reader(bytes);
    while (reader.remaining() > 0) {
      const section = reader.read();
      switch (sectionCode(section)) {
        case SECTION.header: {
          const plain = amqpMessageUtil.decode(writeTyped([section])) as {
            durable?: boolean;
            priority?: number;
            ttl?: number;
            first_acquirer?: boolean;
          };
          sections.header = {
            durable: plain.durable,
            priority: plain.priority,
            ttl: plain.ttl,
            first_acquirer: plain.first_acquirer,
          };
          break;
        }
        case SECTION.deliveryAnnotations:
          // Delivery annotations are hop-by-hop: a broker does not forward them.
          break;
        case SECTION.messageAnnotations:
          sections.messageAnnotations = typedEntries(section);
          break;
        case SECTION.properties:
          sections.properties = section;
          break;
        case SECTION.applicationProperties:
          sections.applicationProperties = typedEntries(section);
          break;
        case SECTION.data:
        case SECTION.sequence:
        case SECTION.value:
          sections.bodySections.push(section);
          break;
        case SECTION.footer:
          sections.footer = section;
          break;
        default:
          throw new AmqpDecodeError(
            'The message contains a section that is not an AMQP 1.0 message section.',
          );
      }
    }
  } catch (error) {
    if (error instanceof AmqpDecodeError) {
      throw error;
    }
    throw new AmqpDecodeError(`The message could not be decoded: ${(error as Error).message}`);
  }
  return sections;
}

/**
 * A batch (format 0x80013700): each data section of the outer message is one
 * inner message; the outer message's annotations come with it (see
 * decodeBatch in queue.ts for what they do to the inner messages).
 */
export function splitBatch(outer: Buffer): { envelopeAnnotations: Map<string, Typed>; inner: Buffer[] } {
  const sections = parseSections(outer);
  const inner: Buffer[] = [];
  for (const section of sections.bodySections) {
    if (sectionCode(section) !== SECTION.data || !Buffer.isBuffer(section.value)) {
      throw new AmqpDecodeError(
        'A batch message may only carry data sections, each holding one encoded message.',
      );
    }
    inner.push(section.value);
  }
  return { envelopeAnnotations: sections.messageAnnotations, inner };
}

function writeTyped(values: Typed[]): Buffer {
  const writer = new amqpTypes.Writer();
  for (const value of values) {
    writer.write(value);
  }
  return writer.toBuffer();
}

function describedMap(code: number, entries: Map<string, Typed>, symbolicKeys: boolean): Typed {
  const object: Record<string, Typed> = {};
  for (const [key, value] of entries) {
    object[key] = value;
  }
  const map = symbolicKeys ? amqpTypes.wrap_symbolic_map(object) : amqpTypes.wrap_map(object);
  return amqpTypes.described(amqpTypes.wrap_ulong(code), map);
}

/** Plain view of the properties section (message id, correlation id, …). */
export function plainProperties(sections: AmqpSections): Record<string, unknown> {
  if (!sections.properties) {
    return {};
  }
  return amqpMessageUtil.decode(writeTyped([sections.properties])) as unknown as Record<string, unknown>;
}

/** Returns the sections with `message_id` set, keeping every other property exactly as received. */
export function withMessageId(sections: AmqpSections, messageId: string): AmqpSections {
  if (!sections.properties) {
    return { ...sections, properties: amqpMessageUtil.properties({ message_id: messageId }).described() };
  }
  const fields: Array<Typed | null> = [...(sections.properties.value as Array<Typed | undefined>)].map(
    (field) => field ?? null,
  );
  fields[0] = amqpTypes.wrap_string(messageId);
  const described = amqpTypes.described(
    amqpTypes.wrap_ulong(SECTION.properties),
    amqpTypes.wrap_list(fields),
  );
  return { ...sections, properties: described };
}

export interface EncodeOverrides {
  deliveryCount: number;
  /** Effective time to live written to the header (the receiver computes expiresAtUtc from it). */
  timeToLiveMs?: number;
  /** Broker annotations added to (or replacing) the sender's annotations. */
  annotations: Map<string, Typed>;
  /** Application properties added by the broker (dead-letter reason, properties to modify). */
  applicationProperties: Map<string, Typed>;
}

const MAX_UINT32 = 0xffffffff;

/** Encodes a stored message for a receiver: original sections plus the broker-owned fields. */
export function encodeForReceiver(sections: AmqpSections, overrides: EncodeOverrides): Buffer {
  const header: Record<string, unknown> = { ...sections.header, delivery_count: overrides.deliveryCount };
  if (overrides.timeToLiveMs !== undefined && overrides.timeToLiveMs <= MAX_UINT32) {
    header.ttl = overrides.timeToLiveMs;
  }
  const values: Typed[] = [amqpMessageUtil.header(header).described()];
  const annotations = new Map([...sections.messageAnnotations, ...overrides.annotations]);
  values.push(describedMap(SECTION.messageAnnotations, annotations, true));
  if (sections.properties) {
    values.push(sections.properties);
  }
  const applicationProperties = new Map([
    ...sections.applicationProperties,
    ...overrides.applicationProperties,
  ]);
  if (applicationProperties.size > 0) {
    values.push(describedMap(SECTION.applicationProperties, applicationProperties, false));
  }
  values.push(...sections.bodySections);
  if (sections.footer) {
    values.push(sections.footer);
  }
  return writeTyped(values);
}

/** Wraps a plain JavaScript value the way the SDK would when setting an application property. */
export function typedValue(value: unknown): Typed {
  return (rhea.types as unknown as { wrap(value: unknown): Typed }).wrap(value);
}

const TYPE_NAMES: Record<number, string> = {
  0x40: 'null',
  0x41: 'boolean',
  0x42: 'boolean',
  0x56: 'boolean',
  0x50: 'ubyte',
  0x60: 'ushort',
  0x70: 'uint',
  0x52: 'uint',
  0x43: 'uint',
  0x80: 'ulong',
  0x53: 'ulong',
  0x44: 'ulong',
  0x51: 'byte',
  0x61: 'short',
  0x71: 'int',
  0x54: 'int',
  0x81: 'long',
  0x55: 'long',
  0x72: 'float',
  0x82: 'double',
  0x73: 'char',
  0x83: 'timestamp',
  0x98: 'uuid',
  0xa0: 'binary',
  0xb0: 'binary',
  0xa1: 'string',
  0xb1: 'string',
  0xa3: 'symbol',
  0xb3: 'symbol',
  0x45: 'list',
  0xc0: 'list',
  0xd0: 'list',
  0xc1: 'map',
  0xd1: 'map',
  0xe0: 'array',
  0xf0: 'array',
};

export function amqpTypeName(value: Typed): string {
  return TYPE_NAMES[value.type.typecode] ?? `0x${value.type.typecode.toString(16)}`;
}

/** Converts decoded AMQP values to JSON: timestamps become ISO strings, binary becomes base64. */
export function toJson(value: unknown): JsonValue {
  if (value === null || value === undefined) {
    return null;
  }
  if (value instanceof Date) {
    return value.toISOString();
  }
  if (Buffer.isBuffer(value)) {
    return value.toString('base64');
  }
  if (typeof value === 'bigint') {
    return value.toString();
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((item) => toJson(item));
  }
  if (typeof value === 'object') {
    const result: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value)) {
      result[key] = toJson(item);
    }
    return result;
  }
  return null; // symbols and functions cannot come out of an AMQP decoder
}

export function plainValue(value: Typed): unknown {
  return amqpTypes.unwrap(value);
}

export interface BodyView {
  bodyType: 'data' | 'value' | 'sequence' | 'none';
  body: JsonValue;
  bodyBase64: string | null;
}

export function describeBody(sections: AmqpSections): BodyView {
  const first = sections.bodySections[0];
  if (!first) {
    return { bodyType: 'none', body: null, bodyBase64: null };
  }
  const code = sectionCode(first);
  if (code === SECTION.data) {
    const bytes = Buffer.concat(sections.bodySections.map((section) => section.value as Buffer));
    const text = bytes.toString('utf8');
    let body: JsonValue = text;
    try {
      body = JSON.parse(text) as JsonValue;
    } catch {
      // Not JSON: the text itself is the most useful view.
    }
    return { bodyType: 'data', body, bodyBase64: bytes.toString('base64') };
  }
  const values = sections.bodySections.map((section) => toJson(amqpTypes.unwrap(section)));
  if (code === SECTION.sequence) {
    return { bodyType: 'sequence', body: values, bodyBase64: null };
  }
  return { bodyType: 'value', body: values[0] ?? null, bodyBase64: null };
}
