/**
 * Shapes shared by the Service Bus stand-in, its loopback admin API and the
 * admin client. Everything here is JSON-safe so the same objects travel over
 * HTTP to forked test workers and to other processes unchanged.
 */

/** Per-queue settings, named after Service Bus's own queue properties. */
export interface QueueOptions {
  /** Deliveries after which a message is dead-lettered with `MaxDeliveryCountExceeded`. Service Bus default: 10. */
  maxDeliveryCount?: number;
  /**
   * Peek-lock duration. Service Bus default 60 000 ms, maximum 5 minutes. Service Bus's minimum
   * (5 s) is deliberately not enforced so tests can watch locks expire quickly. The SDK renews
   * locks by itself (for 5 minutes by default, continuously once less than 1 s remains): create
   * the receiver with `maxAutoLockRenewalDurationInMs: 0` to see a lock expire.
   */
  lockDurationMs?: number;
  /** Drop (while reporting success) a message whose messageId was seen inside the window. Default false. */
  requiresDuplicateDetection?: boolean;
  /**
   * Duplicate detection history window. Service Bus default 10 minutes, maximum 7 days. Its 20 s
   * minimum is not enforced, for the same reason as the lock duration.
   */
  duplicateDetectionHistoryTimeWindowMs?: number;
  /** Time to live for messages that set none (and the cap for those that set a longer one). Default: none. */
  defaultMessageTimeToLiveMs?: number;
  /** Dead-letter expired messages (reason `TTLExpiredException`) instead of dropping them. Default false. */
  deadLetteringOnMessageExpiration?: boolean;
  /** Largest message or batch accepted. Standard tier: 262 144 bytes (the default); Premium up to 100 MB. */
  maxMessageSizeBytes?: number;
}

export type ResolvedQueueOptions = Required<Omit<QueueOptions, 'defaultMessageTimeToLiveMs'>> & {
  defaultMessageTimeToLiveMs: number | null;
};

export interface QueueCounts {
  /** Messages in the queue, locked or not. */
  active: number;
  /** Of the active messages, those currently locked by a receiver. */
  locked: number;
  scheduled: number;
  deadLettered: number;
}

export interface QueueSummary {
  name: string;
  options: ResolvedQueueOptions;
  counts: QueueCounts;
  /** Messages accepted from senders (duplicates included, batches counted per message). */
  messagesReceived: number;
  /** Sends the broker acknowledged but dropped because duplicate detection recognised their messageId. */
  duplicatesDropped: number;
  /** Messages settled with complete (or received in receive-and-delete mode). */
  messagesCompleted: number;
  /** Open receiver links on the active queue that hold credit now: a readiness signal for tests. */
  receiversWithCredit: number;
}

/**
 * One transfer a sender made on its link to the queue: a single message, or an SDK batch carrying
 * several. Lets a test see how a producer split its sends, and that none went over the size limit.
 */
export interface StandInTransfer {
  /** Bytes of the transfer as it arrived (for a batch, the whole batch envelope: what the limit applies to). */
  sizeInBytes: number;
  /** Whether it arrived in the batch message format. */
  batch: boolean;
  /** Messages it carried; 0 when it was refused before they were decoded. */
  messageCount: number;
  /** Null when the broker accepted it; otherwise the AMQP error condition it was refused with. */
  refusedWith: string | null;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type StoredMessageState = 'active' | 'locked' | 'scheduled' | 'deadLettered';

export type ServiceBusRight = 'Send' | 'Listen';

/**
 * Who decides on Entra ID tokens (CBS token type `jwt`): verifies the token
 * for an entity path (`queue`, `queue/$deadletterqueue`, …) and answers the
 * rights its data roles grant there.
 */
export interface ServiceBusTokenAuthority {
  authorize(
    token: string,
    entityPath: string,
  ): Promise<
    { ok: true; expiresAtMs: number; rights: ServiceBusRight[] } | { ok: false; description: string }
  >;
}

/** A message as the broker holds it, with the fields a test wants to assert on. */
export interface StandInMessage {
  sequenceNumber: number;
  state: StoredMessageState;
  messageId: string | null;
  /** How the body was encoded: the SDK sends `data` (JSON text or raw bytes). */
  bodyType: 'data' | 'value' | 'sequence' | 'none';
  /**
   * For `data` bodies, the JSON value when the bytes are UTF-8 JSON (as the SDK sends objects and
   * strings), otherwise the UTF-8 text; for `value`/`sequence` bodies, the decoded value.
   */
  body: JsonValue;
  /** The raw `data` bytes, base64-encoded (null for other body types). */
  bodyBase64: string | null;
  contentType: string | null;
  correlationId: string | null;
  subject: string | null;
  to: string | null;
  replyTo: string | null;
  sessionId: string | null;
  /** The message's own time to live (header ttl), before the queue's default is applied. */
  timeToLiveMs: number | null;
  /** Application properties as JSON (timestamps as ISO strings, binary as base64). */
  applicationProperties: Record<string, JsonValue>;
  /** The AMQP type of each application property as it arrived on the wire (`string`, `long`, `double`, `timestamp`, …). */
  applicationPropertyTypes: Record<string, string>;
  deliveryCount: number;
  enqueuedTimeUtc: string | null;
  scheduledEnqueueTimeUtc: string | null;
  lockedUntilUtc: string | null;
  expiresAtUtc: string | null;
  deadLetterReason: string | null;
  deadLetterErrorDescription: string | null;
  sizeInBytes: number;
}

/** Error body of the admin API: `{ error: { code, message } }`. */
export interface AdminErrorBody {
  error: { code: string; message: string };
}
