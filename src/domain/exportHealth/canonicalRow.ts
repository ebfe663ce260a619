import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { SIGNED_COLUMNS, type ChainedHealthRow } from './healthRow';

/**
 * The bytes a health row's signature and hash cover, computed the same way
 * by the exporter (from the row it builds) and by `verify` (from what Log
 * Analytics returns, or a portal export as JSON or CSV, where every value may
 * be a string). Normalizing before canonicalizing (RFC 8785, the `canonicalize`
 * package) makes those inputs agree:
 * - only the signed columns count (Log Analytics adds TenantId, Type, _ResourceId…);
 * - an empty or null value is the same as an absent one (Log Analytics stores a missing column as null/"");
 * - `_t` datetimes become ISO 8601 with milliseconds in UTC (Log Analytics drops trailing zeros);
 * - `_d` numbers become numbers, `_g` guids lower case.
 */
export type SignedPayload = Record<string, string | number>;

export function signedPayload(row: object): SignedPayload {
  const fields = row as Readonly<Record<string, unknown>>;
  const payload: SignedPayload = {};
  for (const column of SIGNED_COLUMNS) {
    const value = normalize(column, fields[column]);
    if (value !== undefined) payload[column] = value;
  }
  return payload;
}

function normalize(column: string, value: unknown): string | number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (column.endsWith('_d')) {
    const number = typeof value === 'number' ? value : Number(value);
    // A value that is not a number stays as text: its signature then fails, as it should.
    return Number.isFinite(number) ? number : stringOf(value);
  }
  const text = stringOf(value);
  if (column.endsWith('_t')) {
    const time = new Date(text);
    return Number.isNaN(time.getTime()) ? text : time.toISOString();
  }
  if (column.endsWith('_g')) return text.toLowerCase();
  return text;
}

function stringOf(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function canonicalBytes(payload: SignedPayload): Buffer {
  const text = canonicalize(payload);
  if (text === undefined) throw new Error('Health row payload could not be canonicalized');
  return Buffer.from(text, 'utf8');
}

export function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

/** The JWS signing input: `BASE64URL(protected header) '.' BASE64URL(canonical payload)` (RFC 7515 §5.1). */
export function signingInput(protectedHeader: string, payload: SignedPayload): Buffer {
  return Buffer.from(`${protectedHeader}.${base64url(canonicalBytes(payload))}`, 'ascii');
}

export function protectedHeader(algorithm: string, keyId: string): string {
  return base64url(Buffer.from(JSON.stringify({ alg: algorithm, kid: keyId }), 'utf8'));
}

/**
 * The link the next row carries: SHA-256 over the canonical payload and the
 * signature. Deleting, inserting or re-signing a row breaks the next row's
 * PreviousHash_s.
 */
export function rowHash(row: object): string {
  const { Signature_s: signature = '' } = row as { Signature_s?: unknown };
  const digest = createHash('sha256')
    .update(canonicalBytes(signedPayload(row)))
    .update('.')
    .update(typeof signature === 'string' ? signature : '', 'utf8')
    .digest();
  return base64url(digest);
}

/** Splits a detached compact JWS `header..signature`; undefined when it is not one. */
export function parseDetachedJws(
  jws: unknown,
): { protectedHeader: string; signature: string; alg: string; kid: string } | undefined {
  if (typeof jws !== 'string') return undefined;
  const match = /^([A-Za-z0-9_-]+)\.\.([A-Za-z0-9_-]+)$/.exec(jws);
  if (!match?.[1] || !match[2]) return undefined;
  try {
    const header = JSON.parse(Buffer.from(match[1], 'base64url').toString('utf8')) as unknown;
    if (typeof header !== 'object' || header === null) return undefined;
    const { alg, kid } = header as { alg?: unknown; kid?: unknown };
    if (typeof alg !== 'string' || typeof kid !== 'string') return undefined;
    return { protectedHeader: match[1], signature: match[2], alg, kid };
  } catch {
    return undefined;
  }
}

export type { ChainedHealthRow };
