import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { invokeHttp, type HttpInvocationResult } from '../test/support/functionsHost';
import { loopbackHostProblem, MISDIRECTED_REQUEST } from '../test/support/loopback';
import { SandboxError } from './errors';
import type { PanelRoutes } from './panelServer';

/**
 * The Functions host's HTTP front door, on loopback: every request is routed to the HTTP trigger whose
 * route template matches (route prefix from host.json), through the library's invocation model. No
 * route: 404; a handler that throws: 500 with no body, as the host answers.
 */

export interface RunningHttpServer {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface HttpServerOptions {
  port?: number;
  /** Called after every request, for the sandbox's progress lines. */
  onRequest?: (request: { method: string; path: string; body: Buffer }, result: HttpInvocationResult) => void;
  /** The settings panel's pages, answered before the functions' routes. */
  panel?: PanelRoutes;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function requestHeaders(request: IncomingMessage): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = value;
  }
  return headers;
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  options: HttpServerOptions,
  port: number,
): Promise<void> {
  // The API and the panel (which hands out a bearer token) answer only requests addressed to loopback:
  // a web page that rebinds its own name to 127.0.0.1 gets nothing (see loopbackHostProblem).
  const misdirected = loopbackHostProblem(request.headers.host, port);
  if (misdirected) {
    const text = JSON.stringify({ error: misdirected });
    response.writeHead(MISDIRECTED_REQUEST, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
    });
    response.end(text);
    return;
  }
  const method = request.method ?? 'GET';
  const path = request.url ?? '/';
  const body = await readBody(request);
  const page = await options.panel?.({ method, url: path, host: request.headers.host });
  if (page) {
    response.writeHead(page.status, { ...page.headers, 'content-length': String(page.body.length) });
    response.end(method === 'HEAD' ? undefined : page.body);
    return;
  }
  const result = await invokeHttp({
    method,
    path,
    headers: requestHeaders(request),
    body: body.length > 0 ? body : undefined,
  });
  options.onRequest?.({ method, path, body }, result);
  const headers: Record<string, string | string[]> = {};
  result.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const cookies = result.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  headers['content-length'] = String(result.body.length);
  response.writeHead(result.status, headers);
  response.end(result.body);
}

export async function startHttpServer(options: HttpServerOptions = {}): Promise<RunningHttpServer> {
  const server: Server = createServer((request, response) => {
    handle(request, response, options, (server.address() as AddressInfo).port).catch((error: unknown) => {
      console.error('[sandbox] HTTP request failed in the host:', error);
      if (!response.headersSent) response.writeHead(500, { 'content-length': '0' });
      response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new SandboxError(
              `Port ${options.port} on 127.0.0.1 is in use: pick another with --port, or leave --port out for a free one.`,
            )
          : error,
      ),
    );
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
