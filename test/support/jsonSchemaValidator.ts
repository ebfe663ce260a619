import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { AUDIT_EVENT_SCHEMA_FILE } from '../../src/domain/eventJsonSchema';

/**
 * The published JSON Schema file, compiled by ajv the way a third party would
 * (draft 2020-12, formats asserted), plus the two keywords of our own that the
 * file's `$comment` defines. These keyword implementations are written from
 * that definition, independently of the validator they are compared with.
 */

/** UTF-8 size of the value as compact JSON; 0 for what JSON cannot represent (the type keywords refuse that). */
function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value) as string | undefined;
  return text === undefined ? 0 : Buffer.byteLength(text, 'utf8');
}

/** Deepest level of nested objects/arrays, the value itself being level 1; 0 for a scalar. */
function containerDepth(value: unknown): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [current, level] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    deepest = Math.max(deepest, level);
    for (const child of Object.values(current)) stack.push([child, level + 1]);
  }
  return deepest;
}

export function loadPublishedSchema(): Record<string, unknown> {
  const file = path.resolve(__dirname, '../..', AUDIT_EVENT_SCHEMA_FILE);
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

export function compilePublishedSchema(): ValidateFunction {
  // strictRequired is ajv's own lint: it rejects `then: { required: ['ca'] }` because `ca`
  // is declared in the parent schema rather than beside it, which JSON Schema allows.
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
  addFormats(ajv);
  ajv.addKeyword({
    keyword: 'x-maxJsonBytes',
    schemaType: 'number',
    validate: (max: number, data: unknown) => jsonBytes(data) <= max,
    errors: false,
  });
  ajv.addKeyword({
    keyword: 'x-maxJsonDepth',
    schemaType: 'number',
    validate: (max: number, data: unknown) => containerDepth(data) <= max,
    errors: false,
  });
  return ajv.compile(loadPublishedSchema());
}
