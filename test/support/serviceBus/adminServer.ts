import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertLoopback, loopbackHostProblem, MISDIRECTED_REQUEST } from '../loopback';
import { QueueAlreadyExistsError, QueueNotFoundError, QueueOptionsError } from './errors';
import type { AdminErrorBody, QueueOptions, QueueSummary, StandInMessage, StandInTransfer } from './types';

/** What the admin API needs from the broker (structural, so this module does not import the broker). */
interface AdministeredStandIn {
  createQueue(name: string, options?: QueueOptions): QueueSummary;
  deleteQueue(name: string): void;
  purgeQueue(name: string): void;
  listQueues(): QueueSummary[];
  getQueue(name: string): QueueSummary;
  activeMessages(name: string): StandInMessage[];
  scheduledMessages(name: string): StandInMessage[];
  deadLetteredMessages(name: string): StandInMessage[];
  transfers(name: string): StandInTransfer[];
}

export interface RunningAdminServer {
  url: string;
  stop(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY_BYTES = 64 * 1024;

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) {
      throw new HttpError(413, 'BodyTooLarge', `Request bodies are limited to ${MAX_BODY_BYTES} bytes.`);
    }
    chunks.push(buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') {
    return {};
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'InvalidJson', 'The request body is not valid JSON.');
  }
}

function send(response: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    response.writeHead(status).end();
    return;
  }
  const json = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(json),
  });
  response.end(json);
}

function translate(error: unknown): HttpError {
  if (error instanceof HttpError) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof QueueNotFoundError) {
    return new HttpError(404, 'QueueNotFound', message);
  }
  if (error instanceof QueueAlreadyExistsError) {
    return new HttpError(409, 'QueueAlreadyExists', message);
  }
  if (error instanceof QueueOptionsError) {
    return new HttpError(400, 'InvalidQueueOptions', message);
  }
  return new HttpError(500, 'InternalError', message);
}

/**
 * Loopback HTTP admin API of the Service Bus stand-in, for test workers and
 * other processes that cannot reach the in-process object:
 *
 *   GET    /queues                       list queues (summaries)
 *   PUT    /queues/{name}                create a queue; body: QueueOptions (201, 409 if it exists)
 *   GET    /queues/{name}                summary: options, counts, duplicates dropped
 *   DELETE /queues/{name}                delete the queue and its messages (204)
 *   POST   /queues/{name}/purge          remove every message (204)
 *   GET    /queues/{name}/messages       active messages, locked ones included
 *   GET    /queues/{name}/scheduled      scheduled messages
 *   GET    /queues/{name}/deadletter     dead-lettered messages with reasons
 *   GET    /queues/{name}/transfers      transfers from senders (a batch is one), accepted or refused
 *
 * Errors: `{ "error": { "code", "message" } }` with 400, 404, 405, 409 or 413.
 */
export async function startAdminServer(standIn: AdministeredStandIn): Promise<RunningAdminServer> {
  const route = async (request: IncomingMessage): Promise<{ status: number; body?: unknown }> => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = request.method ?? 'GET';
    const [root, name, action, ...rest] = segments;
    if (root !== 'queues' || rest.length > 0) {
      throw new HttpError(404, 'RouteNotFound', `No admin route ${method} ${url.pathname}.`);
    }
    if (name === undefined) {
      if (method === 'GET') {
        return { status: 200, body: { queues: standIn.listQueues() } };
      }
    } else if (action === undefined) {
      if (method === 'PUT') {
        return { status: 201, body: standIn.createQueue(name, (await readJson(request)) as QueueOptions) };
      }
      if (method === 'GET') {
        return { status: 200, body: standIn.getQueue(name) };
      }
      if (method === 'DELETE') {
        standIn.deleteQueue(name);
        return { status: 204 };
      }
    } else if (action === 'purge' && method === 'POST') {
      standIn.purgeQueue(name);
      return { status: 204 };
    } else if (method === 'GET') {
      if (action === 'messages') {
        return { status: 200, body: { messages: standIn.activeMessages(name) } };
      }
      if (action === 'scheduled') {
        return { status: 200, body: { messages: standIn.scheduledMessages(name) } };
      }
      if (action === 'deadletter') {
        return { status: 200, body: { messages: standIn.deadLetteredMessages(name) } };
      }
      if (action === 'transfers') {
        return { status: 200, body: { transfers: standIn.transfers(name) } };
      }
    }
    throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported on ${url.pathname}.`);
  };

  const server = createServer((request, response) => {
    // Loopback keeps other machines out, not a web page that rebinds its name to 127.0.0.1.
    const misdirected = loopbackHostProblem(request.headers.host, (server.address() as AddressInfo).port);
    if (misdirected) {
      const body: AdminErrorBody = { error: { code: 'MisdirectedRequest', message: misdirected } };
      send(response, MISDIRECTED_REQUEST, body);
      return;
    }
    route(request).then(
      ({ status, body }) => send(response, status, body),
      (error: unknown) => {
        const failure = translate(error);
        const body: AdminErrorBody = { error: { code: failure.code, message: failure.message } };
        send(response, failure.status, body);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  assertLoopback(url);
  return {
    url,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
