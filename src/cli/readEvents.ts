import { type Problem, WHOLE_EVENT } from '../domain/eventContract';

/** One event read from a file, or the reason its line could not be read; `label` says where it came from. */
export type ReadEvent =
  | { readonly label: string; readonly value: unknown }
  | { readonly label: string; readonly problems: readonly Problem[] };

export class EventInputError extends Error {}

/**
 * Reads events from text: a JSON array of events, a single JSON event, or
 * NDJSON (one event per line). A malformed NDJSON line is reported against
 * its line number and the other lines are still read.
 */
export function readEvents(text: string, source: string): ReadEvent[] {
  const trimmed = text.trim();
  if (trimmed === '') throw new EventInputError(`${source} holds no events`);
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      throw new EventInputError(`${source} starts with [ but is not a valid JSON array: ${messageOf(error)}`);
    }
    if (!Array.isArray(parsed)) throw new EventInputError(`${source} is not a JSON array of events`);
    return (parsed as unknown[]).map((value, index) => ({ label: `event ${index + 1}`, value }));
  }
  try {
    return [{ label: 'event 1', value: JSON.parse(trimmed) as unknown }];
  } catch {
    // Not one JSON document: read it as NDJSON.
  }
  const events: ReadEvent[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === '') return;
    const label = `line ${index + 1}`;
    try {
      events.push({ label, value: JSON.parse(line) as unknown });
    } catch (error) {
      events.push({ label, problems: [{ field: WHOLE_EVENT, reason: `is not JSON (${messageOf(error)})` }] });
    }
  });
  return events;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
