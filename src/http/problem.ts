import type { HttpResponseInit } from '@azure/functions';
import {
  AppNotRegisteredError,
  AuthorizationError,
  ConcurrencyConflictError,
  DependencyRejectedError,
  DomainError,
  IngestionFailure,
  NotFoundError,
  StateConflictError,
  TransientDependencyError,
  ValidationError,
} from '../domain/errors';
import { Forbidden, Unauthenticated } from './authErrors';

/**
 * Errors as RFC 9457 problem details: `type`, `title`, `status`, `detail`
 * (what to do, for the portal user) and a stable `code`. Nothing internal
 * (stack, SDK message, token) ever goes out.
 */

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  /** The request field the problem is about, when there is one. */
  field?: string;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** A refusal decided by the HTTP layer itself (body too large, not JSON, bad route parameter). */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly field?: string,
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

export function problemResponse(
  status: number,
  code: string,
  detail: string,
  options: { field?: string; headers?: Record<string, string> } = {},
): HttpResponseInit {
  const body: ProblemDetails = {
    type: `urn:pki-siem-export:problem:${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    ...(options.field ? { field: options.field } : {}),
  };
  return {
    status,
    body: JSON.stringify(body),
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store', ...options.headers },
  };
}

export interface MappedError {
  response: HttpResponseInit;
  /** Unexpected: log it as an error (class and first line only). */
  unexpected: boolean;
}

/**
 * Domain and HTTP-layer errors to responses. `conditional` says whether the
 * request carried If-Match: a lost ETag race is then 412, otherwise 409.
 */
export function errorToProblem(error: unknown, conditional: boolean): MappedError {
  const expected = (response: HttpResponseInit): MappedError => ({ response, unexpected: false });
  if (error instanceof Unauthenticated) {
    const challenge = error.bearerError
      ? `Bearer error="${error.bearerError}", error_description="${error.message.replace(/"/g, "'")}"`
      : 'Bearer';
    return expected(
      problemResponse(401, 'Unauthenticated', error.message, { headers: { 'www-authenticate': challenge } }),
    );
  }
  if (error instanceof Forbidden) return expected(problemResponse(403, error.code, error.message));
  if (error instanceof HttpProblem) {
    return expected(problemResponse(error.status, error.code, error.message, { field: error.field }));
  }
  if (error instanceof ValidationError) {
    return expected(problemResponse(400, error.code, error.message, { field: error.field }));
  }
  if (error instanceof NotFoundError) return expected(problemResponse(404, error.code, error.message));
  if (error instanceof ConcurrencyConflictError) {
    return expected(
      conditional
        ? problemResponse(412, 'PreconditionFailed', error.message)
        : problemResponse(
            409,
            error.code,
            'The settings were changed by another request at the same time. Reload them and try again.',
          ),
    );
  }
  if (error instanceof StateConflictError) return expected(problemResponse(409, error.code, error.message));
  // The customer's Azure setup refuses us: the caller's request is fine, the dependency is not.
  if (error instanceof AuthorizationError || error instanceof AppNotRegisteredError) {
    return expected(problemResponse(409, error.code, error.message));
  }
  if (error instanceof TransientDependencyError) {
    const retryAfter = error.retryAfterMs === undefined ? 30 : Math.ceil(error.retryAfterMs / 1000);
    return expected(
      problemResponse(503, error.code, error.message, { headers: { 'retry-after': String(retryAfter) } }),
    );
  }
  if (error instanceof DependencyRejectedError || error instanceof IngestionFailure) {
    return expected(problemResponse(502, error.code, error.message));
  }
  if (error instanceof DomainError) return expected(problemResponse(500, error.code, error.message));
  return {
    unexpected: true,
    response: problemResponse(
      500,
      'InternalError',
      'An unexpected error occurred. It has been logged; try again or contact Keytos support.',
    ),
  };
}
