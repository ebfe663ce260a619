import { randomUUID } from 'node:crypto';
import { ensureAppStarted, FunctionsHostError, type CapturedLog } from './coreApi';
import type { RpcLong, RpcTypedData } from './coreTypes';
import { hostLog, newInvocationId, newLogScope, runWorkerInvocation } from './invoke';
import { describeFunction, functionEntry, type RegisteredFunctionInfo } from './registry';

/**
 * A message as the Service Bus extension receives it. Body: a string is sent as its UTF-8 bytes, a
 * Buffer/Uint8Array as is, anything else JSON-serialized (what a producer sending JSON text does).
 */
export interface ServiceBusTestMessage {
  body: unknown;
  messageId: string;
  contentType?: string;
  correlationId?: string;
  subject?: string;
  sessionId?: string;
  replyTo?: string;
  to?: string;
  partitionKey?: string;
  applicationProperties?: Record<string, string | number | boolean | null>;
  /** Default 1 (first delivery). */
  deliveryCount?: number;
  /** Default: increasing numbers per process, like a queue's. */
  sequenceNumber?: number | bigint;
  /** Default: now. */
  enqueuedTimeUtc?: Date | string;
  /** Default: never (a queue's default time-to-live), which .NET writes as 9999-12-31T23:59:59.9999999Z. */
  expiresAtUtc?: Date | string;
  /** Default: a random GUID. */
  lockToken?: string;
}

export interface ServiceBusInvokeOptions {
  invocationId?: string;
  /**
   * How the worker decodes RPC sint64 values (sequenceNumberArray). `number` (default): plain JS numbers,
   * rounded above 2^53, as workers up to 3.14.1 and from 3.16.1 do (azure-functions-nodejs-worker PR
   * #845 sets protobufjs `longs: Number`; its notes: "Values above Number.MAX_SAFE_INTEGER remain outside
   * the precise JavaScript number range"). `Long`: `{ low, high, unsigned }` objects, as worker 3.16.0
   * delivered them (issue #844).
   */
  longs?: 'number' | 'Long';
}

/**
 * The host could not turn the messages into the function's input, so the function never ran and the
 * whole batch is abandoned (redelivered, eventually dead-lettered, valid messages included).
 */
export class HostConversionError extends Error {
  override name = 'HostConversionError';
  constructor(
    message: string,
    readonly messageIndex: number,
    readonly messageId: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export type ServiceBusInvocationResult =
  | { outcome: 'completed'; functionName: string; invocationId: string; logs: CapturedLog[] }
  | {
      outcome: 'failed';
      functionName: string;
      invocationId: string;
      logs: CapturedLog[];
      /** `host`: a conversion failed before the function ran (error is a HostConversionError). */
      failedIn: 'host' | 'function';
      error: unknown;
    };

const NEVER_EXPIRES = '9999-12-31T23:59:59.9999999Z';
let nextSequenceNumber = 1n;

function bodyBytes(message: ServiceBusTestMessage): Buffer {
  const { body } = message;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body);
  const json = JSON.stringify(body);
  if (json === undefined) {
    throw new TypeError(`Message ${message.messageId}: body ${String(body)} cannot be sent.`);
  }
  return Buffer.from(json, 'utf8');
}

/** .NET DateTime as the host's JSON serializer writes a UTC value: seven fractional digits and `Z`. */
function dotNetUtc(value: Date | string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value === 'string') {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z$/.test(value)) {
      throw new TypeError(`Expected a UTC timestamp like 2024-01-31T12:00:00.1234567Z, got "${value}"`);
    }
    return value;
  }
  return value.toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
}

/**
 * What protobufjs makes of an RPC sint64 with `longs: Number`: the nearest double (its LongBits.toNumber
 * adds the exact `hi * 2^32` to `lo`, one rounding, the same as Number(bigint)).
 */
function toRpcNumber(value: bigint): number {
  return Number(BigInt.asIntN(64, value));
}

/** What protobufjs makes of an RPC sint64 when it decodes to Long: 32-bit two's-complement halves. */
function toLong(value: bigint): RpcLong {
  const signed = BigInt.asIntN(64, value);
  return {
    low: Number(BigInt.asIntN(32, signed)),
    high: Number(BigInt.asIntN(32, signed >> 32n)),
    unsigned: false,
  };
}

/** The host drops null and empty strings from string arrays unless the worker declared it wants them. */
function stringArray(values: (string | undefined)[], includeEmptyEntries: boolean): RpcTypedData {
  return {
    collectionString: {
      string: values.flatMap((v) => (v === undefined || v === '' ? (includeEmptyEntries ? [''] : []) : [v])),
    },
  };
}

interface NormalizedMessage {
  source: ServiceBusTestMessage;
  bytes: Buffer;
  sequenceNumber: bigint;
  enqueuedTimeUtc: string;
  expiresAtUtc: string;
  lockToken: string;
  deliveryCount: number;
  applicationProperties: Record<string, string | number | boolean | null>;
}

function normalize(message: ServiceBusTestMessage, now: string): NormalizedMessage {
  if (typeof message.messageId !== 'string') throw new TypeError('Every message needs a messageId.');
  let sequenceNumber: bigint;
  if (message.sequenceNumber === undefined) {
    sequenceNumber = nextSequenceNumber++;
  } else {
    sequenceNumber = BigInt(message.sequenceNumber);
    if (sequenceNumber >= nextSequenceNumber) nextSequenceNumber = sequenceNumber + 1n;
  }
  return {
    source: message,
    bytes: bodyBytes(message),
    sequenceNumber,
    enqueuedTimeUtc: dotNetUtc(message.enqueuedTimeUtc, now),
    expiresAtUtc: dotNetUtc(message.expiresAtUtc, NEVER_EXPIRES),
    lockToken: message.lockToken ?? randomUUID(),
    deliveryCount: message.deliveryCount ?? 1,
    applicationProperties: message.applicationProperties ?? {},
  };
}

/**
 * Is a capability on, as the host reads it: any value that is not empty or blank (so even "false" turns
 * it on; declare a capability only to enable it).
 */
function capabilityOn(capabilities: Readonly<Record<string, string>>, name: string): boolean {
  const value = capabilities[name];
  return value !== undefined && value.trim() !== '';
}

/**
 * Binding data of a batch, keyed as the Service Bus extension names it (PascalCase; the library lower-
 * cases first letters), converted as the host converts values to RPC: string[] to a string collection
 * (dropping empty entries unless asked not to), long[] to an sint64 collection, everything else to JSON.
 * Arrays that are the same object in the extension (ApplicationProperties/UserProperties,
 * Subject/Label, PartitionKey/TransactionPartitionKey) carry the same data.
 */
function batchTriggerMetadata(
  messages: NormalizedMessage[],
  includeEmpty: boolean,
  longs: 'number' | 'Long',
): Record<string, RpcTypedData> {
  const strings = (pick: (m: ServiceBusTestMessage) => string | undefined) =>
    stringArray(
      messages.map((m) => pick(m.source)),
      includeEmpty,
    );
  const json = (value: unknown): RpcTypedData => ({ json: JSON.stringify(value) });
  const applicationProperties = json(messages.map((m) => m.applicationProperties));
  const subjects = strings((m) => m.subject);
  const partitionKeys = strings((m) => m.partitionKey);
  return {
    DeliveryCountArray: json(messages.map((m) => m.deliveryCount)),
    DeadLetterSourceArray: strings(() => undefined),
    LockTokenArray: stringArray(
      messages.map((m) => m.lockToken),
      includeEmpty,
    ),
    ExpiresAtUtcArray: json(messages.map((m) => m.expiresAtUtc)),
    EnqueuedTimeUtcArray: json(messages.map((m) => m.enqueuedTimeUtc)),
    MessageIdArray: strings((m) => m.messageId),
    ContentTypeArray: strings((m) => m.contentType),
    ReplyToArray: strings((m) => m.replyTo),
    SequenceNumberArray: {
      collectionSint64: {
        sint64: messages.map((m) =>
          longs === 'Long' ? toLong(m.sequenceNumber) : toRpcNumber(m.sequenceNumber),
        ),
      },
    },
    ToArray: strings((m) => m.to),
    SubjectArray: subjects,
    LabelArray: subjects,
    CorrelationIdArray: strings((m) => m.correlationId),
    ApplicationPropertiesArray: applicationProperties,
    UserPropertiesArray: applicationProperties,
    SessionIdArray: strings((m) => m.sessionId),
    ReplyToSessionIdArray: strings(() => undefined),
    PartitionKeyArray: partitionKeys,
    TransactionPartitionKeyArray: partitionKeys,
  };
}

/** Binding data of a single message: strings as strings, null values left out, the rest as JSON. */
function singleTriggerMetadata(message: NormalizedMessage): Record<string, RpcTypedData> {
  const m = message.source;
  const metadata: Record<string, RpcTypedData> = {};
  const put = (key: string, value: unknown) => {
    if (value === undefined || value === null) return;
    metadata[key] = typeof value === 'string' ? { string: value } : { json: JSON.stringify(value) };
  };
  put('DeliveryCount', message.deliveryCount);
  put('LockToken', message.lockToken);
  put('ExpiresAtUtc', message.expiresAtUtc);
  put('EnqueuedTimeUtc', message.enqueuedTimeUtc);
  put('MessageId', m.messageId);
  put('ContentType', m.contentType);
  put('ReplyTo', m.replyTo);
  // A single long goes through the host's JSON fallback, so it arrives as a number, not a Long.
  metadata.SequenceNumber = { json: message.sequenceNumber.toString() };
  put('To', m.to);
  put('Subject', m.subject);
  put('Label', m.subject);
  put('CorrelationId', m.correlationId);
  put('ApplicationProperties', message.applicationProperties);
  put('UserProperties', message.applicationProperties);
  put('SessionId', m.sessionId);
  put('PartitionKey', m.partitionKey);
  put('TransactionPartitionKey', m.partitionKey);
  return metadata;
}

/**
 * The batch as the trigger's input. Without a dataType the host asks for object[] and JSON-deserializes
 * every body: one body that is not JSON fails the whole invocation before any code of ours runs.
 * (JSON.parse is stricter than the host's Json.NET on a few inputs, e.g. single quotes; this errs on
 * the side of failing.) With `string`, bodies are UTF-8 text in a string collection; with `binary`,
 * byte arrays.
 */
function batchInput(
  info: RegisteredFunctionInfo,
  messages: NormalizedMessage[],
  includeEmpty: boolean,
): RpcTypedData {
  switch (info.dataType) {
    case 'string':
      return stringArray(
        messages.map((m) => m.bytes.toString('utf8')),
        includeEmpty,
      );
    case 'binary':
      return { collectionBytes: { bytes: messages.map((m) => m.bytes) } };
    case undefined:
    case 'undefined': {
      const parsed = messages.map((m, index) => {
        const text = m.bytes.toString('utf8');
        try {
          return JSON.parse(text) as unknown;
        } catch (error) {
          throw new HostConversionError(
            `Exception binding parameter '${info.triggerBindingName}': message ${index} ` +
              `(messageId ${m.source.messageId}) has a body that is not JSON, so the host cannot convert the ` +
              'batch to object[]. No message of the batch reaches the function.',
            index,
            m.source.messageId,
            { cause: error },
          );
        }
      });
      return { json: JSON.stringify(parsed) };
    }
    default:
      throw new FunctionsHostError(`dataType "${info.dataType}" is not supported by the host stand-in.`);
  }
}

function singleInput(info: RegisteredFunctionInfo, message: NormalizedMessage): RpcTypedData {
  switch (info.dataType) {
    case 'binary':
      return { bytes: message.bytes };
    case 'string':
    case undefined:
    case 'undefined':
      return { string: message.bytes.toString('utf8') };
    default:
      throw new FunctionsHostError(`dataType "${info.dataType}" is not supported by the host stand-in.`);
  }
}

function serviceBusFunction(functionName: string, cardinality: 'one' | 'many'): RegisteredFunctionInfo {
  const info = describeFunction(functionEntry(functionName));
  if (info.triggerType.toLowerCase() !== 'servicebustrigger') {
    throw new FunctionsHostError(
      `Function "${functionName}" is triggered by ${info.triggerType}, not Service Bus.`,
    );
  }
  const actual = info.cardinality ?? 'one';
  if (actual !== cardinality) {
    throw new FunctionsHostError(
      `Function "${functionName}" has cardinality "${actual}"; use ` +
        `${actual === 'many' ? 'invokeServiceBusBatch' : 'invokeServiceBusMessage'}.`,
    );
  }
  return info;
}

async function invokeServiceBus(
  info: RegisteredFunctionInfo,
  buildRequest: (includeEmpty: boolean) => {
    input: RpcTypedData;
    triggerMetadata: Record<string, RpcTypedData>;
  },
  options: ServiceBusInvokeOptions | undefined,
): Promise<ServiceBusInvocationResult> {
  const capabilities = await ensureAppStarted();
  const includeEmpty = capabilityOn(capabilities, 'IncludeEmptyEntriesInMessagePayload');
  const entry = functionEntry(info.name);
  const scope = newLogScope(info.name, options?.invocationId ?? newInvocationId());
  const base = { functionName: info.name, invocationId: scope.invocationId, logs: scope.lines };

  let request: ReturnType<typeof buildRequest>;
  try {
    request = buildRequest(includeEmpty);
  } catch (error) {
    if (!(error instanceof HostConversionError)) throw error;
    hostLog(
      scope,
      'error',
      `Executed 'Functions.${info.name}' (Failed, Id=${scope.invocationId})\n${error.message}`,
    );
    return { ...base, outcome: 'failed', failedIn: 'host', error };
  }

  const outcome = await runWorkerInvocation(
    entry,
    scope,
    {
      inputData: [{ name: info.triggerBindingName, data: request.input }],
      triggerMetadata: request.triggerMetadata,
    },
    `(null)`,
  );
  return outcome.error === undefined
    ? { ...base, outcome: 'completed' }
    : { ...base, outcome: 'failed', failedIn: 'function', error: outcome.error };
}

/**
 * Delivers a batch to a `cardinality: 'many'` Service Bus function as the host would, with the host's
 * conversions (see batchInput and batchTriggerMetadata). `completed` means the host would complete every
 * message (when autoCompleteMessages is on); `failed` means it would abandon every message.
 */
export async function invokeServiceBusBatch(
  functionName: string,
  messages: readonly ServiceBusTestMessage[],
  options?: ServiceBusInvokeOptions,
): Promise<ServiceBusInvocationResult> {
  const info = serviceBusFunction(functionName, 'many');
  if (messages.length === 0) throw new TypeError('The host never delivers an empty batch.');
  const now = dotNetUtc(new Date(), '');
  const normalized = messages.map((m) => normalize(m, now));
  return invokeServiceBus(
    info,
    (includeEmpty) => ({
      input: batchInput(info, normalized, includeEmpty),
      triggerMetadata: batchTriggerMetadata(normalized, includeEmpty, options?.longs ?? 'number'),
    }),
    options,
  );
}

/** Delivers one message to a `cardinality: 'one'` (the default) Service Bus function. */
export async function invokeServiceBusMessage(
  functionName: string,
  message: ServiceBusTestMessage,
  options?: ServiceBusInvokeOptions,
): Promise<ServiceBusInvocationResult> {
  const info = serviceBusFunction(functionName, 'one');
  const normalized = normalize(message, dotNetUtc(new Date(), ''));
  return invokeServiceBus(
    info,
    () => ({ input: singleInput(info, normalized), triggerMetadata: singleTriggerMetadata(normalized) }),
    options,
  );
}
