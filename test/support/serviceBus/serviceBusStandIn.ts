import { randomBytes } from 'node:crypto';
import type { AddressInfo, Server, Socket } from 'node:net';
import rhea, {
  type AmqpError,
  type Connection,
  type Container,
  type Delivery,
  type EventContext,
  type Message,
  type Receiver,
  type Sender,
  type Typed,
} from 'rhea';
import { assertLoopback } from '../loopback';
import { startAdminServer, type RunningAdminServer } from './adminServer';
import {
  AmqpDecodeError,
  BATCH_MESSAGE_FORMAT,
  amqpMessageUtil,
  amqpTypes,
  captureRawMessageBytes,
  rawBytesOf,
} from './amqpMessage';
import {
  StandInQueue,
  assertValidQueueName,
  decodeBatch,
  decodeIncoming,
  lockTokenOfUuid,
  resolveQueueOptions,
  type IncomingMessage,
  type SettleOutcome,
  type SubQueue,
} from './queue';
import { checkPutToken, type CbsClaim } from './cbs';
import { resourceCovers } from './sasToken';
import { QueueAlreadyExistsError, QueueNotFoundError } from './errors';
import { TimerRegistry } from './timers';
import type {
  QueueOptions,
  QueueSummary,
  ServiceBusRight,
  ServiceBusTokenAuthority,
  StandInMessage,
  StandInTransfer,
} from './types';
import type { ServerTls } from '../testCa';

export interface ServiceBusStandInOptions {
  /** Key name in the connection string (Service Bus's default policy name by default). */
  sharedAccessKeyName?: string;
  /** The key SAS tokens must be signed with; random by default. */
  sharedAccessKey?: string;
  /** Queues to declare at start. */
  queues?: Record<string, QueueOptions>;
  /** Start the loopback HTTP admin API (default true). */
  adminApi?: boolean;
  /**
   * Also listen with TLS (amqps), as a namespace does: what a client built from a fully qualified
   * namespace and a TokenCredential connects to (it has no UseDevelopmentEmulator switch).
   */
  tls?: ServerTls;
  /** Accept Entra ID tokens (CBS type `jwt`) as this authority judges them; see useTokenAuthority. */
  tokenAuthority?: ServiceBusTokenAuthority;
  /**
   * false: a namespace with local authentication disabled, as production deploys it: every SAS
   * put-token is refused (LocalAuthDisabled), only Entra ID tokens work. Default true.
   */
  localAuth?: boolean;
}

const HOST = '127.0.0.1';
const STOP_GRACE_MS = 1_000;
const DEAD_LETTER_SUFFIX = '$deadletterqueue';
const MANAGEMENT_SUFFIX = '/$management';

const CONDITION = {
  notFound: 'amqp:not-found',
  unauthorized: 'amqp:unauthorized-access',
  notAllowed: 'amqp:not-allowed',
  notImplemented: 'amqp:not-implemented',
  decodeError: 'amqp:decode-error',
  messageSizeExceeded: 'amqp:link:message-size-exceeded',
  lockLost: 'com.microsoft:message-lock-lost',
  messageNotFound: 'com.microsoft:message-not-found',
  deadLetter: 'com.microsoft:dead-letter',
  connectionForced: 'amqp:connection:forced',
} as const;

const LOCK_LOST_DESCRIPTION =
  'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.';

type EntityTarget = { queueKey: string; subQueue: SubQueue };

type LinkRole =
  | { kind: 'cbsRequests' }
  | { kind: 'replies'; address: string }
  | ({ kind: 'managementRequests' } & EntityTarget)
  | { kind: 'producer'; queueKey: string }
  | ({ kind: 'consumer'; receiveAndDelete: boolean } & EntityTarget);
type ConsumerRole = Extract<LinkRole, { kind: 'consumer' }>;

interface ConnectionState {
  /** Audiences this connection proved a token for, with what the token grants and until when. */
  claims: Map<string, CbsClaim>;
  /** Reply links by their address (the request's reply-to). */
  replyLinks: Map<string, Sender>;
}

/** rhea internals the typings do not describe. */
interface LinkInternals {
  local: { attach: Record<string, unknown> };
  remote: { attach?: { source?: { address?: string; filter?: unknown }; target?: { address?: string } } };
  issue_flow: boolean;
  credit: number;
  connection: { _register(): void };
  _get_drain(): boolean;
}

interface DeliveryRef {
  queueKey: string;
  token: string;
}

function internals(link: Sender | Receiver): LinkInternals {
  return link as unknown as LinkInternals;
}

/** Entity path of a link address: `queue`, `queue/$DeadLetterQueue`, with any `sb://host/` prefix removed. */
function entityPathOf(address: string | undefined): string {
  return (address ?? '').replace(/^[a-z]+:\/\/[^/]+\//i, '').replace(/^\/+/, '');
}

function entityNotFound(endpoint: string, path: string): AmqpError {
  // The SDK recognises this wording (and the condition) as MessagingEntityNotFound.
  return {
    condition: CONDITION.notFound,
    description: `The messaging entity '${endpoint}${path}' could not be found. To know more visit https://aka.ms/sbResourceMgrExceptions.`,
  };
}

/**
 * A small AMQP 1.0 broker that speaks enough Service Bus for the real
 * `@azure/service-bus` client: CBS with SAS tokens, send and batch send,
 * scheduled messages, peek-lock with delivery counts and lock expiry, settle
 * (complete, abandon, dead-letter), the dead-letter sub-queue, duplicate
 * detection, and the `$management` operations the SDK uses for those.
 * Loopback only, plain TCP (the SDK's `UseDevelopmentEmulator=true`).
 */
export class ServiceBusStandIn {
  private readonly keyName: string;
  private readonly key: string;
  private readonly timers = new TimerRegistry();
  private readonly queues = new Map<string, StandInQueue>();
  private readonly roles = new WeakMap<Sender | Receiver, LinkRole>();
  private readonly entityLinks = new Set<Sender | Receiver>();
  private readonly connectionStates = new WeakMap<Connection, ConnectionState>();
  private readonly connections = new Set<Connection>();
  private readonly sockets = new Set<Socket>();
  private readonly deliveries = new WeakMap<Delivery, DeliveryRef>();
  private server: Server | undefined;
  private admin: RunningAdminServer | undefined;
  private port = 0;
  private pumpHandle: NodeJS.Immediate | undefined;
  private pumpRotation = 0;
  private stopped = false;
  private tlsServer: Server | undefined;
  private tlsPort = 0;
  private tokenAuthority: ServiceBusTokenAuthority | undefined;

  constructor(private readonly options: ServiceBusStandInOptions = {}) {
    this.keyName = options.sharedAccessKeyName ?? 'RootManageSharedAccessKey';
    this.key = options.sharedAccessKey ?? randomBytes(32).toString('base64');
    this.tokenAuthority = options.tokenAuthority;
    for (const [name, queueOptions] of Object.entries(options.queues ?? {})) {
      this.createQueue(name, queueOptions);
    }
  }

  async start(): Promise<this> {
    if (this.server) {
      throw new Error('The Service Bus stand-in is already started.');
    }
    captureRawMessageBytes();
    const container = rhea.create_container({
      id: 'servicebus-standin',
      // The broker settles every delivery itself, after applying Service Bus's rules.
      autoaccept: false,
      // Otherwise rhea reports every abandon (modified) a second time, as released.
      treat_modified_as_released: false,
    });
    const mechanisms = container.sasl_server_mechanisms as {
      enable_anonymous(): void;
      enable_plain(check: () => boolean): void;
    };
    mechanisms.enable_anonymous();
    // The SDK proves who it is on $cbs with SAS tokens; SASL here is only the handshake it expects.
    mechanisms.enable_plain(() => true);
    this.registerHandlers(container);

    const server: Server = container.listen({ port: 0, host: HOST });
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      if (server.listening) {
        resolve();
        return;
      }
      server.once('listening', resolve);
      server.once('error', reject);
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    assertLoopback(this.endpoint);
    if (this.options.tls) {
      const tlsServer: Server = container.listen({
        transport: 'tls',
        port: 0,
        host: HOST,
        cert: this.options.tls.cert,
        key: this.options.tls.key,
      } as never);
      tlsServer.on('secureConnection', (socket: Socket) => {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
      });
      await new Promise<void>((resolve, reject) => {
        if (tlsServer.listening) {
          resolve();
          return;
        }
        tlsServer.once('listening', resolve);
        tlsServer.once('error', reject);
      });
      this.tlsServer = tlsServer;
      this.tlsPort = (tlsServer.address() as AddressInfo).port;
    }
    if (this.options.adminApi !== false) {
      this.admin = await startAdminServer(this);
    }
    return this;
  }

  /** Closes every AMQP connection and the admin API, cancels every timer, and stops listening. */
  async stop(): Promise<void> {
    if (this.stopped) {
      return;
    }
    this.stopped = true;
    this.timers.clearAll();
    if (this.pumpHandle) {
      clearImmediate(this.pumpHandle);
    }
    for (const queue of this.queues.values()) {
      queue.purge();
    }
    for (const connection of this.connections) {
      connection.close({
        condition: CONDITION.connectionForced,
        description: 'The Service Bus stand-in is stopping.',
      });
    }
    // Give clients a moment to answer the close, as they would a real broker's, then cut what is left.
    await Promise.race([
      Promise.all([...this.sockets].map((socket) => new Promise((resolve) => socket.once('close', resolve)))),
      new Promise<void>((resolve) => setTimeout(resolve, STOP_GRACE_MS).unref()),
    ]);
    for (const socket of this.sockets) {
      socket.destroy();
    }
    const closing = (server: Server | undefined) =>
      server
        ? new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())))
        : undefined;
    await Promise.all([closing(this.server), closing(this.tlsServer), this.admin?.stop()]);
  }

  /** `sb://127.0.0.1:PORT/` */
  get endpoint(): string {
    this.assertStarted();
    return `sb://${HOST}:${this.port}/`;
  }

  /** A connection string the real `@azure/service-bus` client accepts (plain TCP via UseDevelopmentEmulator). */
  /**
   * `127.0.0.1:PORT` of the TLS listener: what ServiceBusClient(fullyQualifiedNamespace, credential)
   * and ServiceBusConnection__fullyQualifiedNamespace take. Needs the `tls` option.
   */
  get fullyQualifiedNamespace(): string {
    this.assertStarted();
    if (!this.tlsServer) throw new Error('The Service Bus stand-in was started without the tls option.');
    return `${HOST}:${this.tlsPort}`;
  }

  /** Accepts Entra ID tokens from now on, as `authority` judges them (set once the Azure stand-in runs). */
  useTokenAuthority(authority: ServiceBusTokenAuthority): void {
    this.tokenAuthority = authority;
  }

  get connectionString(): string {
    return (
      `Endpoint=${this.endpoint};SharedAccessKeyName=${this.keyName};SharedAccessKey=${this.key};` +
      'UseDevelopmentEmulator=true;'
    );
  }

  /** Base URL of the loopback admin API, e.g. `http://127.0.0.1:PORT`. */
  get adminUrl(): string {
    if (!this.admin) {
      throw new Error('The admin API is not running (started with adminApi: false, or not started).');
    }
    return this.admin.url;
  }

  createQueue(name: string, options: QueueOptions = {}): QueueSummary {
    assertValidQueueName(name);
    const key = name.toLowerCase();
    if (this.queues.has(key)) {
      throw new QueueAlreadyExistsError(`Queue '${name}' already exists.`);
    }
    const queue = new StandInQueue(name, resolveQueueOptions(options), this.timers, () =>
      this.schedulePump(),
    );
    this.queues.set(key, queue);
    return this.summaryOf(key, queue, Date.now());
  }

  /** Deletes a queue and its messages; links attached to it are detached with not-found, as Service Bus does. */
  deleteQueue(name: string): void {
    const queue = this.queue(name);
    const key = name.toLowerCase();
    queue.purge();
    this.queues.delete(key);
    for (const link of this.entityLinks) {
      const role = this.roles.get(link);
      if (role && 'queueKey' in role && role.queueKey === key) {
        link.close(entityNotFound(this.endpoint, queue.name));
        this.forgetLink(link);
      }
    }
  }

  /** Removes every message (active, scheduled, dead-lettered); duplicate-detection history is kept. */
  purgeQueue(name: string): void {
    this.queue(name).purge();
  }

  listQueues(): QueueSummary[] {
    const now = Date.now();
    return [...this.queues.entries()].map(([key, queue]) => this.summaryOf(key, queue, now));
  }

  getQueue(name: string): QueueSummary {
    return this.summaryOf(name.toLowerCase(), this.queue(name), Date.now());
  }

  private summaryOf(key: string, queue: StandInQueue, now: number): QueueSummary {
    let receiversWithCredit = 0;
    for (const link of this.entityLinks) {
      const role = this.roles.get(link);
      if (
        role?.kind === 'consumer' &&
        role.queueKey === key &&
        role.subQueue === 'active' &&
        link.is_open() &&
        internals(link).credit > 0
      ) {
        receiversWithCredit += 1;
      }
    }
    return { ...queue.summary(now), receiversWithCredit };
  }

  /** Messages in the queue, locked ones included (state `locked`). */
  activeMessages(name: string): StandInMessage[] {
    return this.queue(name).activeMessages(Date.now());
  }

  scheduledMessages(name: string): StandInMessage[] {
    return this.queue(name).scheduledMessages();
  }

  /** The dead-letter sub-queue, with each message's DeadLetterReason and DeadLetterErrorDescription. */
  deadLetteredMessages(name: string): StandInMessage[] {
    return this.queue(name).deadLetteredMessages(Date.now());
  }

  /** Transfers senders made to the queue (a batch is one), accepted or refused, oldest first. */
  transfers(name: string): StandInTransfer[] {
    return this.queue(name).transferLog();
  }

  private queue(name: string): StandInQueue {
    const queue = this.queues.get(name.toLowerCase());
    if (!queue) {
      throw new QueueNotFoundError(`Queue '${name}' does not exist.`);
    }
    return queue;
  }

  private assertStarted(): void {
    if (!this.server) {
      throw new Error('The Service Bus stand-in is not started: call start() first.');
    }
  }

  private registerHandlers(container: Container): void {
    container.on('connection_open', (context: EventContext) => {
      this.connections.add(context.connection);
      this.connectionStates.set(context.connection, { claims: new Map(), replyLinks: new Map() });
    });
    container.on('disconnected', (context: EventContext) => this.connections.delete(context.connection));
    container.on('connection_close', (context: EventContext) => this.connections.delete(context.connection));
    // Clients going away abruptly is normal; without these listeners rhea would re-throw their errors.
    for (const event of ['error', 'connection_error', 'session_error', 'protocol_error']) {
      container.on(event, () => undefined);
    }
    for (const event of ['sender_close', 'receiver_close', 'sender_error', 'receiver_error']) {
      container.on(event, (context: EventContext) => {
        const link = context.sender ?? context.receiver;
        if (link) {
          this.forgetLink(link);
        }
      });
    }
    container.on('receiver_open', (context: EventContext) => {
      if (context.receiver) {
        this.onClientSenderAttached(context.receiver, context.connection);
      }
    });
    container.on('sender_open', (context: EventContext) => {
      if (context.sender) {
        this.onClientReceiverAttached(context.sender, context.connection);
      }
    });
    container.on('message', (context: EventContext) => this.onMessage(context));
    container.on('sendable', () => this.schedulePump());
    container.on('sender_draining', (context: EventContext) => {
      if (context.sender) {
        this.drain(context.sender);
      }
    });
    for (const outcome of ['accepted', 'rejected', 'modified', 'released']) {
      container.on(outcome, (context: EventContext) => {
        if (context.delivery) {
          this.onReceiverOutcome(context.delivery);
        }
      });
    }
  }

  private forgetLink(link: Sender | Receiver): void {
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
  private echoTermini(link: Sender | Receiver): void {
    const remote = internals(link).remote.attach;
    link.set_source({ address: remote?.source?.address ?? '' });
    link.set_target({ address: remote?.target?.address ?? '' });
  }

  private resolveEntity(path: string): EntityTarget | { error: AmqpError } {
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
  private isAuthorized(connection: Connection, path: string, rights: readonly ServiceBusRight[]): boolean {
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

  private unauthorized(path: string, claim: string): AmqpError {
    return {
      condition: CONDITION.unauthorized,
      description: `Unauthorized access. '${claim}' claim(s) are required to perform this operation. Resource: '${this.endpoint}${path}'.`,
    };
  }

  /** The client attached a sending link: to $cbs, to a $management node, or to a queue. */
  private onClientSenderAttached(receiver: Receiver, connection: Connection): void {
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
  private onClientReceiverAttached(sender: Sender, connection: Connection): void {
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
    this.schedulePump();
  }

  private onMessage(context: EventContext): void {
    const { receiver, delivery } = context;
    if (!receiver || !delivery) {
      return;
    }
    const role = this.roles.get(receiver);
    const message = context.message;
    switch (role?.kind) {
      case 'cbsRequests':
        if (message) {
          const connection = context.connection;
          void this.putToken(connection, message).then((response) =>
            this.reply(connection, message, response),
          );
        }
        delivery.accept();
        return;
      case 'managementRequests':
        if (message) {
          this.reply(context.connection, message, this.manage(role, message, context.connection));
        }
        delivery.accept();
        return;
      case 'producer':
        this.receiveFromProducer(role.queueKey, context, delivery);
        return;
      default:
        delivery.reject({
          condition: CONDITION.notAllowed,
          description: 'This link does not accept messages.',
        });
    }
  }

  private receiveFromProducer(queueKey: string, context: EventContext, delivery: Delivery): void {
    const queue = this.queues.get(queueKey);
    if (!queue) {
      delivery.reject(entityNotFound(this.endpoint, queueKey));
      return;
    }
    const format = (context as { format?: number }).format ?? 0;
    const raw =
      format === BATCH_MESSAGE_FORMAT
        ? (context.message as unknown as Buffer)
        : context.message
          ? rawBytesOf(context.message)
          : undefined;
    const batch = format === BATCH_MESSAGE_FORMAT;
    const sizeInBytes = Buffer.isBuffer(raw) ? raw.length : 0;
    const refuse = (error: AmqpError): void => {
      queue.recordTransfer({ sizeInBytes, batch, messageCount: 0, refusedWith: error.condition ?? null });
      delivery.reject(error);
    };
    if (format !== 0 && format !== BATCH_MESSAGE_FORMAT) {
      refuse({
        condition: CONDITION.notImplemented,
        description: `Message format ${format} is not supported.`,
      });
      return;
    }
    if (!Buffer.isBuffer(raw)) {
      refuse({
        condition: CONDITION.decodeError,
        description: 'The message bytes could not be read.',
      });
      return;
    }
    const limit = queue.options.maxMessageSizeBytes;
    if (raw.length > limit) {
      refuse({
        condition: CONDITION.messageSizeExceeded,
        description: `The received message (delivery-id:${delivery.id}, size:${raw.length} bytes) exceeds the limit (${limit} bytes) currently allowed on the link.`,
      });
      return;
    }
    let messages: IncomingMessage[];
    try {
      messages = batch ? decodeBatch(raw) : [decodeIncoming(raw)];
    } catch (error) {
      refuse({
        condition: CONDITION.decodeError,
        description: error instanceof AmqpDecodeError ? error.message : 'The message could not be decoded.',
      });
      return;
    }
    queue.recordTransfer({ sizeInBytes, batch, messageCount: messages.length, refusedWith: null });
    queue.accept(messages, Date.now());
    delivery.accept();
  }

  private reply(connection: Connection, request: Message, response: ManagementResponse): void {
    const replyTo = (request as { reply_to?: unknown }).reply_to;
    const link =
      typeof replyTo === 'string'
        ? this.connectionStates.get(connection)?.replyLinks.get(replyTo)
        : undefined;
    if (!link) {
      return; // Service Bus drops a response nobody attached a link to receive.
    }
    link.send({
      correlation_id: (request as { message_id?: unknown }).message_id,
      application_properties: response.properties,
      body: response.body,
    } as Message);
  }

  private async putToken(connection: Connection, request: Message): Promise<ManagementResponse> {
    const properties =
      (request as { application_properties?: Record<string, unknown> }).application_properties ?? {};
    const cbsStatus = (code: number, description: string): ManagementResponse => ({
      properties: { 'status-code': code, 'status-description': description },
      body: undefined,
    });
    const audience = properties.name;
    if (properties.operation !== 'put-token' || typeof audience !== 'string') {
      return cbsStatus(
        400,
        "The $cbs node only supports the 'put-token' operation with a 'name' (the audience).",
      );
    }
    const outcome = await checkPutToken(
      { type: properties.type, token: (request as { body?: unknown }).body, audience },
      { keyName: this.keyName, key: this.key },
      this.tokenAuthority,
      this.options.localAuth !== false,
    );
    if (!outcome.ok) return cbsStatus(outcome.statusCode, outcome.description);
    this.connectionStates.get(connection)?.claims.set(audience, outcome.claim);
    return cbsStatus(202, 'Accepted');
  }

  private manage(
    role: { queueKey: string; subQueue: SubQueue },
    request: Message,
    connection: Connection,
  ): ManagementResponse {
    const operation = (request as { application_properties?: Record<string, unknown> }).application_properties
      ?.operation;
    // Scheduling is sending; the other operations act on received messages. No evidence says how
    // Service Bus checks them on a management link: each checks the right it acts with (stricter).
    const right: ServiceBusRight =
      operation === 'com.microsoft:schedule-message' || operation === 'com.microsoft:cancel-scheduled-message'
        ? 'Send'
        : 'Listen';
    const entityPath =
      role.subQueue === 'deadLetter' ? `${role.queueKey}/${DEAD_LETTER_SUFFIX}` : role.queueKey;
    if (!this.isAuthorized(connection, `${entityPath}${MANAGEMENT_SUFFIX}`, [right])) {
      const { description = '' } = this.unauthorized(entityPath, right);
      return managementError(401, CONDITION.unauthorized, description);
    }
    const body = ((request as { body?: unknown }).body ?? {}) as Record<string, unknown>;
    const queue = this.queues.get(role.queueKey);
    if (!queue) {
      return managementError(
        404,
        CONDITION.notFound,
        entityNotFound(this.endpoint, role.queueKey).description ?? '',
      );
    }
    const now = Date.now();
    switch (operation) {
      case 'com.microsoft:schedule-message':
        return this.scheduleMessages(queue, body, now);
      case 'com.microsoft:cancel-scheduled-message': {
        const sequenceNumbers = asArray(body['sequence-numbers']).map(toSequenceNumber);
        const { missing } = queue.cancelScheduled(sequenceNumbers);
        if (missing.length > 0) {
          return managementError(
            404,
            CONDITION.messageNotFound,
            `Messages not found. Missing sequence numbers: ${missing.join(', ')}.`,
          );
        }
        return ok({});
      }
      case 'com.microsoft:renew-lock': {
        const expirations: number[] = [];
        for (const token of asArray(body['lock-tokens'])) {
          const until = queue.renewLock(lockTokenOfUuid(token as Buffer), now);
          if (until === undefined) {
            return managementError(410, CONDITION.lockLost, LOCK_LOST_DESCRIPTION);
          }
          expirations.push(until);
        }
        return ok({ expirations: amqpTypes.wrap_array(expirations, 0x83, undefined) });
      }
      case 'com.microsoft:peek-message': {
        const from = toSequenceNumber(body['from-sequence-number']);
        const count = typeof body['message-count'] === 'number' ? body['message-count'] : 1;
        const messages = queue.peek(role.subQueue, from, count, now);
        if (messages.length === 0) {
          return { properties: { statusCode: 204, statusDescription: 'No Content' }, body: {} };
        }
        return ok({
          messages: amqpTypes.wrap_list(messages.map((bytes) => amqpTypes.wrap_map({ message: bytes }))),
        });
      }
      case 'com.microsoft:update-disposition':
        return this.updateDisposition(queue, body, now);
      default:
        return managementError(
          501,
          CONDITION.notImplemented,
          `The Service Bus stand-in does not implement the management operation '${String(operation)}'.`,
        );
    }
  }

  private scheduleMessages(
    queue: StandInQueue,
    body: Record<string, unknown>,
    now: number,
  ): ManagementResponse {
    const incoming: IncomingMessage[] = [];
    for (const entry of asArray(body.messages)) {
      const bytes = (entry as { message?: unknown } | undefined)?.message;
      if (!Buffer.isBuffer(bytes)) {
        return managementError(400, CONDITION.decodeError, 'Each scheduled message needs its encoded bytes.');
      }
      if (bytes.length > queue.options.maxMessageSizeBytes) {
        return managementError(
          413,
          CONDITION.messageSizeExceeded,
          `The message (size:${bytes.length} bytes) exceeds the limit (${queue.options.maxMessageSizeBytes} bytes).`,
        );
      }
      try {
        incoming.push(decodeIncoming(bytes));
      } catch (error) {
        return managementError(400, CONDITION.decodeError, (error as Error).message);
      }
    }
    const sequenceNumbers = queue.schedule(incoming, now);
    return ok({ 'sequence-numbers': amqpTypes.wrap_array(sequenceNumbers, 0x81, undefined) });
  }

  private updateDisposition(
    queue: StandInQueue,
    body: Record<string, unknown>,
    now: number,
  ): ManagementResponse {
    const status = body['disposition-status'];
    const properties = body['properties-to-modify'] as Record<string, unknown> | undefined;
    for (const uuid of asArray(body['lock-tokens'])) {
      const token = lockTokenOfUuid(uuid as Buffer);
      let outcome: SettleOutcome;
      switch (status) {
        case 'completed':
          outcome = queue.complete(token, now);
          break;
        case 'abandoned':
          outcome = queue.abandon(token, properties, now);
          break;
        case 'suspended':
          outcome = queue.deadLetter(
            token,
            stringOrUndefined(body['deadletter-reason']),
            stringOrUndefined(body['deadletter-description']),
            properties,
            now,
          );
          break;
        default:
          return managementError(
            501,
            CONDITION.notImplemented,
            `Disposition '${String(status)}' is not supported by the Service Bus stand-in (deferral is not implemented).`,
          );
      }
      if (outcome === 'lockLost') {
        return managementError(410, CONDITION.lockLost, LOCK_LOST_DESCRIPTION);
      }
    }
    return ok({});
  }

  /** A receiver settled a peek-locked message (receiver-settle-mode second): apply it, then confirm or refuse. */
  private onReceiverOutcome(delivery: Delivery): void {
    const ref = this.deliveries.get(delivery);
    const state = delivery.remote_state as
      | {
          error?: { condition?: string; info?: Record<string, unknown> };
          undeliverable_here?: boolean;
          message_annotations?: Record<string, unknown>;
        }
      | undefined;
    const queue = ref ? this.queues.get(ref.queueKey) : undefined;
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

  private schedulePump(): void {
    if (this.pumpHandle || this.stopped) {
      return;
    }
    this.pumpHandle = setImmediate(() => {
      this.pumpHandle = undefined;
      const consumers = new Map<string, Array<{ sender: Sender; role: ConsumerRole }>>();
      for (const link of this.entityLinks) {
        const role = this.roles.get(link);
        if (role?.kind === 'consumer') {
          const key = `${role.queueKey}/${role.subQueue}`;
          consumers.set(key, [...(consumers.get(key) ?? []), { sender: link as Sender, role }]);
        }
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
    const start = this.pumpRotation++ % links.length;
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
    const queue = this.queues.get(role.queueKey);
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
    const queue = this.queues.get(role.queueKey);
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
  private drain(sender: Sender): void {
    const role = this.roles.get(sender);
    if (role?.kind === 'consumer') {
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

interface ManagementResponse {
  properties: Record<string, unknown>;
  body: unknown;
}

function ok(body: Record<string, unknown>): ManagementResponse {
  return { properties: { statusCode: 200, statusDescription: 'OK' }, body };
}

function managementError(statusCode: number, condition: string, description: string): ManagementResponse {
  return { properties: { statusCode, statusDescription: description, errorCondition: condition }, body: {} };
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
}

function toSequenceNumber(value: unknown): number {
  if (typeof value === 'number') {
    return value;
  }
  if (Buffer.isBuffer(value) && value.length === 8) {
    return Number(value.readBigInt64BE());
  }
  return Number.NaN;
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
