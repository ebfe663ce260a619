import type { ServiceBusTokenAuthority } from '../serviceBus/types';
import { serviceBusAuthority } from './serviceBusAuthority';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertLoopback, loopbackHostProblem, MISDIRECTED_REQUEST } from '../loopback';
import { readServerTls, type ServerTls } from '../testCa';
import { armRoute } from './arm';
import type { Route, StandInContext, StandInOptions } from './context';
import {
  AdminError,
  isControlMethod,
  validatedControl,
  StandInControl,
  type AzureStandInControl,
} from './control';
import { entraRoute } from './entra';
import { faultReply, takeFault } from './faults';
import { HttpError, readBody, writeReply, type Reply, type RequestContext } from './http';
import { ingestionRoute } from './ingestion';
import { keyVaultRoute, VAULT_AUDIENCE } from './keyVault';
import { LOGS_QUERY_AUDIENCE, logsQueryRoute } from './logsQuery';
import { StandInState } from './model';
import { KeyRing } from './tokens';

export interface StartAzureStandInOptions extends Partial<StandInOptions> {
  /** Server certificate and key; default: the test CA's, from PKI_TEST_TRUST_DIR. */
  tls?: ServerTls;
}

export interface AzureStandIn {
  /** https://127.0.0.1:PORT */
  readonly baseUrl: string;
  /** The same operations as AzureStandInAdmin, without HTTP. */
  readonly control: AzureStandInControl;
  /** What a Service Bus stand-in asks about the Entra tokens presented to it (see serviceBusAuthority.ts). */
  serviceBusAuthority(namespaceResourceId: string): ServiceBusTokenAuthority;
  stop(): Promise<void>;
}

const ADMIN_PREFIX = '/_admin/';
const MAX_LOG_ENTRIES = 20_000;

/**
 * Starts the HTTPS Azure stand-in (Entra ID, ARM, Logs Ingestion, admin API)
 * on 127.0.0.1 and a port the OS picks.
 */
export async function startAzureStandIn(options: StartAzureStandInOptions = {}): Promise<AzureStandIn> {
  const tls = options.tls ?? readServerTls();
  let baseUrl = '';
  const context: StandInContext = {
    state: new StandInState(),
    keys: await KeyRing.create(),
    options: {
      armAudiences: options.armAudiences ?? [
        'https://management.azure.com',
        'https://management.core.windows.net',
      ],
      monitorAudiences: options.monitorAudiences ?? ['https://monitor.azure.com'],
      tokenExchangeAudiences: options.tokenExchangeAudiences ?? ['api://AzureADTokenExchange'],
      extraResources: [...(options.extraResources ?? []), VAULT_AUDIENCE, LOGS_QUERY_AUDIENCE],
      apiAudience: options.apiAudience ?? 'api://pki-siem-export',
      accessTokenLifetimeSeconds: options.accessTokenLifetimeSeconds ?? 3600,
      identityHeader: options.identityHeader ?? randomBytes(16).toString('hex'),
    },
    baseUrl: () => baseUrl,
  };
  const control = validatedControl(new StandInControl(context));
  const sockets = new Set<Socket>();

  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    void handle(context, control, req, res);
  });
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  baseUrl = assertLoopback(`https://127.0.0.1:${address.port}`);

  return {
    baseUrl,
    control,
    serviceBusAuthority: (namespaceResourceId) => serviceBusAuthority(context, namespaceResourceId),
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
      });
    },
  };
}

async function handle(
  context: StandInContext,
  control: AzureStandInControl,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  // Loopback keeps other machines out, not a web page that rebinds its name to 127.0.0.1.
  const misdirected = loopbackHostProblem(req.headers.host, Number(new URL(context.baseUrl()).port), 'https');
  if (misdirected) {
    const text = JSON.stringify({ error: { code: 'MisdirectedRequest', message: misdirected } });
    res.writeHead(MISDIRECTED_REQUEST, { 'content-type': 'application/json; charset=utf-8' });
    res.end(text);
    return;
  }
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', context.baseUrl());
  context.state.settle();
  try {
    if (url.pathname.startsWith(ADMIN_PREFIX)) {
      writeReply(res, await admin(control, req, url));
      return;
    }
    const route =
      entraRoute(context, method, url) ??
      armRoute(context, method, url) ??
      ingestionRoute(context, method, url) ??
      keyVaultRoute(context, method, url) ??
      logsQueryRoute(context, method, url);
    if (!route) {
      writeReply(res, {
        status: 404,
        body: {
          error: {
            code: 'NotModelledByStandIn',
            message: `The Azure stand-in does not serve ${method} ${url.pathname}.`,
          },
        },
      });
      return;
    }
    await serve(context, route, {
      req,
      res,
      url,
      face: route.face,
      operation: route.operation,
      ...pick(route),
    });
  } catch (error) {
    console.error('Azure stand-in failed on', method, url.pathname, error);
    if (!res.headersSent) {
      writeReply(res, { status: 500, body: { error: { code: 'StandInFailure', message: String(error) } } });
    }
  }
}

function pick(route: Route): Partial<RequestContext> {
  return {
    ...(route.tenantId ? { tenantId: route.tenantId } : {}),
    ...(route.dcrImmutableId ? { dcrImmutableId: route.dcrImmutableId } : {}),
  };
}

async function serve(context: StandInContext, route: Route, request: RequestContext): Promise<void> {
  const fault = takeFault(context.state, route);
  if (fault?.delayMs) await sleep(fault.delayMs);
  if (fault?.resetConnection) {
    log(context, request, 0, { faultId: fault.id, errorCode: 'ConnectionReset' });
    request.req.socket.destroy();
    return;
  }
  if (fault?.status !== undefined) {
    const reply = faultReply(fault, route);
    writeReply(request.res, reply);
    log(context, request, reply.status, { faultId: fault.id, errorCode: reply.headers?.['x-ms-error-code'] });
    return;
  }
  let reply: Reply;
  let errorCode: string | undefined;
  try {
    reply = await route.handle(request);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    reply = { status: error.status, body: error.body, headers: error.headers };
    errorCode = error.errorCode;
  }
  writeReply(request.res, reply);
  log(context, request, reply.status, { errorCode, faultId: fault?.id });
}

function log(
  context: StandInContext,
  request: RequestContext,
  status: number,
  extra: { errorCode?: string | undefined; faultId?: string | undefined },
): void {
  const state = context.state;
  state.requestSeq += 1;
  state.requestLog.push({
    seq: state.requestSeq,
    at: new Date().toISOString(),
    face: request.face,
    ...(request.operation ? { operation: request.operation } : {}),
    method: request.req.method ?? 'GET',
    path: request.url.pathname,
    status,
    ...(request.tenantId ? { tenantId: request.tenantId } : {}),
    ...(request.dcrImmutableId ? { dcrImmutableId: request.dcrImmutableId } : {}),
    ...(extra.errorCode ? { errorCode: extra.errorCode } : {}),
    ...(extra.faultId ? { faultId: extra.faultId } : {}),
    ...(request.rowCount !== undefined ? { rowCount: request.rowCount } : {}),
  });
  if (state.requestLog.length > MAX_LOG_ENTRIES)
    state.requestLog.splice(0, state.requestLog.length - MAX_LOG_ENTRIES);
}

/** `POST /_admin/<method>` with the method's argument as JSON; answers its result as JSON. */
async function admin(control: AzureStandInControl, req: IncomingMessage, url: URL): Promise<Reply> {
  const method = url.pathname.slice(ADMIN_PREFIX.length);
  const fail = (status: number, message: string): Reply => ({
    status,
    body: { error: { code: 'BadAdminRequest', message } },
  });
  if (!isControlMethod(method)) return fail(404, `Unknown admin method '${method}'.`);
  if (req.method !== 'POST') return fail(405, `Call admin methods with POST /_admin/${method}.`);
  const raw = (await readBody(req, 16 * 1024 * 1024)).toString('utf8');
  let input: unknown;
  try {
    input = raw.trim() === '' ? undefined : JSON.parse(raw);
  } catch {
    return fail(400, 'The admin request body must be JSON.');
  }
  try {
    const methods = control as unknown as Record<string, (argument: unknown) => Promise<unknown>>;
    const result = await methods[method]!(input);
    return { status: 200, body: result === undefined ? {} : result };
  } catch (error) {
    if (error instanceof AdminError) return fail(400, error.message);
    throw error;
  }
}
