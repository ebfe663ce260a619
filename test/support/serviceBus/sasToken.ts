import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Validates a Shared Access Signature the way Service Bus does on a CBS
 * put-token: the signature must be an HMAC-SHA256 of `<sr>\n<se>` under the
 * named key, the token must not have expired, and its resource (`sr`) must
 * cover the audience the client asks to be authorised for.
 */
export type SasValidation =
  { ok: true; expiresAtMs: number } | { ok: false; statusCode: 401; description: string };

export interface SasKey {
  keyName: string;
  key: string;
}

const PREFIX = 'SharedAccessSignature ';

function parseToken(token: string): Map<string, string> | undefined {
  if (!token.startsWith(PREFIX)) {
    return undefined;
  }
  const fields = new Map<string, string>();
  for (const part of token.slice(PREFIX.length).split('&')) {
    const separator = part.indexOf('=');
    if (separator <= 0) {
      return undefined;
    }
    fields.set(part.slice(0, separator), part.slice(separator + 1));
  }
  return fields;
}

function normalisedResource(uri: string): string {
  return uri.toLowerCase().replace(/\/+$/, '');
}

/** True when `resource` (a token's sr) names `audience` or one of its parents. */
export function resourceCovers(resource: string, audience: string): boolean {
  const scope = normalisedResource(resource);
  const target = normalisedResource(audience);
  return target === scope || target.startsWith(`${scope}/`);
}

export function validateSasToken(
  token: unknown,
  audience: string,
  key: SasKey,
  nowMs: number,
): SasValidation {
  const refuse = (description: string): SasValidation => ({ ok: false, statusCode: 401, description });
  if (typeof token !== 'string') {
    return refuse('InvalidToken: the put-token body must be a SharedAccessSignature string.');
  }
  const fields = parseToken(token);
  const encodedResource = fields?.get('sr');
  const encodedSignature = fields?.get('sig');
  const expiry = fields?.get('se');
  const keyName = fields?.get('skn');
  if (!fields || !encodedResource || !encodedSignature || !expiry || !keyName) {
    return refuse('InvalidToken: a SharedAccessSignature needs sr, sig, se and skn.');
  }
  if (decodeURIComponent(keyName) !== key.keyName) {
    return refuse(
      `InvalidSignature: the token is signed with an unknown key '${decodeURIComponent(keyName)}'.`,
    );
  }
  const expected = createHmac('sha256', key.key).update(`${encodedResource}\n${expiry}`).digest();
  const presented = Buffer.from(decodeURIComponent(encodedSignature), 'base64');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
    return refuse('InvalidSignature: the token has an invalid signature.');
  }
  const expiresAtMs = Number(expiry) * 1000;
  if (!Number.isFinite(expiresAtMs) || expiresAtMs <= nowMs) {
    return refuse('ExpiredToken: the token has expired.');
  }
  if (!resourceCovers(decodeURIComponent(encodedResource), audience)) {
    return refuse(
      `InvalidAudience: the token's resource '${decodeURIComponent(encodedResource)}' does not cover '${audience}'.`,
    );
  }
  return { ok: true, expiresAtMs };
}
