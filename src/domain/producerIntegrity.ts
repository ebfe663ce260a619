import type { AuditEvent } from './eventContract';
import type { ReceivedAuditMessage } from './forwarder';

/**
 * Producer integrity: a queue message belongs to a tenant only when its
 * `tenantId` application property and its body name the same one. A
 * compromised or buggy producer must not be able to steer events into another
 * customer's workspace by disagreeing with itself, so such messages are filed
 * under nobody (unattributed) and never delivered.
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface ClaimedIdentity {
  /**
   * The trigger delivered the message's application properties. When the host's metadata did not
   * line up with the batch (logged as misaligned) nothing can be checked and the body decides.
   */
  propertiesKnown: boolean;
  /** The `tenantId` application property, when it is a GUID (lower case). */
  propertyTenantId: string | undefined;
  /** The property as sent, when it is there at all. */
  propertyTenant: unknown;
  /** The body's `tenantId` when it is a GUID (lower case); undefined when the body names none. */
  bodyTenantId: string | undefined;
  /** The body's `tenantId` as sent, when it is there at all. */
  bodyTenant: unknown;
  eventRecordId: string | undefined;
  eventId: number | undefined;
}

/**
 * Why the message's tenantId application property and its body do not name one tenant
 * (case-insensitively), or undefined when they do. The producer always sets the property;
 * a message without it is refused too, since then only the body would say whose it is.
 */
export function tenantMismatch(claimed: ClaimedIdentity): string | undefined {
  if (!claimed.propertiesKnown) return undefined;
  const fix = "Fix the producer: set the tenantId application property to the body's tenantId.";
  if (claimed.propertyTenant === undefined) {
    return `The message has no tenantId application property, so nothing but its body says whose it is; it is delivered to no tenant. ${fix}`;
  }
  if (claimed.propertyTenantId === undefined) {
    return `The message's tenantId application property (${describeClaim(claimed.propertyTenant)}) is not a tenant id; it is delivered to no tenant. ${fix}`;
  }
  if (claimed.bodyTenant !== undefined && claimed.bodyTenantId !== claimed.propertyTenantId) {
    return `The message's tenantId application property (${claimed.propertyTenantId}) disagrees with its body's tenantId (${describeClaim(claimed.bodyTenant)}); it is delivered to neither tenant. ${fix}`;
  }
  return undefined;
}

/** A claimed value for a reason line: short, and never more than a tenant id's worth of text. */
function describeClaim(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? typeof value);
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

function guidOf(value: unknown): string | undefined {
  return typeof value === 'string' && GUID.test(value) ? value.toLowerCase() : undefined;
}

/** A valid event's identity, without parsing its body again. */
export function eventIdentity(message: ReceivedAuditMessage, event: AuditEvent): ClaimedIdentity {
  const propertyTenant = message.applicationProperties?.tenantId;
  return {
    propertiesKnown: message.applicationProperties !== undefined,
    propertyTenantId: guidOf(propertyTenant),
    propertyTenant,
    bodyTenantId: event.tenantId,
    bodyTenant: event.tenantId,
    eventRecordId: event.id,
    eventId: event.eventId,
  };
}

/**
 * Who a message claims to be: the tenant its application property names and
 * the one its body names, with the body's ids for the parked entry. Only
 * well-formed GUIDs count as tenants, so a malformed value never becomes a
 * Table Storage partition.
 */
export function claimedIdentity(message: ReceivedAuditMessage): ClaimedIdentity {
  let parsed: unknown = message.body;
  if (typeof parsed === 'string' || parsed instanceof Uint8Array) {
    try {
      parsed = JSON.parse(typeof parsed === 'string' ? parsed : Buffer.from(parsed).toString('utf8'));
    } catch {
      parsed = undefined;
    }
  }
  const body = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const properties = message.applicationProperties ?? {};
  const eventId = body.eventId ?? properties.eventId;
  return {
    propertiesKnown: message.applicationProperties !== undefined,
    propertyTenantId: guidOf(properties.tenantId),
    propertyTenant: properties.tenantId,
    bodyTenantId: guidOf(body.tenantId),
    bodyTenant: body.tenantId,
    eventRecordId: guidOf(body.id),
    eventId: typeof eventId === 'number' && Number.isInteger(eventId) ? eventId : undefined,
  };
}

/** The tenant an invalid (but not self-contradicting) message is filed under, for its owner to see. */
export function invalidMessageTenant(claimed: ClaimedIdentity): string | undefined {
  return claimed.propertiesKnown ? claimed.propertyTenantId : claimed.bodyTenantId;
}
