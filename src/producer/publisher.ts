import {
  type AuditQueueConnection,
  type AuditQueueSender,
  openAuditQueueSender,
  type ServiceBusClientOptions,
  type ServiceBusMessageBatch,
} from '../adapters/auditQueueSender';
import { type AuditEvent, type Problem, WHOLE_EVENT } from '../domain/eventContract';
import { type AuditEventDraft, checkDraft, type DraftDefaults } from './buildEvent';
import { toQueueMessage } from './queueMessage';
import { errorMessage } from '../domain/errorText';

export interface SentEvent {
  /** Position of the event in the array given to send(). */
  readonly index: number;
  readonly id: string;
}

export interface RefusedEvent {
  readonly index: number;
  /** The event's id when the draft carried a usable one. */
  readonly id?: string;
  readonly problems: readonly Problem[];
}

export interface SendResult {
  /** Events the queue accepted. */
  readonly sent: readonly SentEvent[];
  /** Events never sent, and why; fix and send them again. */
  readonly refused: readonly RefusedEvent[];
}

/**
 * Sending stopped part way: `sent` reached the queue, `unsent` may or may not
 * have (the failing batch) or were never tried. Resending `unsent` is safe on a
 * queue with duplicate detection, since each message id is made of its event's
 * tenant and id (see queueMessageId).
 */
export class AuditSendError extends Error {
  constructor(
    readonly result: SendResult & { readonly unsent: readonly SentEvent[] },
    override readonly cause: unknown,
  ) {
    super(
      `Sending audit events failed after ${result.sent.length} were sent; ${result.unsent.length} not confirmed: ${errorMessage(cause)}`,
    );
    this.name = 'AuditSendError';
  }
}

export interface PublisherOptions extends DraftDefaults {
  /** Passed to the ServiceBusClient the publisher creates (retry, transport). */
  readonly clientOptions?: ServiceBusClientOptions;
}

/**
 * Publishes audit events to the queue for PKI services: completes and
 * validates each event, refuses invalid ones with their problems (they are
 * never sent), and packs the valid ones into as few Service Bus batches as
 * the namespace's message size limit allows.
 */
export class AuditEventPublisher {
  /** Connects on first send, with a connection string or a TokenCredential + namespace. */
  static connect(connection: AuditQueueConnection, options: PublisherOptions = {}): AuditEventPublisher {
    return new AuditEventPublisher(openAuditQueueSender(connection, options.clientOptions), options);
  }

  constructor(
    private readonly sender: AuditQueueSender,
    private readonly defaults: DraftDefaults = {},
  ) {}

  /** Sends one event; same result shape as send(). */
  async sendOne(event: AuditEventDraft | AuditEvent): Promise<SendResult> {
    return this.send([event]);
  }

  async send(events: ReadonlyArray<AuditEventDraft | AuditEvent>): Promise<SendResult> {
    const refused: RefusedEvent[] = [];
    const valid: Array<{ index: number; event: AuditEvent }> = [];
    events.forEach((draft, index) => {
      const result = checkDraft(draft, this.defaults);
      if (result.ok) valid.push({ index, event: result.event });
      else refused.push({ index, ...idOf(draft), problems: result.problems });
    });

    const sent: SentEvent[] = [];
    let batch: ServiceBusMessageBatch | undefined;
    let pending: SentEvent[] = [];
    try {
      for (const { index, event } of valid) {
        const message = toQueueMessage(event);
        batch ??= await this.sender.createMessageBatch();
        if (!batch.tryAddMessage(message)) {
          // Try a fresh batch before sending the current one, so a message too large for any
          // batch is refused without closing a batch that the next messages could still fill.
          const fresh = await this.sender.createMessageBatch();
          if (!fresh.tryAddMessage(message)) {
            refused.push({ index, id: event.id, problems: [tooLarge(fresh.maxSizeInBytes)] });
            continue;
          }
          if (batch.count > 0) {
            await this.sender.sendMessages(batch);
            sent.push(...pending);
          }
          batch = fresh;
          pending = [];
        }
        pending.push({ index, id: event.id });
      }
      if (batch && batch.count > 0) {
        await this.sender.sendMessages(batch);
        sent.push(...pending);
      }
    } catch (error) {
      // An event refused as too large is reported once, as refused: resending it cannot help.
      const settled = new Set([...sent, ...refused].map((item) => item.index));
      const unsent = valid
        .filter((item) => !settled.has(item.index))
        .map(({ index, event }) => ({ index, id: event.id }));
      throw new AuditSendError({ sent, refused: byIndex(refused), unsent }, error);
    }
    return { sent, refused: byIndex(refused) };
  }

  async close(): Promise<void> {
    await this.sender.close();
  }
}

/** Size refusals are found after validation refusals; callers get them all in input order. */
function byIndex(refused: RefusedEvent[]): RefusedEvent[] {
  return refused.sort((a, b) => a.index - b.index);
}

function tooLarge(maxSizeInBytes: number): Problem {
  return {
    field: WHOLE_EVENT,
    reason: `does not fit in one Service Bus message (at most ${maxSizeInBytes} bytes with its properties on this namespace); shorten message, details or certificate.subjectAltNames`,
  };
}

function idOf(draft: unknown): { id?: string } {
  if (typeof draft === 'object' && draft !== null && 'id' in draft && typeof draft.id === 'string') {
    return { id: draft.id };
  }
  return {};
}
