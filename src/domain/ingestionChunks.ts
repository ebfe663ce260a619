/**
 * Cuts rows into request-sized chunks exactly as @azure/monitor-ingestion
 * does (sum of `JSON.stringify` byte lengths strictly under 1,000,000 per
 * chunk, a row at or over the limit alone), so that handing one chunk to the
 * SDK makes exactly one HTTP request. That matters twice: a failure then
 * belongs to known rows, and an abort can never resolve "successfully" with
 * part of the rows silently unsent (the SDK skips unscheduled chunks on abort).
 */

export const MAX_REQUEST_BYTES = 1_000_000;

/** Size of one row as the SDK measures it (UTF-8 bytes of its JSON, no array punctuation). */
export function rowBytes(row: Readonly<Record<string, unknown>>): number {
  return Buffer.byteLength(JSON.stringify(row), 'utf8');
}

export function chunkBySize<T>(
  items: readonly T[],
  sizeOf: (item: T) => number,
  maxBytes = MAX_REQUEST_BYTES,
): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let size = 0;
  for (const item of items) {
    const itemSize = sizeOf(item);
    if (size + itemSize < maxBytes) {
      chunk.push(item);
      size += itemSize;
    } else {
      if (chunk.length > 0) chunks.push(chunk);
      chunk = [item];
      size = itemSize;
    }
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
