import { app, type InvocationContext, trigger } from '@azure/functions';

/**
 * The forwarder: Service Bus batches of audit events to each tenant's workspace.
 *
 * A generic trigger, not app.serviceBusQueue, for one option the typed one
 * lacks: `dataType: 'string'`. Without it the host JSON-deserializes every
 * body itself and one non-JSON body fails the whole batch before this code
 * runs (abandoned, redelivered, dead-lettered with the valid events in it).
 * As strings, JSON bodies still arrive parsed by the library, and a body that
 * is not JSON arrives as text, so the forwarder can park it with the reason.
 *
 * Only this module and @azure/functions load at startup; the forwarder and the
 * Azure SDKs load on the first invocation.
 */
export async function forwardAuditEvents(messages: unknown, context: InvocationContext): Promise<void> {
  const [{ forwarderUseCases }, { receivedBatch }, { contextLogger }] = await Promise.all([
    import('../composition'),
    import('../triggers/serviceBusBatch'),
    import('../contextLogger'),
  ]);
  const logger = contextLogger(context);
  const batch = receivedBatch(messages, context.triggerMetadata);
  if (batch.misalignedMetadata.length > 0) {
    logger.warn('forwarder: trigger metadata does not line up with the messages; going by the bodies', {
      invocationId: context.invocationId,
      messages: batch.messages.length,
      ignored: batch.misalignedMetadata,
    });
  }
  const { forwarder } = await forwarderUseCases();
  await forwarder.forwardBatch(batch.messages, { invocationId: context.invocationId, logger });
}

app.generic('forwardAuditEvents', {
  trigger: trigger.generic({
    type: 'serviceBusTrigger',
    connection: 'ServiceBusConnection',
    queueName: '%AUDIT_QUEUE_NAME%',
    cardinality: 'many',
    dataType: 'string',
  }),
  handler: forwardAuditEvents,
});
