import { createHash, randomUUID } from 'node:crypto';

/**
 * How an event's delivery attempts travel with it. A retry is a new, scheduled
 * copy of the message (abandoning would redeliver at once and burn the
 * queue's delivery count in seconds), so the attempt count, the time of the
 * first attempt and the recent failures ride along as application properties.
 *
 * Property names start lower-case on purpose: the Functions library lower-cases
 * the first letter of every metadata key it hands to the handler.
 */

export const ATTEMPT_PROPERTY = 'deliveryAttempt';
export const FIRST_ATTEMPT_PROPERTY = 'firstAttemptAt';
export const HISTORY_PROPERTY = 'failureHistory';

const MAX_HISTORY_ENTRIES = 10;
const MAX_HISTORY_ERROR_CHARS = 300;

export interface FailureRecord {
  at: string;
  error: string;
}

export interface DeliveryAttempts {
  /** 1-based number of the attempt now being made. */
  attempt: number;
  firstAttemptAt: string;
  /** Most recent failures, oldest first. */
  history: FailureRecord[];
}

export interface RetrySettings {
  retryBudgetMs: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
}

/** Reads what earlier attempts left on the message; a fresh message is attempt 1, starting now. */
export function readAttempts(
  properties: Readonly<Record<string, unknown>> | undefined,
  now: Date,
): DeliveryAttempts {
  const rawAttempt = Number(properties?.[ATTEMPT_PROPERTY]);
  // Only copies this app re-enqueued carry an attempt past the first.
  const isCopy = Number.isInteger(rawAttempt) && rawAttempt >= 2;
  const attempt = isCopy ? rawAttempt : 1;
  const rawFirst = properties?.[FIRST_ATTEMPT_PROPERTY];
  const firstMs = isCopy && typeof rawFirst === 'string' ? Date.parse(rawFirst) : Number.NaN;
  // A first attempt on a message that is no copy, or "in the future", can only be forged or corrupted:
  // trusted, it would park the event and suspend its tenant at the first failure. Count from now.
  const firstAttemptAt =
    Number.isNaN(firstMs) || firstMs > now.getTime() ? now.toISOString() : new Date(firstMs).toISOString();
  return { attempt, firstAttemptAt, history: readHistory(properties?.[HISTORY_PROPERTY]) };
}

function readHistory(raw: unknown): FailureRecord[] {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return [];
    }
  }
  if (!Array.isArray(value)) return [];
  return value
    .filter(
      (entry): entry is FailureRecord =>
        typeof entry === 'object' &&
        entry !== null &&
        typeof (entry as Record<string, unknown>).at === 'string' &&
        typeof (entry as Record<string, unknown>).error === 'string',
    )
    .map((entry) => ({ at: entry.at, error: entry.error }))
    .slice(-MAX_HISTORY_ENTRIES);
}

/** The history with one more failure, bounded so it always fits in a message property. */
export function withFailure(history: readonly FailureRecord[], at: Date, error: string): FailureRecord[] {
  return [...history, { at: at.toISOString(), error: error.slice(0, MAX_HISTORY_ERROR_CHARS) }].slice(
    -MAX_HISTORY_ENTRIES,
  );
}

/** Application properties that carry the next attempt's bookkeeping. */
export function attemptProperties(next: DeliveryAttempts): Record<string, string | number> {
  return {
    [ATTEMPT_PROPERTY]: next.attempt,
    [FIRST_ATTEMPT_PROPERTY]: next.firstAttemptAt,
    [HISTORY_PROPERTY]: JSON.stringify(next.history),
  };
}

/**
 * A copy's message id: its own (duplicate detection silently drops a copy
 * reusing the original's id), yet the same for the same received message, so
 * a batch redelivered after a failure re-enqueues copies the queue recognises
 * as duplicates instead of doubling them.
 *
 * It starts with the tenant: record ids are unique per producer, not across
 * tenants, and duplicate detection spans the whole queue, so two tenants'
 * events with the same id would otherwise share copy ids and one tenant's
 * copy would be dropped as the other's duplicate.
 *
 * The plain `<tenant>:<event id>:<attempt>` form belongs to the chain that
 * starts at the producer's message (whose id is `<tenant>:<event id>`, or the
 * bare event id from producers built before ids carried the tenant). Any other
 * message of the event (a replay, a copy resubmitted by hand, one whose
 * attempt count was lost) would reuse ids that chain may have used inside the
 * duplicate-detection window, and its copy would vanish; it gets a suffix
 * derived from its own message id instead, or a random one when the trigger
 * gave no id (a possible duplicate, never a loss). A copy enqueued before
 * copies carried the tenant (`<event id>:<attempt>`) still continues its chain.
 */
export function retryMessageId(
  tenantId: string,
  eventRecordId: string,
  nextAttempt: number,
  source: { messageId: string | undefined; attempt: number },
): string {
  const tenant = tenantId.toLowerCase();
  const isProducerChain =
    source.messageId === `${tenant}:${eventRecordId}` ||
    source.messageId === eventRecordId ||
    source.messageId === `${tenant}:${eventRecordId}:${source.attempt}` ||
    source.messageId === `${eventRecordId}:${source.attempt}`;
  if (isProducerChain) return `${tenant}:${eventRecordId}:${nextAttempt}`;
  const seed = source.messageId ?? randomUUID();
  return `${tenant}:${eventRecordId}:${nextAttempt}:${createHash('sha256').update(seed).digest('hex').slice(0, 16)}`;
}

/** True once the event has been retried for longer than the budget allows. */
export function isRetryBudgetExhausted(
  attempts: DeliveryAttempts,
  now: Date,
  settings: RetrySettings,
): boolean {
  return now.getTime() - Date.parse(attempts.firstAttemptAt) >= settings.retryBudgetMs;
}

/**
 * Exponential backoff with jitter for the attempt that just failed: the base
 * delay doubles per attempt up to the cap, then a random part of the upper
 * half is taken ("equal jitter") so failing events of many tenants spread out
 * but never come back sooner than half the backoff. The random part is one of
 * JITTER_BUCKETS steps, so the copies of one settlement fall on few distinct
 * times (each time is a send of its own). A Retry-After from the service is a
 * floor.
 */
const JITTER_BUCKETS = 5;

export function retryDelayMs(
  failedAttempt: number,
  settings: RetrySettings,
  random: () => number,
  retryAfterMs?: number,
): number {
  const exponent = Math.min(Math.max(failedAttempt - 1, 0), 30);
  const capped = Math.min(settings.retryMaxDelayMs, settings.retryBaseDelayMs * 2 ** exponent);
  const bucket = Math.min(Math.floor(random() * JITTER_BUCKETS), JITTER_BUCKETS - 1);
  const jittered = Math.round(capped / 2 + (bucket / (JITTER_BUCKETS - 1)) * (capped / 2));
  return Math.max(jittered, retryAfterMs ?? 0);
}
