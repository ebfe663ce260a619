import { app } from '@azure/functions';
import { forwarderUseCases } from '../composition';
import { jsonResponse, tenantEndpoint } from '../http/endpoint';
import { HttpProblem } from '../http/problem';

/**
 * The tenant's parked events (delivery gave up on them, or they were never
 * valid): one page, oldest first, with the reason to fix before replaying.
 * `?limit=` (1-100, default 50) and `?continuationToken=` from the previous page.
 */
export const siemParked = tenantEndpoint(async ({ request, tenantId }) => {
  const limitText = request.query.get('limit');
  if (limitText !== null && !/^\d{1,3}$/.test(limitText)) {
    throw new HttpProblem(400, 'InvalidPageSize', 'limit must be a whole number from 1 to 100.', 'limit');
  }
  const limit = limitText === null ? undefined : Number(limitText);
  const continuationToken = request.query.get('continuationToken') ?? undefined;
  const { parkedEvents } = await forwarderUseCases();
  const page = await parkedEvents.list(tenantId, {
    ...(limit !== undefined ? { limit } : {}),
    ...(continuationToken ? { continuationToken } : {}),
  });
  return jsonResponse(200, page);
});

app.http('siemParked', {
  route: 'tenants/{tenantId}/siem/parked',
  methods: ['GET'],
  // Callers are authenticated by their Entra bearer token in code, not by function keys.
  authLevel: 'anonymous',
  handler: siemParked,
});
