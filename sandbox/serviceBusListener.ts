import type { ServiceBusClient, ServiceBusReceivedMessage, ServiceBusReceiver } from '@azure/service-bus';
import {
  invokeServiceBusBatch,
  invokeServiceBusMessage,
  type RegisteredFunctionInfo,
  type ServiceBusInvocationResult,
  type ServiceBusTestMessage,
} from '../test/support/functionsHost';
import { resolveAppSettingReferences } from '../test/support/functionsHost/registry';
import type { ServiceBusHostOptions } from './hostJson';
import { serviceBusClientFor } from './serviceBusConnection';

/**
 * The Service Bus extension's listener for one function, on the real @azure/service-bus receiver in
 * peek-lock mode, following the extension's source (ServiceBusListener, 5.x):
 *   - `cardinality: 'many'`: one receive loop per function, one invocation at a time (the extension's
 *     batch loop never runs invocations concurrently, so maxConcurrentCalls does not apply); receives up
 *     to maxMessageBatchSize, and with minMessageBatchSize > 1 holds messages back until that many arrived
 *     or maxBatchWaitTime passed;
 *   - `cardinality: 'one'`: up to maxConcurrentCalls invocations at once (the SDK's processor);
 *   - after the invocation: complete every message when it succeeded and autoCompleteMessages is on;
 *     abandon every message when it failed (in the function, or in the host's conversion), whatever
 *     autoCompleteMessages says. Abandoned messages come back with DeliveryCount + 1 and the broker
 *     dead-letters them past the queue's max delivery count.
 */

export interface DispatchReport {
  functionName: string;
  messageIds: string[];
  outcome: 'completed' | 'abandoned' | 'left locked';
  result: ServiceBusInvocationResult;
}

export interface ListenerOptions {
  function: RegisteredFunctionInfo;
  hostOptions: ServiceBusHostOptions;
  /** Called after every invocation, with what was done with its messages. */
  onDispatch?: (report: DispatchReport) => void;
  /** Receive errors the listener recovered from (the host logs them and keeps listening). */
  onError?: (error: unknown) => void;
}

/** .NET's DateTime range ends at 9999-12-31; the SDK computes "never expires" as a later date. */
const DOTNET_MAX_DATE_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function idText(value: string | number | Buffer | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Buffer.isBuffer(value) ? value.toString('hex') : String(value);
}

/** What the extension hands the worker: the body's bytes, and .NET's view of the system properties. */
export function toHostMessage(message: ServiceBusReceivedMessage): ServiceBusTestMessage {
  const body: unknown = message.body;
  const expires = message.expiresAtUtc?.getTime();
  return {
    // With skipParsingBodyAsJson a data section arrives as its bytes, exactly as sent.
    body: Buffer.isBuffer(body) || typeof body === 'string' ? body : JSON.stringify(body ?? null),
    messageId: idText(message.messageId) ?? '',
    contentType: message.contentType,
    correlationId: idText(message.correlationId),
    subject: message.subject,
    sessionId: message.sessionId,
    replyTo: message.replyTo,
    to: message.to,
    partitionKey: message.partitionKey,
    applicationProperties: (message.applicationProperties ?? {}) as Record<
      string,
      string | number | boolean | null
    >,
    // The AMQP header counts earlier deliveries (0 the first time); .NET, hence the host, adds one.
    deliveryCount: (message.deliveryCount ?? 0) + 1,
    sequenceNumber:
      message.sequenceNumber === undefined ? undefined : BigInt(message.sequenceNumber.toString()),
    enqueuedTimeUtc: message.enqueuedTimeUtc,
    expiresAtUtc: expires !== undefined && expires <= DOTNET_MAX_DATE_MS ? message.expiresAtUtc : undefined,
    lockToken: message.lockToken,
  };
}

/** A one-at-a-time section, like the extension's cached-messages semaphore. */
class Guard {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(section: () => Promise<T>): Promise<T> {
    const result = this.tail.then(section, section);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export class ServiceBusListener {
  private readonly client: ServiceBusClient;
  private readonly receiver: ServiceBusReceiver;
  private readonly abort = new AbortController();
  private readonly guard = new Guard();
  private readonly inFlight = new Set<Promise<unknown>>();
  private cache: ServiceBusReceivedMessage[] = [];
  private monitor: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private subscription: { close(): Promise<void> } | undefined;
  private stopping = false;
  readonly queueName: string;
  readonly autoComplete: boolean;

  constructor(private readonly options: ListenerOptions) {
    const fn = options.function;
    if (!fn.queueName) {
      throw new Error(`Function "${fn.name}" listens to a topic; the sandbox only delivers queues.`);
    }
    if (fn.isSessionsEnabled) {
      throw new Error(`Function "${fn.name}" needs sessions, which the sandbox does not deliver.`);
    }
    this.queueName = resolveAppSettingReferences(fn.queueName, `Function "${fn.name}"'s queueName`);
    const connectionSetting = fn.connection ?? 'AzureWebJobsServiceBus';
    // A trigger's own autoCompleteMessages overrides host.json's.
    const own = fn.trigger.autoCompleteMessages;
    this.autoComplete =
      own === undefined || own === null
        ? options.hostOptions.autoCompleteMessages
        : own === true || own === 'true';
    const retry = options.hostOptions.clientRetryOptions;
    this.client = serviceBusClientFor(connectionSetting, process.env, fn.name, {
      retryOptions: {
        mode: retry.mode === 'fixed' ? 0 : 1,
        timeoutInMs: retry.tryTimeoutMs,
        retryDelayInMs: retry.delayMs,
        maxRetryDelayInMs: retry.maxDelayMs,
        maxRetries: retry.maxRetries,
      },
    });
    this.receiver = this.client.createReceiver(this.queueName, {
      receiveMode: 'peekLock',
      skipParsingBodyAsJson: true,
    });
  }

  get functionName(): string {
    return this.options.function.name;
  }

  start(): void {
    if (this.options.function.cardinality === 'many') {
      this.loop = this.runBatchLoop();
    } else {
      this.subscription = this.receiver.subscribe(
        {
          processMessage: (message) => this.track(this.dispatchSingle(message)),
          processError: async (args) => {
            if (!this.stopping) this.options.onError?.(args.error);
            return Promise.resolve();
          },
        },
        {
          autoCompleteMessages: false,
          maxConcurrentCalls: this.options.hostOptions.maxConcurrentCalls,
          abortSignal: this.abort.signal,
        },
      );
    }
  }

  /**
   * Stops receiving, lets invocations in flight finish (up to `graceMs`), abandons messages still held
   * back for a minimum batch, and closes the connection.
   */
  async stop(graceMs = 5000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.abort.abort();
    if (this.monitor) clearTimeout(this.monitor);
    await this.subscription?.close().catch(() => undefined);
    await this.loop?.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
    const held = this.cache.splice(0);
    await Promise.allSettled(held.map((message) => this.receiver.abandonMessage(message)));
    await this.receiver.close().catch(() => undefined);
    await this.client.close().catch(() => undefined);
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work)).catch(() => undefined);
    return work;
  }

  private async runBatchLoop(): Promise<void> {
    const { maxMessageBatchSize, minMessageBatchSize, clientRetryOptions } = this.options.hostOptions;
    while (!this.stopping) {
      let received: ServiceBusReceivedMessage[];
      try {
        // Without a wait time the extension falls back to the client's operation timeout (tryTimeout).
        received = await this.receiver.receiveMessages(maxMessageBatchSize, {
          maxWaitTimeInMs: clientRetryOptions.tryTimeoutMs,
          abortSignal: this.abort.signal,
        });
      } catch (error) {
        if (this.stopping) return;
        this.options.onError?.(error);
        await this.pause(clientRetryOptions.delayMs);
        continue;
      }
      if (received.length === 0 || this.stopping) {
        await Promise.allSettled(received.map((message) => this.receiver.abandonMessage(message)));
        continue;
      }
      if (minMessageBatchSize <= 1) {
        await this.track(this.dispatchBatch(received));
        continue;
      }
      await this.guard.run(async () => {
        this.cache.push(...received);
        if (this.cache.length >= minMessageBatchSize) {
          this.cancelMonitor();
          await this.track(this.dispatchBatch(this.cache.splice(0, maxMessageBatchSize)));
        }
        if (this.cache.length > 0 && !this.monitor) this.startMonitor();
      });
    }
  }

  /** After maxBatchWaitTime, whatever is held back goes out as a partial batch. */
  private startMonitor(): void {
    this.monitor = setTimeout(() => {
      this.monitor = undefined;
      void this.guard.run(async () => {
        if (this.stopping || this.cache.length === 0) return;
        const batch = this.cache.splice(0, this.options.hostOptions.maxMessageBatchSize);
        await this.track(this.dispatchBatch(batch));
      });
    }, this.options.hostOptions.maxBatchWaitTimeMs);
  }

  private cancelMonitor(): void {
    if (this.monitor) clearTimeout(this.monitor);
    this.monitor = undefined;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.abort.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async dispatchBatch(messages: ServiceBusReceivedMessage[]): Promise<void> {
    const result = await invokeServiceBusBatch(this.functionName, messages.map(toHostMessage));
    await this.settle(messages, result);
  }

  private async dispatchSingle(message: ServiceBusReceivedMessage): Promise<void> {
    const result = await invokeServiceBusMessage(this.functionName, toHostMessage(message));
    await this.settle([message], result);
  }

  private async settle(
    messages: ServiceBusReceivedMessage[],
    result: ServiceBusInvocationResult,
  ): Promise<void> {
    let outcome: DispatchReport['outcome'];
    if (result.outcome === 'failed') {
      outcome = 'abandoned';
      await this.settleEach(messages, (message) => this.receiver.abandonMessage(message));
    } else if (this.autoComplete) {
      outcome = 'completed';
      await this.settleEach(messages, (message) => this.receiver.completeMessage(message));
    } else {
      // Nobody settles: the lock expires and the broker redelivers (what the host does too).
      outcome = 'left locked';
    }
    this.options.onDispatch?.({
      functionName: this.functionName,
      messageIds: messages.map((message) => idText(message.messageId) ?? ''),
      outcome,
      result,
    });
  }

  /** Settles every message even if some fail (a lost lock only means the broker redelivers that one). */
  private async settleEach(
    messages: ServiceBusReceivedMessage[],
    action: (message: ServiceBusReceivedMessage) => Promise<void>,
  ): Promise<void> {
    const results = await Promise.allSettled(messages.map(action));
    for (const failure of results) {
      if (failure.status === 'rejected') this.options.onError?.(failure.reason);
    }
  }
}
