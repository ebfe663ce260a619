import { randomBytes } from 'node:crypto';
import type { AddressInfo, Server, Socket } from 'node:net';
import rhea, { type Connection, type Container, type Delivery, type EventContext, type Message } from 'rhea';
import { assertLoopback } from '../loopback';
import { startAdminServer, type RunningAdminServer } from './adminServer';
import { captureRawMessageBytes } from './amqpMessage';
import { StandInQueue, assertValidQueueName, resolveQueueOptions } from './queue';
import { checkPutToken } from './cbs';
import { DeliveryPump } from './deliveryPump';
import {
  CONDITION,
  DEAD_LETTER_SUFFIX,
  MANAGEMENT_SUFFIX,
  entityNotFound,
  internals,
  type EntityTarget,
} from './links';
import {
  managementError,
  rightForOperation,
  runManagementOperation,
  type ManagementResponse,
} from './managementOperations';
import { acceptProducerTransfer } from './producerTransfers';
import { LinkBroker } from './linkAttach';
import { QueueAlreadyExistsError, QueueNotFoundError } from './errors';
import { TimerRegistry } from './timers';
import type {
  QueueOptions,
  QueueSummary,
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

/**
 * A small AMQP 1.0 broker that speaks enough Service Bus for the real
 * `@azure/service-bus` client: CBS with SAS tokens, send and batch send,
 * scheduled messages, peek-lock with delivery counts and lock expiry, settle
 * (complete, abandon, dead-letter), the dead-letter sub-queue, duplicate
 * detection, and the `$management` operations the SDK uses for those.
 * Link attach and authorization live in linkAttach.ts, link roles and errors in links.ts,
 * delivery in deliveryPump.ts, `$management` operations in managementOperations.ts, producer
 * transfers in producerTransfers.ts.
 * Loopback only, plain TCP (the SDK's `UseDevelopmentEmulator=true`).
 */
export class ServiceBusStandIn extends LinkBroker {
  private readonly keyName: string;
  private readonly key: string;
  private readonly timers = new TimerRegistry();
  private readonly connections = new Set<Connection>();
  private readonly sockets = new Set<Socket>();
  protected readonly pump = new DeliveryPump({
    queue: (queueKey) => this.queues.get(queueKey),
    consumers: () => this.consumerLinks(),
  });
  private server: Server | undefined;
  private admin: RunningAdminServer | undefined;
  private port = 0;
  private stopped = false;
  private tlsServer: Server | undefined;
  private tlsPort = 0;
  private tokenAuthority: ServiceBusTokenAuthority | undefined;

  constructor(private readonly options: ServiceBusStandInOptions = {}) {
    super();
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
    this.pump.stop();
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
      this.pump.schedule(),
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
    container.on('sendable', () => this.pump.schedule());
    container.on('sender_draining', (context: EventContext) => {
      if (context.sender) {
        const role = this.roles.get(context.sender);
        this.pump.drain(context.sender, role?.kind === 'consumer' ? role : undefined);
      }
    });
    for (const outcome of ['accepted', 'rejected', 'modified', 'released']) {
      container.on(outcome, (context: EventContext) => {
        if (context.delivery) {
          this.pump.onReceiverOutcome(context.delivery);
        }
      });
    }
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
    acceptProducerTransfer(queue, context, delivery);
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

  private manage(role: EntityTarget, request: Message, connection: Connection): ManagementResponse {
    const operation = (request as { application_properties?: Record<string, unknown> }).application_properties
      ?.operation;
    const right = rightForOperation(operation);
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
    return runManagementOperation(queue, role.subQueue, operation, body, Date.now());
  }
}
