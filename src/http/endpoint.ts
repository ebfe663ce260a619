import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { apiAuthenticator } from '../composition';
import { contextLogger } from '../contextLogger';
import type { ConnectionActor } from '../domain/connectionHistory';
import type { Logger } from '../domain/ports';
import type { Caller } from './auth';
import { errorToProblem } from './problem';
import { ifMatch, routeTenantId } from './request';
import { namedErrorLine } from '../domain/errorText';

export interface TenantRequest {
  request: HttpRequest;
  context: InvocationContext;
  /** The route's tenant, lower case; the caller is allowed to act for it. */
  tenantId: string;
  caller: Caller;
  logger: Logger;
  /** If-Match as sent, for conditional writes. */
  ifMatch: string | undefined;
  /** The caller as recorded on the changes it makes: identifiers only. */
  actor: ConnectionActor;
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
    // Who asked, once the token is verified: every answer's log line names the caller and the decision.
    let caller: Caller | undefined;
    let access: 'ownTenant' | 'operator' | undefined;
    try {
      const authenticator = await apiAuthenticator();
      caller = await authenticator.identify(request.headers.get('authorization'));
      const tenantId = routeTenantId(request);
      access = authenticator.authorizeTenant(caller, tenantId);
      const response = await handler({
        request,
        context,
        tenantId,
        caller,
        logger,
        ifMatch: conditional,
        actor: {
          kind: 'caller',
          tenantId: caller.tenantId,
          ...(caller.objectId ? { objectId: caller.objectId } : {}),
          ...(caller.appId ? { appId: caller.appId } : {}),
        },
      });
      logger.info('Request answered', {
        route,
        status: response.status ?? 200,
        tenantId,
        access,
        ...callerFields(caller),
      });
      return response;
    } catch (error) {
      const mapped = errorToProblem(error, conditional !== undefined);
      const status = mapped.response.status ?? 500;
      if (mapped.unexpected) {
        logger.error('Request failed unexpectedly', {
          route,
          status,
          error: describeError(error),
          access,
          ...callerFields(caller),
        });
      } else {
        logger.warn('Request refused', {
          route,
          status,
          code: (error as { code?: unknown }).code ?? undefined,
          access,
          ...callerFields(caller),
        });
      }
      return mapped.response;
    }
  };
}

/** Identifiers only: never the token or any claim beyond who called and through which app. */
function callerFields(caller: Caller | undefined): Record<string, string | undefined> {
  if (!caller) return { callerTenantId: undefined };
  return { callerTenantId: caller.tenantId, callerObjectId: caller.objectId, callerAppId: caller.appId };
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
  return namedErrorLine(error);
}
