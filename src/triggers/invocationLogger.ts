import type { InvocationContext } from '@azure/functions';
import type { Logger } from '../domain/ports';

/**
 * The domain's structured logger over a function invocation's log: one line
 * per entry, the message then its fields as JSON, so Application Insights
 * keeps them as one trace that a query can parse.
 */
export function invocationLogger(context: InvocationContext): Logger {
  const line = (message: string, fields?: Record<string, unknown>): string =>
    fields ? `${message} ${JSON.stringify(fields)}` : message;
  return {
    info: (message, fields) => context.info(line(message, fields)),
    warn: (message, fields) => context.warn(line(message, fields)),
    error: (message, fields) => context.error(line(message, fields)),
  };
}
