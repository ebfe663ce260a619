import type { AmqpError, Delivery, Sender, Typed } from 'rhea';
import { amqpMessageUtil } from './amqpMessage';
import { CONDITION, LOCK_LOST_DESCRIPTION, internals, type ConsumerRole } from './links';
import { stringOrUndefined } from './managementOperations';
import type { SettleOutcome, StandInQueue } from './queue';

/** What the pump needs from the broker: its queues and the consumer links attached to them. */
export interface DeliverySource {
  queue(queueKey: string): StandInQueue | undefined;
  consumers(): Iterable<{ sender: Sender; role: ConsumerRole }>;
}

interface DeliveryRef {
  queueKey: string;
  token: string;
}

/**
 * Delivers queued messages to consumer links as their credit allows (competing consumers, drain) and
 * applies what receivers settle peek-locked deliveries with.
 */
export class DeliveryPump {
  private readonly deliveries = new WeakMap<Delivery, DeliveryRef>();
  private handle: NodeJS.Immediate | undefined;
  private rotation = 0;
  private stopped = false;

  constructor(private readonly source: DeliverySource) {}

  /** No more pumping: the broker is stopping. */
  stop(): void {
    this.stopped = true;
    if (this.handle) {
      clearImmediate(this.handle);
    }
  }

  /** A receiver settled a peek-locked message (receiver-settle-mode second): apply it, then confirm or refuse. */
  onReceiverOutcome(delivery: Delivery): void {
    const ref = this.deliveries.get(delivery);
    const state = delivery.remote_state as
      | {
          error?: { condition?: string; info?: Record<string, unknown> };
          undeliverable_here?: boolean;
          message_annotations?: Record<string, unknown>;
        }
      | undefined;
    const queue = ref ? this.source.queue(ref.queueKey) : undefined;
    const now = Date.now();
    let confirmation: Typed;
    let outcome: SettleOutcome = 'lockLost';
    const kind = (delivery.remote_state as { constructor?: { composite_type?: string } } | undefined)
      ?.constructor?.composite_type;
    if (queue && ref) {
      if (kind === 'accepted') {
        outcome = queue.complete(ref.token, now);
        confirmation = amqpMessageUtil.accepted().described();
      } else if (kind === 'rejected') {
        const info = { ...(state?.error?.info ?? {}) };
        const reason = stringOrUndefined(info.DeadLetterReason);
        const description = stringOrUndefined(info.DeadLetterErrorDescription);
        delete info.DeadLetterReason;
        delete info.DeadLetterErrorDescription;
        outcome = queue.deadLetter(ref.token, reason, description, info, now);
        // No error inside: the SDK would report the dead-lettering itself as failed.
        confirmation = amqpMessageUtil.rejected({}).described();
      } else if (kind === 'modified' && state?.undeliverable_here === true) {
        this.settle(delivery, {
          condition: CONDITION.notImplemented,
          description: 'Deferral is not supported by the Service Bus stand-in.',
        });
        return;
      } else {
        outcome = queue.abandon(ref.token, state?.message_annotations, now);
        confirmation = amqpMessageUtil
          .modified({ delivery_failed: true, undeliverable_here: false })
          .described();
      }
      if (outcome === 'settled') {
        this.settle(delivery, confirmation);
        return;
      }
    }
    this.settle(delivery, { condition: CONDITION.lockLost, description: LOCK_LOST_DESCRIPTION });
  }

  private settle(delivery: Delivery, outcome: Typed | AmqpError): void {
    this.deliveries.delete(delivery);
    if (delivery.remote_settled) {
      return; // the receiver settled first (receiver-settle-mode first): nothing to confirm
    }
    const state = 'condition' in outcome ? amqpMessageUtil.rejected({ error: outcome }).described() : outcome;
    delivery.update(true, state);
    // The receiver settles its side without another frame; mark it so rhea frees the delivery slot.
    (delivery as { remote_settled: boolean }).remote_settled = true;
  }

  /** Deals available messages to every consumer with credit, once per turn of the event loop. */
  schedule(): void {
    if (this.handle || this.stopped) {
      return;
    }
    this.handle = setImmediate(() => {
      this.handle = undefined;
      const consumers = new Map<string, Array<{ sender: Sender; role: ConsumerRole }>>();
      for (const consumer of this.source.consumers()) {
        const key = `${consumer.role.queueKey}/${consumer.role.subQueue}`;
        consumers.set(key, [...(consumers.get(key) ?? []), consumer]);
      }
      for (const links of consumers.values()) {
        this.pumpCompeting(links);
      }
    });
  }

  /**
   * Competing consumers of one queue get its messages dealt one at a time in turn, starting with a
   * different link on each pump. Service Bus documents competing consumers without promising an
   * order among them; with no evidence of how it spreads messages we pick the stricter behaviour for
   * the app: a burst is shared among every receiver holding credit, not handed to the first one, so
   * several instances really process the same tenants' batches concurrently
   * (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-queues-topics-subscriptions#queues).
   */
  private pumpCompeting(links: Array<{ sender: Sender; role: ConsumerRole }>): void {
    const budgets = links.map(({ sender }) => (sender.is_open() ? internals(sender).credit : 0));
    const start = this.rotation++ % links.length;
    let progressed = true;
    while (progressed) {
      progressed = false;
      for (let offset = 0; offset < links.length; offset += 1) {
        const index = (start + offset) % links.length;
        const { sender, role } = links[index]!;
        if (budgets[index]! <= 0 || !sender.is_open() || !sender.sendable()) continue;
        if (!this.pumpOne(sender, role)) return;
        budgets[index] = budgets[index]! - 1;
        progressed = true;
      }
    }
  }

  /** Sends available messages to one consumer while it has credit. */
  private pump(sender: Sender, role: ConsumerRole): void {
    const queue = this.source.queue(role.queueKey);
    if (!queue || !sender.is_open()) {
      return;
    }
    // rhea lowers the link credit only when a transfer is written (next tick), so budget from it up front.
    let budget = internals(sender).credit;
    while (budget > 0 && sender.sendable()) {
      budget -= 1;
      if (!this.pumpOne(sender, role)) return;
    }
  }

  /** Sends the next available message, if any, to one consumer. */
  private pumpOne(sender: Sender, role: ConsumerRole): boolean {
    const queue = this.source.queue(role.queueKey);
    const next = queue?.deliver(role.subQueue, role.receiveAndDelete, Date.now());
    if (!next) {
      return false;
    }
    const delivery = sender.send(next.bytes, next.tag ?? undefined, 0);
    if (next.token !== null) {
      this.deliveries.set(delivery, { queueKey: role.queueKey, token: next.token });
    }
    return true;
  }

  /** A draining receiver gets what is available now, then its remaining credit back (receiveMessages relies on it). */
  drain(sender: Sender, role: ConsumerRole | undefined): void {
    if (role) {
      this.pump(sender, role);
    }
    const link = internals(sender);
    if (link.credit > 0) {
      sender.set_drained(true);
      return;
    }
    // rhea only echoes a drain while credit remains, but messages already in flight may have used it up;
    // AMQP still requires the drained flow, and the SDK waits for it.
    const original = link._get_drain.bind(link);
    link._get_drain = () => {
      link._get_drain = original;
      return true;
    };
    link.issue_flow = true;
    link.connection._register();
  }
}
