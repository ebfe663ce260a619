/**
 * Finds a JSON object that names one key twice. JSON.parse keeps the last
 * value, so `{"tenantId":"A",…,"tenantId":"B"}` would silently become B's
 * event; RFC 8259 §4 leaves such names' meaning to each parser, so we refuse
 * to guess.
 *
 * The check runs on every queue message (about 10,000 a second), after
 * JSON.parse has accepted the text: it counts the member names in the text
 * (strings followed by a colon, found with indexOf) and compares them with
 * the keys JSON.parse produced. Only when the text has more does a slower
 * pass find which name repeats, decoding each name, so `"tenant\u0049d"`
 * counts as `tenantId`.
 */

/** The first repeated key of a JSON text JSON.parse accepted as `parsed`, or undefined when there is none. */
export function repeatedJsonKey(text: string, parsed: unknown): string | undefined {
  if (memberNamesIn(text) === keysIn(parsed)) return undefined;
  return firstRepeatedKey(text);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

function isJsonWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

/** Index of the quote closing the string whose opening quote is at `start`. */
function closingQuote(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  while (end !== -1) {
    let backslashes = 0;
    for (let k = end - 1; text.charCodeAt(k) === BACKSLASH; k -= 1) backslashes += 1;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
  return text.length;
}

/** Index of the first non-whitespace character at or after `from`. */
function skipWhitespace(text: string, from: number): number {
  let index = from;
  while (index < text.length && isJsonWhitespace(text.charCodeAt(index))) index += 1;
  return index;
}

/** Member names in valid JSON text: in JSON only a member name is a string followed by a colon. */
function memberNamesIn(text: string): number {
  let count = 0;
  let start = text.indexOf('"');
  while (start !== -1) {
    const after = skipWhitespace(text, closingQuote(text, start) + 1);
    if (text.charCodeAt(after) === COLON) count += 1;
    start = text.indexOf('"', after);
  }
  return count;
}

/**
 * Keys of every object in a parsed JSON value. Iterative: JSON.parse accepts
 * nesting far deeper than the call stack allows recursion (a 12 KB body of
 * nested arrays), and a throw here would fail the whole batch.
 */
function keysIn(root: unknown): number {
  let count = 0;
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value) pending.push(item);
      continue;
    }
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      count += 1;
      pending.push((value as Record<string, unknown>)[key]);
    }
  }
  return count;
}

/** The slow pass: each object's decoded names, innermost object on top. */
function firstRepeatedKey(text: string): string | undefined {
  const open: Array<Set<string> | undefined> = [];
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code === QUOTE) {
      const end = closingQuote(text, index);
      const after = skipWhitespace(text, end + 1);
      const names = open.at(-1);
      if (text.charCodeAt(after) === COLON && names) {
        const name = JSON.parse(text.slice(index, end + 1)) as string;
        if (names.has(name)) return name;
        names.add(name);
      }
      index = end;
    } else if (code === 0x7b /* { */) {
      open.push(new Set());
    } else if (code === 0x5b /* [ */) {
      open.push(undefined);
    } else if (code === 0x7d /* } */ || code === 0x5d /* ] */) {
      open.pop();
    }
  }
  return undefined;
}
