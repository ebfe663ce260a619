import { randomUUID } from 'node:crypto';
import { assertLoopback } from '../loopback';
import type { AdminErrorBody, QueueOptions, QueueSummary, StandInMessage, StandInTransfer } from './types';

/** An admin API call that failed; `status` and `code` come from the stand-in's error body. */
export class ServiceBusStandInAdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceBusStandInAdminError';
  }
}

/** A queue name no other test will pick (Service Bus names: letters, digits, '-', '.', '_'). */
export function uniqueQueueName(prefix = 'q'): string {
  return `${prefix}-${randomUUID()}`;
}

/**
 * Typed client for the Service Bus stand-in's loopback admin API, for tests in
 * forked workers (get the URL with `inject('serviceBusAdminUrl')`).
 */
export class ServiceBusStandInAdmin {
  private readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = assertLoopback(baseUrl).replace(/\/+$/, '');
  }

  async createQueue(name: string, options: QueueOptions = {}): Promise<QueueSummary> {
    return this.call<QueueSummary>('PUT', this.queuePath(name), options);
  }

  /** Creates a queue with a fresh unique name and returns that name. */
  async createUniqueQueue(options: QueueOptions = {}, prefix = 'q'): Promise<string> {
    const summary = await this.createQueue(uniqueQueueName(prefix), options);
    return summary.name;
  }

  async deleteQueue(name: string): Promise<void> {
    await this.call('DELETE', this.queuePath(name));
  }

  async purgeQueue(name: string): Promise<void> {
    await this.call('POST', `${this.queuePath(name)}/purge`);
  }

  async getQueue(name: string): Promise<QueueSummary> {
    return this.call<QueueSummary>('GET', this.queuePath(name));
  }

  async listQueues(): Promise<QueueSummary[]> {
    return (await this.call<{ queues: QueueSummary[] }>('GET', '/queues')).queues;
  }

  /** Messages in the queue, locked ones included (their state is `locked`). */
  async activeMessages(name: string): Promise<StandInMessage[]> {
    return (await this.call<{ messages: StandInMessage[] }>('GET', `${this.queuePath(name)}/messages`))
      .messages;
  }

  async scheduledMessages(name: string): Promise<StandInMessage[]> {
    return (await this.call<{ messages: StandInMessage[] }>('GET', `${this.queuePath(name)}/scheduled`))
      .messages;
  }

  /** The dead-letter queue, with deadLetterReason and deadLetterErrorDescription on each message. */
  async deadLetteredMessages(name: string): Promise<StandInMessage[]> {
    return (await this.call<{ messages: StandInMessage[] }>('GET', `${this.queuePath(name)}/deadletter`))
      .messages;
  }

  /**
   * Transfers senders made to the queue, oldest first: one per single-message send and one per
   * batch, with its size on the wire and whether the broker accepted it.
   */
  async transfers(name: string): Promise<StandInTransfer[]> {
    return (await this.call<{ transfers: StandInTransfer[] }>('GET', `${this.queuePath(name)}/transfers`))
      .transfers;
  }

  private queuePath(name: string): string {
    return `/queues/${encodeURIComponent(name)}`;
  }

  private async call<T = undefined>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) {
      return undefined as T;
    }
    const payload: unknown = await response.json();
    if (!response.ok) {
      const error = (payload as Partial<AdminErrorBody>).error;
      throw new ServiceBusStandInAdminError(
        response.status,
        error?.code ?? 'Unknown',
        `${method} ${path} failed with ${response.status}: ${error?.message ?? JSON.stringify(payload)}`,
      );
    }
    return payload as T;
  }
}
