import { app } from '@azure/functions';
import { connectionUseCases } from '../composition';
import { jsonResponse, tenantEndpoint } from '../http/endpoint';
import { HttpProblem } from '../http/problem';
import { readJsonObject } from '../http/request';

/**
 * The tenant's SIEM settings: GET (settings and health), PUT ("Save changes":
 * turn export on for the tested connection), DELETE (turn export off).
 * Responses carry the entity's ETag; PUT and DELETE honour If-Match.
 */
export const siemSettings = tenantEndpoint(async ({ request, tenantId, logger, ifMatch, actor }) => {
  const useCases = await connectionUseCases(logger, actor);
  switch (request.method) {
    case 'GET': {
      const settings = await useCases.getSettings(tenantId);
      return jsonResponse(200, settings.value, settings.etag);
    }
    case 'PUT': {
      const body = await readJsonObject(request);
      const saved = await useCases.saveSettings(
        tenantId,
        { workspaceResourceId: body.workspaceResourceId, location: body.location },
        ifMatch,
      );
      return jsonResponse(200, saved.value, saved.etag);
    }
    case 'DELETE': {
      const disabled = await useCases.disableExport(tenantId, ifMatch);
      return jsonResponse(200, disabled.value, disabled.etag);
    }
    default:
      throw new HttpProblem(
        405,
        'MethodNotAllowed',
        `${request.method} is not supported here; use GET, PUT or DELETE.`,
      );
  }
});

app.http('siemSettings', {
  route: 'tenants/{tenantId}/siem',
  methods: ['GET', 'PUT', 'DELETE'],
  // Callers are authenticated by their Entra bearer token in code, not by function keys.
  authLevel: 'anonymous',
  handler: siemSettings,
});
