import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listFunctions } from '../support/functionsHost';
import { httpRoutePrefix } from '../support/functionsHost/registry';
import { documentedOperations, openApiDocument, responseValidator } from '../support/openApi';

// Every function file, so a route added later without documentation fails here.
const functionsDirectory = path.resolve('src/functions');
for (const file of readdirSync(functionsDirectory).filter((name) => name.endsWith('.ts'))) {
  await import(path.join(functionsDirectory, file));
}

describe('openapi/openapi.yaml', () => {
  it('documents exactly the registered HTTP routes and methods', () => {
    const registered = listFunctions()
      .filter((fn) => fn.triggerType === 'httpTrigger')
      .flatMap((fn) =>
        (fn.methods ?? []).map((method) => `${method} /${httpRoutePrefix()}/${fn.route ?? fn.name}`),
      );
    expect(registered.length).toBeGreaterThan(0);
    expect([...documentedOperations()].sort()).toEqual([...registered].sort());
  });

  it('declares bearer security globally and resolvable schemas for every documented response', () => {
    const document = openApiDocument() as unknown as {
      security: unknown;
      paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
    };
    expect(document.security).toEqual([{ entraBearer: [] }]);
    for (const [route, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (method === 'parameters') continue;
        for (const status of Object.keys(operation.responses ?? {})) {
          expect(() => responseValidator(method.toUpperCase(), route, Number(status))).not.toThrow();
        }
      }
    }
  });

  it('describes problems as RFC 9457 problem details with a stable code', () => {
    const validate = responseValidator('GET', '/tenants/{tenantId}/siem', 404);
    expect(
      validate({ type: 'urn:x', title: 'Not Found', status: 404, detail: 'd', code: 'ConnectionNotFound' }),
    ).toBe(true);
    expect(validate({ title: 'Not Found', status: 404, detail: 'd' })).toBe(false);
  });
});
