import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020';
import { load } from 'js-yaml';

/**
 * The repo's OpenAPI document, and validators of response bodies against the
 * schemas it declares, so integration tests hold the API to what it documents.
 */

interface Operation {
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: unknown }> }>;
}
export interface OpenApiDocument {
  servers: Array<{ url: string }>;
  paths: Record<string, Record<string, unknown>>;
  components: { responses: Record<string, { content?: Record<string, { schema: unknown }> }> };
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

let cached: OpenApiDocument | undefined;
export function openApiDocument(): OpenApiDocument {
  cached ??= load(readFileSync(path.resolve('openapi/openapi.yaml'), 'utf8')) as OpenApiDocument;
  return cached;
}

/** `POST /api/tenants/{tenantId}/siem/connection` for every documented operation. */
export function documentedOperations(): string[] {
  const document = openApiDocument();
  const base = document.servers[0]?.url ?? '';
  return Object.entries(document.paths).flatMap(([route, item]) =>
    HTTP_METHODS.filter((method) => method in item).map(
      (method) => `${method.toUpperCase()} ${base}${route}`,
    ),
  );
}

let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();

/**
 * Validator of the body a documented operation answers with `status`, keyed
 * by the documented path template (`/tenants/{tenantId}/siem`).
 */
export function responseValidator(method: string, route: string, status: number): ValidateFunction {
  const key = `${method} ${route} ${status}`;
  const known = validators.get(key);
  if (known) return known;
  const document = openApiDocument();
  if (!ajv) {
    ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
    ajv.addSchema(document, 'openapi');
  }
  const operation = document.paths[route]?.[method.toLowerCase()] as Operation | undefined;
  if (!operation) throw new Error(`${method} ${route} is not documented`);
  const response = operation.responses[String(status)];
  if (!response) throw new Error(`${method} ${route} does not document status ${status}`);
  const resolved = response.$ref
    ? document.components.responses[response.$ref.replace('#/components/responses/', '')]
    : response;
  const media = resolved?.content ?? {};
  const [contentType] = Object.keys(media);
  if (!contentType) throw new Error(`${method} ${route} ${status} documents no body`);
  const pointer = response.$ref
    ? `${response.$ref}/content/${contentType.replace('/', '~1')}/schema`
    : `#/paths/${route.replace(/~/g, '~0').replace(/\//g, '~1')}/${method.toLowerCase()}/responses/${status}/content/${contentType.replace('/', '~1')}/schema`;
  const validator = ajv.getSchema(`openapi${pointer}`);
  if (!validator) throw new Error(`No schema at ${pointer}`);
  validators.set(key, validator);
  return validator;
}

/** The documented content type of that response. */
export function documentedContentType(method: string, route: string, status: number): string | undefined {
  const document = openApiDocument();
  const operation = document.paths[route]?.[method.toLowerCase()] as Operation | undefined;
  const response = operation?.responses[String(status)];
  const resolved = response?.$ref
    ? document.components.responses[response.$ref.replace('#/components/responses/', '')]
    : response;
  return Object.keys(resolved?.content ?? {})[0];
}
