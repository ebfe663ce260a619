/**
 * Record ids listed in a health row: sorted, lower-case, comma-separated.
 * A Log Analytics string column holds up to 64 KB; parts stay at `maxChars`
 * (default 30 000 characters, about 810 GUIDs) so that a sealed row also fits
 * one Table Storage string property while it waits to be uploaded.
 */
export const DEFAULT_MAX_IDS_CHARS = 30_000;

export function splitRecordIds(ids: Iterable<string>, maxChars = DEFAULT_MAX_IDS_CHARS): string[] {
  const sorted = [...new Set([...ids].map((id) => id.toLowerCase()))].sort();
  const parts: string[] = [];
  let current: string[] = [];
  let length = 0;
  for (const id of sorted) {
    if (id.length > maxChars) throw new RangeError(`Record id longer than ${maxChars} characters`);
    const added = current.length === 0 ? id.length : id.length + 1;
    if (length + added > maxChars) {
      parts.push(current.join(','));
      current = [];
      length = 0;
    }
    length += current.length === 0 ? id.length : id.length + 1;
    current.push(id);
  }
  if (current.length > 0) parts.push(current.join(','));
  return parts;
}

export function parseRecordIds(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((id) => id.trim().toLowerCase())
    .filter((id) => id.length > 0);
}
