import { app, type InvocationContext, trigger } from '@azure/functions';

/**
 * The forwarder: Service Bus batches of audit events to each tenant's workspace.
 *
 * A generic trigger, not app.serviceBusQueue, for one option the typed one
 * lacks: `dataType: 'binary'`. Without a dataType the host JSON-deserializes
 * every body itself and one non-JSON body fails the whole batch before this
 * code runs (abandoned, redelivered, dead-lettered with the valid events in
 * it). As bytes, every body arrives as sent and the forwarder parks what it
 * cannot parse, with the reason. Bytes rather than strings: the host drops
 * empty entries from a string batch (so an empty body would vanish and the
 * bodies would no longer line up with their metadata) but keeps empty byte
 * arrays, and the library JSON-parses strings but hands bytes over untouched.
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
    dataType: 'binary',
  }),
  handler: forwardAuditEvents,
});
