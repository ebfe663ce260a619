import { randomUUID } from 'node:crypto';
import type { Route } from './context';
import { json, type Reply } from './http';
import type { FaultRecord, StandInState } from './model';
import type { FaultInput } from './types';

/**
 * Injected failures, matched by face, operation, tenant and DCR so that one
 * test can break one tenant's workspace while another tenant's keeps working.
 */

export function addFault(state: StandInState, input: FaultInput): FaultRecord {
  if (input.status === undefined && input.delayMs === undefined && !input.resetConnection) {
    throw new Error('A fault needs at least one of status, delayMs or resetConnection.');
  }
  if (input.status !== undefined && (input.status < 400 || input.status > 599)) {
    throw new Error(`A fault status must be an error status (400-599), got ${input.status}.`);
  }
  if (input.times !== undefined && (!Number.isInteger(input.times) || input.times < 1)) {
    throw new Error('times must be a positive integer (omit it for "until cleared").');
  }
  const fault: FaultRecord = { ...input, id: randomUUID(), hits: 0 };
  if (input.times !== undefined) fault.remaining = input.times;
  state.faults.push(fault);
  return fault;
}

/** The first fault matching the request, consumed (counted, and removed once its `times` are used up). */
export function takeFault(state: StandInState, route: Route): FaultRecord | undefined {
  const fault = state.faults.find(
    (candidate) =>
      (candidate.face === undefined || candidate.face === route.face) &&
      (candidate.operation === undefined || candidate.operation === route.operation) &&
      (candidate.tenantId === undefined ||
        candidate.tenantId.toLowerCase() === route.tenantId?.toLowerCase()) &&
      (candidate.dcrImmutableId === undefined || candidate.dcrImmutableId === route.dcrImmutableId) &&
      (candidate.stream === undefined || candidate.stream === route.stream),
  );
  if (!fault) return undefined;
  fault.hits += 1;
  if (fault.remaining !== undefined) {
    fault.remaining -= 1;
    if (fault.remaining <= 0) state.faults = state.faults.filter((candidate) => candidate !== fault);
  }
  return fault;
}

const DEFAULT_CODES: Record<number, string> = {
  429: 'TooManyRequests',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

/** The injected answer, in the shape of the face it pretends to come from. */
export function faultReply(fault: FaultRecord, route: Route): Reply {
  const status = fault.status ?? 500;
  const code = fault.errorCode ?? DEFAULT_CODES[status] ?? 'InjectedFault';
  const message =
    fault.message ?? `${code}: fault injected by the Azure stand-in (${route.face} ${route.operation}).`;
  const headers: Record<string, string> = {};
  if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
  if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
  if (route.face === 'entra') {
    return json(
      status,
      { error: 'temporarily_unavailable', error_description: message, error_codes: [] },
      headers,
    );
  }
  if (route.face === 'managedIdentity') {
    return json(status, { statusCode: status, message }, headers);
  }
  return json(status, { error: { code, message } }, { ...headers, 'x-ms-error-code': code });
}
