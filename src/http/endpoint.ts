import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { apiAuthenticator } from '../composition';
import { contextLogger } from '../contextLogger';
import type { Logger } from '../domain/ports';
import type { Caller } from './auth';
import { errorToProblem } from './problem';
import { ifMatch, routeTenantId } from './request';

export interface TenantRequest {
  request: HttpRequest;
  context: InvocationContext;
  /** The route's tenant, lower case; the caller is allowed to act for it. */
  tenantId: string;
  caller: Caller;
  logger: Logger;
  /** If-Match as sent, for conditional writes. */
  ifMatch: string | undefined;
}

/**
 * Wraps a handler of a `tenants/{tenantId}/…` route: bearer token (401),
 * the caller's right to act for that tenant (403), then the handler; any
 * error becomes problem+json. Logs one line per request: method, route,
 * status and code, never headers or bodies.
 */
export function tenantEndpoint(handler: (request: TenantRequest) => Promise<HttpResponseInit>): HttpHandler {
  return async (request, context) => {
    const logger = contextLogger(context);
    const conditional = ifMatch(request);
    const route = `${request.method} ${new URL(request.url).pathname}`;
    try {
      const authenticator = await apiAuthenticator();
      const caller = await authenticator.authenticate(request.headers.get('authorization'));
      const tenantId = routeTenantId(request);
      authenticator.authorizeTenant(caller, tenantId);
      const response = await handler({ request, context, tenantId, caller, logger, ifMatch: conditional });
      logger.info('Request answered', {
        route,
        status: response.status ?? 200,
        tenantId,
        callerTenantId: caller.tenantId,
        callerObjectId: caller.objectId,
      });
      return response;
    } catch (error) {
      const mapped = errorToProblem(error, conditional !== undefined);
      const status = mapped.response.status ?? 500;
      if (mapped.unexpected) {
        logger.error('Request failed unexpectedly', { route, status, error: describeError(error) });
      } else {
        logger.warn('Request refused', {
          route,
          status,
          code: (error as { code?: unknown }).code ?? undefined,
        });
      }
      return mapped.response;
    }
  };
}

/** JSON response with the entity's ETag, never cached (it carries per-tenant state). */
export function jsonResponse(status: number, body: unknown, etag?: string): HttpResponseInit {
  return {
    status,
    jsonBody: body,
    headers: {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      ...(etag ? { etag } : {}),
    },
  };
}

function describeError(error: unknown): string {
  // A ConfigError's message lists each setting on a line of its own: keep their names in this one.
  const settings = (error as { settings?: unknown }).settings;
  if (error instanceof Error && error.name === 'ConfigError' && Array.isArray(settings)) {
    return `ConfigError: Invalid app settings: ${settings.join(', ')} (each one's reason is in the ConfigError message).`;
  }
  if (error instanceof Error) return `${error.name}: ${(error.message.split('\n')[0] ?? '').slice(0, 300)}`;
  return typeof error;
}
