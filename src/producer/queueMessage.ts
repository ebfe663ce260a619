import { type AuditEvent } from '../domain/eventContract';

/** The Service Bus message for one event, in the shape the SDK's ServiceBusMessage takes. */
export interface AuditQueueMessage {
  readonly messageId: string;
  readonly contentType: 'application/json';
  readonly body: AuditEvent;
  readonly applicationProperties: {
    readonly tenantId: string;
    readonly eventId: number;
    readonly schemaVersion: string;
  };
}

/**
 * One event per message; the message id is the event id, so the queue's
 * duplicate detection drops a resend of the same event. The properties let
 * operators and the forwarder route and filter without parsing the body.
 */
export function toQueueMessage(event: AuditEvent): AuditQueueMessage {
  return {
    messageId: event.id,
    contentType: 'application/json',
    body: event,
    applicationProperties: {
      tenantId: event.tenantId,
      eventId: event.eventId,
      schemaVersion: event.schemaVersion,
    },
  };
}
