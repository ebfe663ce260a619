import { app } from '@azure/functions';
import { forwarderUseCases } from '../composition';
import type { ParkCategory } from '../domain/ports';
import { jsonResponse, tenantEndpoint } from '../http/endpoint';
import { HttpProblem } from '../http/problem';
import { readJsonObject } from '../http/request';

/**
 * Puts the tenant's parked events back on the audit queue: all of them, or
 * those named by `parkedIds` and/or `categories` in an optional JSON body.
 * At most 500 per call; `remaining: true` says call again. Refused (409)
 * while the tenant's export is not active or degraded.
 */
export const siemReplay = tenantEndpoint(async ({ request, tenantId, actor }) => {
  // The body is optional: without one, everything parked is replayed.
  const hasBody = (await request.clone().arrayBuffer()).byteLength > 0;
  const body = hasBody ? await readJsonObject(request) : {};
  const parkedIds = stringList(body.parkedIds, 'parkedIds');
  const categories = stringList(body.categories, 'categories') as ParkCategory[] | undefined;
  const { parkedEvents } = await forwarderUseCases();
  const result = await parkedEvents.replay(
    tenantId,
    {
      ...(parkedIds ? { parkedIds } : {}),
      ...(categories ? { categories } : {}),
    },
    actor,
  );
  return jsonResponse(200, result);
});

function stringList(value: unknown, field: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new HttpProblem(400, 'InvalidReplaySelection', `${field} must be a list of strings.`, field);
  }
  return value;
}

app.http('siemReplay', {
  route: 'tenants/{tenantId}/siem/replay',
  methods: ['POST'],
  // Callers are authenticated by their Entra bearer token in code, not by function keys.
  authLevel: 'anonymous',
  handler: siemReplay,
});
