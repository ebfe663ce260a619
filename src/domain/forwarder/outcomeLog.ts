import type { BatchOutcome, ForwardOptions, ReceivedAuditMessage, TenantOutcome } from './contract';

const MAX_LOGGED_IDS = 50;

/**
 * One line per tenant with news (warn when events were retried or parked),
 * then one line for the batch. Tenants whose events were all delivered are
 * only counted in the batch line.
 */
export function logOutcome(
  outcome: BatchOutcome,
  invalidIds: ReadonlyArray<string | undefined>,
  messages: readonly ReceivedAuditMessage[],
  options: ForwardOptions,
): void {
  const { logger, invocationId } = options;
  let quiet = 0;
  for (const tenant of outcome.tenants) {
    const troubled = tenant.retried > 0 || tenant.parked > 0;
    // A clean delivery is only counted in the batch line: the log grows with batches, not tenants x batches.
    if (isQuiet(tenant)) {
      quiet += 1;
      continue;
    }
    const fields: Record<string, unknown> = {
      invocationId,
      tenantId: tenant.tenantId,
      state: tenant.state,
      delivered: tenant.delivered,
      retried: tenant.retried,
      parked: tenant.parked,
      skipped: tenant.skipped,
      attempt: tenant.attempt,
      durationMs: tenant.durationMs,
    };
    if (tenant.failure) {
      fields.failureKind = tenant.failure.kind;
      if (tenant.failure.status !== undefined) fields.failureStatus = tenant.failure.status;
    }
    if (tenant.stateChange) {
      fields.stateChange = `${tenant.stateChange.from}->${tenant.stateChange.to}`;
    }
    if (tenant.pausedUntil !== undefined) fields.pausedUntil = tenant.pausedUntil;
    if (troubled) {
      if (tenant.failure) fields.failure = tenant.failure.message;
      if (tenant.retriedMessageIds.length > 0) {
        fields.retriedMessageIds = tenant.retriedMessageIds.slice(0, MAX_LOGGED_IDS);
      }
      if (tenant.parkedMessageIds.length > 0) {
        fields.parkedMessageIds = tenant.parkedMessageIds.slice(0, MAX_LOGGED_IDS);
      }
      logger.warn('forwarder: tenant outcome', fields);
    } else {
      logger.info('forwarder: tenant outcome', fields);
    }
  }
  const deliveryCounts = messages.map((message) => message.deliveryCount ?? 0);
  const fields: Record<string, unknown> = {
    invocationId,
    messages: outcome.messages,
    tenants: outcome.tenants.length,
    delivered: outcome.delivered,
    retried: outcome.retried,
    parked: outcome.parked,
    skipped: outcome.skipped,
    duplicates: outcome.duplicates,
    invalid: outcome.invalid,
    // Tenants whose events were all delivered: they have no line of their own.
    tenantsDelivered: quiet,
    timedOut: outcome.timedOut,
    durationMs: outcome.durationMs,
    maxDeliveryCount: Math.max(0, ...deliveryCounts),
  };
  if (invalidIds.length > 0) fields.invalidMessageIds = invalidIds.slice(0, MAX_LOGGED_IDS);
  logger.info('forwarder: batch settled', fields);
}

/** Everything delivered (or completed as a duplicate) and nothing else happened: no line of its own. */
function isQuiet(tenant: TenantOutcome): boolean {
  return (
    tenant.retried === 0 &&
    tenant.parked === 0 &&
    tenant.skipped === 0 &&
    tenant.failure === undefined &&
    tenant.stateChange === undefined &&
    tenant.pausedUntil === undefined
  );
}
