import type { InvocationContext } from '@azure/functions';
import type { Logger } from './domain/ports';

/**
 * The domain's Logger over an invocation's context, so lines carry the
 * invocation id to Application Insights. Fields are ids, counts and codes;
 * callers never put tokens, secrets or event contents in them.
 */
export function contextLogger(context: InvocationContext): Logger {
  const line = (message: string, fields?: Record<string, unknown>): string =>
    fields && Object.keys(fields).length > 0 ? `${message} ${JSON.stringify(fields)}` : message;
  return {
    info: (message, fields) => context.info(line(message, fields)),
    warn: (message, fields) => context.warn(line(message, fields)),
    error: (message, fields) => context.error(line(message, fields)),
  };
}
