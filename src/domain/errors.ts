/**
 * Typed domain errors. They carry what a caller needs to act (which role, on
 * which scope, which region) but no HTTP status: each entry point maps them.
 * Their messages are written for the person who has to fix the problem and
 * never contain tokens, secrets or raw SDK dumps.
 */

export abstract class DomainError extends Error {
  /** Stable machine-readable code; the HTTP layer exposes it as problem+json `code`. */
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input that can never succeed as sent (bad resource id, unknown region, malformed body). */
export class ValidationError extends DomainError {
  readonly code: string;
  constructor(
    code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.code = code;
  }
}

/** Someone else changed the entity since it was read; re-read and decide again. */
export class ConcurrencyConflictError extends DomainError {
  readonly code = 'ConcurrentModification';
}

export class NotFoundError extends DomainError {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The request is understood but the tenant's connection is not in a state that allows it. */
export class StateConflictError extends DomainError {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The three roles the customer grants our app on the workspace's resource group (the seed's list). */
export type CustomerRole =
  'Monitoring Contributor' | 'Monitoring Metrics Publisher' | 'Log Analytics Contributor';

/** ARM or the ingestion API refused an action: names the missing role and the scope to grant it on. */
export class AuthorizationError extends DomainError {
  readonly code = 'AuthorizationFailed';
  constructor(
    message: string,
    readonly missingRole: CustomerRole | undefined,
    readonly scope: string | undefined,
    readonly action: string | undefined,
  ) {
    super(message);
  }
}

/** Our app has no service principal in the customer's tenant (consent / "registered in your tenant" prerequisite). */
export class AppNotRegisteredError extends DomainError {
  readonly code = 'AppNotRegisteredInTenant';
}

/** A dependency (ARM, Entra, ingestion, storage) failed in a way that may succeed later. */
export class TransientDependencyError extends DomainError {
  readonly code = 'DependencyUnavailable';
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * How the Logs Ingestion API (or the token request in front of it) failed, in
 * the terms the forwarder decides on:
 * - throttled: 429, with or without Retry-After;
 * - unavailable: 5xx, timeout, reset, DNS: try again later;
 * - forbidden / notFound: 403 / 404, which right after provisioning only means
 *   "role or DCR not propagated yet", later "role removed" / "DCR deleted";
 * - rejected: 400 / 413 for these rows: retrying the same rows cannot succeed;
 * - unauthenticated: no token for the tenant (app removed from the tenant, consent revoked).
 */
export type IngestionFailureKind =
  'throttled' | 'unavailable' | 'forbidden' | 'notFound' | 'rejected' | 'unauthenticated';

export class IngestionFailure extends DomainError {
  readonly code = 'IngestionFailed';
  constructor(
    readonly kind: IngestionFailureKind,
    message: string,
    readonly details: { status?: number; serviceCode?: string; retryAfterMs?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A dependency refused a request for a reason retrying as is will not fix and
 * the customer cannot act on directly (an unexpected ARM 4xx, our own
 * credential refused). `code` is the dependency's own error code when it has one.
 */
export class DependencyRejectedError extends DomainError {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
