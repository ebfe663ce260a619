/**
 * pki-siem-export/producer: what a PKI service needs to publish audit events.
 *
 *   const publisher = AuditEventPublisher.connect({ fullyQualifiedNamespace, credential, queueName });
 *   const event = buildEvent({ tenantId, eventId: 4887, outcome: 'Success', message: '…', certificate: {…} });
 *   const { sent, refused } = await publisher.send([event]);
 *   await publisher.close();
 */
export {
  type AuditQueueConnection,
  type AuditQueueSender,
  ambientCredential,
  openAuditQueueSender,
} from '../adapters/auditQueueSender';
export { CONNECTION_TEST_EVENT_ID, EVENT_CATALOG, type CatalogEntry, catalogEntry } from '../domain/catalog';
export {
  type AuditEvent,
  type EventValidation,
  LIMITS,
  type Outcome,
  OUTCOMES,
  parseEventMessage,
  type Problem,
  SCHEMA_VERSION,
  validateEvent,
} from '../domain/eventContract';
export {
  type AuditEventDraft,
  buildEvent,
  checkDraft,
  completeDraft,
  type DraftDefaults,
  InvalidAuditEventError,
} from './buildEvent';
export {
  AuditEventPublisher,
  AuditSendError,
  type PublisherOptions,
  type RefusedEvent,
  type SendResult,
  type SentEvent,
} from './publisher';
export { type AuditQueueMessage, queueMessageId, toQueueMessage } from './queueMessage';
export { sampleEvent } from './sampleEvents';
