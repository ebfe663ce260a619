import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Face, Operation } from './types';

/** A refusal, already in the answering service's shape. Handlers throw it; the server writes it. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
    readonly errorCode?: string,
  ) {
    super(`${status} ${errorCode ?? ''}`);
  }
}

export interface ErrorDetail {
  code: string;
  message: string;
  target?: string;
  details?: ErrorDetail[];
}

/** ARM's error envelope: `{ error: { code, message, details? } }` plus the `x-ms-error-code` header. */
export function armError(status: number, code: string, message: string, details?: ErrorDetail[]): HttpError {
  const error: ErrorDetail = { code, message };
  if (details) error.details = details;
  return new HttpError(status, { error }, { 'x-ms-error-code': code }, code);
}

/** What a handler learned about a request, for fault matching and the request log. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  face: Face;
  operation?: Operation;
  tenantId?: string;
  dcrImmutableId?: string;
  rowCount?: number;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return { status, body, headers };
}

export function writeReply(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { 'x-ms-request-id': randomUUID(), ...reply.headers };
  if (reply.body === undefined) {
    res.writeHead(reply.status, headers);
    res.end();
    return;
  }
  const payload = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload).toString(),
    ...headers,
  });
  res.end(payload);
}

export class BodyTooLargeError extends Error {
  constructor(readonly received: number) {
    super(`body larger than allowed (${received} bytes read)`);
  }
}

/**
 * Reads the whole body. Past `limit` bytes it keeps draining (so the client
 * sees our answer rather than a reset) but stops buffering, then throws.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  if (size > limit) throw new BodyTooLargeError(size);
  return Buffer.concat(chunks);
}

/** Path segments, percent-decoded. */
export function segments(url: URL): string[] {
  return url.pathname
    .split('/')
    .filter((segment) => segment.length > 0)
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        return segment;
      }
    });
}

export function sameText(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

export function isGuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
