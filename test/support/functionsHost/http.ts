import type { CapturedLog } from './coreApi';
import type { RpcHttpCookie, RpcHttpData, RpcNullableString, RpcTypedData } from './coreTypes';
import { hostLog, newInvocationId, newLogScope, runWorkerInvocation } from './invoke';
import { findHttpFunction, functionEntry, type HttpRouteMatch } from './registry';

/** The origin the host stand-in pretends to listen on (what `func start` uses by default). */
export const HOST_ORIGIN = 'http://localhost:7071';

export interface HttpInvocationRequest {
  method: string;
  /** Path as a client sends it, route prefix included, optionally with a query string: `/api/tenants/t1/siem?x=1`. */
  path: string;
  /** Header names are case-insensitive; a list becomes one comma-joined value, as ASP.NET presents it. */
  headers?: Record<string, string | readonly string[]>;
  /** Added to the path's query string. */
  query?: Record<string, string | readonly string[]>;
  /** Raw body bytes or text. */
  body?: string | Uint8Array;
  /** Shorthand: JSON-serialized body with `content-type: application/json` unless one is given. */
  json?: unknown;
}

export interface HttpInvocationResult {
  /** The function the request was routed to; undefined when no route matched (the host answers 404). */
  functionName?: string;
  invocationId?: string;
  status: number;
  headers: Headers;
  cookies: RpcHttpCookie[];
  body: Buffer;
  text(): string;
  /** The body parsed as JSON; throws saying what the body was if it is not JSON. */
  json<T = unknown>(): T;
  /** Every line the invocation logged (user, system and the host's own), in order. */
  logs: CapturedLog[];
  /** Set when the invocation failed (the handler threw); the host then answers 500 with no body. */
  error?: unknown;
}

function toBytes(request: HttpInvocationRequest): Buffer | undefined {
  if (request.json !== undefined) {
    if (request.body !== undefined) throw new TypeError('Give either body or json, not both.');
    return Buffer.from(JSON.stringify(request.json), 'utf8');
  }
  if (request.body === undefined) return undefined;
  return typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : Buffer.from(request.body);
}

/**
 * ASP.NET's header and query collections are case-insensitive, keep the first spelling of a name, and
 * present repeated values as one comma-joined string; the host forwards them that way.
 */
function collapse(
  entries: Iterable<[string, string]>,
  lowerCaseNames: boolean,
): Record<string, RpcNullableString> {
  const grouped = new Map<string, { name: string; values: string[] }>();
  for (const [name, value] of entries) {
    const key = name.toLowerCase();
    const group = grouped.get(key) ?? { name: lowerCaseNames ? key : name, values: [] };
    group.values.push(value);
    grouped.set(key, group);
  }
  return Object.fromEntries([...grouped.values()].map((g) => [g.name, { value: g.values.join(',') }]));
}

function flatten(record: Record<string, string | readonly string[]> | undefined): [string, string][] {
  return Object.entries(record ?? {}).flatMap(([name, value]) =>
    (typeof value === 'string' ? [value] : value).map((v): [string, string] => [name, v]),
  );
}

function result(
  fields: Omit<HttpInvocationResult, 'text' | 'json' | 'headers' | 'cookies' | 'body'> & {
    headers?: Headers;
    cookies?: RpcHttpCookie[];
    body?: Buffer;
  },
): HttpInvocationResult {
  const body = fields.body ?? Buffer.alloc(0);
  return {
    ...fields,
    headers: fields.headers ?? new Headers(),
    cookies: fields.cookies ?? [],
    body,
    text: () => body.toString('utf8'),
    json<T>(): T {
      const text = body.toString('utf8');
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new Error(
          `Response body (status ${fields.status}) is not JSON: ${JSON.stringify(text.slice(0, 500))}`,
        );
      }
    },
  };
}

function bodyBytes(data: RpcTypedData | null | undefined): Buffer {
  if (!data) return Buffer.alloc(0);
  if (data.bytes) return Buffer.from(data.bytes);
  if (typeof data.string === 'string') return Buffer.from(data.string, 'utf8');
  if (typeof data.json === 'string') return Buffer.from(data.json, 'utf8');
  return Buffer.alloc(0);
}

/**
 * Sends an HTTP request through the host stand-in: routes it like the host (route prefix from host.json,
 * route templates, methods), builds the RPC HTTP data the host sends to a Node worker (body as bytes only
 * when there is one, lower-cased headers, nullable query/params), invokes the function through the
 * library, and converts its response back.
 */
export async function invokeHttp(request: HttpInvocationRequest): Promise<HttpInvocationResult> {
  const url = new URL(request.path, HOST_ORIGIN);
  if (!request.path.startsWith('/') || url.origin !== HOST_ORIGIN) {
    throw new TypeError(`path must be an absolute path such as /api/…, got "${request.path}"`);
  }
  for (const [name, value] of flatten(request.query)) url.searchParams.append(name, value);

  const method = request.method.toUpperCase();
  const route: HttpRouteMatch | undefined = findHttpFunction(method, url.pathname);
  if (!route) return result({ status: 404, logs: [] });

  const body = toBytes(request);
  const headerEntries = flatten(request.headers);
  const hasHeader = (name: string) => headerEntries.some(([n]) => n.toLowerCase() === name);
  if (!hasHeader('host')) headerEntries.push(['host', url.host]);
  if (body && body.length > 0 && !hasHeader('content-length'))
    headerEntries.push(['content-length', String(body.length)]);
  if (request.json !== undefined && !hasHeader('content-type'))
    headerEntries.push(['content-type', 'application/json']);

  const http: RpcHttpData = {
    method,
    url: url.href,
    nullableHeaders: collapse(headerEntries, true),
    nullableQuery: collapse(url.searchParams.entries(), false),
    nullableParams: Object.fromEntries(Object.entries(route.params).map(([k, v]) => [k, { value: v }])),
    // The host reads a body only when Content-Length > 0, and a Node worker asks for raw bytes.
    body: body && body.length > 0 ? { bytes: body } : undefined,
  };

  const entry = functionEntry(route.function.name);
  const scope = newLogScope(entry.name, newInvocationId());
  const outcome = await runWorkerInvocation(
    entry,
    scope,
    { inputData: [{ name: route.function.triggerBindingName, data: { http } }], triggerMetadata: {} },
    `This function was programmatically called via the host APIs.`,
  );
  const base = { functionName: entry.name, invocationId: outcome.invocationId, logs: outcome.logs };
  if (outcome.error !== undefined || !outcome.response) {
    return result({ ...base, status: 500, error: outcome.error });
  }

  const returned =
    outcome.response.returnValue?.http ??
    outcome.response.outputData?.find((binding) => {
      const info = binding.name ? entry.bindings[binding.name] : undefined;
      return info?.type?.toLowerCase() === 'http';
    })?.data?.http;
  if (!returned) {
    const error = new Error(`Function "${entry.name}" returned no HTTP response.`);
    hostLog(scope, 'error', error.message);
    return result({ ...base, status: 500, error });
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(returned.headers ?? {})) headers.append(name, value);
  return result({
    ...base,
    status: Number(returned.statusCode ?? '200'),
    headers,
    cookies: returned.cookies ?? [],
    body: bodyBytes(returned.body),
  });
}
