import { app } from '@azure/functions';
import { connectionUseCases } from '../composition';
import { jsonResponse, tenantEndpoint } from '../http/endpoint';
import { readJsonObject } from '../http/request';

/**
 * "Create Connection": provisions the tenant's tables and DCR in the workspace
 * named in the body and sends a test event. Answers 200 with per-step results
 * whatever the outcome of the steps (ok / pending / failed); refuses input
 * that can never work with 400.
 */
export const createConnection = tenantEndpoint(async ({ request, tenantId, logger, actor }) => {
  const body = await readJsonObject(request);
  const useCases = await connectionUseCases(logger, actor);
  const result = await useCases.createConnection(tenantId, {
    workspaceResourceId: body.workspaceResourceId,
    location: body.location,
  });
  return jsonResponse(200, result.value, result.etag);
});

app.http('siemConnection', {
  route: 'tenants/{tenantId}/siem/connection',
  methods: ['POST'],
  // Callers are authenticated by their Entra bearer token in code, not by function keys.
  authLevel: 'anonymous',
  handler: createConnection,
});
