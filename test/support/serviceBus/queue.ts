import { randomBytes, randomUUID } from 'node:crypto';
import rhea, { type Typed } from 'rhea';
import {
  ANNOTATION,
  amqpTypeName,
  amqpTypes,
  describeBody,
  encodeForReceiver,
  parseSections,
  plainProperties,
  plainValue,
  splitBatch,
  toJson,
  typedValue,
  withMessageId,
  type AmqpSections,
} from './amqpMessage';
import { QueueOptionsError } from './errors';
import type { TimerRegistry } from './timers';
import type {
  JsonValue,
  QueueOptions,
  QueueSummary,
  ResolvedQueueOptions,
  StandInMessage,
  StandInTransfer,
  StoredMessageState,
} from './types';

/** Service Bus's defaults for a Standard-tier queue. */
export const DEFAULT_QUEUE_OPTIONS: ResolvedQueueOptions = {
  maxDeliveryCount: 10,
  lockDurationMs: 60_000,
  requiresDuplicateDetection: false,
  duplicateDetectionHistoryTimeWindowMs: 10 * 60_000,
  defaultMessageTimeToLiveMs: null,
  deadLetteringOnMessageExpiration: false,
  maxMessageSizeBytes: 262_144,
};

const LIMITS = {
  maxLockDurationMs: 5 * 60_000,
  maxDuplicateWindowMs: 7 * 24 * 60 * 60_000,
  minMessageSizeBytes: 1_024,
  maxMessageSizeBytes: 100 * 1024 * 1024,
};

const OPTION_KEYS = new Set<string>(Object.keys(DEFAULT_QUEUE_OPTIONS));

function positiveInteger(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new QueueOptionsError(
      `${name} must be an integer between ${min} and ${max}; got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

function flag(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new QueueOptionsError(`${name} must be true or false; got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** Applies Service Bus defaults and refuses settings Service Bus would refuse. */
export function resolveQueueOptions(options: unknown = {}): ResolvedQueueOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new QueueOptionsError('Queue options must be a JSON object.');
  }
  const unknownKeys = Object.keys(options).filter((key) => !OPTION_KEYS.has(key));
  if (unknownKeys.length > 0) {
    throw new QueueOptionsError(
      `Unknown queue option(s) ${unknownKeys.join(', ')}; supported: ${[...OPTION_KEYS].join(', ')}.`,
    );
  }
  const given = options as QueueOptions;
  const resolved = { ...DEFAULT_QUEUE_OPTIONS };
  if (given.maxDeliveryCount !== undefined) {
    resolved.maxDeliveryCount = positiveInteger('maxDeliveryCount', given.maxDeliveryCount);
  }
  if (given.lockDurationMs !== undefined) {
    resolved.lockDurationMs = positiveInteger(
      'lockDurationMs',
      given.lockDurationMs,
      LIMITS.maxLockDurationMs,
    );
  }
  if (given.requiresDuplicateDetection !== undefined) {
    resolved.requiresDuplicateDetection = flag(
      'requiresDuplicateDetection',
      given.requiresDuplicateDetection,
    );
  }
  if (given.duplicateDetectionHistoryTimeWindowMs !== undefined) {
    resolved.duplicateDetectionHistoryTimeWindowMs = positiveInteger(
      'duplicateDetectionHistoryTimeWindowMs',
      given.duplicateDetectionHistoryTimeWindowMs,
      LIMITS.maxDuplicateWindowMs,
    );
  }
  if (given.defaultMessageTimeToLiveMs !== undefined && given.defaultMessageTimeToLiveMs !== null) {
    resolved.defaultMessageTimeToLiveMs = positiveInteger(
      'defaultMessageTimeToLiveMs',
      given.defaultMessageTimeToLiveMs,
    );
  }
  if (given.deadLetteringOnMessageExpiration !== undefined) {
    resolved.deadLetteringOnMessageExpiration = flag(
      'deadLetteringOnMessageExpiration',
      given.deadLetteringOnMessageExpiration,
    );
  }
  if (given.maxMessageSizeBytes !== undefined) {
    resolved.maxMessageSizeBytes = positiveInteger(
      'maxMessageSizeBytes',
      given.maxMessageSizeBytes,
      LIMITS.maxMessageSizeBytes,
      LIMITS.minMessageSizeBytes,
    );
  }
  return resolved;
}

/** Service Bus entity names: letters, digits, periods, hyphens and underscores, up to 260 characters. */
export function assertValidQueueName(name: string): void {
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,258}[A-Za-z0-9_])?$/.test(name)) {
    throw new QueueOptionsError(
      `Invalid queue name '${name}': use 1-260 letters, digits, '.', '-' or '_', starting with a letter or digit.`,
    );
  }
}

/** A message as it arrived from a sender, decoded once. */
export interface IncomingMessage {
  sections: AmqpSections;
  /** Duplicate-detection key: the sender's messageId (null when the broker had to assign one). */
  senderMessageId: string | null;
  sizeInBytes: number;
  /** x-opt-scheduled-enqueue-time, when the sender set one. */
  scheduledEnqueueTimeMs: number | null;
}

function messageIdKey(messageId: unknown): string | null {
  if (messageId === undefined || messageId === null) {
    return null;
  }
  if (Buffer.isBuffer(messageId)) {
    return messageId.toString('hex');
  }
  return typeof messageId === 'string' ? messageId : JSON.stringify(messageId);
}

function timestampMs(value: unknown): number | null {
  if (value instanceof Date) {
    return value.getTime();
  }
  if (typeof value === 'number') {
    return value;
  }
  return null;
}

/** Decodes one encoded message; a message without a messageId gets one, as Service Bus assigns it. */
export function decodeIncoming(bytes: Buffer): IncomingMessage {
  let sections = parseSections(bytes);
  const senderMessageId = messageIdKey(plainProperties(sections).message_id);
  if (senderMessageId === null) {
    sections = withMessageId(sections, randomUUID().replace(/-/g, ''));
  }
  const scheduled = sections.messageAnnotations.get(ANNOTATION.scheduledEnqueueTime);
  return {
    sections,
    senderMessageId,
    sizeInBytes: bytes.length,
    scheduledEnqueueTimeMs: scheduled ? timestampMs(plainValue(scheduled)) : null,
  };
}

/**
 * The inner messages of a batch, under the envelope's message annotations.
 * @azure/service-bus builds the envelope from the first message added
 * (ServiceBusMessageBatchImpl.tryAddMessage in 7.9.5: "the message_annotations,
 * application_properties and message_properties that are taken from the 1st
 * message"), so the envelope carries that message's x-opt-scheduled-enqueue-time.
 * Whether the broker then honours each inner message's own time is not
 * documented or recorded anywhere we found (issue 14 item 8); the stricter
 * reading is applied: the envelope's annotations replace the inner ones, and
 * the envelope alone says whether and when the whole batch is scheduled. A
 * sender that mixes scheduled times in one batch sees them all take the first.
 */
export function decodeBatch(outer: Buffer): IncomingMessage[] {
  const { envelopeAnnotations, inner } = splitBatch(outer);
  return inner.map((bytes) => {
    const message = decodeIncoming(bytes);
    const annotations = new Map(message.sections.messageAnnotations);
    annotations.delete(ANNOTATION.scheduledEnqueueTime);
    for (const [key, value] of envelopeAnnotations) annotations.set(key, value);
    const scheduled = annotations.get(ANNOTATION.scheduledEnqueueTime);
    return {
      ...message,
      sections: { ...message.sections, messageAnnotations: annotations },
      scheduledEnqueueTimeMs: scheduled ? timestampMs(plainValue(scheduled)) : null,
    };
  });
}

export type SubQueue = 'active' | 'deadLetter';

interface Lock {
  token: string;
  untilMs: number;
  cancelTimer: () => void;
}

interface StoredMessage {
  readonly sequenceNumber: number;
  readonly sections: AmqpSections;
  readonly messageId: string | null;
  readonly sizeInBytes: number;
  readonly timeToLiveMs: number | null;
  readonly scheduledForMs: number | null;
  enqueuedAtMs: number | null;
  /** Deliveries so far; the header of the next delivery carries this value (0 on the first). */
  deliveryCount: number;
  lock: Lock | null;
  cancelActivation: (() => void) | null;
  cancelExpiry: (() => void) | null;
  /** Application properties the broker set (properties to modify, dead-letter reason). */
  brokerProperties: Map<string, Typed>;
  deadLetterReason: string | null;
  deadLetterErrorDescription: string | null;
}

export interface Delivery {
  bytes: Buffer;
  /** 16-byte delivery tag; the SDK turns it into the message's lock token. Null in receive-and-delete mode. */
  tag: Buffer | null;
  /** The lock token as the SDK reports it (null in receive-and-delete mode). */
  token: string | null;
}

export type SettleOutcome = 'settled' | 'lockLost';

/** The SDK shows a lock token as a GUID read from the delivery tag in .NET byte order. */
function lockTokenOfTag(tag: Buffer): string {
  const reordered = Buffer.from([
    tag[3] ?? 0,
    tag[2] ?? 0,
    tag[1] ?? 0,
    tag[0] ?? 0,
    tag[5] ?? 0,
    tag[4] ?? 0,
    tag[7] ?? 0,
    tag[6] ?? 0,
    ...tag.subarray(8),
  ]);
  return rhea.uuid_to_string(reordered);
}

/** Lock tokens arrive on the management link as AMQP uuids; this is the SDK's string form of them. */
export function lockTokenOfUuid(uuid: Buffer | string): string {
  return typeof uuid === 'string' ? uuid.toLowerCase() : rhea.uuid_to_string(uuid);
}

/**
 * One Service Bus queue and its dead-letter sub-queue: storage, scheduling,
 * duplicate detection, peek-lock and the settlement rules. Transport-free:
 * the broker feeds it decoded messages and delivers what it hands out.
 */
export class StandInQueue {
  private nextSequenceNumber = 1;
  private readonly active = new Map<number, StoredMessage>();
  private readonly deadLettered = new Map<number, StoredMessage>();
  private readonly scheduled = new Map<number, StoredMessage>();
  /** Sequence numbers handed out for scheduled messages that duplicate detection dropped. */
  private readonly droppedScheduled = new Set<number>();
  private readonly locks = new Map<string, { message: StoredMessage; subQueue: SubQueue }>();
  /** messageId -> when it was first seen, for duplicate detection. */
  private readonly seenMessageIds = new Map<string, number>();
  private messagesReceived = 0;
  private duplicatesDropped = 0;
  private messagesCompleted = 0;
  private readonly transfers: StandInTransfer[] = [];

  constructor(
    readonly name: string,
    readonly options: ResolvedQueueOptions,
    private readonly timers: TimerRegistry,
    /** Called whenever a message may have become available to a receiver. */
    private readonly onAvailable: () => void,
  ) {}

  /** Messages from a send link: enqueued now, or held when they carry a future scheduled enqueue time. */
  accept(messages: IncomingMessage[], nowMs: number): void {
    for (const incoming of messages) {
      this.messagesReceived += 1;
      if (this.isDuplicate(incoming.senderMessageId, nowMs)) {
        this.duplicatesDropped += 1;
        continue;
      }
      const due = incoming.scheduledEnqueueTimeMs;
      const stored = this.store(incoming, due !== null && due > nowMs ? due : null);
      if (stored.scheduledForMs === null) {
        this.activate(stored, nowMs);
      } else {
        this.holdUntilDue(stored);
      }
    }
  }

  /** Notes a transfer from a send link, accepted or refused (purge keeps the log, like the counters). */
  recordTransfer(transfer: StandInTransfer): void {
    this.transfers.push({ ...transfer });
  }

  /** Transfers from send links, oldest first. */
  transferLog(): StandInTransfer[] {
    return this.transfers.map((transfer) => ({ ...transfer }));
  }

  /** schedule-message on the management link: every message gets a sequence number, duplicates included. */
  schedule(messages: IncomingMessage[], nowMs: number): number[] {
    return messages.map((incoming) => {
      this.messagesReceived += 1;
      const due = incoming.scheduledEnqueueTimeMs ?? nowMs;
      if (this.isDuplicate(incoming.senderMessageId, nowMs)) {
        this.duplicatesDropped += 1;
        const sequenceNumber = this.nextSequenceNumber++;
        this.droppedScheduled.add(sequenceNumber);
        return sequenceNumber;
      }
      const stored = this.store(incoming, due);
      this.holdUntilDue(stored);
      return stored.sequenceNumber;
    });
  }

  /** Cancels scheduled messages; like Service Bus, refuses the whole request if any is not (or no longer) scheduled. */
  cancelScheduled(sequenceNumbers: number[]): { missing: number[] } {
    const missing = sequenceNumbers.filter((n) => !this.scheduled.has(n) && !this.droppedScheduled.has(n));
    if (missing.length > 0) {
      return { missing };
    }
    for (const sequenceNumber of sequenceNumbers) {
      const message = this.scheduled.get(sequenceNumber);
      message?.cancelActivation?.();
      this.scheduled.delete(sequenceNumber);
      this.droppedScheduled.delete(sequenceNumber);
    }
    return { missing: [] };
  }

  hasAvailable(subQueue: SubQueue, nowMs: number): boolean {
    return this.nextAvailable(subQueue, nowMs) !== undefined;
  }

  /** Hands the next available message to a receiver: locked in peek-lock mode, removed in receive-and-delete. */
  deliver(subQueue: SubQueue, receiveAndDelete: boolean, nowMs: number): Delivery | undefined {
    const message = this.nextAvailable(subQueue, nowMs);
    if (!message) {
      return undefined;
    }
    const headerDeliveryCount = message.deliveryCount;
    message.deliveryCount += 1;
    if (receiveAndDelete) {
      this.remove(message, subQueue);
      this.messagesCompleted += 1;
      return { bytes: this.encode(message, headerDeliveryCount, null), tag: null, token: null };
    }
    const tag = randomBytes(16);
    const token = lockTokenOfTag(tag);
    const untilMs = nowMs + this.options.lockDurationMs;
    message.lock = { token, untilMs, cancelTimer: this.timers.at(untilMs, () => this.expireLock(token)) };
    this.locks.set(token, { message, subQueue });
    return { bytes: this.encode(message, headerDeliveryCount, untilMs), tag, token };
  }

  complete(token: string, nowMs: number): SettleOutcome {
    const entry = this.heldLock(token, nowMs);
    if (!entry) {
      return 'lockLost';
    }
    this.releaseLock(entry.message);
    this.remove(entry.message, entry.subQueue);
    this.messagesCompleted += 1;
    return 'settled';
  }

  abandon(
    token: string,
    propertiesToModify: Record<string, unknown> | undefined,
    nowMs: number,
  ): SettleOutcome {
    const entry = this.heldLock(token, nowMs);
    if (!entry) {
      return 'lockLost';
    }
    this.releaseLock(entry.message);
    this.modifyProperties(entry.message, propertiesToModify);
    this.afterFailedDelivery(entry.message, entry.subQueue);
    return 'settled';
  }

  deadLetter(
    token: string,
    reason: string | undefined,
    description: string | undefined,
    propertiesToModify: Record<string, unknown> | undefined,
    nowMs: number,
  ): SettleOutcome {
    const entry = this.heldLock(token, nowMs);
    if (!entry) {
      return 'lockLost';
    }
    this.releaseLock(entry.message);
    this.modifyProperties(entry.message, propertiesToModify);
    if (entry.subQueue === 'deadLetter') {
      // A dead-lettered message has nowhere further to go; it stays available in the dead-letter queue.
      this.onAvailable();
    } else {
      this.moveToDeadLetter(entry.message, reason ?? null, description ?? null);
    }
    return 'settled';
  }

  renewLock(token: string, nowMs: number): number | undefined {
    const entry = this.heldLock(token, nowMs);
    if (!entry?.message.lock) {
      return undefined;
    }
    const lock = entry.message.lock;
    lock.cancelTimer();
    lock.untilMs = nowMs + this.options.lockDurationMs;
    lock.cancelTimer = this.timers.at(lock.untilMs, () => this.expireLock(token));
    return lock.untilMs;
  }

  /** Messages for peek (no lock taken): active and scheduled, or dead-lettered, from a sequence number on. */
  peek(subQueue: SubQueue, fromSequenceNumber: number, count: number, nowMs: number): Buffer[] {
    this.expireMessages(nowMs);
    const candidates =
      subQueue === 'active'
        ? [...this.active.values(), ...this.scheduled.values()]
        : [...this.deadLettered.values()];
    return candidates
      .filter((message) => message.sequenceNumber >= fromSequenceNumber)
      .sort((a, b) => a.sequenceNumber - b.sequenceNumber)
      .slice(0, count)
      .map((message) => this.encode(message, message.deliveryCount, message.lock?.untilMs ?? null));
  }

  purge(): void {
    for (const message of [
      ...this.active.values(),
      ...this.deadLettered.values(),
      ...this.scheduled.values(),
    ]) {
      message.lock?.cancelTimer();
      message.cancelActivation?.();
      message.cancelExpiry?.();
    }
    this.active.clear();
    this.deadLettered.clear();
    this.scheduled.clear();
    this.droppedScheduled.clear();
    this.locks.clear();
  }

  summary(nowMs: number): Omit<QueueSummary, 'receiversWithCredit'> {
    this.expireMessages(nowMs);
    return {
      name: this.name,
      options: { ...this.options },
      counts: {
        active: this.active.size,
        locked: [...this.active.values()].filter((message) => message.lock !== null).length,
        scheduled: this.scheduled.size,
        deadLettered: this.deadLettered.size,
      },
      messagesReceived: this.messagesReceived,
      duplicatesDropped: this.duplicatesDropped,
      messagesCompleted: this.messagesCompleted,
    };
  }

  activeMessages(nowMs: number): StandInMessage[] {
    this.expireMessages(nowMs);
    return [...this.active.values()].map((message) => this.view(message, message.lock ? 'locked' : 'active'));
  }

  scheduledMessages(): StandInMessage[] {
    return [...this.scheduled.values()].map((message) => this.view(message, 'scheduled'));
  }

  deadLetteredMessages(nowMs: number): StandInMessage[] {
    this.expireMessages(nowMs);
    return [...this.deadLettered.values()].map((message) => this.view(message, 'deadLettered'));
  }

  private map(subQueue: SubQueue): Map<number, StoredMessage> {
    return subQueue === 'active' ? this.active : this.deadLettered;
  }

  /**
   * The key is the MessageId alone, queue-wide, whoever sent it: "duplicate messages having the same
   * MessageId and sent to the queue within duration of DuplicateDetectionHistoryTimeWindow will be
   * discarded" (Learn, QueueProperties.RequiresDuplicateDetection:
   * https://learn.microsoft.com/dotnet/api/azure.messaging.servicebus.administration.queueproperties.requiresduplicatedetection;
   * https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection). Discarded silently:
   * the send succeeds, so a sender cannot tell.
   */
  private isDuplicate(messageId: string | null, nowMs: number): boolean {
    if (!this.options.requiresDuplicateDetection || messageId === null) {
      return false;
    }
    const windowMs = this.options.duplicateDetectionHistoryTimeWindowMs;
    for (const [id, seenAtMs] of this.seenMessageIds) {
      if (seenAtMs + windowMs > nowMs) {
        break; // insertion order is time order: the rest are newer
      }
      this.seenMessageIds.delete(id);
    }
    if (this.seenMessageIds.has(messageId)) {
      return true;
    }
    this.seenMessageIds.set(messageId, nowMs);
    return false;
  }

  private store(incoming: IncomingMessage, scheduledForMs: number | null): StoredMessage {
    const ownTtl = incoming.sections.header.ttl ?? null;
    const queueTtl = this.options.defaultMessageTimeToLiveMs;
    const timeToLiveMs =
      ownTtl !== null && queueTtl !== null ? Math.min(ownTtl, queueTtl) : (ownTtl ?? queueTtl);
    return {
      sequenceNumber: this.nextSequenceNumber++,
      sections: incoming.sections,
      messageId: messageIdKey(plainProperties(incoming.sections).message_id),
      sizeInBytes: incoming.sizeInBytes,
      timeToLiveMs,
      scheduledForMs,
      enqueuedAtMs: null,
      deliveryCount: 0,
      lock: null,
      cancelActivation: null,
      cancelExpiry: null,
      brokerProperties: new Map(),
      deadLetterReason: null,
      deadLetterErrorDescription: null,
    };
  }

  private holdUntilDue(message: StoredMessage): void {
    this.scheduled.set(message.sequenceNumber, message);
    message.cancelActivation = this.timers.at(message.scheduledForMs ?? 0, () => {
      if (this.scheduled.delete(message.sequenceNumber)) {
        message.cancelActivation = null;
        this.activate(message, Date.now());
      }
    });
  }

  private activate(message: StoredMessage, nowMs: number): void {
    message.enqueuedAtMs = nowMs;
    this.active.set(message.sequenceNumber, message);
    if (message.timeToLiveMs !== null) {
      // Expiry is applied lazily; this wake-up lets a waiting dead-letter receiver see it on time.
      message.cancelExpiry = this.timers.at(nowMs + message.timeToLiveMs, () => {
        message.cancelExpiry = null;
        this.expireMessages(Date.now());
      });
    }
    this.onAvailable();
  }

  /** Takes a message out of the active or dead-letter queue for good. */
  private remove(message: StoredMessage, subQueue: SubQueue): void {
    this.map(subQueue).delete(message.sequenceNumber);
    message.cancelExpiry?.();
    message.cancelExpiry = null;
  }

  private nextAvailable(subQueue: SubQueue, nowMs: number): StoredMessage | undefined {
    this.expireMessages(nowMs);
    for (const message of this.map(subQueue).values()) {
      if (message.lock === null) {
        return message;
      }
    }
    return undefined;
  }

  /** Service Bus removes expired messages lazily; so does the stand-in, whenever it looks at the queue. */
  private expireMessages(nowMs: number): void {
    for (const message of [...this.active.values()]) {
      if (message.lock !== null || message.timeToLiveMs === null || message.enqueuedAtMs === null) {
        continue;
      }
      if (message.enqueuedAtMs + message.timeToLiveMs <= nowMs) {
        if (this.options.deadLetteringOnMessageExpiration) {
          this.moveToDeadLetter(message, 'TTLExpiredException', 'The message expired and was dead lettered.');
        } else {
          this.remove(message, 'active');
        }
      }
    }
  }

  private heldLock(token: string, nowMs: number): { message: StoredMessage; subQueue: SubQueue } | undefined {
    const entry = this.locks.get(token);
    if (!entry || entry.message.lock?.token !== token) {
      return undefined;
    }
    if (entry.message.lock.untilMs <= nowMs) {
      this.expireLock(token);
      return undefined;
    }
    return entry;
  }

  private releaseLock(message: StoredMessage): void {
    if (message.lock) {
      message.lock.cancelTimer();
      this.locks.delete(message.lock.token);
      message.lock = null;
    }
  }

  private expireLock(token: string): void {
    const entry = this.locks.get(token);
    if (!entry || entry.message.lock?.token !== token) {
      return;
    }
    this.releaseLock(entry.message);
    this.afterFailedDelivery(entry.message, entry.subQueue);
  }

  private afterFailedDelivery(message: StoredMessage, subQueue: SubQueue): void {
    if (subQueue === 'active' && message.deliveryCount >= this.options.maxDeliveryCount) {
      this.moveToDeadLetter(
        message,
        'MaxDeliveryCountExceeded',
        `Message could not be consumed after ${this.options.maxDeliveryCount} delivery attempts.`,
      );
      return;
    }
    this.onAvailable();
  }

  private moveToDeadLetter(message: StoredMessage, reason: string | null, description: string | null): void {
    this.releaseLock(message);
    this.remove(message, 'active');
    message.deadLetterReason = reason;
    message.deadLetterErrorDescription = description;
    if (reason !== null) {
      message.brokerProperties.set('DeadLetterReason', amqpTypes.wrap_string(reason));
    }
    if (description !== null) {
      message.brokerProperties.set('DeadLetterErrorDescription', amqpTypes.wrap_string(description));
    }
    this.deadLettered.set(message.sequenceNumber, message);
    this.onAvailable();
  }

  private modifyProperties(message: StoredMessage, properties: Record<string, unknown> | undefined): void {
    for (const [key, value] of Object.entries(properties ?? {})) {
      if (value !== undefined && value !== null) {
        message.brokerProperties.set(key, typedValue(value));
      }
    }
  }

  private encode(message: StoredMessage, headerDeliveryCount: number, lockedUntilMs: number | null): Buffer {
    const annotations = new Map<string, Typed>([
      [ANNOTATION.sequenceNumber, amqpTypes.wrap_long(message.sequenceNumber)],
    ]);
    if (message.enqueuedAtMs !== null) {
      annotations.set(ANNOTATION.enqueuedTime, amqpTypes.wrap_timestamp(message.enqueuedAtMs));
    } else {
      annotations.set(ANNOTATION.messageState, amqpTypes.wrap_int(2)); // scheduled, as peek reports it
    }
    if (lockedUntilMs !== null) {
      annotations.set(ANNOTATION.lockedUntil, amqpTypes.wrap_timestamp(lockedUntilMs));
    }
    return encodeForReceiver(message.sections, {
      deliveryCount: headerDeliveryCount,
      timeToLiveMs: message.timeToLiveMs ?? undefined,
      annotations,
      applicationProperties: message.brokerProperties,
    });
  }

  private view(message: StoredMessage, state: StoredMessageState): StandInMessage {
    const properties = plainProperties(message.sections);
    const applicationProperties: Record<string, JsonValue> = {};
    const applicationPropertyTypes: Record<string, string> = {};
    for (const [key, value] of [...message.sections.applicationProperties, ...message.brokerProperties]) {
      applicationProperties[key] = toJson(plainValue(value));
      applicationPropertyTypes[key] = amqpTypeName(value);
    }
    const text = (value: unknown): string | null => {
      if (value === undefined || value === null) {
        return null;
      }
      if (typeof value === 'string') {
        return value;
      }
      return Buffer.isBuffer(value) ? value.toString('hex') : JSON.stringify(value);
    };
    const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
    const expiresAtMs =
      message.enqueuedAtMs !== null && message.timeToLiveMs !== null
        ? message.enqueuedAtMs + message.timeToLiveMs
        : null;
    return {
      sequenceNumber: message.sequenceNumber,
      state,
      messageId: message.messageId,
      ...describeBody(message.sections),
      contentType: text(properties.content_type),
      correlationId: text(properties.correlation_id),
      subject: text(properties.subject),
      to: text(properties.to),
      replyTo: text(properties.reply_to),
      sessionId: text(properties.group_id),
      timeToLiveMs: message.sections.header.ttl ?? null,
      applicationProperties,
      applicationPropertyTypes,
      deliveryCount: message.deliveryCount,
      enqueuedTimeUtc: iso(message.enqueuedAtMs),
      scheduledEnqueueTimeUtc: iso(message.scheduledForMs),
      lockedUntilUtc: iso(message.lock?.untilMs ?? null),
      expiresAtUtc: iso(expiresAtMs),
      deadLetterReason: message.deadLetterReason,
      deadLetterErrorDescription: message.deadLetterErrorDescription,
      sizeInBytes: message.sizeInBytes,
    };
  }
}
