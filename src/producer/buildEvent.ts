import { randomUUID } from 'node:crypto';
import {
  type AuditEvent,
  type EventValidation,
  formatProblems,
  type Problem,
  SCHEMA_VERSION,
  validateEvent,
} from '../domain/eventContract';

/**
 * An event as a PKI service writes it: `schemaVersion`, `id` and `time` may be
 * left out (they default to "1", a new UUID and now), and `time` may be a Date.
 * `eventId` is any number here; validation says whether the catalog has it.
 */
export type AuditEventDraft = Omit<AuditEvent, 'schemaVersion' | 'id' | 'time' | 'eventId'> & {
  schemaVersion?: string;
  id?: string;
  time?: string | Date;
  eventId: number;
};

export interface DraftDefaults {
  readonly now?: () => Date;
  readonly newId?: () => string;
}

export class InvalidAuditEventError extends Error {
  constructor(readonly problems: readonly Problem[]) {
    super(`Invalid audit event: ${formatProblems(problems)}`);
    this.name = 'InvalidAuditEventError';
  }
}

/** Fills the defaults a draft may leave out; anything that is not an object is passed on for validation to refuse. */
export function completeDraft(draft: unknown, defaults: DraftDefaults = {}): unknown {
  if (typeof draft !== 'object' || draft === null || Array.isArray(draft)) return draft;
  const fields = draft as Record<string, unknown>;
  const time = fields.time;
  return {
    ...fields,
    schemaVersion: fields.schemaVersion ?? SCHEMA_VERSION,
    id: fields.id ?? (defaults.newId ?? randomUUID)(),
    time:
      time === undefined
        ? (defaults.now?.() ?? new Date()).toISOString()
        : time instanceof Date && !Number.isNaN(time.getTime())
          ? time.toISOString()
          : time,
  };
}

/** Completes and validates a draft without throwing. */
export function checkDraft(draft: unknown, defaults?: DraftDefaults): EventValidation {
  return validateEvent(completeDraft(draft, defaults));
}

/**
 * Builds a complete, validated, canonical event from a draft. Throws
 * InvalidAuditEventError naming every problem. Build once and keep the result
 * for retries: its `id` is what lets the queue drop a resent duplicate.
 */
export function buildEvent(draft: AuditEventDraft, defaults?: DraftDefaults): AuditEvent {
  const result = checkDraft(draft, defaults);
  if (!result.ok) throw new InvalidAuditEventError(result.problems);
  return result.event;
}
