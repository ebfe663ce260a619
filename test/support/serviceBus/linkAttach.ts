import type { AmqpError, Connection, Receiver, Sender } from 'rhea';
import type { StandInQueue, SubQueue } from './queue';
import type { CbsClaim } from './cbs';
import type { DeliveryPump } from './deliveryPump';
import {
  CONDITION,
  DEAD_LETTER_SUFFIX,
  MANAGEMENT_SUFFIX,
  entityNotFound,
  entityPathOf,
  internals,
  type ConsumerRole,
  type EntityTarget,
  type LinkRole,
} from './links';
import { resourceCovers } from './sasToken';
import type { ServiceBusRight } from './types';

export interface ConnectionState {
  /** Audiences this connection proved a token for, with what the token grants and until when. */
  claims: Map<string, CbsClaim>;
  /** Reply links by their address (the request's reply-to). */
  replyLinks: Map<string, Sender>;
}

/**
 * The broker's links: what each attach is for ($cbs, a $management node, a queue's producer or
 * consumer), whether the connection's CBS claims authorize it, and the entity it names.
 */
export abstract class LinkBroker {
  protected readonly queues = new Map<string, StandInQueue>();
  protected readonly roles = new WeakMap<Sender | Receiver, LinkRole>();
  protected readonly entityLinks = new Set<Sender | Receiver>();
  protected readonly connectionStates = new WeakMap<Connection, ConnectionState>();
  protected abstract readonly pump: DeliveryPump;

  /** `sb://127.0.0.1:PORT/`, the prefix of entity names in errors. */
  abstract get endpoint(): string;

  protected forgetLink(link: Sender | Receiver): void {
    this.entityLinks.delete(link);
    const role = this.roles.get(link);
    if (role?.kind === 'replies') {
      const state = this.connectionStates.get(link.connection);
      if (state?.replyLinks.get(role.address) === link) {
        state.replyLinks.delete(role.address);
      }
    }
    this.roles.delete(link);
  }

  /** Echoes the peer's terminus addresses in our attach, as Service Bus does. */
  protected echoTermini(link: Sender | Receiver): void {
    const remote = internals(link).remote.attach;
    link.set_source({ address: remote?.source?.address ?? '' });
    link.set_target({ address: remote?.target?.address ?? '' });
  }

  protected resolveEntity(path: string): EntityTarget | { error: AmqpError } {
    const [queueName, subQueueName, ...rest] = path.split('/');
    const queueKey = (queueName ?? '').toLowerCase();
    const subQueue: SubQueue | undefined =
      subQueueName === undefined
        ? 'active'
        : subQueueName.toLowerCase() === DEAD_LETTER_SUFFIX
          ? 'deadLetter'
          : undefined;
    if (!queueName || !this.queues.has(queueKey) || subQueue === undefined || rest.length > 0) {
      return { error: entityNotFound(this.endpoint, path) };
    }
    return { queueKey, subQueue };
  }

  /** Does a live claim of the connection cover the path with one of `rights`? */
  protected isAuthorized(connection: Connection, path: string, rights: readonly ServiceBusRight[]): boolean {
    const claims = this.connectionStates.get(connection)?.claims;
    const now = Date.now();
    for (const [audience, claim] of claims ?? []) {
      if (
        claim.expiresAtMs > now &&
        rights.some((right) => claim.rights.has(right)) &&
        resourceCovers(new URL(audience).pathname, `/${path}`)
      ) {
        return true;
      }
    }
    return false;
  }

  protected unauthorized(path: string, claim: string): AmqpError {
    return {
      condition: CONDITION.unauthorized,
      description: `Unauthorized access. '${claim}' claim(s) are required to perform this operation. Resource: '${this.endpoint}${path}'.`,
    };
  }

  /** The client attached a sending link: to $cbs, to a $management node, or to a queue. */
  protected onClientSenderAttached(receiver: Receiver, connection: Connection): void {
    this.echoTermini(receiver);
    const path = entityPathOf(internals(receiver).remote.attach?.target?.address);
    if (path === '$cbs') {
      this.roles.set(receiver, { kind: 'cbsRequests' });
      return;
    }
    const isManagement = path.toLowerCase().endsWith(MANAGEMENT_SUFFIX);
    const entityPath = isManagement ? path.slice(0, -MANAGEMENT_SUFFIX.length) : path;
    const entity = this.resolveEntity(entityPath);
    if ('error' in entity) {
      receiver.close(entity.error);
      return;
    }
    // A management link serves senders (schedule) and receivers (renew, peek, settle): either right
    // opens it, and each operation then checks its own (see manage).
    if (!this.isAuthorized(connection, path, isManagement ? ['Send', 'Listen'] : ['Send'])) {
      receiver.close(this.unauthorized(path, isManagement ? 'Manage' : 'Send'));
      return;
    }
    if (isManagement) {
      this.roles.set(receiver, { kind: 'managementRequests', ...entity });
    } else if (entity.subQueue === 'deadLetter') {
      receiver.close({
        condition: CONDITION.notAllowed,
        description: `Sending to a dead-letter queue is not allowed: '${this.endpoint}${path}'.`,
      });
      return;
    } else {
      internals(receiver).local.attach.max_message_size = this.queues.get(entity.queueKey)?.options
        .maxMessageSizeBytes;
      this.roles.set(receiver, { kind: 'producer', queueKey: entity.queueKey });
    }
    this.entityLinks.add(receiver);
  }

  /** The client attached a receiving link: a reply link, or a consumer of a queue or its dead-letter queue. */
  protected onClientReceiverAttached(sender: Sender, connection: Connection): void {
    this.echoTermini(sender);
    const attach = internals(sender).remote.attach;
    const path = entityPathOf(attach?.source?.address);
    if (path === '$cbs' || path.toLowerCase().endsWith(MANAGEMENT_SUFFIX)) {
      // Requests name their reply link in reply-to: by its target address or, when it has none, its link name.
      const address = attach?.target?.address || sender.name;
      this.roles.set(sender, { kind: 'replies', address });
      this.connectionStates.get(connection)?.replyLinks.set(address, sender);
      return;
    }
    const entity = this.resolveEntity(path);
    if ('error' in entity) {
      sender.close(entity.error);
      return;
    }
    if (!this.isAuthorized(connection, path, ['Listen'])) {
      sender.close(this.unauthorized(path, 'Listen'));
      return;
    }
    if (attach?.source?.filter) {
      sender.close({
        condition: CONDITION.notImplemented,
        description:
          'Session receivers and filters are not supported by the Service Bus stand-in (queues here are not session-enabled).',
      });
      return;
    }
    const remoteAttach = attach as { snd_settle_mode?: number; rcv_settle_mode?: number } | undefined;
    const local = internals(sender).local.attach;
    local.snd_settle_mode = remoteAttach?.snd_settle_mode ?? 0;
    local.rcv_settle_mode = remoteAttach?.rcv_settle_mode ?? 0;
    this.roles.set(sender, {
      kind: 'consumer',
      receiveAndDelete: remoteAttach?.snd_settle_mode === 1,
      ...entity,
    });
    this.entityLinks.add(sender);
    this.pump.schedule();
  }

  protected *consumerLinks(): Iterable<{ sender: Sender; role: ConsumerRole }> {
    for (const link of this.entityLinks) {
      const role = this.roles.get(link);
      if (role?.kind === 'consumer') {
        yield { sender: link as Sender, role };
      }
    }
  }
}
