import { errorMessage } from '../src/domain/errorText';
import type { CapturedLog } from '../test/support/functionsHost';

/** What the sandbox shows of the app's logs: the app's own lines (not debug), the host's errors. */
export function shouldShow(line: CapturedLog): boolean {
  if (line.category === 'user') return line.level !== 'trace' && line.level !== 'debug';
  return line.level === 'error' || line.level === 'critical';
}

export function formatLog(line: CapturedLog): string {
  const where = line.functionName ? `${line.functionName}` : 'host';
  const text = line.message.length > 2000 ? `${line.message.slice(0, 2000)}…` : line.message;
  return `${where} [${line.level}] ${text}`;
}

/** An AggregateError (the Service Bus SDK gives up with one, message empty) names its inner errors. */
export function errorText(error: unknown): string {
  return errorMessage(error);
}
