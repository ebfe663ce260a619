/**
 * What an error says, for a log line or a message shown to an operator.
 *
 * An AggregateError often carries no message of its own: @azure/core-amqp's retry() gives up with
 * `new AggregateError(errors)` holding each attempt's error (a refused link, a failed connect), and
 * Node's net module does the same when every address of a host refused. Printing `error.message`
 * then prints nothing. Here the inner errors' messages stand in, each distinct one once, with how
 * many attempts ended that way.
 */

const MAX_INNER = 3;

export function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const own = error.message.trim();
  const inner = innerErrors(error);
  if (inner.length === 0) return own === '' ? `${error.name} (no message)` : own;
  const counts = new Map<string, number>();
  for (const cause of inner) {
    const text = errorMessage(cause);
    counts.set(text, (counts.get(text) ?? 0) + 1);
  }
  const distinct = [...counts].map(([text, count]) => (count > 1 ? `${text} (${count} times)` : text));
  const shown = distinct.slice(0, MAX_INNER).join('; ');
  const more = distinct.length > MAX_INNER ? `; and ${distinct.length - MAX_INNER} other error(s)` : '';
  const attempts = `${inner.length} error${inner.length === 1 ? '' : 's'}`;
  return own === '' ? `${attempts}: ${shown}${more}` : `${own} (${attempts}: ${shown}${more})`;
}

/** errorMessage's first line, at most `max` characters: for one-line log fields. */
export function errorLine(error: unknown, max = 300): string {
  return (errorMessage(error).split('\n')[0] ?? '').slice(0, max);
}

/** `Name: first line`, as the HTTP and timer error logs show an error. */
export function namedErrorLine(error: unknown, max = 300): string {
  return error instanceof Error ? `${error.name}: ${errorLine(error, max)}` : typeof error;
}

function innerErrors(error: Error): unknown[] {
  const errors = (error as { errors?: unknown }).errors;
  return Array.isArray(errors) ? errors : [];
}
