import { app, trigger, type InvocationContext } from '@azure/functions';
import { ServiceBusClient, type ServiceBusSender } from '@azure/service-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { serviceBusHostOptions, type ServiceBusHostOptions } from '../../sandbox/hostJson';
import { ServiceBusListener, type DispatchReport } from '../../sandbox/serviceBusListener';
import { getFunction } from '../support/functionsHost';
import { ServiceBusStandIn } from '../support/serviceBus';

/**
 * The sandbox's Service Bus listener against the Service Bus stand-in and the real SDK: batches reach
 * the function through the library, and messages are settled as the Functions host settles them.
 */

interface Received {
  bodies: unknown[];
  deliveryCounts: unknown;
  messageIds: unknown;
}
const received: Record<string, Received[]> = { strings: [], typed: [], single: [] };

app.generic('sandboxStrings', {
  trigger: trigger.generic({
    type: 'serviceBusTrigger',
    connection: 'ServiceBusConnection',
    queueName: 'sandbox-strings',
    cardinality: 'many',
    dataType: 'string',
  }),
  handler: (messages: unknown, context: InvocationContext) => {
    const bodies = messages as unknown[];
    received.strings!.push({
      bodies,
      deliveryCounts: context.triggerMetadata?.deliveryCountArray,
      messageIds: context.triggerMetadata?.messageIdArray,
    });
    if (bodies.includes('refuse')) throw new Error('refused on purpose');
  },
});

app.serviceBusQueue('sandboxTyped', {
  connection: 'ServiceBusConnection',
  queueName: '%SANDBOX_TYPED_QUEUE%',
  cardinality: 'many',
  handler: (messages: unknown, context: InvocationContext) => {
    received.typed!.push({
      bodies: messages as unknown[],
      deliveryCounts: context.triggerMetadata?.deliveryCountArray,
      messageIds: context.triggerMetadata?.messageIdArray,
    });
  },
});

app.serviceBusQueue('sandboxSingle', {
  connection: 'ServiceBusConnection',
  queueName: 'sandbox-single',
  handler: (message: unknown, context: InvocationContext) => {
    received.single!.push({
      bodies: [message],
      deliveryCounts: context.triggerMetadata?.deliveryCount,
      messageIds: context.triggerMetadata?.messageId,
    });
  },
});

const QUEUES = ['sandbox-strings', 'sandbox-typed', 'sandbox-single', 'sandbox-min-batch'];
let broker: ServiceBusStandIn;
let client: ServiceBusClient;
const listeners: ServiceBusListener[] = [];
const reports: DispatchReport[] = [];

const baseOptions: ServiceBusHostOptions = serviceBusHostOptions({
  extensions: { serviceBus: { maxMessageBatchSize: 50, clientRetryOptions: { tryTimeout: '00:00:05' } } },
});

function listen(functionName: string, hostOptions: ServiceBusHostOptions = baseOptions): ServiceBusListener {
  const listener = new ServiceBusListener({
    function: getFunction(functionName),
    hostOptions,
    onDispatch: (report) => reports.push(report),
  });
  listener.start();
  listeners.push(listener);
  return listener;
}

async function send(queue: string, bodies: unknown[]): Promise<void> {
  const sender: ServiceBusSender = client.createSender(queue);
  try {
    await sender.sendMessages(
      bodies.map((body, index) => ({ body, messageId: `${queue}-${Date.now()}-${index}` })),
    );
  } finally {
    await sender.close();
  }
}

async function until<T>(what: string, probe: () => T | undefined | false, deadlineMs = 15_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  broker = await new ServiceBusStandIn({
    queues: Object.fromEntries(QUEUES.map((name) => [name, { maxDeliveryCount: 2, lockDurationMs: 60_000 }])),
  }).start();
  process.env.ServiceBusConnection = broker.connectionString;
  process.env.SANDBOX_TYPED_QUEUE = 'sandbox-typed';
  client = new ServiceBusClient(broker.connectionString);
});

afterEach(async () => {
  await Promise.all(listeners.splice(0).map((listener) => listener.stop()));
  for (const list of Object.values(received)) list.length = 0;
  reports.length = 0;
});

afterAll(async () => {
  await client?.close();
  await broker?.stop();
});

describe('the sandbox Service Bus listener', () => {
  it('delivers a batch through the library and completes every message when the function succeeds', async () => {
    listen('sandboxStrings');
    await send('sandbox-strings', ['one', { two: 2 }, 'three']);
    await until('three messages completed', () =>
      reports.filter((r) => r.outcome === 'completed').flatMap((r) => r.messageIds).length === 3
        ? true
        : undefined,
    );
    const bodies = received.strings!.flatMap((delivery) => delivery.bodies);
    expect(bodies).toEqual(expect.arrayContaining(['one', { two: 2 }, 'three']));
    // First delivery: the host reports DeliveryCount 1 (.NET counts this delivery; AMQP does not).
    expect(received.strings!.flatMap((delivery) => delivery.deliveryCounts as number[])).toEqual([1, 1, 1]);
    expect(broker.getQueue('sandbox-strings').counts).toMatchObject({ active: 0, deadLettered: 0 });
  });

  it('abandons the whole batch when the function throws, and the broker dead-letters past the max delivery count', async () => {
    listen('sandboxStrings');
    await send('sandbox-strings', ['refuse']);
    await until(
      'the message dead-lettered',
      () => broker.getQueue('sandbox-strings').counts.deadLettered === 1,
    );
    expect(reports.map((r) => r.outcome)).toEqual(['abandoned', 'abandoned']);
    expect(received.strings!.map((delivery) => delivery.deliveryCounts)).toEqual([[1], [2]]);
    const [dead] = broker.deadLetteredMessages('sandbox-strings');
    expect(dead?.deadLetterReason).toBe('MaxDeliveryCountExceeded');
  });

  it('abandons a batch the host cannot convert (a body that is not JSON for an object[] trigger) without running the function', async () => {
    listen('sandboxTyped');
    await send('sandbox-typed', [Buffer.from('not json', 'utf8')]);
    await until(
      'the message dead-lettered',
      () => broker.getQueue('sandbox-typed').counts.deadLettered === 1,
    );
    expect(received.typed).toEqual([]);
    expect(reports.every((r) => r.result.outcome === 'failed' && r.result.failedIn === 'host')).toBe(true);
  });

  it('runs single-message functions one message per invocation and completes each', async () => {
    listen('sandboxSingle', { ...baseOptions, maxConcurrentCalls: 2 });
    await send('sandbox-single', ['a', 'b', 'c']);
    await until('three invocations', () => (reports.length === 3 ? true : undefined));
    expect(reports.every((r) => r.outcome === 'completed' && r.messageIds.length === 1)).toBe(true);
    expect(received.single!.map((delivery) => delivery.bodies[0]).sort()).toEqual(['a', 'b', 'c']);
    expect(received.single!.map((delivery) => delivery.deliveryCounts)).toEqual([1, 1, 1]);
    await until('queue drained', () => broker.getQueue('sandbox-single').counts.active === 0);
  });

  it('holds messages back until minMessageBatchSize arrived, then sends a partial batch after maxBatchWaitTime', async () => {
    process.env.SANDBOX_TYPED_QUEUE = 'sandbox-min-batch';
    try {
      listen('sandboxTyped', { ...baseOptions, minMessageBatchSize: 3, maxBatchWaitTimeMs: 300 });
      await send('sandbox-min-batch', [1, 2]);
      await until('a partial batch after the wait', () => (reports.length === 1 ? true : undefined));
      expect(received.typed!.map((delivery) => delivery.bodies)).toEqual([[1, 2]]);
      await send('sandbox-min-batch', [3, 4, 5]);
      await until('a full batch', () => (reports.length === 2 ? true : undefined));
      expect(received.typed![1]!.bodies).toEqual([3, 4, 5]);
      expect(reports.every((r) => r.outcome === 'completed')).toBe(true);
    } finally {
      process.env.SANDBOX_TYPED_QUEUE = 'sandbox-typed';
    }
  });

  it('leaves messages locked when autoCompleteMessages is off and the function succeeded', async () => {
    listen('sandboxStrings', { ...baseOptions, autoCompleteMessages: false });
    await send('sandbox-strings', ['kept']);
    await until('one invocation', () => (reports.length === 1 ? true : undefined));
    expect(reports[0]?.outcome).toBe('left locked');
    expect(broker.getQueue('sandbox-strings').counts).toMatchObject({ active: 1, locked: 1 });
  });
});
