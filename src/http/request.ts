import type { HttpRequest } from '@azure/functions';
import { HttpProblem } from './problem';

/** Requests of this API are a few hundred bytes; anything near this bound is not one of ours. */
export const MAX_BODY_BYTES = 16 * 1024;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The `{tenantId}` route parameter as a lower-case GUID. */
export function routeTenantId(request: HttpRequest): string {
  const tenantId = request.params.tenantId;
  if (!tenantId || !GUID.test(tenantId)) {
    throw new HttpProblem(
      400,
      'InvalidTenantId',
      'The tenant in the URL must be an Entra tenant ID (a GUID).',
      'tenantId',
    );
  }
  return tenantId.toLowerCase();
}

/**
 * The body as a JSON object: refuses other media types, bodies over
 * MAX_BODY_BYTES (by header and by what actually arrives) and anything that
 * is not a JSON object.
 */
export async function readJsonObject(
  request: HttpRequest,
  maxBytes = MAX_BODY_BYTES,
): Promise<Record<string, unknown>> {
  const contentType = request.headers.get('content-type') ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType.trim())) {
    throw new HttpProblem(
      415,
      'UnsupportedMediaType',
      'Send the request body as JSON (Content-Type: application/json).',
    );
  }
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const bytes = Buffer.from(await request.arrayBuffer());
  if (bytes.length > maxBytes) throw tooLarge(maxBytes);
  if (bytes.length === 0)
    throw new HttpProblem(400, 'InvalidJson', 'The request body is empty; send a JSON object.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new HttpProblem(400, 'InvalidJson', 'The request body is not valid UTF-8 JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpProblem(400, 'InvalidJson', 'The request body must be a JSON object.');
  }
  return parsed as Record<string, unknown>;
}

/** If-Match as sent (a single ETag or `*`); lists of ETags are not meaningful for one resource. */
export function ifMatch(request: HttpRequest): string | undefined {
  const value = request.headers.get('if-match')?.trim();
  return value ? value : undefined;
}

function tooLarge(maxBytes: number): HttpProblem {
  return new HttpProblem(413, 'PayloadTooLarge', `The request body must be at most ${maxBytes} bytes.`);
}
