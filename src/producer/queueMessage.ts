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
 * The message id of an event: `<tenantId>:<id>`. The queue's duplicate
 * detection drops a second message with the same id within its window
 * (https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection),
 * across the whole queue: scoped by tenant, a resend of the same event is
 * dropped, but two tenants' events that happen to share an id are not. Both
 * parts are GUIDs: 73 characters, within the 128 characters a MessageId may
 * hold (https://learn.microsoft.com/dotnet/api/azure.messaging.servicebus.servicebusmessage.messageid;
 * @azure/service-bus refuses a longer one before sending); the forwarder's
 * retry copies extend it with `:<attempt>` (see retryMessageId).
 */
export function queueMessageId(event: Pick<AuditEvent, 'tenantId' | 'id'>): string {
  return `${event.tenantId.toLowerCase()}:${event.id.toLowerCase()}`;
}

/**
 * One event per message, under queueMessageId. The properties let operators
 * and the forwarder route and filter without parsing the body.
 */
export function toQueueMessage(event: AuditEvent): AuditQueueMessage {
  return {
    messageId: queueMessageId(event),
    contentType: 'application/json',
    body: event,
    applicationProperties: {
      tenantId: event.tenantId,
      eventId: event.eventId,
      schemaVersion: event.schemaVersion,
    },
  };
}
